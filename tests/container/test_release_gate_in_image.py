"""The release gate, run for real in the tools image: a gated environment's review project
(plan review, then the release's confirm) and its recorder project, each the program's own
declared project and inline buildspec, executed in a container of the image built from
build-image/tools.Dockerfile, as CodeBuild runs them (unprivileged, no Docker at all: Lambda
compute has none). Everything
they run is the image's: /usr/local/bin/review-change-set and record-release, the renderer
and release_gate.py under /opt/ecs-delivery, Debian trixie's python3 and bash. The AWS CLI is
removed from the container; the only `aws` is the stub (tests/support/aws_stubs.py
REVIEW_AWS, itself run by the image's python3), answering from a GateWorld
(tests/support/release_world.py) whose folder the container mounts at the same path.

The unit tier runs the same scripts from this checkout under this machine's interpreter; this
module is what catches a script the image lacks, or one its python3 cannot run.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import action_of, only, run_stack
from tests.container.conftest import TIMINGS
from tests.support import containers
from tests.support.buildspec import BuildResult
from tests.support.release_world import GateWorld
from tests.test_changeset_report import FIXTURES as CHANGE_SETS

PLAN = "0f1e2d3c-aaaa-bbbb-cccc-123456789abc"
ROLLBACK = "9e8d7c6b-1111-2222-3333-444455556666"
# The prod fixture stack (tests/fixtures/stacks) names this role as production's approver; a
# session of it is what answers an approval (STS names it without the role's path).
APPROVER_SESSION = "arn:aws:sts::123456789012:assumed-role/release-managers/alice"
TAG = "8c1d2aa"
TEMPLATE = "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Queue:\n    Type: AWS::SQS::Queue\n"
APP_COMMIT = "8c1d2aa4f0e1"
INFRA_COMMIT = "77aa88bb99cc"
# CODEBUILD_START_TIME of the recorder's build: 1765015200000 ms is 2025-12-06T10:00:00Z.
RECORDED_AT_MS = "1765015200000"
MARK = "release-production.20251206T100000Z-0f1e2d3c"


@pytest.fixture(scope="module")
def prod() -> Any:
    return run_stack("prod").mocks


@pytest.fixture(scope="module")
def gate(docker, tools_image, tmp_path_factory):
    """The tools image as the review and recorder projects run it: not privileged (their
    privilegedMode is off; Lambda compute has none), every test's folder mounted at the same
    path, and the image's own AWS CLI removed: a call that missed the stub fails instead of
    reaching it."""
    started = time.monotonic()
    host = containers.BuildHost.start(
        docker, tools_image, tmp_path_factory.getbasetemp(), privileged=False, volume=False
    )
    TIMINGS["gate in the image: start an unprivileged container"] = time.monotonic() - started
    try:
        host.sh("rm /usr/bin/aws")
        yield host
    finally:
        host.stop()


def test_the_gate_runs_under_trixies_python3_and_bash_with_no_aws_cli(gate):
    """What the scripts find on the image's PATH (Debian's default): Debian 13's python3 is
    3.13 (packages.debian.org, trixie: python3 3.13.x), so a feature of a newer Python, or a
    module 3.13 removed (PEP 594: pipes, cgi, …), fails these tests, though not the unit tier."""
    found = gate.sh("command -v python3 bash; python3 --version; command -v aws || echo 'no aws'").stdout
    python3, bash, version, aws = found.splitlines()
    assert (python3, bash, aws) == ("/usr/bin/python3", "/usr/bin/bash", "no aws")
    assert version.startswith("Python 3.13."), version


def run(gate, world: GateWorld, project, variables: dict[str, str], state: str, timing: str) -> BuildResult:
    started = time.monotonic()
    result = world.run(project, variables, state, image=gate.shell)
    TIMINGS[f"gate in the image: {timing}"] = time.monotonic() - started
    return result


def resolved(action: dict[str, Any], namespaces: dict[str, dict[str, str]], execution: str) -> dict[str, str]:
    """The action's EnvironmentVariables as CodePipeline resolves them when it starts the action
    ("Variables reference": `#{namespace.variable}`)."""

    def lookup(match: re.Match) -> str:
        namespace, variable = match.groups()
        if (namespace, variable) == ("codepipeline", "PipelineExecutionId"):
            return execution
        return namespaces[namespace][variable]

    declared = json.loads(action["configuration"]["EnvironmentVariables"])
    return {
        v["name"]: re.sub(r"#\{([A-Za-z0-9@_-]+)\.([A-Za-z0-9@_-]+)\}", lookup, v["value"]) for v in declared
    }


def plan_pages() -> list[dict]:
    return [json.loads((CHANGE_SETS / "release.json").read_text())]


def recreated(pages: list[dict]) -> list[dict]:
    """The release stage's change set: the plan's changes, created again (another name, id and
    time, the changes in another order)."""
    again = copy.deepcopy(pages)
    again[0].update(
        ChangeSetName="todobackend-prod-pipeline",
        ChangeSetId=again[0]["ChangeSetId"] + "-again",
        CreationTime="2026-12-06T11:00:00Z",
    )
    again[0]["Changes"] = list(reversed(again[0]["Changes"]))
    return again


def release_world(root: Path) -> GateWorld:
    """What the release stage finds: the reviewed image still under its tag, the change set
    created again from the same template, and the approval answered by an approver."""
    world = GateWorld(root)
    world.push("release-8c1d2aa", TAG)
    world.serve_pages(recreated(plan_pages()))
    world.serve_template(TEMPLATE)
    world.approve(execution=PLAN, stage="production-approval", by=APPROVER_SESSION)
    return world


def review_project(prod) -> dict[str, Any]:
    return only(prod, "aws:codebuild/project:Project", "review-production-project").inputs


def confirm(gate, prod, world: GateWorld, plan: BuildResult, *, execution: str, timing: str) -> BuildResult:
    variables = resolved(
        action_of(prod, "production", "ConfirmChangeSet"), {"Plan-production": plan.exported}, execution
    )
    return run(gate, world, review_project(prod), variables, f"confirm-{execution}", timing)


# -- the plan: review ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plan(gate, prod, tmp_path_factory) -> tuple[GateWorld, str, BuildResult]:
    """The plan stage's review of the change set, with the image its tag names in the registry."""
    world = GateWorld(tmp_path_factory.mktemp("gate-plan"))
    digest = world.push("release-8c1d2aa", TAG)
    world.serve_pages(plan_pages())
    world.serve_template(TEMPLATE)
    review = action_of(prod, "production-plan", "ReviewChangeSet")
    variables = {
        **resolved(review, {"AppSource": {"CommitId": APP_COMMIT}}, PLAN),
        "CODEBUILD_BUILD_NUMBER": "17",
    }
    return world, digest, run(gate, world, review_project(prod), variables, "review", "review (plan)")


def test_the_review_exports_the_fingerprint_and_the_digest_and_reports_the_digest(plan, prod):
    world, digest, result = plan
    assert result.succeeded, result.output
    exported = result.exported
    assert exported["IMAGE_DIGEST"] == digest
    assert re.fullmatch(r"[0-9a-f]{64}", exported["FINGERPRINT"])
    assert exported["PLAN_EXECUTION_ID"] == PLAN
    # The image's renderer tells what the same fixture's expected exports say.
    expected = json.loads((CHANGE_SETS / "expected" / "release.exports.json").read_text())
    for name in ("REVIEW_SUMMARY", "CHANGE_COUNT", "REPLACEMENT_COUNT", "REMOVAL_COUNT", "IMAGE_TAG"):
        assert exported[name] == expected[name], name
    bucket = {v["name"]: v["value"] for v in review_project(prod)["environment"]["environmentVariables"]}[
        "REPORT_BUCKET"
    ]
    uploaded = world.root / "s3" / bucket / "reviews" / "production" / PLAN
    report = (uploaded / "report.md").read_text()
    assert f"- image digest: `{digest}` (what the tag names in the registry now" in report
    assert f"- application commit: `{APP_COMMIT}`" in report
    assert (uploaded / "report.html").is_file()
    # Through the stub, and only through it: the template the change set deploys and the image
    # the tag names were asked for.
    asked = [call[:2] for call in world.calls()]
    assert ["cloudformation", "get-template"] in asked
    assert ["ecr", "describe-images"] in asked


# -- the release: confirm --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def approved(gate, prod, plan, tmp_path_factory) -> tuple[GateWorld, BuildResult]:
    world = release_world(tmp_path_factory.mktemp("gate-release"))
    return world, confirm(gate, prod, world, plan[2], execution=PLAN, timing="confirm, approved")


def exported_release(result) -> dict[str, Any]:
    """The RELEASE the confirm exports: base64 JSON (CodePipeline puts it into the record
    action's JSON configuration as text; build-image/release_gate.py, encode_release)."""
    return json.loads(base64.b64decode(result.exported["RELEASE"], validate=True))


def test_the_confirm_lets_the_reviewed_and_approved_change_set_through(approved, plan):
    _, digest, _ = plan
    _, result = approved
    assert result.succeeded, result.output
    assert "release_gate: todobackend-prod-pipeline confirmed (approved)" in result.output
    release = exported_release(result)
    assert {
        k: release[k]
        for k in ("kind", "environment", "imageTag", "imageDigest", "approvedBy", "planExecutionId")
    } == {
        "kind": "approved",
        "environment": "production",
        "imageTag": TAG,
        "imageDigest": digest,
        "approvedBy": APPROVER_SESSION,
        "planExecutionId": PLAN,
    }
    assert result.exported["IMAGE_DIGEST"] == digest


def template_edited(world: GateWorld) -> None:
    world.serve_template(TEMPLATE + "  Topic:\n    Type: AWS::SNS::Topic\n")


def image_replaced(world: GateWorld) -> None:
    world.push("something-else", TAG)


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (template_edited, "is not the change set reviewed and approved"),
        (image_replaced, "the image behind the tag was replaced"),
    ],
)
def test_the_confirm_refuses_what_changed_since_the_review(gate, prod, plan, tmp_path, change, refusal):
    world = release_world(tmp_path)
    change(world)
    result = confirm(gate, prod, world, plan[2], execution=PLAN, timing=f"confirm refused, {change.__name__}")
    assert not result.succeeded
    assert refusal in result.output
    assert "nothing is executed" in result.output
    assert result.exported["RELEASE"] == ""


# -- the record, and a rollback to it -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def recorded(gate, prod, approved) -> tuple[GateWorld, BuildResult]:
    """The recorder's run once the approved change set executed, in the same registry."""
    world, confirmed = approved
    project = only(prod, "aws:codebuild/project:Project", "record-production-project").inputs
    namespaces = {
        "Release-production": confirmed.exported,
        "AppSource": {"CommitId": APP_COMMIT},
        "InfraSource": {"CommitId": INFRA_COMMIT},
    }
    variables = {
        **resolved(action_of(prod, "production", "RecordRelease"), namespaces, PLAN),
        "CODEBUILD_START_TIME": RECORDED_AT_MS,
    }
    return world, run(gate, world, project, variables, "record", "record")


def test_the_record_writes_the_release_and_marks_its_image(recorded, plan):
    _, digest, _ = plan
    world, result = recorded
    assert result.succeeded, result.output
    item = world.records()[("production", PLAN)]
    assert {
        k: item[k]
        for k in ("kind", "imageTag", "imageDigest", "approvedBy", "appCommit", "infraCommit", "mark")
    } == {
        "kind": "approved",
        "imageTag": TAG,
        "imageDigest": digest,
        "approvedBy": APPROVER_SESSION,
        "appCommit": APP_COMMIT,
        "infraCommit": INFRA_COMMIT,
        "mark": MARK,
    }
    assert sorted(world.images()[digest]) == sorted([TAG, MARK])


def test_a_rollback_to_the_recorded_release_is_let_through(gate, prod, plan, recorded):
    """CodePipeline rolls back with the variables of the execution it returns to: the plan's.
    The record the image's recorder wrote is what lets it through."""
    world, _ = recorded
    result = confirm(gate, prod, world, plan[2], execution=ROLLBACK, timing="confirm, rollback")
    assert result.succeeded, result.output
    release = exported_release(result)
    assert (release["kind"], release["approvedBy"], release["imageDigest"]) == (
        "rollback",
        APPROVER_SESSION,
        plan[1],
    )
