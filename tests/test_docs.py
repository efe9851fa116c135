"""The documentation tells the truth: the README fits on a few screens, the configuration
reference is the config model's, every example of output is what the program prints (or, for
the preview, declares), every number of time or size says where it comes from and holds, every
cross-reference leads somewhere (dev/docs_check.py), and every `make` target named exists."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from components.config import ConfigError, config_from_stack
from dev import docs_check
from offline import config_reference, program, synth
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


# The pull request the review page's preview example describes (literals, not read from the page).
PREVIEWED_CHANGE = {"build.timeoutMinutes": 90, "notifications.emails": "oncall@example.com"}


def _resources(config: dict) -> dict[str, tuple[str, dict]]:
    run = program.run_program(program.stack_config_from_mapping(config), stack="prod", symbolic=True)
    return {r.urn: (r.type, synth.plain_numbers(r.masked_inputs)) for r in run.mocks.resources}


def _preview_diff(before: dict[str, tuple[str, dict]], after: dict[str, tuple[str, dict]]) -> str:
    """What `pulumi preview --diff` would list for the change between two runs, in its layout
    (as Pulumi's documentation shows it; the layout is illustrative, the content computed)."""
    lines = [
        "Previewing update (prod)",
        "",
        "  pulumi:pulumi:Stack: (same)",
        "    [urn=urn:pulumi:prod::ecs-delivery::pulumi:pulumi:Stack::ecs-delivery-prod]",
    ]
    created = updated = deleted = 0
    for urn in [*before, *(u for u in after if u not in before)]:
        if urn in before and urn in after:
            (kind, old), (_, new) = before[urn], after[urn]
            if old == new:
                continue
            updated += 1
            lines += [f"    ~ {kind}: (update)", f"        [urn={urn}]"]
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    lines.append(f"      ~ {key}: {json.dumps(old.get(key))} => {json.dumps(new.get(key))}")
        elif urn in after:
            created += 1
            kind, inputs = after[urn]
            width = max(len(k) for k in inputs)
            lines += [f"    + {kind}: (create)", f"        [urn={urn}]"]
            lines += [
                f"        {k.ljust(width)} : {json.dumps(inputs[k], ensure_ascii=False)}"
                for k in sorted(inputs)
            ]
        else:
            deleted += 1
            lines += [f"    - {before[urn][0]}: (delete)", f"        [urn={urn}]"]
    # The stack resource counts among the unchanged; the mocks do not record it.
    unchanged = len(before) + 1 - updated - deleted
    lines.append("Resources:")
    lines += [f"    + {created} to create"] if created else []
    lines += [f"    ~ {updated} to update"] if updated else []
    lines += [f"    - {deleted} to delete"] if deleted else []
    lines.append(f"    {created + updated + deleted} changes. {unchanged} unchanged")
    return "\n".join(lines) + "\n"


def test_the_preview_example_is_what_the_program_declares_for_that_change():
    (example,) = blocks_after((ROOT / "docs" / "review.md").read_text(), "<!-- preview:")
    config = yaml.safe_load((FIXTURE_STACKS / "Pulumi.prod.yaml").read_text())["config"]
    before = _resources(config)
    changed = copy.deepcopy(config)
    changed["ecs-delivery:build"]["timeoutMinutes"] = PREVIEWED_CHANGE["build.timeoutMinutes"]
    changed["ecs-delivery:notifications"]["emails"].append(PREVIEWED_CHANGE["notifications.emails"])
    assert example == _preview_diff(before, _resources(changed))


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


# -- the docs checker (dev/docs_check.py) -------------------------------------------------------

# Problems on pages other sessions are rewriting (docs/security.md, docs/cross-account.md),
# reported to them rather than fixed here. Exact, so that a fixed one must leave this list.
REPORTED_ELSEWHERE: set[tuple[str, str]] = set()


def test_every_number_and_reference_in_the_docs_holds():
    found = {(p.page, p.claim) for p in docs_check.problems()}
    unexpected = sorted(str(p) for p in docs_check.problems() if (p.page, p.claim) not in REPORTED_ELSEWHERE)
    assert not unexpected, "\n".join(unexpected)
    assert not REPORTED_ELSEWHERE - found, (
        f"fixed, remove from REPORTED_ELSEWHERE: {REPORTED_ELSEWHERE - found}"
    )


def a_repository(tmp_path: Path, page: str, measured: dict | None = None) -> Path:
    """A repository of one docs page (and what the checker reads beside it)."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "dev").mkdir()
    (tmp_path / "README.md").write_text("# Readme\n\n## Quick start\n")
    (tmp_path / "docs" / "page.md").write_text(page)
    (tmp_path / ".gitignore").write_text("build/\nvenv/\n")
    (tmp_path / "dev" / "measurements.json").write_text(json.dumps(measured or {}))
    return tmp_path


def problems_of(root: Path) -> list[str]:
    return [f"{p.line}: {p.claim}: {p.why}" for p in docs_check.problems(root)]


def sample(*seconds: float, unit: str = "s") -> dict:
    return {
        "command": "make unit",
        "unit": unit,
        "samples": list(seconds),
        "measured": "2026-12-02",
        "cores": 2,
        "load": [3.0, 3.0, 3.0],
    }


def test_a_time_with_no_source_is_refused_and_an_estimate_is_not(tmp_path):
    root = a_repository(
        tmp_path,
        "# Page\n\n`make unit` takes ~25 s.\n\nA mutant takes an estimated 5 to 25 seconds.\n\n"
        "| tier | time |\n| --- | --- |\n| unit | 90 s |\n\n```bash\nmake unit   # (~25 s)\n```\n",
    )
    assert [p.split(":")[0:2] for p in problems_of(root)] == [
        ["3", " ~25 s"],
        ["9", " 90 s"],
        ["12", " ~25 s"],
    ]


def test_a_measured_number_must_hold_what_was_recorded(tmp_path):
    root = a_repository(
        tmp_path,
        "# Page\n\n"
        "Unit: 60-100 s <!-- measured: unit -->.\n\n"
        "Unit: 35-100 s <!-- measured: unit -->.\n\n"
        "Median: 80 s <!-- measured: unit -->. Median: 77 s <!-- measured: unit -->.\n\n"
        "Image: 1.15 GB <!-- measured: image -->.\n\n"
        "Other: 3 s <!-- measured: nothing -->.\n",
        {"unit": sample(77.0, 84.9, 38.6), "image": sample(1152.4, unit="MB")},
    )
    found = problems_of(root)
    assert len(found) == 3, found
    assert found[0].startswith("3: 60-100 s: make unit measured 77, 85, 39 s")
    assert found[1].startswith("7: 80 s: make unit measured a median of 77 s")
    assert found[2].startswith("11: 3 s: no measurement 'nothing'")


def test_a_value_must_be_the_setting_it_names(tmp_path):
    root = a_repository(
        tmp_path,
        "# Page\n\nNames of 44 characters <!-- value: settings.py:LIMIT --> at most.\n\n"
        "Given 60 s <!-- value: start:TIMEOUT --> to answer.\n\n"
        "The first 12 characters <!-- value: buildspec.yml /COMMIT:0:(\\d+)/ -->.\n",
    )
    (root / "settings.py").write_text("LIMIT = 43\n")
    (root / "start").write_text('wait="${TIMEOUT:-60}"\n')
    (root / "buildspec.yml").write_text('export V="${COMMIT:0:12}"\n')
    assert problems_of(root) == ["3: 44 characters: settings.py:LIMIT is 43"]


def test_a_reference_must_lead_to_its_section_in_its_direction(tmp_path):
    root = a_repository(
        tmp_path,
        "# Page\n\n## Clean up\n\nSee *Clean up* above, and see *Clean up* below.\n\n"
        "Also see *Tear down* below; [above](#clean-up); [there](#nowhere).\n\n"
        '(README, "Quick start"), (README, "Use it"), (docs/page.md, "Clean up").\n\n'
        "Files: `dev/measurements.json`, `dev/gone.py`, `build/synth/prod/pipeline.md`.\n",
    )
    assert problems_of(root) == [
        "5: see *Clean up* below: the section is above",
        "7: #nowhere: no heading of page.md has this anchor",
        "7: see *Tear down* below: this page has no section of this name",
        "9: README, 'Use it': README.md has no section of this name",
        "11: dev/gone.py: no such file in the repository",
    ]


def test_a_stack_file_comment_must_name_a_section_that_exists(tmp_path):
    root = a_repository(tmp_path, "# Page\n")
    stacks = root / "examples" / "stacks"
    stacks.mkdir(parents=True)
    (stacks / "Pulumi.x.yaml").write_text(
        'config:\n  # put its ARN here (README, "Fast builds"):\n  # see docs/page.md and docs/gone.md\n'
    )
    assert problems_of(root) == [
        "2: README, 'Fast builds': README.md has no section of this name",
        "3: docs/gone.md: no such page",
    ]
