"""The deploy target: an environment is a CloudFormation stack.

Everything the delivery system knows about CloudFormation is here, behind the seam the
blueprint's gates wrap (`components/blueprint.py`, `DeployTarget`):

- **actions**: `deploy` (an ungated environment: the stack at once, replaced when its last
  create failed), `plan` (a gated one: clear a stack whose first create failed, then a change
  set and its review), `release` (the change set created again, confirmed to be the one
  reviewed, and executed), `describe` (what the approver is told), and the variables
  namespace the deployed stack's outputs appear in;
- **permissions**: what the pipeline role and, in another account, the action role need to
  drive the stacks, the deploy role's own policy and the boundary of every role a stack
  creates (`DeployRole` declares them), the review's read access.

Its proofs (what CloudFormation will ask of a deploy role for a given template, from the
CloudFormation registry's handler permissions) live with the tests, in
tests/support/deploy_requests.py: they read the registry schemas cfn-lint ships, a development
dependency that `pulumi up` does not have.

- **config**: `CloudFormationEnvironment`, its variant of an environment's config (the keys
  only this target reads); the registry joins every gate's option to it
  (`components/units/__init__.py`).

A second target (an ECS service updated in place, a Pulumi stack) would be one module like this
one, with its own variant; the gates need no change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from pydantic import Field

from components.config import (
    DEPLOYMENT_PARAMETER_NAMES,
    PLAN_CHANGE_SET_SUFFIX,
    RELEASE_CHANGE_SET_SUFFIX,
    DeploymentConfig,
    EnvironmentGates,
    ParameterName,
    ParameterValue,
    RelativePath,
    StackName,
)
from components.iam_policies import PolicyDocument, document, statement
from components.spec import (
    APPLICATION_SOURCE_NAMESPACE,
    APPLICATION_VERSION,
    INFRASTRUCTURE_SOURCE,
    ActionSpec,
    PipelineRefs,
    codebuild_variables,
    worst_case_value,
)

if TYPE_CHECKING:
    # Only named in annotations: the registry, which assembles them, imports this module first.
    from components.config import DeliveryConfig, EnvironmentConfig

PROVIDER = "CloudFormation"
CAPABILITIES = "CAPABILITY_NAMED_IAM"


# -- its config variant -----------------------------------------------------------------------


class CloudFormationEnvironment(EnvironmentGates):
    """An environment that is a CloudFormation stack: the keys its deploy target reads."""

    stack_name: StackName
    """CloudFormation stack the environment deploys, unique; its roles live under the IAM path
    `/<stackName>/`. At most 119 characters when gated (change sets `<stackName>-pipeline`
    within CloudFormation's 128)."""
    template_configuration: Optional[RelativePath] = None
    """Template configuration file (`{"Parameters": {...}}`) in the infrastructure repo."""
    parameters: dict[ParameterName, ParameterValue] = Field(default_factory=dict)
    """Extra template parameters (strings), merged into `ParameterOverrides`; not the four the
    pipeline sets."""
    deployment: Optional[DeploymentConfig] = None
    """How the template's ECS service takes each release: rolling, blue-green, canary or linear,
    with its bake times, the alarms that roll it back and the test run before production traffic
    moves (docs/deployment-strategies.md). Absent: the pipeline passes none of the deployment
    parameters and the template's own defaults hold."""

    @property
    def has_test_hook(self) -> bool:
        """Whether the program declares a lifecycle-hook function for this environment."""
        return self.deployment is not None and self.deployment.has_test_hook


# -- what its actions name ----------------------------------------------------------------------


@dataclass(frozen=True)
class StackRefs:
    """What a CloudFormation environment's actions name (its `EnvironmentRefs.target`; the
    resources: components/cloudformation_target.py)."""

    deploy_role_arn: str
    """The role CloudFormation deploys the stack with (its service role)."""
    boundary_arn: str
    """The permissions boundary every role the stack creates must carry."""
    review_project: Optional[str] = None
    """Gated: the CodeBuild project that reviews the plan's change set and confirms the release's."""
    recovery_project: Optional[str] = None
    """Gated: the CodeBuild project that clears a stack whose first create failed."""
    review_reader_arn: Optional[str] = None
    """Gated, in another account: the read-only role there the review assumes."""
    recovery_role_arn: Optional[str] = None
    """Gated, in another account: the role there the recovery assumes."""
    test_hook_function_arn: Optional[str] = None
    """With `deployment.testPaths`: the lifecycle-hook function ECS runs against the test listener."""
    test_hook_role_arn: Optional[str] = None
    """With `deployment.testPaths`: the role ECS assumes to invoke that function."""


def stack_refs(env: EnvironmentConfig, refs: PipelineRefs) -> StackRefs:
    return StackRefs(**refs.environments[env.name].target)


def worst_case_refs(env: EnvironmentConfig) -> dict[str, Optional[str]]:
    """`StackRefs` as long as each can be (CodePipeline's length limits, checked before anything
    is declared)."""
    gated, remote = env.approval, bool(env.account)
    return {
        "deploy_role_arn": worst_case_value("deploy-role"),
        "boundary_arn": worst_case_value("boundary"),
        "review_project": worst_case_value("review-project") if gated else None,
        "recovery_project": worst_case_value("recovery-project") if gated else None,
        "review_reader_arn": worst_case_value("review-reader") if gated and remote else None,
        "recovery_role_arn": worst_case_value("recovery-role") if gated and remote else None,
        "test_hook_function_arn": worst_case_value("test-hook-function") if env.has_test_hook else None,
        "test_hook_role_arn": worst_case_value("test-hook-role") if env.has_test_hook else None,
    }


# -- actions --------------------------------------------------------------------------------


def outputs_namespace(environment: str) -> str:
    """Variables namespace of the action that deploys an environment's stack: CloudFormation
    actions publish the stack's outputs as variables (`#{Stack-<env>.ApplicationUrl}`)."""
    return f"Stack-{environment}"


def plan_change_set_name(env: EnvironmentConfig) -> str:
    """The change set a gated environment's plan stage creates and reviews: what the
    approver sees (the release's own change set must match it)."""
    return env.stack_name + PLAN_CHANGE_SET_SUFFIX


def release_change_set_name(env: EnvironmentConfig) -> str:
    """The change set the release stage creates, confirms and executes."""
    return env.stack_name + RELEASE_CHANGE_SET_SUFFIX


def parameter_overrides(config: DeliveryConfig, env: EnvironmentConfig, refs: PipelineRefs) -> str:
    """What the pipeline sets in every environment's template: the image tag and its digest
    from the build's version file, the repository and registry the build pushed it to, and the
    environment's permissions boundary; the environment's own parameters are merged in after
    them."""
    overrides: dict[str, object] = {
        config.image_tag_parameter: {
            "Fn::GetParam": [APPLICATION_VERSION, config.build.version_file, config.build.version_key]
        },
        **(
            {
                config.image_digest_parameter: {
                    "Fn::GetParam": [APPLICATION_VERSION, config.build.version_file, config.build.digest_key]
                }
            }
            if config.image_digest_parameter
            else {}
        ),
        config.image_repository_parameter: config.image_repository_name,
        config.image_registry_parameter: refs.image_registry,
        config.permissions_boundary_parameter: stack_refs(env, refs).boundary_arn,
    }
    overrides.update(deployment_parameters(env, refs))
    overrides.update(env.parameters)
    return json.dumps(overrides, separators=(",", ":"))


(
    STRATEGY_PARAMETER,
    BAKE_PARAMETER,
    ALARMS_PARAMETER,
    CANARY_PERCENT_PARAMETER,
    CANARY_BAKE_PARAMETER,
    STEP_PERCENT_PARAMETER,
    STEP_BAKE_PARAMETER,
    HOOK_FUNCTION_PARAMETER,
    HOOK_ROLE_PARAMETER,
) = DEPLOYMENT_PARAMETER_NAMES


def _percent(value: float) -> str:
    return f"{value:.1f}"


def deployment_parameters(env: EnvironmentConfig, refs: PipelineRefs) -> dict[str, str]:
    """An environment's `deployment` as the template parameters of the contract
    (docs/template-contract.md, "Deployment strategies"): the strategy as ECS names it, its
    bake time, the alarms that roll it back (one comma-separated list, a CommaDelimitedList
    parameter; empty: none), the canary's or the linear steps' shares and waits, and, with a
    lifecycle-hook test, the function and the role ECS invokes it with. Only what the strategy
    uses is passed, within CloudFormation's 1 KB of ParameterOverrides; the template's defaults
    hold for the rest. No `deployment`: nothing, so a template without these parameters still
    deploys."""
    deployment = env.deployment
    if deployment is None:
        return {}
    parameters = {
        STRATEGY_PARAMETER: deployment.ecs_strategy,
        ALARMS_PARAMETER: ",".join(deployment.alarms),
    }
    if deployment.strategy != "rolling":
        parameters[BAKE_PARAMETER] = str(deployment.bake_minutes)
    if deployment.strategy == "canary":
        parameters[CANARY_PERCENT_PARAMETER] = _percent(deployment.canary)
        parameters[CANARY_BAKE_PARAMETER] = str(deployment.canary_bake)
    if deployment.strategy == "linear":
        parameters[STEP_PERCENT_PARAMETER] = _percent(deployment.step)
        parameters[STEP_BAKE_PARAMETER] = str(deployment.step_bake)
    env_refs = stack_refs(env, refs)
    if deployment.has_test_hook:
        if not (env_refs.test_hook_function_arn and env_refs.test_hook_role_arn):
            # A test the config asks for must never be dropped silently.
            raise ValueError(
                f"environment {env.name!r}: deployment.testPaths without its lifecycle-hook function"
            )
        parameters[HOOK_FUNCTION_PARAMETER] = env_refs.test_hook_function_arn
        parameters[HOOK_ROLE_PARAMETER] = env_refs.test_hook_role_arn
    return parameters


def _template_settings(config: DeliveryConfig, env: EnvironmentConfig, refs: PipelineRefs) -> dict[str, str]:
    settings = {
        "StackName": env.stack_name,
        "TemplatePath": f"{INFRASTRUCTURE_SOURCE}::{config.infrastructure.template_path}",
    }
    if env.template_configuration:
        settings["TemplateConfiguration"] = f"{INFRASTRUCTURE_SOURCE}::{env.template_configuration}"
    settings.update(
        ParameterOverrides=parameter_overrides(config, env, refs),
        Capabilities=CAPABILITIES,
        RoleArn=stack_refs(env, refs).deploy_role_arn,
    )
    return settings


def _action_role(env: EnvironmentConfig, refs: PipelineRefs) -> Optional[str]:
    """CloudFormation actions of an environment in another account run as its action role
    there; everything else runs as the pipeline's role."""
    return refs.environments[env.name].account_role_arn if env.account else None


# An ungated environment's action mode. REPLACE_ON_FAILURE creates or updates the stack like
# CREATE_UPDATE, except that a stack in a failed state (ROLLBACK_COMPLETE, ROLLBACK_FAILED,
# CREATE_FAILED, DELETE_FAILED, UPDATE_ROLLBACK_FAILED) is deleted and created again (AWS,
# "CloudFormation deploy action reference", ActionMode). So a first create that failed (the
# example's placeholder network ids) does not jam every later run. AWS recommends the mode for
# testing: what an ungated environment is; a gated one never deletes a stack that completed
# (`plan`, `recover_action`).
UNGATED_ACTION_MODE = "REPLACE_ON_FAILURE"


def deploy(config: DeliveryConfig, env: EnvironmentConfig, refs: PipelineRefs) -> tuple[ActionSpec, ...]:
    """An ungated environment: create or update the stack at once (its outputs published)."""
    return (
        ActionSpec(
            name="Deploy",
            category="Deploy",
            provider=PROVIDER,
            configuration={"ActionMode": UNGATED_ACTION_MODE, **_template_settings(config, env, refs)},
            input_artifacts=(INFRASTRUCTURE_SOURCE, APPLICATION_VERSION),
            namespace=outputs_namespace(env.name),
            role=_action_role(env, refs),
            region=env.region,
        ),
    )


def recover_action(env: EnvironmentConfig, refs: PipelineRefs, *, run_order: int) -> ActionSpec:
    """Clear the stack when its first create failed (ROLLBACK_COMPLETE: it never held a
    release, and CloudFormation refuses every change set on it); any other state is left
    alone (build-image/recover-stack)."""
    environment_refs = stack_refs(env, refs)
    configuration = {"ProjectName": environment_refs.recovery_project or ""}
    if env.account:
        # The role the recovery assumes in the environment's account.
        configuration["EnvironmentVariables"] = codebuild_variables(
            [{"name": "RECOVERY_ROLE_ARN", "value": environment_refs.recovery_role_arn or ""}]
        )
    return ActionSpec(
        name="RecoverStack",
        category="Build",
        provider="CodeBuild",
        configuration=configuration,
        # CodeBuild actions take at least one input; the recovery reads the stack, not it.
        input_artifacts=(INFRASTRUCTURE_SOURCE,),
        run_order=run_order,
    )


def _create_change_set(
    config: DeliveryConfig, env: EnvironmentConfig, refs: PipelineRefs, *, name: str, run_order: int
) -> ActionSpec:
    return ActionSpec(
        name="CreateChangeSet",
        category="Deploy",
        provider=PROVIDER,
        configuration={
            "ActionMode": "CHANGE_SET_REPLACE",
            "ChangeSetName": name,
            **_template_settings(config, env, refs),
        },
        input_artifacts=(INFRASTRUCTURE_SOURCE, APPLICATION_VERSION),
        run_order=run_order,
        role=_action_role(env, refs),
        region=env.region,
    )


def _reader_variable(env: EnvironmentConfig, refs: PipelineRefs) -> list[dict[str, str]]:
    """The read-only role a review or confirm assumes in the environment's other account."""
    if not env.account:
        return []
    return [{"name": "READER_ROLE_ARN", "value": stack_refs(env, refs).review_reader_arn or ""}]


# The gate units' plan checks run beside the plan change set's creation: after the recovery
# (a stack it clears is one they need not read), before the review that shows them.
PLAN_CHECKS_RUN_ORDER = 2
# The release checks run beside the confirmation, after the release's change set exists and before
# it is executed (run order 3).
RELEASE_CHECKS_RUN_ORDER = 2


def review_check_variables(review_checks: Mapping[str, str]) -> list[dict[str, str]]:
    """Each check the review shows, as REVIEW_CHECK_<NAME> (build-image/review-change-set)."""
    return [
        {"name": f"REVIEW_CHECK_{name.upper().replace('-', '_')}", "value": value}
        for name, value in review_checks.items()
    ]


def plan(
    config: DeliveryConfig,
    env: EnvironmentConfig,
    refs: PipelineRefs,
    *,
    review_namespace: str,
    review_checks: Optional[Mapping[str, str]] = None,
) -> tuple[ActionSpec, ...]:
    """A gated environment's reviewable change: a stack whose first create failed cleared,
    the plan change set, then the review that exports CHANGE_COUNT, REVIEW_SUMMARY,
    CHANGE_SET_URL, FINGERPRINT and PLAN_EXECUTION_ID into `review_namespace`, and shows each of
    `review_checks` (the gate units' checks, run beside the change set's creation)."""
    recover = recover_action(env, refs, run_order=1)
    create = _create_change_set(
        config, env, refs, name=plan_change_set_name(env), run_order=PLAN_CHECKS_RUN_ORDER
    )
    review = ActionSpec(
        name="ReviewChangeSet",
        category="Build",
        provider="CodeBuild",
        configuration={
            "ProjectName": stack_refs(env, refs).review_project or "",
            "EnvironmentVariables": codebuild_variables(
                [
                    {"name": "PIPELINE_EXECUTION_ID", "value": "#{codepipeline.PipelineExecutionId}"},
                    {"name": "APP_COMMIT", "value": f"#{{{APPLICATION_SOURCE_NAMESPACE}.CommitId}}"},
                    *_reader_variable(env, refs),
                    *review_check_variables(review_checks or {}),
                ]
            ),
        },
        # CodeBuild actions take at least one input; the review reads the change set, not it.
        input_artifacts=(INFRASTRUCTURE_SOURCE,),
        run_order=PLAN_CHECKS_RUN_ORDER + 1,
        namespace=review_namespace,
    )
    return recover, create, review


def release(
    config: DeliveryConfig,
    env: EnvironmentConfig,
    refs: PipelineRefs,
    *,
    plan_namespace: str,
    release_namespace: str,
) -> tuple[ActionSpec, ...]:
    """A gated environment's release, after its approval: the change set created again from
    the same artifacts, confirmed (`build-image/release_gate.py confirm`), then executed (its
    outputs published). Created again because a rollback or retry runs this stage's actions
    once more, and an executed change set is consumed.

    The confirm lets the change set through only when it is exactly what was approved in this
    execution (the plan's FINGERPRINT: template, parameters, every change and its property
    values; the image behind the tag still the reviewed digest; the approval answered by one of
    the environment's approvers), or when it deploys exactly a release that was approved and
    executed before (the release record: a rollback, or a retry after the release executed).
    Anything else, including a plan whose variables did not resolve, is refused. It exports
    what the release record keeps into `release_namespace` (RELEASE)."""
    create = _create_change_set(config, env, refs, name=release_change_set_name(env), run_order=1)
    confirm = ActionSpec(
        name="ConfirmChangeSet",
        category="Test",
        provider="CodeBuild",
        configuration={
            "ProjectName": stack_refs(env, refs).review_project or "",
            "EnvironmentVariables": codebuild_variables(
                [
                    {"name": "REVIEW_MODE", "value": "confirm"},
                    {"name": "CHANGE_SET_NAME", "value": release_change_set_name(env)},
                    {"name": "EXPECTED_FINGERPRINT", "value": f"#{{{plan_namespace}.FINGERPRINT}}"},
                    {"name": "PLAN_EXECUTION_ID", "value": f"#{{{plan_namespace}.PLAN_EXECUTION_ID}}"},
                    {"name": "PLAN_IMAGE_DIGEST", "value": f"#{{{plan_namespace}.IMAGE_DIGEST}}"},
                    {"name": "PIPELINE_EXECUTION_ID", "value": "#{codepipeline.PipelineExecutionId}"},
                    *_reader_variable(env, refs),
                ]
            ),
        },
        input_artifacts=(INFRASTRUCTURE_SOURCE,),
        run_order=2,
        namespace=release_namespace,
    )
    execute = ActionSpec(
        name="ExecuteChangeSet",
        category="Deploy",
        provider=PROVIDER,
        configuration={
            "ActionMode": "CHANGE_SET_EXECUTE",
            "StackName": env.stack_name,
            "ChangeSetName": release_change_set_name(env),
        },
        run_order=3,
        namespace=outputs_namespace(env.name),
        role=_action_role(env, refs),
        region=env.region,
    )
    return create, confirm, execute


def describe(env: EnvironmentConfig) -> str:
    """What the approver is told the release changes, besides the review's summary."""
    account = f" in account {env.account}" if env.account else ""
    return f"stack {env.stack_name}{account}, change set {plan_change_set_name(env)}"


def pipeline_stack_names(config: DeliveryConfig) -> tuple[str, ...]:
    """Stacks the pipeline role drives itself: those in the pipeline's own account (the others
    are driven through their environments' action roles)."""
    return tuple(env.stack_name for env in config.environments if not env.account)


# -- permissions ----------------------------------------------------------------------------

CLOUDFORMATION_DEPLOY_ACTIONS = (
    "cloudformation:CreateStack",
    "cloudformation:UpdateStack",
    "cloudformation:DeleteStack",
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents",
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:DeleteChangeSet",
    "cloudformation:SetStackPolicy",
)
# cloudformation:ValidateTemplate has no resource-level form in IAM: it can only be granted on "*".
VALIDATE_TEMPLATE = "cloudformation:ValidateTemplate"


def stack_arn(partition: str, region: str, account_id: str, stack_name: str) -> str:
    return f"arn:{partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/*"


@dataclass(frozen=True)
class StackAddress:
    """Where an environment's stack is, as the small projects that call CloudFormation on it
    (review, recovery, drift check) name it: their role's statements, their STACK_* variables."""

    name: str
    region: Optional[str] = None
    """`environments[].region`; None: the pipeline's region."""

    def arn(self, v: Mapping[str, str]) -> str:
        """Its ARN in the account `v` names (`partition`, `region`, `account_id` resolved: the
        pipeline's), in its own region when it has one."""
        return stack_arn(v["partition"], self.region or v["region"], v["account_id"], self.name)

    def variables(self) -> dict[str, str]:
        """STACK_NAME, and STACK_REGION when it is not the pipeline's (the scripts then call
        CloudFormation there)."""
        return {"STACK_NAME": self.name} | ({"STACK_REGION": self.region} if self.region else {})


def _pass_deploy_roles(sid: str, deploy_role_arns: Sequence[str]) -> dict[str, Any]:
    return statement(
        sid,
        ["iam:PassRole"],
        deploy_role_arns,
        {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
    )


def pipeline_statements(
    *, stack_arns: Sequence[str], deploy_role_arns: Sequence[str]
) -> list[dict[str, Any]]:
    """What the pipeline role needs to drive the stacks of its own account: the CloudFormation
    actions' calls on those stacks, and handing each its deploy role."""
    return [
        *([statement("DeployStacks", CLOUDFORMATION_DEPLOY_ACTIONS, stack_arns)] if stack_arns else []),
        # ValidateTemplate has no resource form.
        statement("ValidateTemplates", [VALIDATE_TEMPLATE], ["*"]),
        *([_pass_deploy_roles("PassDeployRoles", deploy_role_arns)] if deploy_role_arns else []),
    ]


def pipeline_role_statements(
    environments: Sequence[EnvironmentConfig], *, here: Mapping[str, str], passed_roles: Sequence[str]
) -> list[dict[str, Any]]:
    """The deploy target's part of the pipeline role's document (`DeployTarget`): for the stacks
    of `environments` in the pipeline's own account (`here`: its partition, region, account), the
    CloudFormation actions' calls, and handing each stack its deploy role (`passed_roles`); the
    stacks in other accounts are driven through their action roles."""
    return pipeline_statements(
        stack_arns=[
            # A stack in another region is driven there (the action's `region`).
            stack_arn(here["partition"], env.region or here["region"], here["account_id"], env.stack_name)
            for env in environments
            if not env.account
        ],
        deploy_role_arns=passed_roles,
    )


def action_role_policy(
    *,
    bucket_arn: str,
    pipeline_account_id: str,
    kms_key_arn: str,
    stack_arn: str,
    deploy_role_arn: str,
    alarm_arns: Sequence[str] = (),
) -> PolicyDocument:
    """What the pipeline does in a target account through the action role of one
    environment: read the artifacts its CloudFormation actions take (in the pipeline
    account's bucket, with its key), drive that environment's stack only, hand it its
    deploy role, and read the alarms its rules watch (AWS, "Create a pipeline that uses
    resources from another AWS account")."""
    return document(
        statement(
            "ReadArtifacts",
            ["s3:GetObject", "s3:GetObjectVersion"],
            [f"{bucket_arn}/*"],
            {"StringEquals": {"aws:ResourceAccount": pipeline_account_id}},
        ),
        statement("ArtifactKey", ["kms:Decrypt", "kms:DescribeKey"], [kms_key_arn]),
        statement("DeployStack", CLOUDFORMATION_DEPLOY_ACTIONS, [stack_arn]),
        # ValidateTemplate has no resource form.
        statement("ValidateTemplates", [VALIDATE_TEMPLATE], ["*"]),
        _pass_deploy_roles("PassDeployRole", [deploy_role_arn]),
        statement("ReadWatchedAlarms", ["cloudwatch:DescribeAlarms"], alarm_arns) if alarm_arns else None,
    )


def change_set_read_statement(stack_arn: str) -> dict[str, Any]:
    """Describing one stack and its change sets, and reading the template a change set (or
    the stack) deploys: what a review and a confirm read, nothing else."""
    return statement(
        "DescribeChangeSet",
        ["cloudformation:DescribeChangeSet", "cloudformation:DescribeStacks", "cloudformation:GetTemplate"],
        [stack_arn],
    )


def review_reader_policy(*, stack_arn: str) -> PolicyDocument:
    """What a change-set review reads in a target account: its stack and change sets."""
    return document(change_set_read_statement(stack_arn))


def stack_recovery_statement(stack_arn: str) -> dict[str, Any]:
    """What clearing a failed first create takes: read the stack's status, delete it (and
    wait, which reads the status again). No iam:PassRole: CloudFormation deletes with the role
    the stack already has, "even if the users don't have permission to pass it" (AWS,
    DeleteStack RoleARN); a stack in ROLLBACK_COMPLETE holds no resources."""
    return statement(
        "RecoverStack",
        ["cloudformation:DescribeStacks", "cloudformation:DeleteStack"],
        [stack_arn],
    )


def stack_recovery_policy(*, stack_arn: str) -> PolicyDocument:
    """What the recovery does in a target account, through its role there."""
    return document(stack_recovery_statement(stack_arn))


# Services an ECS application stack hands its roles to: task and execution roles, the
# service's own role, container instances, custom-resource functions, scaling, schedules,
# RDS enhanced monitoring.
STACK_ROLE_SERVICES = (
    "application-autoscaling.amazonaws.com",
    "autoscaling.amazonaws.com",
    "ec2.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "ecs.amazonaws.com",
    "events.amazonaws.com",
    "lambda.amazonaws.com",
    "monitoring.rds.amazonaws.com",
)

# Role-writing IAM actions that support the `iam:PermissionsBoundary` condition key
# (Service Authorization Reference, IAM): each is allowed only while the role carries
# the environment's boundary, so no role can be created or given policies without it.
BOUNDED_ROLE_ACTIONS = (
    "iam:CreateRole",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
)
# The rest of what CloudFormation's AWS::IAM::Role handlers call (registry schema,
# handlers create/read/update/delete), none of which can grant a permission.
STACK_ROLE_MAINTENANCE_ACTIONS = (
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:UpdateAssumeRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:DeleteRole",
)
# Changing a boundary policy would widen every role that carries it.
BOUNDARY_POLICY_WRITE_ACTIONS = (
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:TagPolicy",
    "iam:UntagPolicy",
)

# What no role an application stack creates may ever do, whatever policies the template
# gives it: IAM and account administration (no escalation), assuming other roles (a role
# trusted by the account root would carry it out of its boundary; ECS and Lambda assume
# the stack's roles as services, the roles themselves never need to), and the delivery
# system's own services (no route around the pipeline's approvals). The template contract's
# cfn-lint rules keep a copy (policy/template_rules/ecs_delivery.py, which runs without this
# program); tests/test_template_contract.py keeps it equal, docs/security.md names each.
BOUNDARY_EXCLUDED_ACTIONS = (
    "account:*",
    "cloudformation:*",
    "codebuild:*",
    "codeconnections:*",
    "codepipeline:*",
    "codestar-connections:*",
    "iam:*",
    "organizations:*",
    "sts:AssumeRole*",
)


def stack_role_path(stack_name: str) -> str:
    """The IAM path every role of an environment's stack is created under. A path, not a
    name prefix: CloudFormation truncates generated role names, and one stack's name can
    be the prefix of another's (`app` and `app-prod`); `/app/` never matches `/app-prod/`."""
    return f"/{stack_name}/"


def stack_role_arn_pattern(partition: str, account_id: str, stack_name: str) -> str:
    return f"arn:{partition}:iam::{account_id}:role{stack_role_path(stack_name)}*"


def stack_role_boundary_policy(
    *, partition: str, account_id: str, stack_name: str, guard_statements: Sequence[dict[str, Any]] = ()
) -> PolicyDocument:
    """The permissions boundary of every role an environment's stack creates: a ceiling,
    not a grant (a role still needs its own policies). Its `NotAction` is the point of a
    boundary: everything an application may need, minus what would let a role escape it.
    The one IAM action left is passing the stack's own (equally bounded) roles to the
    services an application runs on, e.g. a migrations function starting an ECS task.
    `guard_statements`: denies that keep the roles off the delivery system's own stores
    (`iam_policies.protected_stores_statements`)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ApplicationRuntime",
                "Effect": "Allow",
                "NotAction": list(BOUNDARY_EXCLUDED_ACTIONS),
                "Resource": "*",
            },
            statement(
                "PassOwnStackRoles",
                ["iam:PassRole"],
                [stack_role_arn_pattern(partition, account_id, stack_name)],
                {"StringEquals": {"iam:PassedToService": list(STACK_ROLE_SERVICES)}},
            ),
            *guard_statements,
        ],
    }


def deploy_role_policy(
    *,
    partition: str,
    account_id: str,
    stack_name: str,
    boundary_policy_arn: str,
    protected_policy_arns: Sequence[str] = (),
    guard_statements: Sequence[dict[str, Any]] = (),
    ecs_passed_role_arns: Sequence[str] = (),
) -> PolicyDocument:
    """The IAM one environment's CloudFormation deploy role needs beyond its managed
    policies: manage and pass the roles of its own stack only (under the stack's path),
    write them only while they carry the environment's boundary, and never remove a
    boundary or rewrite a boundary policy. `guard_statements`: denies that keep it off the
    delivery system (its stores, its pipeline and projects), whatever its managed policies
    allow. `ecs_passed_role_arns`: roles the program declares for the template to hand to ECS
    (the lifecycle-hook invoke role, `TestHookRoleArn`), passable to ECS alone."""
    own_roles = [stack_role_arn_pattern(partition, account_id, stack_name)]
    # iam:PermissionsBoundary is an ARN-typed key (Service Authorization Reference).
    boundary_condition = {"ArnEquals": {"iam:PermissionsBoundary": boundary_policy_arn}}
    return document(
        statement("WriteBoundedStackRoles", BOUNDED_ROLE_ACTIONS, own_roles, boundary_condition),
        statement("MaintainStackRoles", STACK_ROLE_MAINTENANCE_ACTIONS, own_roles),
        statement(
            "PassStackRoles",
            ["iam:PassRole"],
            own_roles,
            {"StringEquals": {"iam:PassedToService": list(STACK_ROLE_SERVICES)}},
        ),
        statement(
            "PassHookRolesToEcs",
            ["iam:PassRole"],
            list(ecs_passed_role_arns),
            {"StringEquals": {"iam:PassedToService": "ecs.amazonaws.com"}},
        )
        if ecs_passed_role_arns
        else None,
        {
            "Sid": "KeepBoundaries",
            "Effect": "Deny",
            "Action": ["iam:DeleteRolePermissionsBoundary"],
            "Resource": ["*"],
        },
        {
            "Sid": "KeepBoundaryPolicies",
            "Effect": "Deny",
            "Action": list(BOUNDARY_POLICY_WRITE_ACTIONS),
            "Resource": list(dict.fromkeys([boundary_policy_arn, *protected_policy_arns])),
        },
        *guard_statements,
    )
