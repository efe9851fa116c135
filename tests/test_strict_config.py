"""Strict config: YAML's own types, AWS's own ranges and names, every problem of a file in one
round, and messages in the stack file's words (a full key, what is allowed, how to fix it;
never a Python class)."""

from __future__ import annotations

import copy
import json

import pytest

from components.config import ConfigError, config_from_stack, load_config
from tests.conftest import MINIMAL_RAW


def problems(**changes) -> list[str]:
    raw = {**copy.deepcopy(MINIMAL_RAW), **changes}
    with pytest.raises(ConfigError) as caught:
        load_config(raw)
    return caught.value.problems


def environment(**keys) -> list[dict]:
    return [{"name": "prod", "stackName": "app-prod", **keys}]


@pytest.mark.parametrize("text", ["false", "True"])
def test_a_quoted_boolean_is_refused_not_read_as_one(text):
    assert problems(environments=environment(approval=text)) == [
        f"ecs-delivery:environments[0].approval: {text!r} is not allowed: true or false, unquoted (a YAML boolean)"
    ]


@pytest.mark.parametrize(
    ("text", "meant"), [("yes", "true"), ("no", "false"), ("On", "true"), ("n", "false")]
)
def test_a_yaml_1_1_boolean_is_a_string_and_is_told_what_to_write(text, meant):
    # YAML 1.2, as Pulumi reads a stack file, has only true and false: `yes` arrives as text.
    notified = {"emails": ["platform-team@example.com"]}
    assert problems(environments=environment(approval=text), notifications=notified) == [
        f"ecs-delivery:environments[0].approval: {text!r} is not allowed: in YAML 1.2 (as Pulumi reads it) "
        f"{text} is a string; write {meant}"
    ]


@pytest.mark.parametrize(("given", "shown"), [([], "[]"), ({}, "{}"), (["yes"], '["yes"]')])
def test_a_list_or_mapping_where_a_boolean_belongs_is_refused_by_its_key(given, shown):
    # The second pass over the broken file looks the value up among YAML 1.1's booleans: a list
    # or a mapping (unhashable) must be reported, not crash that lookup.
    assert problems(environments=environment(approval=given)) == [
        f"ecs-delivery:environments[0].approval: {shown} is not allowed: true or false, unquoted (a YAML boolean)"
    ]


def test_a_quoted_number_is_refused():
    assert problems(environments=environment(verify={"timeoutMinutes": "30"})) == [
        "ecs-delivery:environments[0].verify.timeoutMinutes: '30' is not allowed: a whole number, unquoted "
        "(a YAML integer)"
    ]


def test_an_unquoted_account_id_is_told_to_quote_it():
    raw = {
        "environments": environment(account=111122223333),
        "targetAccounts": {"111122223333": {"roleArn": "arn:aws:iam::111122223333:role/deployer"}},
    }
    assert problems(**raw) == [
        "ecs-delivery:environments[0].account: 111122223333 is a number here: quote it in the stack file "
        '("111122223333"), or from the command line add --type string (pulumi config set --path '
        "'environments[0].account' 111122223333 --type string); YAML reads unquoted digits as a number"
    ]


def test_a_section_given_a_scalar_names_no_python_class():
    (problem,) = problems(environments=environment(verify=True))
    assert problem == (
        "ecs-delivery:environments[0].verify: true is not allowed: a mapping of keys (YAML `key: value` lines)"
    )
    assert "VerifyConfig" not in problem and "dictionary" not in problem


@pytest.mark.parametrize(
    ("cron", "why"),
    [
        ("* * 9-25 ? * MON-THU", "its hours field '9-25': 25 is outside 0-23"),
        (
            "* * 9-16 ? * MON-FUN",
            "its day-of-week field 'MON-FUN': 'FUN' is not a day of the week (1-7 or SUN-SAT)",
        ),
        ("* 60 * ? * *", "its minutes field '60': 60 is outside 0-59"),
        ("* * * 0 * ?", "its day-of-month field '0': 0 is outside 1-31"),
        ("* * * ? JUNE *", "its month field 'JUNE': 'JUNE' is not a month (1-12 or JAN-DEC)"),
        ("* * * ? 13 *", "its month field '13': 13 is outside 1-12 or JAN-DEC"),
        ("* * * ? * 8", "its day-of-week field '8': 8 is outside 1-7 or SUN-SAT"),
        ("* * * ? * 2#6", "its day-of-week field '2#6': '#6': the week of the month is 1-5"),
        ("* * * ? * * 1969", "its year field '1969': 1969 is outside 1970-2199"),
        ("* */0 * ? * *", "its minutes field '*/0': the step '/0' is not a number from 1 to 59"),
        ("* * 9W ? * *", "its hours field '9W': '9W' is not a number (0-23)"),
        ("* * 9#1 ? * *", "its hours field '9#1': '#' is not allowed in hours (it takes , - * /)"),
        ("* * ? ? * MON", "its hours field takes no '?' (only day-of-month and day-of-week do)"),
    ],
)
def test_deployment_window_fields_are_checked_against_aws_ranges_and_names(cron, why):
    (problem,) = problems(environments=environment(deploymentWindow={"cron": cron, "timeZone": "UTC"}))
    assert problem == f"ecs-delivery:environments[0].deploymentWindow.cron: {cron!r} is not allowed: {why}"


@pytest.mark.parametrize(
    "cron",
    [
        "* * 9-16 ? * MON-THU",
        "* 0/15 8-18 ? * MON-FRI *",
        "* * * L * ?",
        "* * * L-3 * ?",
        "* * * 15W * ?",
        "* * * ? * 6L",
        "* * * ? * 2#3",
        "* * 22-23 ? JAN,MAR-MAY SUN 2026-2030",
    ],
)
def test_what_aws_documents_for_the_window_is_accepted(cron):
    load_config(
        {**MINIMAL_RAW, "environments": environment(deploymentWindow={"cron": cron, "timeZone": "UTC"})}
    )


def values(**config) -> dict[str, str]:
    """A stack's config as the engine hands it over: every value a string."""
    found = {"aws:region": "eu-west-1"}
    for key, value in {**MINIMAL_RAW, **config}.items():
        found[f"ecs-delivery:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return found


def test_the_region_must_be_one_the_sdk_knows():
    with pytest.raises(ConfigError) as caught:
        config_from_stack({**values(), "aws:region": "eu-west-9"})
    (problem,) = caught.value.problems
    assert problem.startswith(
        "aws:region: 'eu-west-9' is not a region the installed AWS SDK knows (did you mean 'eu-west-"
    )
    config_from_stack({**values(), "aws:region": "ap-southeast-5"})
    config_from_stack({**values(), "aws:region": "cn-north-1"})


@pytest.mark.parametrize("stack", ["my.stack", "prod eu", "prod/eu"])
def test_a_stack_name_the_derived_aws_names_refuse_is_refused(stack):
    with pytest.raises(ConfigError) as caught:
        config_from_stack(values(), stack=stack)
    assert caught.value.problems == [
        f"ecs-delivery:the stack name {stack!r} is not allowed: letters, digits, '-' and '_' only, since it "
        "names the pipeline, its CodeBuild projects and roles (rename Pulumi.<stack>.yaml)"
    ]


def test_every_problem_of_a_file_in_one_round():
    broken = values(
        environments=[
            {"name": "prod", "stackName": "app-prod", "approval": "no"},
            {
                "name": "prod",
                "stackName": "app-other",
                "deploymentWindow": {"cron": "* * 9-25 ? * MON", "timeZone": "UTC"},
            },
        ],
        enviroment=[],
    )
    with pytest.raises(ConfigError) as caught:
        config_from_stack({**broken, "aws:region": "eu-west-9", "aws:regoin": "eu-west-1"}, stack="prod")
    found = caught.value.problems
    # The suggestion is the closest of the SDK's own regions (eu-west-1 to -3 are equally close).
    assert found[1].startswith(
        "aws:region: 'eu-west-9' is not a region the installed AWS SDK knows (did you mean 'eu-west-"
    )
    assert found[:1] + found[2:] == [
        "aws:regoin: not a configuration key of the aws provider (did you mean aws:region?)",
        "ecs-delivery:environments[0].approval: 'no' is not allowed: in YAML 1.2 (as Pulumi reads it) no is a "
        "string; write false",
        "ecs-delivery:environments[1].deploymentWindow.cron: '* * 9-25 ? * MON' is not allowed: its hours "
        "field '9-25': 25 is outside 0-23",
        "ecs-delivery:enviroment: unknown key (did you mean 'environments'?) (allowed: application, artifacts, "
        "build, buildImage, connectionArn, deployRole, ecr, environments, executionMode, imageDigestParameter, imageRegistryParameter, "
        "imageRepositoryParameter, imageTagParameter, infrastructure, notifications, permissionsBoundaryParameter, "
        "protectStatefulResources, targetAccounts)",
        "ecs-delivery:environments[1].name: 'prod' is already used by environments[0]; names must be unique",
    ]


def test_a_top_level_boolean_arrives_as_text_and_only_true_or_false_is_one():
    assert (
        config_from_stack(
            {**values(), "ecs-delivery:protectStatefulResources": "false"}
        ).protect_stateful_resources
        is False
    )
    with pytest.raises(ConfigError) as caught:
        config_from_stack({**values(), "ecs-delivery:protectStatefulResources": "no"})
    assert caught.value.problems == [
        "ecs-delivery:protectStatefulResources: 'no' is not allowed: in YAML 1.2 (as Pulumi reads it) no is a "
        "string; write false"
    ]
    with pytest.raises(ConfigError) as caught:
        config_from_stack({**values(), "ecs-delivery:protectStatefulResources": "False"})
    assert caught.value.problems == [
        "ecs-delivery:protectStatefulResources: 'False' is not allowed: true or false, unquoted (a YAML boolean)"
    ]


def test_a_stack_file_with_a_dot_in_its_name_does_not_synthesise(tmp_path, capsys):
    import shutil

    from offline import synth
    from tests.conftest import FIXTURE_STACKS

    shutil.copy(FIXTURE_STACKS / "Pulumi.dev.yaml", tmp_path / "Pulumi.my.stack.yaml")
    assert synth.main(["my.stack", "--stacks-dir", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "the stack name 'my.stack' is not allowed" in capsys.readouterr().err
