"""`StackRecovery`: the small CodeBuild project that keeps a failed first create from jamming a
gated environment.

Its pipeline action runs first in the environment's plan stage, before the change set is
created. `build-image/recover-stack` (baked into the tools image) deletes the stack only when
it is in ROLLBACK_COMPLETE (a first create that failed and was rolled back: it never held a
release, and CloudFormation refuses every change set on it); any other state is left alone, and
the failed states a person must look at fail the stage with the command that usually resolves
them. Its role can describe and delete its own environment's stack and nothing else (in
another account: assume the recovery role there, which can do only that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components import cloudformation, iam_policies
from components.codebuild_runner import SmallProject, plaintext, script_buildspec


def recovery_buildspec() -> str:
    """The inline buildspec: build-image/recover-stack (baked into the image)."""
    return script_buildspec("recover-stack")


@dataclass(frozen=True)
class StackRecoveryArgs:
    stack: cloudformation.StackAddress
    project: SmallProject
    """The environment's small projects' shared settings; this one is `<prefix>-recover-<environment>`."""
    recovery_role_pattern: Optional[pulumi.Input[str]] = None
    """For an environment in another account: the ARN pattern of the role there that the
    recovery assumes (a `CrossAccountAccess` recovery role, whose ARN the pipeline action
    passes in as RECOVERY_ROLE_ARN)."""


class StackRecovery(pulumi.ComponentResource):
    project_name: pulumi.Output[str]
    project_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: StackRecoveryArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:stack_recovery:StackRecovery", name, None, opts)
        stack = args.stack
        runner = args.project.declare(
            name,
            self,
            kind="recover",
            description=f"Clear {stack.name} when its first create failed",
            role_description=f"CodeBuild: clear a failed first create of {stack.name}",
            buildspec=recovery_buildspec(),
            policy=lambda v: iam_policies.recovery_role_policy(
                **v["runner"],
                recovery_statement=cloudformation.stack_recovery_statement(stack.arn(v)),
                recovery_role_arn=v["recovery_role"],
            ),
            recovery_role=args.recovery_role_pattern,
            environment_variables=plaintext(stack.variables()),
            # Deleting a stack that holds nothing takes seconds; waiting for it is bounded too.
            timeout_minutes=15,
        )
        self.project_name = runner.project_name
        self.project_arn = runner.project_arn
        self.role_arn = runner.role_arn
        self.register_outputs(
            {"project_name": self.project_name, "project_arn": self.project_arn, "role_arn": self.role_arn}
        )
