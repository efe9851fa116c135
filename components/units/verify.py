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

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Optional

import pulumi
from pydantic import AfterValidator, Field

from components import iam_policies
from components.codebuild_runner import SmallProject, plaintext, script_buildspec
from components.config import Section
from components.spec import APPLICATION_SOURCE, ActionSpec, codebuild_variables, worst_case_value
from components.units.seam import AFTER_DEPLOY, GateBinding, UnitContext

if TYPE_CHECKING:
    # Assembled by the registry from this module's option, among others: only an annotation here.
    from components.config import EnvironmentConfig


# The smoke test gets each of `verify.stackOutputs` as an environment variable of the same name
# (components/blueprint.py `_verify_action`), in a CodeBuild build whose commands run in bash
# (build-image/verify-environment). An output named after a variable that bash, CodeBuild or the
# verify project itself uses would replace that variable, and the smoke test, hence the release,
# would fail (or run something else) every time; the gated release would be rolled back.
#
# Bash's own variables: Bash Reference Manual, 5 "Shell Variables" (5.1 Bourne Shell Variables,
# 5.2 Bash Variables); the same list as bash(1), "Shell Variables". From the environment, some
# steer the shell itself (IFS splits words, PATH finds commands, BASH_ENV and ENV name a file
# bash runs first, SHELLOPTS and BASHOPTS turn options on).
BASH_VARIABLES = frozenset({
    "CDPATH", "HOME", "IFS", "MAIL", "MAILPATH", "OPTARG", "OPTIND", "PATH", "PS1", "PS2",
    "_", "BASH", "BASHOPTS", "BASHPID", "BASH_ALIASES", "BASH_ARGC", "BASH_ARGV", "BASH_ARGV0",
    "BASH_CMDS", "BASH_COMMAND", "BASH_COMPAT", "BASH_ENV", "BASH_EXECUTION_STRING", "BASH_LINENO",
    "BASH_LOADABLES_PATH", "BASH_MONOSECONDS", "BASH_REMATCH", "BASH_SOURCE", "BASH_SUBSHELL",
    "BASH_TRAPSIG", "BASH_VERSINFO", "BASH_VERSION", "BASH_XTRACEFD", "CHILD_MAX", "COLUMNS",
    "COMP_CWORD", "COMP_KEY", "COMP_LINE", "COMP_POINT", "COMP_TYPE", "COMP_WORDBREAKS", "COMP_WORDS",
    "COMPREPLY", "COPROC", "DIRSTACK", "EMACS", "ENV", "EPOCHREALTIME", "EPOCHSECONDS", "EUID",
    "EXECIGNORE", "FCEDIT", "FIGNORE", "FUNCNAME", "FUNCNEST", "GLOBIGNORE", "GLOBSORT", "GROUPS",
    "histchars", "HISTCMD", "HISTCONTROL", "HISTFILE", "HISTFILESIZE", "HISTIGNORE", "HISTSIZE",
    "HISTTIMEFORMAT", "HOSTFILE", "HOSTNAME", "HOSTTYPE", "IGNOREEOF", "INPUTRC", "INSIDE_EMACS",
    "LANG", "LC_ALL", "LC_COLLATE", "LC_CTYPE", "LC_MESSAGES", "LC_NUMERIC", "LC_TIME", "LINENO",
    "LINES", "MACHTYPE", "MAILCHECK", "MAPFILE", "OLDPWD", "OPTERR", "OSTYPE", "PIPESTATUS",
    "POSIXLY_CORRECT", "PPID", "PROMPT_COMMAND", "PROMPT_DIRTRIM", "PS0", "PS3", "PS4", "PWD",
    "RANDOM", "READLINE_ARGUMENT", "READLINE_LINE", "READLINE_MARK", "READLINE_POINT", "REPLY",
    "SECONDS", "SHELL", "SHELLOPTS", "SHLVL", "SRANDOM", "TIMEFORMAT", "TMOUT", "TMPDIR", "UID",
    "auto_resume",
})  # fmt: skip
# CodeBuild user guide, "Environment variables in build environments": the variables CodeBuild
# sets in every build, AWS_REGION, AWS_DEFAULT_REGION and the CODEBUILD_ ones; the prefix is
# CodeBuild's own (CreateProject refuses a user variable named CODEBUILD_...). AWS_ variables are
# also what the AWS CLI and SDKs read for the build's identity and region.
CODEBUILD_VARIABLES = frozenset({"AWS_REGION", "AWS_DEFAULT_REGION"})
# What the verify project sets (`verify_environment` below) and the
# variables build-image/verify-environment assigns while it checks the outputs.
VERIFY_PROJECT_VARIABLES = frozenset(
    {
        "ENVIRONMENT",
        "VERIFY_COMMAND",
        "STACK_OUTPUTS",
        "VERIFY_TIMEOUT_MINUTES",
        "name",
        "value",
        "missing",
        "status",
    }
)


def _reserved_variable(name: str) -> Optional[str]:
    """Why an environment variable of this name cannot carry a stack output, if it cannot."""
    codebuild_guide = '(CodeBuild user guide, "Environment variables in build environments")'
    if name in VERIFY_PROJECT_VARIABLES:
        return f"the verify project uses {name} itself (build-image/verify-environment)"
    if name in CODEBUILD_VARIABLES:
        return f"CodeBuild sets {name} in every build {codebuild_guide}"
    if name.startswith("CODEBUILD_"):
        return f"CodeBuild keeps the CODEBUILD_ variables for itself {codebuild_guide}"
    if name.startswith("AWS_"):
        return "AWS_ variables set the build's AWS credentials, profile and region for the AWS CLI and SDKs"
    if name in BASH_VARIABLES:
        return f'{name} is a variable of bash itself (Bash Reference Manual, "Shell Variables")'
    return None


_OUTPUT_NAME = re.compile(r"[A-Za-z0-9]{1,255}")


def _stack_output_name(value: str) -> str:
    reserved = _reserved_variable(value)
    if reserved:
        raise ValueError(
            f"{value!r} is not allowed: the smoke test gets each stack output as an environment "
            f"variable of that name, and {reserved}, so the smoke test would fail on every release; "
            "rename the output in the template (and here)"
        )
    if not _OUTPUT_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not allowed: a CloudFormation output name (letters and digits)")
    return value


_stack_output_name.allowed = (
    "a CloudFormation output name (letters and digits), not a variable bash, CodeBuild or the "
    "smoke test itself uses (PATH, IFS, HOME, ...)"
)
OutputName = Annotated[str, AfterValidator(_stack_output_name)]


class VerifyConfig(Section):
    """The smoke test's settings (`verify`)."""

    command: str = Field(default="make smoke", min_length=1, max_length=1000)
    """What the verify action runs in the application repository's checkout."""
    stack_outputs: list[OutputName] = Field(default_factory=lambda: ["ApplicationUrl"], max_length=20)
    """Outputs of the environment's stack handed to the command as environment variables
    of the same name (through the deploy action's variables namespace); not a name bash,
    CodeBuild or the smoke test itself uses (`PATH`, `IFS`, `HOME`, `ENVIRONMENT`, `CODEBUILD_*`,
    `AWS_*`, ...)."""
    timeout_minutes: int = Field(default=15, ge=5, le=2160)
    """CodeBuild timeout of one verify run (CodeBuild allows 5-2160 minutes)."""


class VerifyOption(Section):
    """The gate's key in an environment's config; the registry joins it to every deploy target's
    variant (components/units/__init__.py)."""

    verify: Optional[VerifyConfig] = None
    """A smoke test run against the environment after each deploy."""


CONFIG_OPTION = VerifyOption


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
    return GateBinding(refs={"project": project.project_name})
