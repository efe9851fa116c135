"""The seam a gate plugs into: what a gate unit is, what it is given, and what it gives back.

A gate unit is one module under `components/units/` with module-level functions (like the deploy
target, `components/cloudformation.py`): `applies(env)`, `worst_case_refs(env)`,
`actions(env, refs, outputs_namespace=…)`, `review_checks(env)` and `declare(context)`. The
blueprint asks every
unit of `components.units.GATES` for the actions it puts in the named slots of an environment's
stages; `EnvironmentDelivery` asks each for its resources, and gets a `GateBinding` back; the
pipeline reads the bindings' permissions. None of them names a unit: adding a gate is its
module, its config field, and its place in `GATES` (docs/development.md, "A gate").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Protocol

import pulumi
import pulumi_aws as aws

from components.codebuild_runner import SmallProject
from components.config import DeliveryConfig
from components.context import DeliveryContext
from components.spec import ActionSpec

if TYPE_CHECKING:
    # Assembled by the registry, which imports this module first: only an annotation here.
    from components.config import EnvironmentConfig, Section

# The named places in an environment's stages where a unit's actions go.
PLAN_CHECKS = "plan-checks"
"""A gated environment's plan stage, once the deploy target has readied the environment and
beside its planning (the change set's creation): checks the review then shows
(`review_checks`), which fail the plan stage, and so ask nobody to approve, when they must."""
RELEASE_CHECKS = "release-checks"
"""A gated environment's release stage, once the deploy target has planned the release again and
beside its confirmation, before it applies anything: checks that must hold when the release
happens, not only when it was planned (an approval can wait for days). A failure stops the
release, in a rollback or retry too."""
AFTER_DEPLOY = "after-deploy"
"""The stage that deploys (ungated) or releases (gated), after the deploy target's actions:
what runs against the deployed environment. A stage rollback or retry runs it again."""
SLOTS = (PLAN_CHECKS, RELEASE_CHECKS, AFTER_DEPLOY)


@dataclass(frozen=True)
class UnitContext:
    """What every unit of one environment is given to declare its resources."""

    environment: EnvironmentConfig
    delivery: DeliveryContext
    """The name prefix, the pipeline's account, region and partition, the artifact key, the log
    retention and the host every component of the system shares."""
    parent: pulumi.Resource
    """The environment's component: every resource a unit declares is its child."""
    small_project: SmallProject
    """What the environment's small CodeBuild projects share (`SmallProject.declare`: the tools
    image, the artifact store, Lambda compute where its limits allow)."""
    account_provider: Optional[aws.Provider] = None
    """For an environment in another account: the provider that declares there."""


@dataclass(frozen=True)
class GateBinding:
    """What a unit's resources give the rest of the system."""

    refs: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    """The values its actions name (`actions(env, refs)`), by the names `worst_case_refs` gives.
    A CodeBuild project its actions start is named `<prefix>-…` (`SmallProject.declare` names
    them so): the pipeline role starts the delivery system's projects by that pattern
    (`iam_policies.delivery_projects_pattern`), not one by one."""


class GateUnit(Protocol):
    """A gate unit module, as the blueprint, the environment and the pipeline use it."""

    NAME: str
    """Names the unit in `EnvironmentRefs.units`; its variables namespaces use it too."""
    CONFIG_OPTION: type[Section]
    """Its keys in an environment's config, with their rules: the registry joins them to the deploy
    targets' variants (components/units/__init__.py). A unit that works on some targets only
    also has `FOR_TARGETS`, the variants it joins."""

    def applies(self, env: EnvironmentConfig) -> bool:
        """Whether the environment's config asks for this gate."""
        ...

    def worst_case_refs(self, env: EnvironmentConfig) -> Mapping[str, str]:
        """The refs its actions name, each as long as its real value can be (length checks)."""
        ...

    def actions(
        self, env: EnvironmentConfig, refs: Mapping[str, str], *, outputs_namespace: str
    ) -> Mapping[str, tuple[ActionSpec, ...]]:
        """Its actions by slot; the blueprint gives them their run order. `outputs_namespace`:
        where the deploy target publishes the deployed environment's outputs."""
        ...

    def review_checks(self, env: EnvironmentConfig) -> Mapping[str, str]:
        """What the plan's review shows of it: a check's name and the pipeline variable that
        holds its one-line result (empty when it adds nothing to the review)."""
        ...

    def declare(self, context: UnitContext) -> GateBinding:
        """Its resources, children of `context.parent`."""
        ...


# -- the deploy target -------------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactAccess:
    """The artifact store as the environments' resources use it. The store is declared after
    the environments (its key and bucket policies name their deploy roles), so the
    environments get this object first and the composition root publishes the values."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[Optional[str]]

    @classmethod
    def deferred(cls) -> tuple[ArtifactAccess, Callable[..., None]]:
        """An `ArtifactAccess` whose values `publish(bucket_name=…, bucket_arn=…, key_arn=…)`
        supplies later (`pulumi.deferred_output`, dependencies included)."""
        bucket_name, set_bucket_name = pulumi.deferred_output()
        bucket_arn, set_bucket_arn = pulumi.deferred_output()
        key_arn, set_key_arn = pulumi.deferred_output()

        def publish(
            *,
            bucket_name: pulumi.Input[str],
            bucket_arn: pulumi.Input[str],
            key_arn: Optional[pulumi.Input[str]],
        ) -> None:
            set_bucket_name(pulumi.Output.from_input(bucket_name))
            set_bucket_arn(pulumi.Output.from_input(bucket_arn))
            set_key_arn(pulumi.Output.from_input(key_arn))

        return cls(bucket_name, bucket_arn, key_arn), publish


@dataclass(frozen=True)
class ReleaseStores:
    """The stores a gated environment's release is checked against and recorded in (the
    pipeline's account), and every store an environment's roles must keep off."""

    application_repository_name: pulumi.Input[str]
    application_repository_arn: pulumi.Input[str]
    record_table_name: Optional[pulumi.Input[str]]
    """None when the stack has no gated environment (no release record then)."""
    record_table_arn: Optional[pulumi.Input[str]]
    protected: pulumi.Input[list[str]]
    """The ARNs of every store of the delivery system (artifacts and their key, image
    repositories, release record): environment roles may only read there."""


@dataclass(frozen=True)
class ReleaseFacts:
    """A gated environment's approval, as its release gate checks it: who may answer which
    action of which pipeline (components/approvers.py grants it)."""

    pipeline_name: str
    approval_stage: str
    approval_action: str
    approvers: Sequence[str]
    """`environments[].approvers`: IAM role and user ARNs."""
    approver_group_name: Optional[pulumi.Input[str]] = None
    approver_group_arn: Optional[pulumi.Input[str]] = None


@dataclass(frozen=True)
class TargetContext:
    """What an environment's deploy target is given to declare its resources: the units' context,
    the whole config (a target reads its own settings there), and the delivery system around it."""

    unit: UnitContext
    config: DeliveryConfig
    pipeline_name: str
    pipeline_arn: pulumi.Output[str]
    artifacts: ArtifactAccess
    stores: ReleaseStores
    release: Optional[ReleaseFacts] = None
    """Gated: the approval its release must have passed."""
    there: Optional[pulumi.ResourceOptions] = None
    """Options for what the target declares in the environment's account (its provider)."""


@dataclass(frozen=True)
class TargetBinding:
    """What a deploy target's resources give the rest of the system."""

    refs: Mapping[str, pulumi.Output[Optional[str]]]
    """What its actions name (`EnvironmentRefs.target`), by its own names. Its CodeBuild
    projects are named `<prefix>-…`, as a gate's are (`GateBinding.refs`)."""
    passed_roles: tuple[pulumi.Output[str], ...] = ()
    """Roles in the pipeline's account the pipeline role hands to the target's service."""
    account_role: Optional[pulumi.Output[str]] = None
    """In another account: the role the pipeline acts through there (its actions, its alarm rules)."""
    artifact_writers: tuple[pulumi.Output[str], ...] = ()
    """Its roles that write artifacts (a review's reports)."""
    artifact_readers: tuple[pulumi.Input[str], ...] = ()
    """In another account: its roles there that read artifacts."""
    outputs: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    """What the environment's component registers as its outputs."""
