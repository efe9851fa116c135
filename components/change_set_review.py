"""`ChangeSetReview`: the small CodeBuild project that shows an approver what a gated
environment's change set will do, before the manual approval.

It runs the build image unprivileged with an inline buildspec that calls
`build-image/review-change-set` (baked into the image): describe the change set (every page)
and the stack's current parameters, render the report with
`/opt/ecs-delivery/changeset_report.py`, upload it under `reviews/<environment>/<execution>/`
in the artifact bucket, and export short variables (`REVIEW_SUMMARY`, `REPORT_URL`, …) that
the approval's notification carries. Its role can
describe only its own environment's stack and write only its own report prefix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import cloudformation, iam_policies
from components.codebuild_runner import CodeBuildRunner, SmallProject

EXPORTED_VARIABLES = (
    "REVIEW_SUMMARY",
    "CHANGE_COUNT",
    "REPLACEMENT_COUNT",
    "REMOVAL_COUNT",
    "IMAGE_TAG",
    "CHANGE_SET_URL",
    "REPORT_URL",
    # What the release stage's confirm compares its own change set with, and the execution
    # that reviewed it (build-image/review-change-set, REVIEW_MODE=confirm).
    "FINGERPRINT",
    "PLAN_EXECUTION_ID",
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
    """The inline buildspec (JSON is valid YAML, and keeps the shell text exact)."""
    return json.dumps(
        {
            "version": 0.2,
            "env": {"shell": "bash", "exported-variables": list(EXPORTED_VARIABLES)},
            "phases": {"build": {"commands": list(REVIEW_COMMANDS)}},
        },
        indent=2,
    )


def report_prefix(environment: str) -> str:
    return f"reviews/{environment}"


def review_environment(
    *, environment: str, stack_name: str, change_set_name: str, image_parameter: str, report_bucket: str
) -> dict[str, str]:
    """The project's environment variables: what the review buildspec reads besides what the
    pipeline action passes per run."""
    return {
        "ENVIRONMENT": environment,
        "STACK_NAME": stack_name,
        "CHANGE_SET_NAME": change_set_name,
        "IMAGE_PARAMETER": image_parameter,
        "REPORT_BUCKET": report_bucket,
        "REPORT_PREFIX": report_prefix(environment),
    }


@dataclass(frozen=True)
class ChangeSetReviewArgs:
    name_prefix: str
    """Physical name prefix (`<app>-<stack>`); the project is `<prefix>-review-<environment>`."""
    environment: str
    stack_name: str
    change_set_name: str
    """The plan's change set, which the review describes (the confirm names the release's)."""
    image_parameter: str
    """Template parameter holding the image tag (shown first, old → new)."""
    artifact_bucket_name: pulumi.Input[str]
    project: SmallProject
    """The build image, artifact store, log retention and host the environment's projects share."""
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
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        project_name = f"{args.name_prefix}-review-{args.environment}"
        role_policy = args.project.role_policy(
            partition,
            project_name,
            lambda v: iam_policies.review_role_policy(
                log_group_arn=v["log_group_arn"],
                bucket_arn=v["bucket_arn"],
                account_id=v["account_id"],
                build_image_repository_arn=v["build_image_repository_arn"],
                read_statement=cloudformation.change_set_read_statement(
                    cloudformation.stack_arn(v["partition"], v["region"], v["account_id"], args.stack_name)
                ),
                report_prefix=report_prefix(args.environment),
                kms_key_arn=v["kms_key_arn"],
                reader_role_arn=v["reader_role"],
            ),
            reader_role=args.reader_role_pattern,
        )
        environment_variables = pulumi.Output.from_input(args.artifact_bucket_name).apply(
            lambda bucket: [
                {"name": name, "value": value, "type": "PLAINTEXT"}
                for name, value in review_environment(
                    environment=args.environment,
                    stack_name=args.stack_name,
                    change_set_name=args.change_set_name,
                    image_parameter=args.image_parameter,
                    report_bucket=bucket,
                ).items()
            ]
        )
        runner = CodeBuildRunner(
            name,
            args.project.runner_args(
                project_name=project_name,
                description=f"Describe and render the {args.environment} change set for its approver",
                role_description=f"CodeBuild: review the {args.environment} change set",
                buildspec=review_buildspec(),
                role_policy=role_policy,
                environment_variables=environment_variables,
                timeout_minutes=10,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.project_name = runner.project_name
        self.project_arn = runner.project_arn
        self.role_arn = runner.role_arn
        self.register_outputs(
            {"project_name": self.project_name, "project_arn": self.project_arn, "role_arn": self.role_arn}
        )
