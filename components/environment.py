"""`EnvironmentDelivery`: everything one environment has, and the one object the pipeline
takes of it.

Per environment: what its deploy target declares (`components/units/__init__.py`,
`declare_target`: for a CloudFormation stack, components/cloudformation_target.py), for a gated
one who may approve (`Approvers`) and the record of its releases (`ReleaseRecorder`), and each
gate unit it asks for (`components/units/`: the smoke test, the drift check). What the pipeline
needs of them is `DeliveredEnvironment`: what its actions name, and what its role must be
allowed to use. Nothing here knows what the target is.

The children declared at the stack's root before this component existed carry an alias to
that place, so an upgraded stack keeps them (tests/test_urn_snapshots.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.approvers import APPROVAL_ACTION, Approvers, ApproversArgs
from components.blueprint import approval_stage_of
from components.codebuild_runner import SmallProject
from components.config import DeliveryConfig, EnvironmentConfig
from components.context import DeliveryContext
from components.release_recorder import ReleaseRecorder, ReleaseRecorderArgs
from components.spec import EnvironmentRefs
from components.units import GATES, declare_target
from components.units.seam import (
    ArtifactAccess,
    ReleaseFacts,
    ReleaseStores,
    TargetBinding,
    TargetContext,
    UnitContext,
)

# Where the composition root finds them (they live with the seam the units use).
__all__ = [
    "ArtifactAccess",
    "DeliveredEnvironment",
    "EnvironmentDelivery",
    "EnvironmentDeliveryArgs",
    "ReleaseStores",
    "artifact_readers",
]


@dataclass(frozen=True)
class DeliveredEnvironment:
    """What the pipeline takes of one environment."""

    config: EnvironmentConfig
    refs: pulumi.Output[EnvironmentRefs]
    """What its actions name: its target's, its record's, its gate units'."""
    target: TargetBinding
    """What its deploy target's resources give (roles passed or assumed, artifact readers and
    writers)."""
    release_writers: tuple[pulumi.Output[str], ...]
    """The roles of this environment that write release records and mark images (its recorder)."""

    @property
    def artifact_writers(self) -> tuple[pulumi.Output[str], ...]:
        """The roles of this environment that write artifacts (a gated one's review: its reports)."""
        return self.target.artifact_writers

    @property
    def artifact_readers(self) -> tuple[pulumi.Input[str], ...]:
        """In another account: the roles there that read artifacts: what the artifact key and
        bucket policies admit."""
        return self.target.artifact_readers


@dataclass(frozen=True)
class EnvironmentDeliveryArgs:
    environment: EnvironmentConfig
    config: DeliveryConfig
    """The whole config: the deploy target reads its own settings there."""
    context: DeliveryContext
    """Its `kms_key_arn` is the artifact store's (`artifacts.key_arn`)."""
    artifacts: ArtifactAccess
    tools_image_ref: Optional[pulumi.Input[str]]
    """The tools image the small projects run, pinned by digest (build-image/tools.Dockerfile);
    None only where the environment has no small project (ungated, no `verify`)."""
    tools_image_repository_arn: Optional[pulumi.Input[str]]
    pipeline_name: str
    """The pipeline's physical name (its approvals, and what its deploy roles keep off)."""
    stores: ReleaseStores
    account_provider: Optional[aws.Provider] = None
    """For an environment in another account: the provider that declares there."""


class EnvironmentDelivery(pulumi.ComponentResource):
    delivered: DeliveredEnvironment

    def __init__(
        self, name: str, args: EnvironmentDeliveryArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("ecs-delivery:environment:EnvironmentDelivery", name, None, opts)
        env, config, delivery = args.environment, args.config, args.context
        pipeline_arn = delivery.located().apply(
            lambda v: iam_policies.pipeline_arn(
                v["partition"], v["region"], v["account_id"], args.pipeline_name
            )
        )
        # What the environment's small projects share; they run in the pipeline's account.
        small = SmallProject(
            context=delivery,
            environment=env.name,
            image_ref=args.tools_image_ref,
            image_repository_arn=args.tools_image_repository_arn,
            artifact_bucket_arn=args.artifacts.bucket_arn,
            lambda_compute=config.build.small_steps_compute == "lambda",
        )
        context = UnitContext(
            environment=env,
            delivery=delivery,
            parent=self,
            small_project=small,
            account_provider=args.account_provider,
        )

        # Who may answer this environment's approval (new with approvers: no earlier place).
        approvers = (
            Approvers(
                f"approvers-{env.name}",
                ApproversArgs(
                    context=delivery,
                    environment=env.name,
                    pipeline_arn=pipeline_arn,
                    approval_stage=approval_stage_of(env),
                    principals=tuple(env.approvers),
                    create_group=env.approver_group,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            if env.approval
            else None
        )
        target = declare_target(env)(
            TargetContext(
                unit=context,
                config=config,
                pipeline_name=args.pipeline_name,
                pipeline_arn=pipeline_arn,
                artifacts=args.artifacts,
                stores=args.stores,
                release=ReleaseFacts(
                    pipeline_name=args.pipeline_name,
                    approval_stage=approval_stage_of(env),
                    approval_action=APPROVAL_ACTION,
                    approvers=tuple(env.approvers),
                    approver_group_name=approvers.group_name,
                    approver_group_arn=approvers.group_arn,
                )
                if approvers
                else None,
            )
        )
        recorder = (
            ReleaseRecorder(
                f"record-{env.name}",
                ReleaseRecorderArgs(
                    table_name=args.stores.record_table_name or "",
                    table_arn=args.stores.record_table_arn or "",
                    application_repository_name=args.stores.application_repository_name,
                    application_repository_arn=args.stores.application_repository_arn,
                    keep_releases=config.ecr.keep_releases,
                    project=small,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            if env.approval
            else None
        )
        # Every gate unit the environment asks for (components/units/): its resources, and what
        # they give the pipeline.
        bindings = {unit.NAME: unit.declare(context) for unit in GATES if unit.applies(env)}

        refs = pulumi.Output.all(
            target=pulumi.Output.all(**target.refs),
            account_role_arn=target.account_role,
            record_project=recorder.project_name if recorder else None,
            units=pulumi.Output.all(
                **{name: pulumi.Output.all(**binding.refs) for name, binding in bindings.items()}
            ),
        ).apply(lambda values: EnvironmentRefs(**values))
        self.delivered = DeliveredEnvironment(
            config=env,
            refs=refs,
            target=target,
            release_writers=(recorder.role_arn,) if recorder else (),
        )
        self.register_outputs(dict(target.outputs))


def artifact_readers(environments: Sequence[DeliveredEnvironment]) -> Mapping[str, list[pulumi.Input[str]]]:
    """Per other account: the roles there that read artifacts, each once (every environment
    of the account shares the action-role path pattern; each has its own deploy role)."""
    readers: dict[str, list[pulumi.Input[str]]] = {}
    for env in environments:
        if not env.config.account:
            continue
        pattern, deploy_role = env.artifact_readers
        readers.setdefault(env.config.account, [pattern]).append(deploy_role)
    return readers
