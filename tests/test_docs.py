"""The documentation tells the truth: the README fits on a few screens, the configuration
reference is the config model's, every example of output is what the program prints, every
link leads somewhere, and every `make` target named exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from components.config import ConfigError, config_from_stack
from offline import config_reference, synth
from tests.conftest import FIXTURE_STACKS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS, ROOT / "CHANGELOG.md"]
README_WORD_LIMIT = 2500


def blocks_after(text: str, marker: str) -> list[str]:
    """The fenced blocks that follow each line starting with `marker`."""
    found = []
    for match in re.finditer(re.escape(marker), text):
        rest = text[match.end() :]
        fence = rest.index("```")
        body_start = rest.index("\n", fence) + 1
        found.append(rest[body_start : rest.index("```", body_start)])
    return found


def test_the_readme_fits_on_a_few_screens():
    assert len(README.read_text().split()) <= README_WORD_LIMIT


def test_the_configuration_reference_is_the_config_model():
    assert config_reference.current() == config_reference.render(), (
        "docs/configuration.md is out of date: run `venv/bin/python -m offline.config_reference --write`"
    )


def test_every_key_is_documented_once_and_described():
    rows = config_reference.rows()
    keys = [key for key, *_ in rows]
    assert len(keys) == len(set(keys))
    assert all(description for *_, description in rows), [k for k, *_, d in rows if not d]
    text = (ROOT / "docs" / "configuration.md").read_text()
    for key in keys:
        assert text.count(f"| `{key}` |") == 1, key


def test_the_configuration_error_example_is_what_the_program_prints():
    (example,) = blocks_after((ROOT / "docs" / "configuration.md").read_text(), "<!-- example:")
    values = {
        "aws:region": "eu-west-1",
        "ecs-delivery:application": json.dumps(
            {"name": "todobackend", "repository": "docker-in-aws/todobackend"}
        ),
        "ecs-delivery:infrastructure": json.dumps({"repository": "docker-in-aws/todobackend-aws"}),
        "ecs-delivery:environments": json.dumps(
            [
                {"name": "dev", "stackName": "todobackend-dev"},
                {
                    "name": "production",
                    "stackName": "todobackend-prod",
                    "approvel": True,
                    "deploymentWindow": {"cron": "* * 9-17 ? * MON-FUN", "timeZone": "Europe/London"},
                },
            ]
        ),
        "ecs-delivery:build": json.dumps({"timeoutMinutes": "30"}),
    }
    with pytest.raises(ConfigError) as caught:
        config_from_stack(values, stack="prod")
    assert example == str(caught.value) + "\n"


def test_the_readme_synth_output_is_what_synth_prints(tmp_path):
    (example,) = blocks_after(README.read_text(), "<!-- output:")
    target, records, _ = synth.synth("prod", tmp_path, FIXTURE_STACKS)
    printed = synth.summary("prod", target, records)
    assert example == "\n".join(line for line in printed.splitlines() if not line.startswith("wrote")) + "\n"


def test_the_diagram_in_the_review_page_is_what_synth_draws(tmp_path):
    (example,) = blocks_after((ROOT / "docs" / "review.md").read_text(), "<!-- excerpt:")
    target, _, _ = synth.synth("prod", tmp_path, FIXTURE_STACKS)
    drawn = (target / "pipeline.md").read_text()
    diagram = drawn.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert example == diagram


def test_the_approval_notification_example_carries_the_golden_summary():
    (example,) = blocks_after((ROOT / "docs" / "review.md").read_text(), "<!-- example:")
    golden = json.loads(
        (ROOT / "tests" / "fixtures" / "changesets" / "expected" / "release.exports.json").read_text()
    )
    assert example.startswith(
        f"Additional information: {golden['REVIEW_SUMMARY']} | stack todobackend-prod, "
    )


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_leads_somewhere(page):
    text = page.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        assert destination.exists(), f"{page.name}: {target}"
        if anchor and destination.suffix == ".md":
            headings = re.findall(r"(?m)^#+ (.+)$", destination.read_text())
            assert anchor in {_anchor(h) for h in headings}, f"{page.name}: {target}"


def test_every_make_target_the_docs_name_exists():
    # This project's targets, and the example application's (its contract: test, smoke, ...).
    makefiles = (ROOT / "Makefile", ROOT / "examples" / "app-repo" / "Makefile")
    targets = {t for m in makefiles for t in re.findall(r"(?m)^([a-z][a-z-]*):", m.read_text())}
    for page in PAGES:
        for target in re.findall(r"`make ([a-z][a-z-]*)", page.read_text()):
            assert target in targets, f"{page.name}: make {target}"


def test_the_version_is_the_changelog_s_latest():
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    first = re.search(r"(?m)^## (\S+)", (ROOT / "CHANGELOG.md").read_text()).group(1)
    assert first == version
