"""GitHub workflows: valid against the GitHub workflow schema, and doing what the README says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

WORKFLOWS = Path(__file__).resolve().parent.parent / ".github" / "workflows"
CHECK = [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def test_workflows_match_the_github_schema():
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) == 2
    result = subprocess.run([*CHECK, *files], capture_output=True, text=True, check=False)  # noqa: S603
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    result = subprocess.run([*CHECK, str(broken)], capture_output=True, text=True, check=False)  # noqa: S603
    assert result.returncode != 0


def test_pull_requests_test_synth_and_preview_when_possible():
    workflow = load("pull-request.yml")
    jobs = workflow["jobs"]
    assert any(step.get("run") == "make test" for step in jobs["test"]["steps"])
    assert jobs["synth"]["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    synth_runs = " ".join(step.get("run", "") for step in jobs["synth"]["steps"])
    assert "make synth STACK=${{ matrix.stack }}" in synth_runs
    assert "$GITHUB_STEP_SUMMARY" in synth_runs
    assert any(step.get("uses", "").startswith("actions/upload-artifact") for step in jobs["synth"]["steps"])
    preview = jobs["preview"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in preview["if"]
    assert "vars.AWS_ROLE_ARN != ''" in preview["if"]
    pulumi_step = next(s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions"))
    assert pulumi_step["with"]["command"] == "preview"
    assert pulumi_step["with"]["comment-on-pr"] is True
    assert preview["permissions"]["id-token"] == "write"


def test_main_deploys_dev_then_prod_through_a_protected_environment():
    jobs = load("deploy.yml")["jobs"]
    assert load("deploy.yml")[True]["push"]["branches"] == ["main"]  # YAML reads `on:` as True
    assert jobs["up-dev"]["needs"] == "test"
    assert jobs["up-prod"]["needs"] == "up-dev"
    assert jobs["up-prod"]["environment"] == "production"
    for job, stack in (("up-dev", "dev"), ("up-prod", "prod")):
        step = next(s for s in jobs[job]["steps"] if s.get("uses", "").startswith("pulumi/actions"))
        assert (step["with"]["command"], step["with"]["stack-name"]) == ("up", stack)
