"""docs/configuration-cli.md, run: its `pulumi config` commands, in page order, on a copy of
the prod fixture stack, read back through the program's own config reader
(`offline.program.load_stack_config`, `components.config.config_from_stack`).

No Pulumi CLI is installed here: tests/support/config_cli.py is a MODEL of what the CLI
writes, following Pulumi's documented path syntax; its rules are pinned first, against the
CLI reference's own examples, so that the page is tested against them and not against
whatever the model happens to do."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from components.config import ConfigError, config_from_stack
from offline.program import load_stack_config
from tests.conftest import FIXTURE_STACKS
from tests.support import config_cli

PAGE = Path(__file__).resolve().parent.parent / "docs" / "configuration-cli.md"


def commands_after(marker: str) -> list[list[str]]:
    """The `pulumi config` lines of each fenced block after a `<!-- <marker>:` line."""
    text = PAGE.read_text()
    blocks = re.findall(rf"<!-- {marker}:[^\n]*\n```bash\n(.*?)```", text, re.DOTALL)
    return [[line for line in block.splitlines() if line.startswith("pulumi config ")] for block in blocks]


@pytest.fixture
def stack_file(tmp_path) -> Path:
    copy = tmp_path / "Pulumi.prod.yaml"
    shutil.copy(FIXTURE_STACKS / "Pulumi.prod.yaml", copy)
    return copy


def read(stack_file: Path):
    loaded = load_stack_config("prod", stack_file.parent)
    return config_from_stack(loaded.values, stack="prod", secret_keys=frozenset(loaded.secret_keys))


def config_of(stack_file: Path) -> dict:
    return yaml.safe_load(stack_file.read_text())["config"]


# -- the model, pinned to the CLI reference's examples ----------------------------------------


def test_the_model_follows_the_cli_reference_examples(tmp_path):
    # pulumi config set --help: "pulumi config set --path 'names[0]' a will set the value to
    # a list with the first item a"; "--path parent.nested value ... a map nested: value";
    # '["parent.name"]["nested.name"]' value ... parent.name to a map nested.name: value.
    stack = tmp_path / "Pulumi.s.yaml"
    stack.write_text("config: {}\n")
    config_cli.run("pulumi config set --path 'names[0]' a", stack)
    config_cli.run("pulumi config set --path parent.nested value", stack)
    config_cli.run("""pulumi config set --path '["parent.name"]["nested.name"]' value""", stack)
    assert config_of(stack) == {
        "ecs-delivery:names": ["a"],
        "ecs-delivery:parent": {"nested": "value"},
        "ecs-delivery:parent.name": {"nested.name": "value"},
    }
    # "When setting the config for a path, "true" and "false" are treated as boolean values,
    # and integers are treated as numbers. All other values are treated as strings. Top level
    # entries are always treated as strings."
    config_cli.run("pulumi config set --path 'x.flag' true", stack)
    config_cli.run("pulumi config set --path 'x.count' 30", stack)
    config_cli.run("pulumi config set --path 'x.id' 012345678901", stack)  # map.go: a leading 0 stays text
    config_cli.run("pulumi config set --path 'x.forced' 222233334444 --type string", stack)
    config_cli.run("pulumi config set top 30", stack)
    config = config_of(stack)
    assert config["ecs-delivery:x"] == {
        "flag": True,
        "count": 30,
        "id": "012345678901",
        "forced": "222233334444",
    }
    assert config["ecs-delivery:top"] == "30"
    # pulumi config rm --help: "--path 'names[0]' will remove the first item".
    config_cli.run("pulumi config rm --path 'names[0]'", stack)
    assert config_of(stack)["ecs-delivery:names"] == []
    # map.go: one past the end appends; further is "array index out of range".
    with pytest.raises(config_cli.CliError, match="array index out of range"):
        config_cli.run("pulumi config set --path 'names[1]' b", stack)
    # pkg/cmd/pulumi/config: --secret, --plaintext and --type are mutually exclusive.
    with pytest.raises(config_cli.CliError):
        config_cli.run("pulumi config set --path --secret 'x.y' z --type string", stack)


# -- the page ---------------------------------------------------------------------------------


def test_the_page_s_edits_give_the_config_it_describes(stack_file):
    edits = commands_after("edits")
    assert len(edits) == 4 and all(edits), "the page's edit blocks moved or emptied"
    for block in edits:
        for command in block:
            config_cli.run(command, stack_file)
    config = read(stack_file)
    assert config.build.timeout_minutes == 30
    dev, production, added = config.environments
    assert dev.template_configuration == "dev-eu.json"
    assert (production.alarms, production.bake_minutes) == (["todobackend-prod-5xx"], 10)
    assert production.deployment_window is None  # removed
    assert (added.name, added.stack_name, added.approval) == ("production-us", "todobackend-prod-us", True)
    assert added.account == "222233334444"
    assert added.approvers == ["arn:aws:iam::123456789012:role/release-managers"]
    assert (
        config.target_accounts["222233334444"].role_arn
        == "arn:aws:iam::222233334444:role/ecs-delivery-bootstrap"
    )
    # The secret address: the whole key is secret, and offline only its placeholder is seen.
    assert config.notifications.emails == ["platform-team@example.com", "[secret]"]
    assert load_stack_config("prod", stack_file.parent).secret_keys == ["ecs-delivery:notifications"]
    assert config.ecr.max_image_count == 50  # removed: the default


def test_the_account_id_without_type_string_is_refused_naming_the_key(stack_file):
    (refused,) = commands_after("refused")
    (command,) = refused
    # The environment the id belongs to, as the page's next block adds it.
    for line in ("name production-us", "stackName todobackend-prod-us", "approval true"):
        key, value = line.split()
        config_cli.run(f"pulumi config set --path 'environments[2].{key}' {value}", stack_file)
    config_cli.run(command, stack_file)
    assert config_of(stack_file)["ecs-delivery:environments"][2]["account"] == 222233334444
    with pytest.raises(ConfigError) as refusal:
        read(stack_file)
    assert any(
        p.startswith("ecs-delivery:environments[2].account: 222233334444") for p in refusal.value.problems
    )


def test_a_secret_anywhere_but_notifications_is_refused_naming_the_key(stack_file):
    config_cli.run("pulumi config set --path --secret 'build.timeoutMinutes' 30", stack_file)
    with pytest.raises(ConfigError) as refusal:
        read(stack_file)
    assert any(
        p.startswith("ecs-delivery:build: stored as a secret") and "without --secret" in p
        for p in refusal.value.problems
    )
