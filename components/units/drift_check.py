"""The drift-check gate (`driftCheck: warn | block`): before a gated environment's change is
planned, CloudFormation's drift detection on its stack; the review shows what drifted, and
`block` stops the plan there.

Drift is a change made to a stack's resources outside the pipeline (the console, the CLI,
another tool): the next release would silently revert it, or fail on it. CloudFormation
compares each resource's live configuration with the properties its template sets
(DetectStackDrift, API reference: "Only resource properties explicitly defined in the stack
template are checked"; it "can take up to several minutes"). The `CheckDrift` action runs in
the plan stage beside the change set's creation (components/units/seam.py, PLAN_CHECKS), on a
small project of its own (`build-image/check-drift`), and exports DRIFT_STATUS, DRIFTED_COUNT
and DRIFT_SUMMARY into `Drift-<environment>`; the review shows DRIFT_SUMMARY.

Its role reads, nothing more: drift detection reads each resource of the stack with the
caller's own permissions (ASSUMPTION, as third-party docs of DetectStackDrift state it and as
AWS's Config rule `cloudformation-stack-drift-detection-check` asks for, whose role the CDK
docs tell you to give `ReadOnlyAccess`), and the resource types are the template's, which the
program cannot know; so AWS's `ReadOnlyAccess`, with drift detection started on its own stack
only. Environments in another account are refused by config for now (docs/drift.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Optional

import pulumi
from pydantic import ValidationInfo, model_validator

from components import iam_policies
from components.cloudformation import CloudFormationEnvironment, StackAddress
from components.codebuild_runner import SmallProject, plaintext, script_buildspec
from components.config import REPAIRING, Section
from components.iam_policies import PolicyDocument, document, statement
from components.spec import APPLICATION_SOURCE, ActionSpec, codebuild_variables, worst_case_value
from components.units.seam import PLAN_CHECKS, RELEASE_CHECKS, GateBinding, UnitContext

if TYPE_CHECKING:
    # Assembled by the registry from this module's option, among others: only an annotation here.
    from components.config import EnvironmentConfig


class DriftCheckOption(Section):
    """The gate's key in an environment's config; the registry joins it to the CloudFormation
    variant (`FOR_TARGETS`, components/units/__init__.py), which gives it `approval` and
    `account` to check."""

    drift_check: Optional[Literal["warn", "block"]] = None
    """Gated: before each plan, CloudFormation's drift detection on the stack. `warn`: the review
    shows what drifted; `block`: a drifted stack (or one that could not be checked) stops the
    plan stage, before anyone is asked to approve (docs/drift.md). Its project's role may read
    everything in the account (AWS's ReadOnlyAccess): drift detection reads each resource with
    it. Not yet for an environment in another account."""

    @model_validator(mode="after")
    def _drift_check_is_possible(self, info: ValidationInfo) -> DriftCheckOption:
        if self.drift_check is None or (info.context or {}).get(REPAIRING):
            return self
        problems: list[str] = []
        if not self.approval:
            problems.append(
                ".driftCheck: only a gated environment (approval: true) has a plan to check before; "
                "remove driftCheck or set approval: true"
            )
        if self.account:
            problems.append(
                ".driftCheck: not yet for an environment in another account (account); remove "
                "driftCheck (docs/drift.md)"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self


CONFIG_OPTION = DriftCheckOption
# CloudFormation's drift detection: a gate of stacks only. Another deploy target's environments
# do not take `driftCheck` (its variant is not named here).
FOR_TARGETS = (CloudFormationEnvironment,)

NAME = "drift-check"
# CodeBuild's exported variables, as build-image/check-drift leaves them in drift/exports.sh.
EXPORTED_VARIABLES = ("DRIFT_STATUS", "DRIFTED_COUNT", "DRIFT_SUMMARY")
# The results go to a file outside the application's checkout (the build's working folder), which
# the repository could otherwise fill with a symlink or a folder of the same name.
COMMANDS = ('export DRIFT_EXPORTS="$(mktemp -d)/exports.sh"', "check-drift", 'source "$DRIFT_EXPORTS"')
# The project's bound: Lambda compute's 15 minutes (the project runs on the tools image like the
# environment's other small steps); check-drift waits for the detection at most WAIT_MINUTES of
# it, asking every POLL_SECONDS, and leaves the rest for its own start and its report.
TIMEOUT_MINUTES = 15
WAIT_MINUTES = 12
POLL_SECONDS = 5
READ_ONLY_POLICY = "ReadOnlyAccess"
# The calls that start drift detection; ReadOnlyAccess allows them on every stack and stack set
# (`cloudformation:Detect*`), the role only on its own stack. DetectStackDrift is authorized with
# DetectStackResourceDrift as well (ASSUMPTION: third-party docs of the operation say so; the
# Service Authorization Reference lists both actions on the `stack` resource type).
DETECT_ACTIONS = ("cloudformation:DetectStackDrift", "cloudformation:DetectStackResourceDrift")
OTHER_DETECT_ACTIONS = ("cloudformation:DetectStackSetDrift",)
# What ReadOnlyAccess allows beyond reading configuration, which drift detection never needs: the
# data in tables, queues and logs, and other builds' output (the read handlers of the resource
# types, in the CloudFormation registry schemas, describe resources, they do not read their
# data: tests/test_drift_check.py proves the example template's are still allowed). Objects in S3
# stay readable: CodeBuild reads the check's input artifact with the role.
DATA_READS = (
    "dynamodb:BatchGetItem",
    "dynamodb:GetItem",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:PartiQLSelect",
    "dynamodb:Query",
    "dynamodb:Scan",
    "sqs:ReceiveMessage",
    "logs:FilterLogEvents",
    "logs:GetLogEvents",
    "logs:GetQueryResults",
    "logs:StartQuery",
    "codebuild:BatchGetBuilds",
)


def namespace(environment: str) -> str:
    """The variables namespace of an environment's drift check."""
    return f"Drift-{environment}"


def drift_buildspec() -> str:
    """The inline buildspec: check-drift, then its results exported."""
    return script_buildspec(*COMMANDS, exported_variables=EXPORTED_VARIABLES)


def drift_environment(
    *, environment: str, stack_name: str, mode: str, stack_region: Optional[str] = None
) -> dict[str, str]:
    """The project's environment variables: what check-drift reads."""
    return {
        "ENVIRONMENT": environment,
        "STACK_NAME": stack_name,
        "DRIFT_MODE": mode,
        "DRIFT_WAIT_SECONDS": str(WAIT_MINUTES * 60),
        "DRIFT_POLL_SECONDS": str(POLL_SECONDS),
        **({"STACK_REGION": stack_region} if stack_region else {}),
    }


# What the read handlers of two common resource types need beyond ReadOnlyAccess (the
# CloudFormation registry schemas, cfn-lint's copy: AWS::SecretsManager::Secret's read handler
# lists secretsmanager:GetSecretValue, AWS::Lambda::Function's kms:Decrypt), each as narrow as IAM
# lets it be: the secrets CloudFormation tagged as this stack's (`aws:cloudformation:stack-name`,
# a tag nobody can set: the `aws:` prefix is reserved, "Tagging AWS resources"), and decrypting
# only through Lambda, in this region.
STACK_TAG = "aws:cloudformation:stack-name"


def drift_role_policy(
    *,
    log_group_arn: str,
    bucket_arn: str,
    account_id: str,
    tools_image_repository_arn: str,
    stack_arn: str,
    stack_name: str,
    region: str,
    kms_key_arn: Optional[str] = None,
) -> PolicyDocument:
    """Beside ReadOnlyAccess (attached): log, pull the tools image, read its input (CodeBuild
    downloads it, unused), start drift detection on its own stack and no other, read what its
    stack's secrets and functions need (`STACK_TAG`), and read no data (`DATA_READS`)."""
    statements: list[Optional[dict[str, Any]]] = list(
        iam_policies.verify_role_policy(
            log_group_arn=log_group_arn,
            bucket_arn=bucket_arn,
            account_id=account_id,
            tools_image_repository_arn=tools_image_repository_arn,
            kms_key_arn=kms_key_arn,
        )["Statement"]
    )
    statements.append(statement("DetectOwnStackDrift", list(DETECT_ACTIONS), [stack_arn]))
    # The stack's ARN names the partition, region and account its secrets and keys live in.
    _, partition, _, region_of_stack, account_of_stack = stack_arn.split(":")[:5]
    statements.append(
        statement(
            "ReadOwnStackSecrets",
            ["secretsmanager:GetSecretValue"],
            [f"arn:{partition}:secretsmanager:{region_of_stack}:{account_of_stack}:secret:*"],
            {"StringEquals": {f"secretsmanager:ResourceTag/{STACK_TAG}": stack_name}},
        )
    )
    statements.append(
        statement(
            "DecryptThroughLambda",
            ["kms:Decrypt"],
            [f"arn:{partition}:kms:{region_of_stack}:{account_of_stack}:key/*"],
            {"StringEquals": {"kms:ViaService": f"lambda.{region}.amazonaws.com"}},
        )
    )
    statements.append(
        {
            "Sid": "NoOtherStackDrift",
            "Effect": "Deny",
            "Action": list(DETECT_ACTIONS),
            "NotResource": [stack_arn],
        }
    )
    statements.append(
        {"Sid": "NoStackSetDrift", "Effect": "Deny", "Action": list(OTHER_DETECT_ACTIONS), "Resource": ["*"]}
    )
    statements.append({"Sid": "NoDataReads", "Effect": "Deny", "Action": list(DATA_READS), "Resource": ["*"]})
    return document(*statements)


@dataclass(frozen=True)
class DriftCheckArgs:
    stack: StackAddress
    mode: str
    """`driftCheck`: warn (show it) or block (fail the plan stage on it)."""
    project: SmallProject
    """The environment's small projects' shared settings; this one is `<prefix>-drift-<environment>`."""


class DriftCheck(pulumi.ComponentResource):
    project_name: pulumi.Output[str]
    project_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DriftCheckArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:drift_check:DriftCheck", name, None, opts)
        environment, stack = args.project.environment, args.stack
        runner = args.project.declare(
            name,
            self,
            kind="drift",
            description=f"Detect drift on {stack.name} before {environment}'s plan",
            role_description=f"CodeBuild: detect drift on {stack.name} (reads only)",
            buildspec=drift_buildspec(),
            policy=lambda v: drift_role_policy(
                **v["runner"],
                stack_arn=stack.arn(v),
                stack_name=stack.name,
                # The stack's region: its secrets and keys, and the Lambda functions reading them.
                region=stack.region or v["region"],
            ),
            environment_variables=plaintext(
                drift_environment(
                    environment=environment, stack_name=stack.name, mode=args.mode, stack_region=stack.region
                )
            ),
            timeout_minutes=TIMEOUT_MINUTES,
            managed_policy_arns=(
                pulumi.Output.from_input(args.project.context.partition).apply(
                    lambda p: f"arn:{p}:iam::aws:policy/{READ_ONLY_POLICY}"
                ),
            ),
        )
        self.project_name = runner.project_name
        self.project_arn = runner.project_arn
        self.role_arn = runner.role_arn
        self.register_outputs(
            {"project_name": self.project_name, "project_arn": self.project_arn, "role_arn": self.role_arn}
        )


# -- the unit ---------------------------------------------------------------------------------


def applies(env: EnvironmentConfig) -> bool:
    return env.drift_check is not None


def worst_case_refs(env: EnvironmentConfig) -> dict[str, str]:
    return {"project": worst_case_value("drift-project")}


def actions(
    env: EnvironmentConfig, refs: Mapping[str, str], *, outputs_namespace: str
) -> dict[str, tuple[ActionSpec, ...]]:
    check = ActionSpec(
        name="CheckDrift",
        category="Test",
        provider="CodeBuild",
        configuration={
            "ProjectName": refs["project"],
            "EnvironmentVariables": codebuild_variables(
                [{"name": "PIPELINE_EXECUTION_ID", "value": "#{codepipeline.PipelineExecutionId}"}]
            ),
        },
        # CodeBuild actions take at least one input; the check reads the stack, not it.
        input_artifacts=(APPLICATION_SOURCE,),
        namespace=namespace(env.name),
    )
    if env.drift_check != "block":
        return {PLAN_CHECKS: (check,)}
    # block: once more in the release stage, before anything is executed: the approval can wait
    # for days, and a change made meanwhile would be released over unseen (a rollback or retry
    # runs it too). Its result is the stage's; it exports nothing.
    again = ActionSpec(
        name="CheckDrift",
        category="Test",
        provider="CodeBuild",
        configuration=dict(check.configuration),
        input_artifacts=(APPLICATION_SOURCE,),
    )
    return {PLAN_CHECKS: (check,), RELEASE_CHECKS: (again,)}


def review_checks(env: EnvironmentConfig) -> dict[str, str]:
    return {"drift": f"#{{{namespace(env.name)}.DRIFT_SUMMARY}}"}


def declare(context: UnitContext) -> GateBinding:
    env = context.environment
    assert env.drift_check is not None
    check = DriftCheck(
        f"drift-{env.name}",
        DriftCheckArgs(
            stack=StackAddress(env.stack_name, env.region),
            mode=env.drift_check,
            project=context.small_project,
        ),
        opts=pulumi.ResourceOptions(parent=context.parent),
    )
    return GateBinding(refs={"project": check.project_name})
