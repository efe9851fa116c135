"""Risky input refused before anything is declared: what would pass `pulumi up` and fail (or do
harm) only when a release runs. Each refusal names the key and the fix in the stack file's
words, and every problem of a file arrives in one round."""

from __future__ import annotations

import copy
import itertools
import os
import re
import subprocess
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from components.config import (
    VERIFY_PROJECT_VARIABLES,
    ConfigError,
    DeliveryConfig,
    config_from_stack,
    load_config,
)
from components.units.verify import verify_environment
from offline.program import load_stack_config
from tests.conftest import MINIMAL_RAW

PROJECT_DIR = Path(__file__).resolve().parent.parent
NOTIFIED = {"emails": ["platform-team@example.com"]}


def problems(**changes) -> list[str]:
    raw = {**copy.deepcopy(MINIMAL_RAW), **changes}
    with pytest.raises(ConfigError) as caught:
        load_config(raw)
    return caught.value.problems


def env(name: str, **keys) -> dict:
    return {"name": name, "stackName": f"app-{name}", **keys}


def gated(name: str, **keys) -> dict:
    """An environment released through an approval, with everything else a gated one needs."""
    return env(name, approval=True, approvers=["arn:aws:iam::123456789012:role/release-managers"], **keys)


# -- a gated environment no one hears about --------------------------------------------------
def test_a_gated_environment_with_no_one_to_notify_is_refused():
    assert problems(environments=[env("dev"), gated("production")]) == [
        "ecs-delivery:notifications.emails: required with a gated environment (environments[1] 'production'): "
        "approval requests are sent only to these addresses, so without one a release waits at its approval "
        "and no one is told; add at least one address"
    ]
    load_config(
        {
            **MINIMAL_RAW,
            "environments": [env("dev"), gated("production")],
            "notifications": NOTIFIED,
        }
    )
    # Ungated, nothing waits for anyone.
    load_config({**MINIMAL_RAW, "environments": [env("dev")]})


def test_a_secret_address_is_someone_to_notify():
    raw = {
        **MINIMAL_RAW,
        "environments": [gated("production")],
        "notifications": {"emails": ["[secret]"]},
    }
    load_config(raw, secret_keys=frozenset({"ecs-delivery:notifications"}))


def test_a_wrong_address_is_reported_once_not_also_as_no_one_to_notify():
    found = problems(environments=[gated("production")], notifications={"emails": ["ops"]})
    assert found == [
        "ecs-delivery:notifications.emails[0]: 'ops' is not allowed: an email address (local-part@domain.tld)"
    ]


# -- an ungated environment after a gated one ------------------------------------------------
def test_an_ungated_environment_after_a_gated_one_is_refused_with_the_fix():
    assert problems(environments=[env("dev"), gated("production"), env("dr")], notifications=NOTIFIED) == [
        "ecs-delivery:environments[2].approval: 'dr' is ungated but deploys after the gated environments[1] "
        "'production': environments deploy in order, so 'dr' would receive changes without a review of its own, "
        "after 'production' has them; move it before 'production', or gate it (approval: true)"
    ]
    for fixed in (
        [env("dev"), env("dr"), gated("production")],
        [env("dev"), gated("production"), gated("dr")],
    ):
        load_config({**MINIMAL_RAW, "environments": fixed, "notifications": NOTIFIED})


# -- stack outputs the smoke test's shell would take for its own ------------------------------
@pytest.mark.parametrize(
    ("output", "why"),
    [
        ("PATH", 'PATH is a variable of bash itself (Bash Reference Manual, "Shell Variables")'),
        ("IFS", 'IFS is a variable of bash itself (Bash Reference Manual, "Shell Variables")'),
        ("HOME", 'HOME is a variable of bash itself (Bash Reference Manual, "Shell Variables")'),
        ("SHELL", 'SHELL is a variable of bash itself (Bash Reference Manual, "Shell Variables")'),
        ("PWD", 'PWD is a variable of bash itself (Bash Reference Manual, "Shell Variables")'),
        ("BASH_ENV", 'BASH_ENV is a variable of bash itself (Bash Reference Manual, "Shell Variables")'),
        ("histchars", 'histchars is a variable of bash itself (Bash Reference Manual, "Shell Variables")'),
        (
            "AWS_REGION",
            'CodeBuild sets AWS_REGION in every build (CodeBuild user guide, "Environment variables in build '
            'environments")',
        ),
        (
            "CODEBUILD_BUILD_ID",
            'CodeBuild keeps the CODEBUILD_ variables for itself (CodeBuild user guide, "Environment variables in '
            'build environments")',
        ),
        (
            "AWS_PROFILE",
            "AWS_ variables set the build's AWS credentials, profile and region for the AWS CLI and SDKs",
        ),
        ("ENVIRONMENT", "the verify project uses ENVIRONMENT itself (build-image/verify-environment)"),
        ("STACK_OUTPUTS", "the verify project uses STACK_OUTPUTS itself (build-image/verify-environment)"),
        ("name", "the verify project uses name itself (build-image/verify-environment)"),
    ],
)
def test_a_stack_output_named_like_a_shell_or_codebuild_variable_is_refused(output, why):
    found = problems(environments=[env("dev", verify={"stackOutputs": ["ApplicationUrl", output]})])
    assert found == [
        f"ecs-delivery:environments[0].verify.stackOutputs[1]: {output!r} is not allowed: the smoke test gets "
        f"each stack output as an environment variable of that name, and {why}, so the smoke test would fail on "
        "every release; rename the output in the template (and here)"
    ]


def test_outputs_that_only_resemble_them_are_fine():
    load_config(
        {**MINIMAL_RAW, "environments": [env("dev", verify={"stackOutputs": ["Path", "HomeUrl", "Ifs"]})]}
    )


def test_every_variable_the_verify_project_sets_or_assigns_is_reserved():
    assert set(
        verify_environment(environment="dev", command="make smoke", stack_outputs=["A"], timeout_minutes=15)
    ) <= (VERIFY_PROJECT_VARIABLES)
    script = (PROJECT_DIR / "build-image" / "verify-environment").read_text()
    assigned = set(re.findall(r"^\s*(?:for\s+)?([A-Za-z_]\w*)(?:=|\s+in\s)", script, flags=re.MULTILINE))
    assert assigned == {"missing", "name", "value", "status"}
    assert assigned <= VERIFY_PROJECT_VARIABLES


def run_verify(outputs: dict[str, str], command: str) -> subprocess.CompletedProcess:
    environment = {
        "PATH": os.environ["PATH"],
        "ENVIRONMENT": "dev",
        "VERIFY_COMMAND": command,
        "STACK_OUTPUTS": " ".join(outputs),
        **outputs,
    }
    return subprocess.run(  # noqa: S603 - the repository's own script
        ["/bin/bash", str(PROJECT_DIR / "build-image" / "verify-environment")],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_why_an_output_named_path_or_name_breaks_the_smoke_test():
    # What the refusal prevents, run for real: the script the verify project runs.
    assert (
        run_verify(
            {"ApplicationUrl": "https://app.example.com"}, 'test "$ApplicationUrl" = https://app.example.com'
        ).returncode
        == 0
    )
    # PATH from a stack output: bash finds no command any more.
    assert run_verify({"PATH": "https://app.example.com"}, "true").returncode == 127
    # `name` is the script's loop variable: the smoke test gets another output's name in it.
    broken = run_verify(
        {"name": "https://app.example.com", "Other": "x"}, 'test "$name" = https://app.example.com'
    )
    assert broken.returncode == 1


# -- characters that are not what they show --------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"infrastructure": {"repository": "acme/infra", "templatePath": "stack.yml\n"}},
            "ecs-delivery:infrastructure.templatePath: 'stack.yml\\n' is not allowed: it holds a line break (\\n); a "
            "relative path inside the repository holds no line breaks or other control characters",
        ),
        (
            {"build": {"buildspec": "build\rspec.yml"}},
            "ecs-delivery:build.buildspec: 'build\\rspec.yml' is not allowed: it holds a carriage return (\\r);",
        ),
        (
            {"environments": [env("dev", templateConfiguration="dev\u2028.json")]},
            "ecs-delivery:environments[0].templateConfiguration: 'dev\\u2028.json' is not allowed: it holds U+2028 "
            "LINE SEPARATOR;",
        ),
        (
            {"build": {"versionFile": "version\x00.json"}},
            "ecs-delivery:build.versionFile: 'version\\x00.json' is not allowed: it holds the control character U+0000;",
        ),
        (
            {"application": {"name": "app", "repository": "acme/app", "branch": "main\u202e"}},
            "ecs-delivery:application.branch: 'main\\u202e' is not allowed: it holds U+202E RIGHT-TO-LEFT OVERRIDE; "
            "a Git branch name of visible characters only (no control characters, no bidirectional overrides)",
        ),
        (
            {"infrastructure": {"repository": "acme/infra", "branch": "release\u2066x\u2069"}},
            "ecs-delivery:infrastructure.branch: 'release\\u2066x\\u2069' is not allowed: it holds U+2066 LEFT-TO-RIGHT "
            "ISOLATE, U+2069 POP DIRECTIONAL ISOLATE;",
        ),
        (
            {"application": {"name": "app", "repository": "acme/app", "branch": "main\x07"}},
            "ecs-delivery:application.branch: 'main\\x07' is not allowed: it holds the control character U+0007;",
        ),
    ],
)
def test_invisible_and_control_characters_in_paths_and_branches_are_refused(changes, expected):
    (problem,) = problems(**changes)
    assert problem.startswith(expected), problem


def test_visible_non_ascii_in_a_branch_is_fine():
    load_config({**MINIMAL_RAW, "application": {**MINIMAL_RAW["application"], "branch": "feature/größe"}})


# -- CodePipeline variable syntax where the pipeline would resolve it ------------------------
def test_pipeline_variable_syntax_in_parameters_and_alarm_names_is_refused():
    found = problems(
        environments=[
            env(
                "dev",
                parameters={"ReleaseId": "#{codepipeline.PipelineExecutionId}", "Note": "price #1 {x}"},
                alarms=["app-#{Stack-dev.Name}-5xx"],
                bakeMinutes=5,
            )
        ]
    )
    assert found == [
        "ecs-delivery:environments[0].alarms[0]: 'app-#{Stack-dev.Name}-5xx' is not allowed: '#{Stack-dev.Name}' is "
        "CodePipeline's variable syntax, which the pipeline would try to resolve when the release runs (and "
        "fail); write the value without '#{'",
        "ecs-delivery:environments[0].parameters.ReleaseId: '#{codepipeline.PipelineExecutionId}' is not allowed: "
        "'#{codepipeline.PipelineExecutionId}' is CodePipeline's variable syntax, which the pipeline would try to "
        "resolve when the release runs (and fail); write the value without '#{'",
    ]


# -- every bound, length and choice in the stack file's words --------------------------------
def _bounds(field) -> dict:
    return {
        name: getattr(item, name)
        for item in field.metadata
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length")
        if hasattr(item, name)
    }


def _literal(annotation) -> tuple:
    for candidate in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(candidate) is typing.Literal:
            return typing.get_args(candidate)
    return ()


def _sections(annotation) -> list[type[BaseModel]]:
    return [
        c
        for c in (annotation, *typing.get_args(annotation))
        if isinstance(c, type) and issubclass(c, BaseModel)
    ]


def _constrained(model: type[BaseModel], path: tuple) -> typing.Iterator[tuple[tuple, typing.Any]]:
    """Every (path, broken value) the model's declared bounds and choices refuse."""
    for name, field in model.model_fields.items():
        here = (*path, field.alias or name)
        bounds, choices = _bounds(field), _literal(field.annotation)
        origin = typing.get_origin(field.annotation)
        sized = "text" if field.annotation is str else "list"
        for bound, limit in bounds.items():
            if bound in ("ge", "gt", "le", "lt"):
                yield here, {"ge": limit - 1, "gt": limit, "le": limit + 1, "lt": limit}[bound]
            elif bound == "min_length" and limit > 0:
                yield here, "x" * (limit - 1) if sized == "text" else ["x"] * (limit - 1)
            elif bound == "max_length":
                yield here, "x" * (limit + 1) if sized == "text" else [f"x{i}" for i in range(limit + 1)]
        if choices:
            yield here, 2 if isinstance(choices[0], int) else "NOT_A_CHOICE"
        if origin is list and _literal(typing.get_args(field.annotation)[0]):
            yield (*here, 0), "NOT_A_CHOICE"
        for section in _sections(field.annotation):
            yield from _constrained(section, (*here, 0) if origin is list else here)


CONSTRAINED = list(_constrained(DeliveryConfig, ()))


def test_the_walk_finds_the_bounds_it_should():
    paths = {path for path, _ in CONSTRAINED}
    assert {
        ("build", "timeoutMinutes"),
        ("build", "logRetentionDays"),
        ("build", "cacheModes", 0),
        ("environments",),
        ("environments", 0, "alarms"),
        ("environments", 0, "bakeMinutes"),
        ("environments", 0, "verify", "command"),
        ("environments", 0, "onFailure", "result"),
        ("ecr", "maxImageCount"),
        ("executionMode",),
    } <= paths


def _with(path: tuple, value) -> dict:
    raw = copy.deepcopy({**MINIMAL_RAW, "environments": [env("dev")]})
    target = raw
    for part, following in itertools.pairwise(path):
        if isinstance(part, int):
            target = target[part]
            continue
        target = target.setdefault(part, [{}] if isinstance(following, int) else {})
    target[path[-1]] = value
    return raw


def _key(path: tuple) -> str:
    return "ecs-delivery:" + "".join(
        f"[{p}]" if isinstance(p, int) else ("." if i else "") + p for i, p in enumerate(path)
    )


@pytest.mark.parametrize(("path", "value"), CONSTRAINED, ids=[_key(p) for p, _ in CONSTRAINED])
def test_no_bound_length_or_choice_is_refused_in_the_validators_words(path, value):
    with pytest.raises(ConfigError) as caught:
        load_config(_with(path, value))
    found = caught.value.problems
    assert not [p for p in found if re.search(r"\bshould\b|Input|List|String", p)], found
    assert any(p.startswith(f"{_key(path)}: ") and " is not allowed: " in p for p in found), found


# -- all of it in one round, from the stack file ---------------------------------------------
RISKY = """\
config:
  aws:region: eu-west-1
  ecs-delivery:application:
    name: shop
    repository: acme/shop
    branch: "main\\u202e"
  ecs-delivery:infrastructure:
    repository: acme/shop-infra
    templatePath: "stack.yml\\n"
  ecs-delivery:build:
    timeoutMinutes: 4
  ecs-delivery:environments:
    - name: staging
      stackName: shop-staging
      approval: yes
      parameters:
        ReleaseId: "#{codepipeline.PipelineExecutionId}"
    - name: dev
      stackName: shop-dev
      verify:
        stackOutputs: [ApplicationUrl, PATH]
      alarms: ["shop-#{Stack-dev.Name}"]
      bakeMinutes: 10
"""


def test_every_risky_input_of_one_file_arrives_in_one_round(tmp_path):
    (tmp_path / "Pulumi.risky.yaml").write_text(RISKY)
    with pytest.raises(ConfigError) as caught:
        config_from_stack(load_stack_config("risky", tmp_path).values, stack="risky")
    assert [p.partition(": ")[0] for p in caught.value.problems] == [
        "ecs-delivery:application.branch",
        "ecs-delivery:infrastructure.templatePath",
        "ecs-delivery:build.timeoutMinutes",
        "ecs-delivery:environments[0].approval",
        "ecs-delivery:environments[0].parameters.ReleaseId",
        # An environment's own keys first, then each gate unit's (components/units/__init__.py).
        "ecs-delivery:environments[1].alarms[0]",
        "ecs-delivery:environments[1].verify.stackOutputs[1]",
        # `approval: yes` meant a gated staging: what depends on it is checked in the same round.
        "ecs-delivery:notifications.emails",
        "ecs-delivery:environments[1].approval",
    ]
    assert caught.value.problems[3] == (
        "ecs-delivery:environments[0].approval: 'yes' is not allowed: in YAML 1.2 (as Pulumi reads it) yes is a "
        "string; write true"
    )
