"""The verify gate: the smoke test an environment runs after each deploy (`verify`).

A small unprivileged CodeBuild project on the tools image. The pipeline's `Verify`
action hands it the application's checkout and the deployed stack's outputs (through the
deploy action's variables namespace) as environment variables; `build-image/verify-environment`
checks that each arrived and runs `verify.command` (default `make smoke`), which fails the
stage when it fails. Its
role can write its own log and read the checkout, nothing else: the smoke test talks to
the application over the network, not to AWS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

import pulumi

from components import iam_policies
from components.codebuild_runner import SmallProject, plaintext, script_buildspec
from components.config import EnvironmentConfig
from components.spec import APPLICATION_SOURCE, ActionSpec, codebuild_variables, worst_case_value
from components.units.seam import AFTER_DEPLOY, GateBinding, UnitContext

NAME = "verify"


def verify_buildspec() -> str:
    """The inline buildspec: build-image/verify-environment (baked into the image), from the
    checkout's root; it runs the configured command."""
    return script_buildspec("verify-environment")


def verify_environment(
    *, environment: str, command: str, stack_outputs: Sequence[str], timeout_minutes: int
) -> dict[str, str]:
    """The project's environment variables: what verify-environment reads besides the stack
    outputs the pipeline action passes per run. VERIFY_TIMEOUT_MINUTES bounds the command in
    the script: on Lambda compute the project itself takes no timeout (codebuild_runner)."""
    return {
        "ENVIRONMENT": environment,
        "VERIFY_COMMAND": command,
        "STACK_OUTPUTS": " ".join(stack_outputs),
        "VERIFY_TIMEOUT_MINUTES": str(timeout_minutes),
    }


@dataclass(frozen=True)
class VerifyProjectArgs:
    command: str
    """What the smoke test runs (`verify.command`)."""
    stack_outputs: Sequence[str]
    """The stack outputs it gets as environment variables (`verify.stackOutputs`)."""
    timeout_minutes: int
    """`verify.timeoutMinutes`: up to 15, the project runs on Lambda compute and the script
    bounds the command; above, on EC2 compute with this build timeout (codebuild_runner)."""
    project: SmallProject
    """The environment's small projects' shared settings; this one is `<prefix>-verify-<environment>`."""


class VerifyProject(pulumi.ComponentResource):
    project_name: pulumi.Output[str]
    project_arn: pulumi.Output[str]

    def __init__(self, name: str, args: VerifyProjectArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:verify_project:VerifyProject", name, None, opts)
        environment = args.project.environment
        runner = args.project.declare(
            name,
            self,
            kind="verify",
            description=f"Smoke-test {environment} after each deploy",
            role_description=f"CodeBuild: smoke-test {environment}",
            buildspec=verify_buildspec(),
            policy=lambda v: iam_policies.verify_role_policy(**v["runner"]),
            # The stack outputs arrive per run, from the pipeline action.
            environment_variables=plaintext(
                verify_environment(
                    environment=environment,
                    command=args.command,
                    stack_outputs=args.stack_outputs,
                    timeout_minutes=args.timeout_minutes,
                )
            ),
            timeout_minutes=args.timeout_minutes,
        )
        self.project_name = runner.project_name
        self.project_arn = runner.project_arn
        self.register_outputs({"project_name": self.project_name, "project_arn": self.project_arn})


# -- the unit ---------------------------------------------------------------------------------


def applies(env: EnvironmentConfig) -> bool:
    return env.verify is not None


def worst_case_refs(env: EnvironmentConfig) -> dict[str, str]:
    return {"project": worst_case_value("verify-project")}


def actions(
    env: EnvironmentConfig, refs: Mapping[str, str], *, outputs_namespace: str
) -> dict[str, tuple[ActionSpec, ...]]:
    """The `Verify` action after the deploy: the project runs `verify.command` in the
    application's checkout, with the named outputs of the deployed target as environment
    variables (the deploy target's outputs namespace)."""
    assert env.verify is not None
    variables = [
        {"name": output, "value": f"#{{{outputs_namespace}.{output}}}", "type": "PLAINTEXT"}
        for output in env.verify.stack_outputs
    ]
    verify = ActionSpec(
        name="Verify",
        category="Test",
        provider="CodeBuild",
        configuration={
            "ProjectName": refs["project"],
            "EnvironmentVariables": codebuild_variables(variables),
        },
        input_artifacts=(APPLICATION_SOURCE,),
    )
    return {AFTER_DEPLOY: (verify,)}


def review_checks(env: EnvironmentConfig) -> dict[str, str]:
    return {}


def declare(context: UnitContext) -> GateBinding:
    env = context.environment
    assert env.verify is not None
    project = VerifyProject(
        f"verify-{env.name}",
        VerifyProjectArgs(
            command=env.verify.command,
            stack_outputs=tuple(env.verify.stack_outputs),
            timeout_minutes=env.verify.timeout_minutes,
            project=context.small_project,
        ),
        # Declared at the stack's root before the environment's component existed.
        opts=pulumi.ResourceOptions(
            parent=context.parent, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)]
        ),
    )
    return GateBinding(refs={"project": project.project_name}, started_projects=(project.project_arn,))
