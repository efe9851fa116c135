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
    assert any(step.get("run") == "make lint unit provider scenarios" for step in jobs["test"]["steps"])
    assert any(step.get("run") == "make adoption" for step in jobs["test"]["steps"])
    # The container tier as root (debootstrap, nsenter), with CI=true so that it cannot skip.
    container_runs = [step.get("run", "") for step in jobs["container"]["steps"]]
    assert "sudo tests/container/prepare-host" in container_runs
    assert 'sudo env "PATH=$PATH" CI=true make container' in container_runs
    # One synth and one preview per root stack file, listed by offline/stacks.py.
    assert jobs["synth"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    assert jobs["preview"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    assert "python3 -m offline.stacks" in jobs["stacks"]["steps"][-1]["run"]
    synth_runs = " ".join(step.get("run", "") for step in jobs["synth"]["steps"])
    assert "make synth STACK=${{ matrix.stack }}" in synth_runs
    assert "$GITHUB_STEP_SUMMARY" in synth_runs
    assert any(step.get("uses", "").startswith("actions/upload-artifact") for step in jobs["synth"]["steps"])
    preview = jobs["preview"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in preview["if"]
    # The preview assumes a read-only role of its own, never a deploy role.
    assert "vars.AWS_PREVIEW_ROLE_ARN != ''" in preview["if"]
    credentials = next(
        s for s in preview["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")
    )
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    pulumi_step = next(s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions"))
    assert pulumi_step["with"]["command"] == "preview"
    # What a reviewer reads is the diff (`pulumi preview --diff`), not a count of changes.
    assert pulumi_step["with"]["diff"] is True
    assert pulumi_step["with"]["comment-on-pr"] is True
    assert pulumi_step["with"]["policyPacks"] == "policy"
    assert preview["permissions"]["id-token"] == "write"


def test_main_deploys_every_stack_file_one_at_a_time_each_in_its_own_environment():
    workflow = load("deploy.yml")
    jobs = workflow["jobs"]
    assert workflow[True]["push"]["branches"] == ["main"]  # YAML reads `on:` as True
    assert jobs["stacks"]["needs"] == "test"
    up = jobs["up"]
    assert up["needs"] == "stacks"
    assert up["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    assert (up["strategy"]["max-parallel"], up["strategy"]["fail-fast"]) == (1, True)
    # Each stack in the GitHub environment of its name, with that environment's role.
    assert up["environment"] == "${{ matrix.stack }}"
    step = next(s for s in up["steps"] if s.get("uses", "").startswith("pulumi/actions"))
    assert (step["with"]["command"], step["with"]["stack-name"]) == ("up", "${{ matrix.stack }}")
    assert step["with"]["policyPacks"] == "policy"
    credentials = next(
        s for s in up["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")
    )
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    assert credentials["if"] == "vars.AWS_ROLE_ARN != ''"


def test_the_stack_list_follows_the_stack_files_dev_first_prod_last(tmp_path):
    from offline.stacks import stacks

    for name in ("prod", "staging", "dev", "eu"):
        (tmp_path / f"Pulumi.{name}.yaml").write_text("config: {}\n")
    (tmp_path / "Pulumi.yaml").write_text("name: ecs-delivery\n")
    assert stacks(tmp_path) == ["dev", "eu", "staging", "prod"]
    (tmp_path / "Pulumi.dev.yaml").unlink()
    assert stacks(tmp_path) == ["eu", "staging", "prod"]


def test_an_oidc_token_only_for_the_jobs_that_assume_a_role():
    for name in ("pull-request.yml", "deploy.yml"):
        workflow = load(name)
        assert workflow["permissions"] == {"contents": "read"}, name
        for job_name, job in workflow["jobs"].items():
            assumes = any(
                s.get("uses", "").startswith("aws-actions/configure-aws-credentials") for s in job["steps"]
            )
            asks = (job.get("permissions") or {}).get("id-token") == "write"
            assert asks == assumes, (name, job_name)


# The first major of each action that runs on Node 24 (its action.yml declares node24),
# or a later one.
NODE24_MAJORS = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "actions/upload-artifact": 6,
    "aws-actions/configure-aws-credentials": 6,
    "pulumi/actions": 7,
}


def test_every_action_runs_on_node_24():
    for name in ("pull-request.yml", "deploy.yml"):
        for job in load(name)["jobs"].values():
            for step in job["steps"]:
                if "uses" not in step:
                    continue
                action, _, version = step["uses"].partition("@")
                assert int(version.removeprefix("v")) >= NODE24_MAJORS[action], (name, step["uses"])


def test_dependabot_watches_the_base_image_the_requirements_and_the_actions():
    config = yaml.safe_load((WORKFLOWS.parent / "dependabot.yml").read_text())
    watched = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    assert watched == {("docker", "/build-image"), ("pip", "/"), ("github-actions", "/")}
    check = [CHECK[0], "--builtin-schema", "vendor.dependabot", str(WORKFLOWS.parent / "dependabot.yml")]
    result = subprocess.run(check, capture_output=True, text=True, check=False)  # noqa: S603
    assert result.returncode == 0, result.stdout + result.stderr
