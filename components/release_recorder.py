"""`ReleaseRecorder`: the small CodeBuild project that records a gated environment's release
once it has executed.

Its pipeline action runs in the release stage right after the change set is executed.
`build-image/record-release` (baked into the tools image: `release_gate.py record`) writes the
release into the `ReleaseRecord` table (what the confirm established: identity, fingerprint, image, approver)
and marks the released image in the application repository with a tag of its own,
`release-<environment>.<time>-<execution>`, taking the mark off this environment's images past
`ecr.keepReleases`: the repository's lifecycle never expires a marked image
(`image_repository.lifecycle_policy`), so what the environment runs and its last releases stay
pullable. Its role can write this environment's records only, and read and tag images of the
application repository.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.codebuild_runner import CodeBuildRunner, SmallProject, plaintext

# The tag prefix of every release mark; an environment's are `release-<environment>.`.
RELEASE_MARK_PREFIX = "release-"


def release_mark_prefix(environment: str) -> str:
    # A dot ends the environment's name: no environment name holds one (config's ResourceName),
    # so `release-prod.` never matches the marks of an environment `prod-eu`.
    return f"{RELEASE_MARK_PREFIX}{environment}."


def recorder_buildspec() -> str:
    """The inline buildspec: build-image/record-release (baked into the image)."""
    return json.dumps(
        {"version": 0.2, "env": {"shell": "bash"}, "phases": {"build": {"commands": ["record-release"]}}},
        indent=2,
    )


def recorder_environment(
    *, environment: str, table_name: str, repository_name: str, keep_releases: int
) -> dict[str, str]:
    """The project's environment variables: what the recorder reads besides what the pipeline
    action passes per release."""
    return {
        "ENVIRONMENT": environment,
        "RECORD_TABLE": table_name,
        "IMAGE_REPOSITORY_NAME": repository_name,
        "RELEASE_MARK_PREFIX": release_mark_prefix(environment),
        "KEEP_RELEASES": str(keep_releases),
    }


@dataclass(frozen=True)
class ReleaseRecorderArgs:
    name_prefix: str
    """Physical name prefix (`<app>-<stack>`); the project is `<prefix>-record-<environment>`."""
    environment: str
    table_name: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    application_repository_name: pulumi.Input[str]
    application_repository_arn: pulumi.Input[str]
    keep_releases: int
    """How many of this environment's release marks stay (`ecr.keepReleases`)."""
    project: SmallProject
    """The tools image, artifact store, log retention and host the environment's projects share."""


class ReleaseRecorder(pulumi.ComponentResource):
    project_name: pulumi.Output[str]
    project_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ReleaseRecorderArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:release_recorder:ReleaseRecorder", name, None, opts)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        project_name = f"{args.name_prefix}-record-{args.environment}"
        role_policy = args.project.role_policy(
            partition,
            project_name,
            lambda v: iam_policies.release_recorder_policy(
                log_group_arn=v["log_group_arn"],
                bucket_arn=v["bucket_arn"],
                account_id=v["account_id"],
                tools_image_repository_arn=v["image_repository_arn"],
                table_arn=v["table_arn"],
                environment=args.environment,
                application_repository_arn=v["repository_arn"],
                kms_key_arn=v["kms_key_arn"],
            ),
            table_arn=args.table_arn,
            repository_arn=args.application_repository_arn,
        )
        environment_variables = pulumi.Output.all(
            table=args.table_name, repository=args.application_repository_name
        ).apply(
            lambda v: plaintext(
                recorder_environment(
                    environment=args.environment,
                    table_name=v["table"],
                    repository_name=v["repository"],
                    keep_releases=args.keep_releases,
                )
            )
        )
        runner = CodeBuildRunner(
            name,
            args.project.runner_args(
                project_name=project_name,
                description=f"Record the {args.environment} release and keep its image",
                role_description=f"CodeBuild: record {args.environment} releases",
                buildspec=recorder_buildspec(),
                role_policy=role_policy,
                environment_variables=environment_variables,
                timeout_minutes=5,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.project_name = runner.project_name
        self.project_arn = runner.project_arn
        self.role_arn = runner.role_arn
        self.register_outputs(
            {"project_name": self.project_name, "project_arn": self.project_arn, "role_arn": self.role_arn}
        )
