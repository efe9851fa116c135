"""The stack file as the Pulumi CLI reads it: go-yaml v3, YAML 1.2 (`yes` is a string) and a
repeated key an error ("mapping key ... already defined at line ..."), at any depth. Each
refusal names the line and the key as the stack file spells it."""

from __future__ import annotations

import json

import pytest
import yaml

from components.config import ConfigError, config_from_stack
from offline.program import StackFileError, load_stack_config
from offline.stack_file import read_stack_file

HEAD = """\
config:
  aws:region: eu-west-1
  ecs-delivery:application:
    name: shop
    repository: acme/shop
  ecs-delivery:infrastructure:
    repository: acme/shop-infra
  ecs-delivery:notifications:
    emails: [releases@example.com]
"""
# Lines 10-20 of every file below.
ENVIRONMENTS = """\
  ecs-delivery:environments:
    - name: dev
      stackName: shop-dev
    - name: production
      stackName: shop-prod
      approval: true
      approvers: [arn:aws:iam::123456789012:role/release-managers]
      verify:
        timeoutMinutes: 10
      alarms: [shop-prod-5xx]
      bakeMinutes: 30
"""


def at(text: str, written: str, nth: int = 1) -> int:
    """The line the nth line holding `written` is on (1-based), as an editor shows it."""
    return [i for i, line in enumerate(text.splitlines(), start=1) if written in line][nth - 1]


def loaded(tmp_path, text: str):
    (tmp_path / "Pulumi.shop.yaml").write_text(text)
    return load_stack_config("shop", tmp_path)


def refused(tmp_path, text: str) -> StackFileError:
    with pytest.raises(StackFileError) as caught:
        loaded(tmp_path, text)
    return caught.value


def test_the_file_below_is_a_valid_gated_stack(tmp_path):
    config = config_from_stack(loaded(tmp_path, HEAD + ENVIRONMENTS).values, stack="shop")
    assert [env.approval for env in config.environments] == [False, True]


def test_an_approval_false_appended_under_a_gated_environment_is_refused(tmp_path):
    text = HEAD + ENVIRONMENTS + "      approval: false\n"
    # Read as YAML 1.1 with the last key winning (PyYAML, as before), production is ungated.
    assert yaml.safe_load(text)["config"]["ecs-delivery:environments"][1]["approval"] is False
    error = refused(tmp_path, text)
    repeated = (
        f"line {at(text, 'approval: false')}: ecs-delivery:environments[1].approval is set again "
        f"(first at line {at(text, 'approval: true')})"
    )
    assert error.problems == [repeated]
    assert str(error).startswith(
        "Pulumi.shop.yaml repeats keys, which the Pulumi CLI refuses (YAML 1.2: the keys of a mapping are unique"
    )
    assert f"  - {repeated}" in str(error)


def test_a_second_environments_list_is_refused(tmp_path):
    text = (
        HEAD
        + ENVIRONMENTS
        + "  ecs-delivery:environments:\n    - name: production\n      stackName: shop-prod\n"
    )
    assert refused(tmp_path, text).problems == [
        f"line {at(text, 'ecs-delivery:environments:', 2)}: ecs-delivery:environments is set again (first at "
        f"line {at(text, 'ecs-delivery:environments:')})"
    ]


def test_every_repeated_key_of_the_file_is_reported_at_once_at_every_depth(tmp_path):
    text = (
        HEAD
        + ENVIRONMENTS
        + '      deploymentWindow: {cron: "* * 9-16 ? * MON-THU", timeZone: UTC, timeZone: Europe/London}\n'
        + "      verify:\n"
        + "        command: make smoke\n"
        + "  ecs-delivery:targetAccounts:\n"
        + '    "222222222222": {roleArn: "arn:aws:iam::222222222222:role/a"}\n'
        + '    222222222222: {roleArn: "arn:aws:iam::222222222222:role/b"}\n'
        + "  application: {name: other, repository: acme/other}\n"
        + "config: {}\n"
    )
    assert refused(tmp_path, text).problems == [
        # Inside a flow mapping: two keys on one line.
        f"line {at(text, 'deploymentWindow')}: ecs-delivery:environments[1].deploymentWindow.timeZone is set "
        "again (first at column 56)",
        f"line {at(text, 'verify:', 2)}: ecs-delivery:environments[1].verify is set again (first at line "
        f"{at(text, 'verify:')})",
        # Quoted or not, the program gets the same key (the CLI hands config over as JSON).
        f"line {at(text, '    222222222222:')}: ecs-delivery:targetAccounts.222222222222 is set again (first at "
        f"line {at(text, 'role/a')})",
        # The CLI namespaces a key written without one: Go's map order would pick the winner.
        f"line {at(text, '  application:')}: 'application' is ecs-delivery:application, already set as "
        "'ecs-delivery:application' at line 3; Pulumi would keep either one",
        f"line {at(text, 'config: {}')}: config is set again (first at line 1)",
    ]


def test_yes_is_a_string_as_pulumi_reads_it_and_travels_as_one_to_the_refusal(tmp_path):
    text = (
        HEAD
        + ENVIRONMENTS.replace("approval: true", "approval: yes")
        + "  ecs-delivery:protectStatefulResources: off\n"
    )
    # YAML 1.1 would have made both booleans.
    assert yaml.safe_load(text)["config"]["ecs-delivery:protectStatefulResources"] is False
    stack = loaded(tmp_path, text)
    # What the CLI hands the program: the structured value as JSON with the text in it, the
    # top-level value as its text.
    assert json.loads(stack.values["ecs-delivery:environments"])[1]["approval"] == "yes"
    assert stack.values["ecs-delivery:protectStatefulResources"] == "off"
    with pytest.raises(ConfigError) as caught:
        config_from_stack(stack.values, stack="shop")
    assert caught.value.problems == [
        "ecs-delivery:environments[1].approval: 'yes' is not allowed: in YAML 1.2 (as Pulumi reads it) yes is a "
        "string; write true",
        "ecs-delivery:protectStatefulResources: 'off' is not allowed: in YAML 1.2 (as Pulumi reads it) off is a "
        "string; write false",
    ]


def test_what_yaml_1_2_reads_differently_arrives_as_pulumi_hands_it():
    document = read_stack_file(
        "Pulumi.x.yaml",
        "config:\n  x:a: [yes, no, on, off, y, n, True, FALSE, ~]\n  x:b: 2026-01-01\n  x:c: 1:30\n  x:d: 0o17\n",
        "ecs-delivery",
    )
    # go-yaml v3 into an untyped value: the YAML 1.1 words stay text, True/FALSE are booleans,
    # a timestamp stays the text it was written as, sexagesimal is gone.
    assert document == {
        "config": {
            "x:a": ["yes", "no", "on", "off", "y", "n", True, False, None],
            "x:b": "2026-01-01",
            "x:c": "1:30",
            "x:d": 15,
        }
    }


def test_a_merge_key_fills_in_what_the_mapping_does_not_set():
    document = read_stack_file(
        "Pulumi.x.yaml",
        "defaults: &defaults {stackName: s, approval: true}\nenv:\n  <<: *defaults\n  approval: false\n",
        "ecs-delivery",
    )
    assert document["env"] == {"stackName": "s", "approval": False}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEAD + ENVIRONMENTS + "\t  onFailure: {result: ROLLBACK}\n",
            f"Pulumi.shop.yaml is not valid YAML: line {at(HEAD + ENVIRONMENTS, 'bakeMinutes') + 1}, column 1: a tab "
            "indents 'onFailure: {result: ROLLBACK}' "
            "(inside ecs-delivery:environments[1]); YAML indents and separates with spaces: replace the tab with "
            "spaces, lined up with the keys next to it",
        ),
        (
            HEAD + "  ecs-delivery:build:\n\ttimeoutMinutes: 30\n",
            "Pulumi.shop.yaml is not valid YAML: line 11, column 1: a tab indents 'timeoutMinutes: 30' "
            "(inside ecs-delivery:build); YAML indents and separates with spaces: replace the tab with spaces, "
            "lined up with the keys next to it",
        ),
        (
            HEAD + "  ecs-delivery:build:\n    timeoutMinutes:\t30\n",
            "Pulumi.shop.yaml is not valid YAML: line 11, column 20: a tab follows 'timeoutMinutes:' "
            "(inside ecs-delivery:build); YAML indents and separates with spaces: replace the tab with a space",
        ),
        (
            HEAD + "  ecs-delivery:environments:\n    - name: dev\n      alarms:\n        -\tdev-5xx\n",
            "Pulumi.shop.yaml is not valid YAML: line 13, column 10: a tab follows '-' "
            "(inside ecs-delivery:environments[0].alarms); YAML indents and separates with spaces: replace the tab "
            "with a space",
        ),
    ],
)
def test_a_tab_is_refused_with_its_line_its_key_and_the_fix(tmp_path, text, expected):
    assert str(refused(tmp_path, text)) == expected


def test_other_yaml_errors_still_name_the_file(tmp_path):
    assert str(refused(tmp_path, "config: [unclosed\n")).startswith("Pulumi.shop.yaml is not valid YAML")
