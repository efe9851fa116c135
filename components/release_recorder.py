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

from dataclasses import dataclass
from typing import Optional

import pulumi

from components import iam_policies
from components.codebuild_runner import SmallProject, plaintext, script_buildspec

# The tag prefix of every release mark; an environment's are `release-<environment>.`.
RELEASE_MARK_PREFIX = "release-"


def release_mark_prefix(environment: str) -> str:
    # A dot ends the environment's name: no environment name holds one (config's ResourceName),
    # so `release-prod.` never matches the marks of an environment `prod-eu`.
    return f"{RELEASE_MARK_PREFIX}{environment}."


def recorder_buildspec() -> str:
    """The inline buildspec: build-image/record-release (baked into the image)."""
    return script_buildspec("record-release")


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
    table_name: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    application_repository_name: pulumi.Input[str]
    application_repository_arn: pulumi.Input[str]
    keep_releases: int
    """How many of this environment's release marks stay (`ecr.keepReleases`)."""
    project: SmallProject
    """The environment's small projects' shared settings; this one is `<prefix>-record-<environment>`."""


class ReleaseRecorder(pulumi.ComponentResource):
    project_name: pulumi.Output[str]
    project_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ReleaseRecorderArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:release_recorder:ReleaseRecorder", name, None, opts)
        environment = args.project.environment
        environment_variables = pulumi.Output.all(
            table=args.table_name, repository=args.application_repository_name
        ).apply(
            lambda v: plaintext(
                recorder_environment(
                    environment=environment,
                    table_name=v["table"],
                    repository_name=v["repository"],
                    keep_releases=args.keep_releases,
                )
            )
        )
        runner = args.project.declare(
            name,
            self,
            kind="record",
            description=f"Record the {environment} release and keep its image",
            role_description=f"CodeBuild: record {environment} releases",
            buildspec=recorder_buildspec(),
            policy=lambda v: iam_policies.release_recorder_policy(
                **v["runner"],
                table_arn=v["table_arn"],
                environment=environment,
                application_repository_arn=v["repository_arn"],
            ),
            table_arn=args.table_arn,
            repository_arn=args.application_repository_arn,
            environment_variables=environment_variables,
            timeout_minutes=5,
        )
        self.project_name = runner.project_name
        self.project_arn = runner.project_arn
        self.role_arn = runner.role_arn
        self.register_outputs(
            {"project_name": self.project_name, "project_arn": self.project_arn, "role_arn": self.role_arn}
        )
