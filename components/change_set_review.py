"""`ChangeSetReview`: the small CodeBuild project that shows an approver what a gated
environment's change set will do, before the manual approval.

It runs the tools image (Lambda compute) with an inline buildspec that calls
`build-image/review-change-set` (baked into the image): describe the change set (every page)
and the stack's current parameters, render the report with
`/opt/ecs-delivery/changeset_report.py`, upload it under `reviews/<environment>/<execution>/`
in the artifact bucket, and export short variables (`REVIEW_SUMMARY`, `REPORT_URL`, …) that
the approval's notification carries. Its role can
describe only its own environment's stack and write only its own report prefix.

The same project confirms the release's change set (REVIEW_MODE=confirm, from the release
stage's action: `build-image/release_gate.py confirm`), for which its role also reads, in the
pipeline's account and nothing more: which digest the image tag names (the application
repository), who answered the environment's approval (the pipeline's action executions, and the
approver group's members), and the environment's own release records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

import pulumi

from components import cloudformation, iam_policies
from components.codebuild_runner import SmallProject, plaintext, script_buildspec

EXPORTED_VARIABLES = (
    "REVIEW_SUMMARY",
    "CHANGE_COUNT",
    # In a wave, its members' changes added up (docs/waves.md): what its approval enters on.
    "WAVE_CHANGE_COUNT",
    "REPLACEMENT_COUNT",
    "REMOVAL_COUNT",
    "IMAGE_TAG",
    "CHANGE_SET_URL",
    "REPORT_URL",
    # What the release stage's confirm compares its own change set with, and the execution
    # that reviewed it (build-image/review-change-set, REVIEW_MODE=confirm).
    "FINGERPRINT",
    "PLAN_EXECUTION_ID",
    # The image digest the change deploys (the template's digest parameter, or what the tag
    # named in the registry when the plan was made): the confirm refuses another one.
    "IMAGE_DIGEST",
    # Confirm mode: what the release record keeps of the confirmed release (JSON).
    "RELEASE",
)

# The review is build-image/review-change-set (shellchecked, baked into the image); the
# buildspec's own shell then reads the variables it leaves, which CodeBuild exports. The
# same project confirms a release's change set (REVIEW_MODE=confirm from the action), which
# leaves no variables.
REVIEW_COMMANDS = (
    "review-change-set",
    ". report/exports.sh",
)


def review_buildspec() -> str:
    return script_buildspec(*REVIEW_COMMANDS, exported_variables=EXPORTED_VARIABLES)


def report_prefix(environment: str) -> str:
    return f"reviews/{environment}"


@dataclass(frozen=True)
class ReleaseChecks:
    """What confirming a release checks, in the pipeline's account: the image behind the tag,
    who answered the approval, the release record."""

    pipeline_name: str
    approval_stage: str
    approval_action: str
    approvers: Sequence[str]
    """`environments[].approvers`: IAM role and user ARNs."""
    image_repository_name: pulumi.Input[str]
    image_repository_arn: pulumi.Input[str]
    record_table_name: pulumi.Input[str]
    record_table_arn: pulumi.Input[str]
    digest_parameter: Optional[str] = None
    """The template parameter holding the image digest (`imageDigestParameter`), if any."""
    approver_group_name: Optional[pulumi.Input[str]] = None
    approver_group_arn: Optional[pulumi.Input[str]] = None


def review_environment(
    *,
    environment: str,
    stack_name: str,
    change_set_name: str,
    image_parameter: str,
    report_bucket: str,
    checks: Optional[Mapping[str, str]] = None,
    stack_region: Optional[str] = None,
) -> dict[str, str]:
    """The project's environment variables: what the review buildspec reads besides what the
    pipeline action passes per run; `checks`, the resolved `ReleaseChecks` variables."""
    return {
        "ENVIRONMENT": environment,
        "STACK_NAME": stack_name,
        "CHANGE_SET_NAME": change_set_name,
        "IMAGE_PARAMETER": image_parameter,
        "REPORT_BUCKET": report_bucket,
        "REPORT_PREFIX": report_prefix(environment),
        **(checks or {}),
        **({"STACK_REGION": stack_region} if stack_region else {}),
    }


def release_check_variables(
    checks: ReleaseChecks, *, repository: str, table: str, group: Optional[str]
) -> dict[str, str]:
    """`ReleaseChecks` as the variables release_gate.py reads (empty ones left out)."""
    values = {
        "PIPELINE_NAME": checks.pipeline_name,
        "APPROVAL_STAGE": checks.approval_stage,
        "APPROVAL_ACTION": checks.approval_action,
        "APPROVERS": " ".join(checks.approvers),
        "APPROVER_GROUP": group or "",
        "DIGEST_PARAMETER": checks.digest_parameter or "",
        "IMAGE_REPOSITORY_NAME": repository,
        "RECORD_TABLE": table,
    }
    return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class ChangeSetReviewArgs:
    stack: cloudformation.StackAddress
    change_set_name: str
    """The plan's change set, which the review describes (the confirm names the release's)."""
    image_parameter: str
    """Template parameter holding the image tag (shown first, old → new)."""
    artifact_bucket_name: pulumi.Input[str]
    project: SmallProject
    """The environment's small projects' shared settings; this one is `<prefix>-review-<environment>`."""
    checks: ReleaseChecks
    """What the confirm checks a release against (image, approver, release record)."""
    reader_role_pattern: Optional[pulumi.Input[str]] = None
    """For an environment in another account: the ARN pattern of the read-only role there
    that the review assumes to describe the change set (a `CrossAccountAccess` reader,
    whose ARN the pipeline action passes in as READER_ROLE_ARN)."""


class ChangeSetReview(pulumi.ComponentResource):
    project_name: pulumi.Output[str]
    project_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ChangeSetReviewArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:change_set_review:ChangeSetReview", name, None, opts)
        environment, stack, checks = args.project.environment, args.stack, args.checks
        environment_variables = pulumi.Output.all(
            bucket=args.artifact_bucket_name,
            repository=checks.image_repository_name,
            table=checks.record_table_name,
            group=checks.approver_group_name,
        ).apply(
            lambda v: plaintext(
                review_environment(
                    environment=environment,
                    stack_name=stack.name,
                    change_set_name=args.change_set_name,
                    image_parameter=args.image_parameter,
                    report_bucket=v["bucket"],
                    stack_region=stack.region,
                    checks=release_check_variables(
                        checks, repository=v["repository"], table=v["table"], group=v["group"]
                    ),
                )
            )
        )
        runner = args.project.declare(
            name,
            self,
            kind="review",
            description=f"Describe and render the {environment} change set for its approver",
            role_description=f"CodeBuild: review the {environment} change set",
            buildspec=review_buildspec(),
            policy=lambda v: iam_policies.review_role_policy(
                **v["runner"],
                read_statement=cloudformation.change_set_read_statement(stack.arn(v)),
                report_prefix=report_prefix(environment),
                reader_role_arn=v["reader_role"],
                release_statements=[
                    iam_policies.image_lookup_statement(v["repository_arn"]),
                    iam_policies.approval_lookup_statement(
                        iam_policies.pipeline_arn(
                            v["partition"], v["region"], v["account_id"], checks.pipeline_name
                        )
                    ),
                    iam_policies.record_read_statement(table_arn=v["table_arn"], environment=environment),
                    *([iam_policies.approver_group_statement(v["group_arn"])] if v["group_arn"] else []),
                ],
            ),
            reader_role=args.reader_role_pattern,
            repository_arn=checks.image_repository_arn,
            table_arn=checks.record_table_arn,
            group_arn=checks.approver_group_arn,
            environment_variables=environment_variables,
            timeout_minutes=10,
        )
        self.project_name = runner.project_name
        self.project_arn = runner.project_arn
        self.role_arn = runner.role_arn
        self.register_outputs(
            {"project_name": self.project_name, "project_arn": self.project_arn, "role_arn": self.role_arn}
        )
