"""The CloudFormation deploy target's resources, per environment: what `components/cloudformation.py`
(its actions and IAM documents) needs to exist.

`declare(context)` declares, as children of the environment's component:

- the deploy role and the boundary of the stack's roles (`DeployRole`, in the stack's account);
- with `deployment.testPaths`, the lifecycle-hook function ECS runs before production traffic
  (`LifecycleHook`, in the stack's account);
- gated: the review and confirmation of the change set (`ChangeSetReview`) and the recovery of a
  failed first create (`StackRecovery`), in the pipeline's account;
- in another account: the roles there the pipeline's actions, the review and the recovery act
  through (`CrossAccountAccess`).

It returns the `TargetBinding` the environment and the pipeline use without knowing CloudFormation.
A separate module from `components/cloudformation.py` because the components above use that one
(its documents) and it must not import them back.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_aws as aws

from components import cloudformation, iam_policies, regions
from components.change_set_review import ChangeSetReview, ChangeSetReviewArgs, ReleaseChecks
from components.cross_account import CrossAccountAccess, CrossAccountAccessArgs
from components.deploy_role import DeployRole, DeployRoleArgs, neighbour_stacks
from components.lifecycle_hook import LifecycleHook, LifecycleHookArgs
from components.stack_recovery import StackRecovery, StackRecoveryArgs
from components.units.seam import TargetBinding, TargetContext


def declare(context: TargetContext) -> TargetBinding:
    unit = context.unit
    env, config, parent, delivery = unit.environment, context.config, unit.parent, unit.delivery
    partition = pulumi.Output.from_input(delivery.partition)
    # Declared at the stack's root before the environment's component existed.
    moved = [pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)]
    here = pulumi.ResourceOptions(parent=parent, aliases=moved)
    there = pulumi.ResourceOptions(parent=parent, aliases=moved, provider=unit.account_provider)
    invoke = pulumi.InvokeOutputOptions(parent=parent, provider=unit.account_provider)
    # The environment's account, as its own provider sees it: a data source, not config.
    account_id = aws.get_caller_identity_output(opts=invoke).account_id if env.account else None

    # A stack in another region (`region`; not with `account`, which the config refuses): what
    # lives beside it is declared there. IAM is global: the deploy role is not.
    region_provider = (
        regions.regional_provider(
            f"region-{env.name}",
            env.region,
            account_id=delivery.account_id,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        if env.region
        else None
    )
    # The test ECS runs on the test listener before production traffic (new with it).
    hook = (
        LifecycleHook(
            f"hook-{env.name}",
            LifecycleHookArgs(
                name_prefix=delivery.name_prefix,
                environment=env.name,
                test_paths=tuple(env.deployment.test_paths),
                log_retention_days=delivery.log_retention_days,
            ),
            opts=pulumi.ResourceOptions(parent=parent, provider=region_provider or unit.account_provider),
        )
        if env.has_test_hook
        else None
    )
    deploy_role = DeployRole(
        f"deploy-{env.name}",
        DeployRoleArgs(
            environment=env.name,
            stack_name=env.stack_name,
            account_id=account_id if account_id is not None else delivery.account_id,
            managed_policy_arns=config.deploy_role.managed_policy_arns,
            permissions_boundary_arn=config.deploy_role.permissions_boundary_arn,
            # The stacks of the other environments in this account: its deploy role keeps off them.
            neighbour_stacks=neighbour_stacks(config.environments, env),
            ecs_passed_role_arns=[hook.invoke_role_arn] if hook else [],
            protected_stores=context.stores.protected,
            pipeline_arn=context.pipeline_arn,
            # The very namespace the pipeline role starts projects in (tests/test_project_namespace.py).
            project_arn_pattern=delivery.located().apply(
                lambda v: iam_policies.delivery_projects_pattern(
                    v["partition"], v["region"], v["account_id"], delivery.name_prefix
                )
            ),
        ),
        opts=there,
    )

    def role_there(kind: str) -> Optional[pulumi.Output[str]]:
        """In another account: the ARN pattern of this environment's `kind` role there."""
        if not env.account:
            return None
        path = iam_policies.target_role_path(delivery.name_prefix, kind, env.name)
        return partition.apply(lambda p: iam_policies.role_path_pattern(p, env.account, path))

    release = context.release
    stack = cloudformation.StackAddress(env.stack_name, env.region)
    review = (
        ChangeSetReview(
            f"review-{env.name}",
            ChangeSetReviewArgs(
                stack=stack,
                change_set_name=cloudformation.plan_change_set_name(env),
                image_parameter=config.image_tag_parameter,
                artifact_bucket_name=context.artifacts.bucket_name,
                project=unit.small_project,
                checks=ReleaseChecks(
                    pipeline_name=release.pipeline_name,
                    approval_stage=release.approval_stage,
                    approval_action=release.approval_action,
                    approvers=tuple(release.approvers),
                    image_repository_name=context.stores.application_repository_name,
                    image_repository_arn=context.stores.application_repository_arn,
                    record_table_name=context.stores.record_table_name or "",
                    record_table_arn=context.stores.record_table_arn or "",
                    digest_parameter=config.image_digest_parameter,
                    approver_group_name=release.approver_group_name,
                    approver_group_arn=release.approver_group_arn,
                ),
                reader_role_pattern=role_there("review"),
            ),
            opts=here,
        )
        if release is not None
        else None
    )
    # New with the recovery: no earlier place to alias.
    recovery = (
        StackRecovery(
            f"recover-{env.name}",
            StackRecoveryArgs(
                stack=stack, project=unit.small_project, recovery_role_pattern=role_there("recovery")
            ),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        if release is not None
        else None
    )
    access = (
        CrossAccountAccess(
            env.name,
            CrossAccountAccessArgs(
                environment=env.name,
                stack_name=env.stack_name,
                context=delivery,
                artifact_bucket_arn=context.artifacts.bucket_arn,
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

    readers: tuple[pulumi.Input[str], ...] = ()
    if env.account:
        action_roles = partition.apply(
            lambda p: iam_policies.role_path_pattern(
                p, env.account, iam_policies.target_roles_path(delivery.name_prefix, "action")
            )
        )
        readers = (action_roles, deploy_role.principal_arn)
    none = pulumi.Output.from_input(None)
    return TargetBinding(
        refs={
            "deploy_role_arn": deploy_role.role_arn,
            "boundary_arn": deploy_role.boundary_policy_arn,
            "review_project": review.project_name if review else none,
            "recovery_project": recovery.project_name if recovery else none,
            "review_reader_arn": (access.review_reader_role_arn if access else None) or none,
            "recovery_role_arn": (access.recovery_role_arn if access else None) or none,
            "test_hook_function_arn": hook.function_arn if hook else none,
            "test_hook_role_arn": hook.invoke_role_arn if hook else none,
        },
        # The pipeline role hands over the deploy roles of its own account's stacks; in another
        # account the action role there does.
        passed_roles=() if env.account else (deploy_role.role_arn,),
        account_role=access.action_role_arn if access else None,
        artifact_writers=(review.role_arn,) if review else (),
        artifact_readers=readers,
        outputs={
            "deploy_role_arn": deploy_role.role_arn,
            "boundary_policy_arn": deploy_role.boundary_policy_arn,
        },
    )
