"""`EnvironmentDelivery`: everything one environment has, and the one object the pipeline
takes of it.

Per environment: the deploy role and the boundary of its stack's roles (`DeployRole`, in the
environment's account), for a gated one who may approve (`Approvers`), the review and
confirmation of its releases (`ChangeSetReview`), their record (`ReleaseRecorder`) and the
recovery of its failed first create (`StackRecovery`), each gate unit it asks for
(`components/units/`, e.g. the smoke test), and for an
environment in another account the roles there the pipeline, the review and the recovery act
through (`CrossAccountAccess`). What the pipeline needs of them is
`DeliveredEnvironment`: the names and ARNs its actions use, typed, and the ARNs its role
must be allowed to use.

The children declared at the stack's root before this component existed carry an alias to
that place, so an upgraded stack keeps them (tests/test_urn_snapshots.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.approvers import APPROVAL_ACTION, Approvers, ApproversArgs
from components.blueprint import approval_stage_of
from components.change_set_review import ChangeSetReview, ChangeSetReviewArgs, ReleaseChecks
from components.cloudformation import plan_change_set_name
from components.codebuild_runner import SmallProject
from components.config import EnvironmentConfig
from components.cross_account import CrossAccountAccess, CrossAccountAccessArgs
from components.deploy_role import DeployRole, DeployRoleArgs
from components.lifecycle_hook import LifecycleHook, LifecycleHookArgs
from components.release_recorder import ReleaseRecorder, ReleaseRecorderArgs
from components.spec import EnvironmentRefs
from components.stack_recovery import StackRecovery, StackRecoveryArgs
from components.units import GATES
from components.units.seam import GateBinding, UnitContext


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
class DeliveredEnvironment:
    """What the pipeline takes of one environment."""

    config: EnvironmentConfig
    refs: pulumi.Output[EnvironmentRefs]
    """What its actions name (deploy role, boundary, projects, roles in another account)."""
    deploy_role_arn: pulumi.Output[str]
    """Passed to CloudFormation by the pipeline role (same account) or the action role."""
    review_project_arn: Optional[pulumi.Output[str]]
    """Gated: the review project the pipeline starts."""
    recovery_project_arn: Optional[pulumi.Output[str]]
    """Gated: the stack-recovery project the pipeline starts."""
    bindings: Mapping[str, GateBinding]
    """Per gate unit the environment has (components/units/), what its resources give."""
    action_role_arn: Optional[pulumi.Output[str]]
    """In another account: the role the pipeline role assumes there."""
    record_project_arn: Optional[pulumi.Output[str]]
    """Gated: the release-recorder project the pipeline starts."""
    artifact_writers: tuple[pulumi.Output[str], ...]
    """The roles of this environment that write artifacts (a gated one's review: its reports)."""
    release_writers: tuple[pulumi.Output[str], ...]
    """The roles of this environment that write release records and mark images (its recorder)."""
    artifact_readers: tuple[pulumi.Input[str], ...]
    """In another account: the roles there that read artifacts (its action roles, by their
    path, and its deploy role): what the artifact key and bucket policies admit."""


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
class EnvironmentDeliveryArgs:
    environment: EnvironmentConfig
    name_prefix: str
    """`<app>-<stack>`: prefixes the physical names of the environment's projects and roles."""
    pipeline_account_id: pulumi.Input[str]
    region: pulumi.Input[str]
    artifacts: ArtifactAccess
    tools_image_ref: Optional[pulumi.Input[str]]
    """The tools image the small projects run, pinned by digest (build-image/tools.Dockerfile);
    None only where the environment has no small project (ungated, no `verify`)."""
    tools_image_repository_arn: Optional[pulumi.Input[str]]
    image_tag_parameter: str
    """The template parameter the review shows first (old tag → new)."""
    pipeline_name: str
    """The pipeline's physical name (its approvals, and what its deploy roles keep off)."""
    stores: ReleaseStores
    image_digest_parameter: Optional[str] = None
    """The template parameter that receives the image digest (`imageDigestParameter`)."""
    keep_releases: int = 10
    """Release marks kept per gated environment (`ecr.keepReleases`)."""
    log_retention_days: int = 30
    architecture: str = "x86_64"
    small_steps_on_lambda: bool = True
    """`build.smallStepsCompute` is `lambda`."""
    managed_policy_arns: Optional[Sequence[str]] = None
    """The deploy role's managed policies (None: PowerUserAccess)."""
    permissions_boundary_arn: Optional[str] = None
    """A boundary for the deploy role itself."""
    neighbour_stacks: Sequence[str] = ()
    """The stacks of the other environments in this environment's account (its deploy role
    keeps off them)."""
    account_provider: Optional[aws.Provider] = None
    """For an environment in another account: the provider that declares there."""


class EnvironmentDelivery(pulumi.ComponentResource):
    delivered: DeliveredEnvironment

    def __init__(
        self, name: str, args: EnvironmentDeliveryArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("ecs-delivery:environment:EnvironmentDelivery", name, None, opts)
        env = args.environment
        # Declared at the stack's root before this component existed.
        moved = [pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)]
        here = pulumi.ResourceOptions(parent=self, aliases=moved)
        there = pulumi.ResourceOptions(parent=self, aliases=moved, provider=args.account_provider)
        invoke = pulumi.InvokeOutputOptions(parent=self, provider=args.account_provider)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        # The environment's account, as its own provider sees it: a data source, not config.
        account_id = aws.get_caller_identity_output(opts=invoke).account_id if env.account else None

        here_values = pulumi.Output.all(
            partition=partition, region=args.region, account_id=args.pipeline_account_id
        )
        pipeline_arn = here_values.apply(
            lambda v: iam_policies.pipeline_arn(
                v["partition"], v["region"], v["account_id"], args.pipeline_name
            )
        )
        # The test ECS runs on the test listener before production traffic (new with it).
        hook = (
            LifecycleHook(
                f"hook-{env.name}",
                LifecycleHookArgs(
                    name_prefix=args.name_prefix,
                    environment=env.name,
                    test_paths=tuple(env.deployment.test_paths),
                    log_retention_days=args.log_retention_days,
                ),
                opts=pulumi.ResourceOptions(parent=self, provider=args.account_provider),
            )
            if env.has_test_hook
            else None
        )
        deploy_role = DeployRole(
            f"deploy-{env.name}",
            DeployRoleArgs(
                environment=env.name,
                stack_name=env.stack_name,
                account_id=account_id if account_id is not None else args.pipeline_account_id,
                managed_policy_arns=args.managed_policy_arns,
                permissions_boundary_arn=args.permissions_boundary_arn,
                neighbour_stacks=args.neighbour_stacks,
                ecs_passed_role_arns=[hook.invoke_role_arn] if hook else [],
                protected_stores=args.stores.protected,
                pipeline_arn=pipeline_arn,
                project_arn_pattern=here_values.apply(
                    lambda v: (
                        f"arn:{v['partition']}:codebuild:{v['region']}:{v['account_id']}:"
                        f"project/{args.name_prefix}-*"
                    )
                ),
            ),
            opts=there,
        )
        # What the environment's small projects share; they run in the pipeline's account.
        small = SmallProject(
            image_ref=args.tools_image_ref,
            image_repository_arn=args.tools_image_repository_arn,
            artifact_bucket_arn=args.artifacts.bucket_arn,
            account_id=args.pipeline_account_id,
            region=args.region,
            log_retention_days=args.log_retention_days,
            kms_key_arn=args.artifacts.key_arn,
            architecture=args.architecture,
            lambda_compute=args.small_steps_on_lambda,
        )

        def role_there(kind: str) -> Optional[pulumi.Output[str]]:
            """In another account: the ARN pattern of this environment's `kind` role there."""
            if not env.account:
                return None
            path = iam_policies.target_role_path(args.name_prefix, kind, env.name)
            return partition.apply(lambda p: iam_policies.role_path_pattern(p, env.account, path))

        # Who may answer this environment's approval (new with approvers: no earlier place).
        approvers = (
            Approvers(
                f"approvers-{env.name}",
                ApproversArgs(
                    name_prefix=args.name_prefix,
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
        review = (
            ChangeSetReview(
                f"review-{env.name}",
                ChangeSetReviewArgs(
                    name_prefix=args.name_prefix,
                    environment=env.name,
                    stack_name=env.stack_name,
                    change_set_name=plan_change_set_name(env),
                    image_parameter=args.image_tag_parameter,
                    artifact_bucket_name=args.artifacts.bucket_name,
                    project=small,
                    checks=ReleaseChecks(
                        pipeline_name=args.pipeline_name,
                        approval_stage=approval_stage_of(env),
                        approval_action=APPROVAL_ACTION,
                        approvers=tuple(env.approvers),
                        image_repository_name=args.stores.application_repository_name,
                        image_repository_arn=args.stores.application_repository_arn,
                        record_table_name=args.stores.record_table_name or "",
                        record_table_arn=args.stores.record_table_arn or "",
                        digest_parameter=args.image_digest_parameter,
                        approver_group_name=approvers.group_name if approvers else None,
                        approver_group_arn=approvers.group_arn if approvers else None,
                    ),
                    reader_role_pattern=role_there("review"),
                ),
                opts=here,
            )
            if env.approval
            else None
        )
        recorder = (
            ReleaseRecorder(
                f"record-{env.name}",
                ReleaseRecorderArgs(
                    name_prefix=args.name_prefix,
                    environment=env.name,
                    table_name=args.stores.record_table_name or "",
                    table_arn=args.stores.record_table_arn or "",
                    application_repository_name=args.stores.application_repository_name,
                    application_repository_arn=args.stores.application_repository_arn,
                    keep_releases=args.keep_releases,
                    project=small,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            if env.approval
            else None
        )
        # New with the recovery: no earlier place to alias.
        recovery = (
            StackRecovery(
                f"recover-{env.name}",
                StackRecoveryArgs(
                    name_prefix=args.name_prefix,
                    environment=env.name,
                    stack_name=env.stack_name,
                    project=small,
                    recovery_role_pattern=role_there("recovery"),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            if env.approval
            else None
        )
        # Every gate unit the environment asks for (components/units/): its resources, and what
        # they give the pipeline.
        context = UnitContext(
            environment=env,
            name_prefix=args.name_prefix,
            parent=self,
            partition=partition,
            pipeline_account_id=args.pipeline_account_id,
            region=args.region,
            small_project=small,
            account_provider=args.account_provider,
        )
        bindings = {unit.NAME: unit.declare(context) for unit in GATES if unit.applies(env)}
        access = (
            CrossAccountAccess(
                env.name,
                CrossAccountAccessArgs(
                    environment=env.name,
                    stack_name=env.stack_name,
                    name_prefix=args.name_prefix,
                    pipeline_account_id=args.pipeline_account_id,
                    region=args.region,
                    artifact_bucket_arn=args.artifacts.bucket_arn,
                    artifact_key_arn=args.artifacts.key_arn,
                    deploy_role_arn=deploy_role.role_arn,
                    review_role_arn=review.role_arn if review else None,
                    recovery_role_arn=recovery.role_arn if recovery else None,
                    alarms=tuple(env.alarms),
                ),
                opts=there,
            )
            if env.account
            else None
        )

        refs = pulumi.Output.all(
            deploy_role_arn=deploy_role.role_arn,
            boundary_arn=deploy_role.boundary_policy_arn,
            review_project=review.project_name if review else None,
            action_role_arn=access.action_role_arn if access else None,
            review_reader_arn=access.review_reader_role_arn if access else None,
            recovery_project=recovery.project_name if recovery else None,
            recovery_role_arn=access.recovery_role_arn if access else None,
            record_project=recorder.project_name if recorder else None,
            test_hook_function_arn=hook.function_arn if hook else None,
            test_hook_role_arn=hook.invoke_role_arn if hook else None,
            units=pulumi.Output.all(
                **{name: pulumi.Output.all(**binding.refs) for name, binding in bindings.items()}
            ),
        ).apply(lambda values: EnvironmentRefs(**values))
        readers: tuple[pulumi.Input[str], ...] = ()
        if env.account:
            action_roles = partition.apply(
                lambda p: iam_policies.role_path_pattern(
                    p, env.account, iam_policies.target_roles_path(args.name_prefix, "action")
                )
            )
            readers = (action_roles, deploy_role.principal_arn)
        self.delivered = DeliveredEnvironment(
            config=env,
            refs=refs,
            deploy_role_arn=deploy_role.role_arn,
            review_project_arn=review.project_arn if review else None,
            recovery_project_arn=recovery.project_arn if recovery else None,
            bindings=bindings,
            action_role_arn=access.action_role_arn if access else None,
            record_project_arn=recorder.project_arn if recorder else None,
            artifact_writers=(review.role_arn,) if review else (),
            release_writers=(recorder.role_arn,) if recorder else (),
            artifact_readers=readers,
        )
        self.register_outputs(
            {"deploy_role_arn": deploy_role.role_arn, "boundary_policy_arn": deploy_role.boundary_policy_arn}
        )


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
