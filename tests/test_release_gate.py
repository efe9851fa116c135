"""The release gate: a gated environment's release executes exactly what was approved, by an
approver, with the image that was reviewed, or exactly a release recorded before; and every
release is recorded, its image kept.

The declared review and recorder projects' inline buildspecs run here against a stub `aws`
(tests/support/release_world.py): the confirm (REVIEW_MODE=confirm) and the record are the
build image's own scripts (`review-change-set`, `record-release`, `release_gate.py`).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys

import pytest

from tests.conftest import action_of, only, run_stack, shared_scope
from tests.support.release_world import GATE, GateWorld
from tests.test_changeset_report import FIXTURES, hundreds_of_changes
from tests.test_changeset_report import report as changeset_report

_spec = importlib.util.spec_from_file_location("release_gate", GATE)
release_gate = importlib.util.module_from_spec(_spec)
sys.modules["release_gate"] = release_gate  # its dataclasses look their module up there
_spec.loader.exec_module(release_gate)
encode_release, decode_release = release_gate.encode_release, release_gate.decode_release

PLAN = "0f1e2d3c-aaaa-bbbb-cccc-123456789abc"
ROLLBACK = "9e8d7c6b-1111-2222-3333-444455556666"
APPROVER_ROLE = "arn:aws:iam::123456789012:role/release-managers"
# A session of that role, as STS names it (no path): what answers an approval.
APPROVER_SESSION = "arn:aws:sts::123456789012:assumed-role/release-managers/alice"
TEMPLATE = "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Queue:\n    Type: AWS::SQS::Queue\n"


@pytest.fixture(scope=shared_scope)
def prod():
    return run_stack("prod").mocks


@pytest.fixture
def world(tmp_path):
    return GateWorld(tmp_path)


def review_project(mocks):
    return only(mocks, "aws:codebuild/project:Project", "review-production-project").inputs


def recorder_project(mocks):
    return only(mocks, "aws:codebuild/project:Project", "record-production-project").inputs


def release_pages(**parameters: str) -> list[dict]:
    """The fixture change set, with the parameters given set (added when new)."""
    page = json.loads((FIXTURES / "release.json").read_text())
    for key, value in parameters.items():
        existing = [p for p in page["Parameters"] if p["ParameterKey"] == key]
        if existing:
            existing[0]["ParameterValue"] = value
        else:
            page["Parameters"].append({"ParameterKey": key, "ParameterValue": value})
    return [page]


def recreated(pages: list[dict]) -> list[dict]:
    """The same change set created again: another name, id and time, changes in another order."""
    again = copy.deepcopy(pages)
    again[0].update(
        ChangeSetName="todobackend-prod-pipeline",
        ChangeSetId=again[0]["ChangeSetId"] + "-again",
        CreationTime="2026-12-06T11:00:00Z",
    )
    again[0]["Changes"] = list(reversed(again[0]["Changes"]))
    return again


def confirm(world: GateWorld, prod, pages, template=TEMPLATE, template_response=None, **variables):
    """The release stage's ConfirmChangeSet: the review project, with the action's variables
    resolved as CodePipeline would (the plan's, unless given). GetTemplate answers `template`
    as the body, or `template_response` whole."""
    world.serve_pages(pages)
    world.serve_template(template)
    if template_response is not None:
        world.template_file.write_text(json.dumps(template_response))
    action = action_of(prod, "production", "ConfirmChangeSet")
    declared = {v["name"]: v["value"] for v in json.loads(action["configuration"]["EnvironmentVariables"])}
    resolved = {
        "REVIEW_MODE": declared["REVIEW_MODE"],
        "CHANGE_SET_NAME": declared["CHANGE_SET_NAME"],
        "PLAN_EXECUTION_ID": PLAN,
        "PIPELINE_EXECUTION_ID": PLAN,
        **variables,
    }
    return world.run(review_project(prod), resolved, state="confirm")


def planned(world: GateWorld, pages, template=TEMPLATE, digest_parameter_value=None):
    """What the plan's review exported for `pages` (fingerprint and digest), the way the
    review computes them, and the approval of this execution by an approver."""
    world.approve(execution=PLAN, stage="production-approval", by=APPROVER_SESSION)
    template_response = {"TemplateBody": template, "StagesAvailable": ["Original"]}
    return {
        "EXPECTED_FINGERPRINT": changeset_report.fingerprint(pages, template_response),
        "PLAN_IMAGE_DIGEST": digest_parameter_value or next(iter(world.images())),
    }


def test_the_confirm_action_passes_the_plan_variables_and_exports_the_release(prod):
    action = action_of(prod, "production", "ConfirmChangeSet")
    declared = {v["name"]: v["value"] for v in json.loads(action["configuration"]["EnvironmentVariables"])}
    assert declared == {
        "REVIEW_MODE": "confirm",
        "CHANGE_SET_NAME": "todobackend-prod-pipeline",
        "EXPECTED_FINGERPRINT": "#{Plan-production.FINGERPRINT}",
        "PLAN_EXECUTION_ID": "#{Plan-production.PLAN_EXECUTION_ID}",
        "PLAN_IMAGE_DIGEST": "#{Plan-production.IMAGE_DIGEST}",
        "PIPELINE_EXECUTION_ID": "#{codepipeline.PipelineExecutionId}",
    }
    assert action["namespace"] == "Release-production"
    record = action_of(prod, "production", "RecordRelease")
    assert record["runOrder"] == action_of(prod, "production", "ExecuteChangeSet")["runOrder"] + 1
    assert json.loads(record["configuration"]["EnvironmentVariables"]) == [
        {"name": "RELEASE", "value": "#{Release-production.RELEASE}"},
        {"name": "PIPELINE_EXECUTION_ID", "value": "#{codepipeline.PipelineExecutionId}"},
        {"name": "APP_COMMIT", "value": "#{AppSource.CommitId}"},
        {"name": "INFRA_COMMIT", "value": "#{InfraSource.CommitId}"},
    ]
    assert record["configuration"]["ProjectName"] == recorder_project(prod)["name"]


# -- approved: exactly what was reviewed, by an approver -------------------------------------------
def test_the_change_set_reviewed_and_approved_is_let_through(world, prod):
    digest = world.push("release-8c1d2aa", "8c1d2aa")
    plan = release_pages()
    expected = planned(world, plan)
    result = confirm(world, prod, recreated(plan), **expected)
    assert result.succeeded, result.output
    release = decode_release(result.exported["RELEASE"])
    assert release["kind"] == "approved"
    assert release["approvedBy"] == APPROVER_SESSION
    assert release["imageTag"] == "8c1d2aa"
    assert release["imageDigest"] == digest == result.exported["IMAGE_DIGEST"]
    assert release["planExecutionId"] == PLAN
    # Every page asked with the property values of every change.
    describes = [c for c in world.calls() if c[:2] == ["cloudformation", "describe-change-set"]]
    assert describes and all("--include-property-values" in c for c in describes)
    assert ["cloudformation", "get-template"] in [c[:2] for c in world.calls()]


@pytest.mark.parametrize("missing", ["EXPECTED_FINGERPRINT", "PLAN_EXECUTION_ID"])
def test_a_plan_variable_that_did_not_resolve_stops_the_release(world, prod, missing):
    world.push("release-8c1d2aa", "8c1d2aa")
    plan = release_pages()
    expected = {**planned(world, plan), missing: ""}
    result = confirm(world, prod, recreated(plan), **{**expected, **({missing: ""})})
    assert not result.succeeded
    assert f"{missing} empty" in result.output
    assert "nothing is executed" in result.output
    # It fails before asking anything: nothing to compare with.
    assert [c for c in world.calls() if c[0] != "configure"] == []


def test_an_edited_template_body_stops_the_release(world, prod):
    """The same parameters and changes, another template: what the approver saw was not this."""
    world.push("release-8c1d2aa", "8c1d2aa")
    plan = release_pages()
    expected = planned(world, plan)
    edited = TEMPLATE + "  Topic:\n    Type: AWS::SNS::Topic\n"
    result = confirm(world, prod, recreated(plan), template=edited, **expected)
    assert not result.succeeded
    assert "is not the change set reviewed and approved" in result.output


def test_an_edited_property_value_stops_the_release(world, prod):
    world.push("release-8c1d2aa", "8c1d2aa")
    plan = release_pages()
    detail = plan[0]["Changes"][0]["ResourceChange"]["Details"][0]["Target"]
    detail.update(BeforeValue='{"Image": "repo:5fdbe62"}', AfterValue='{"Image": "repo:8c1d2aa"}')
    expected = planned(world, plan)
    edited = recreated(plan)
    (change,) = [
        c
        for c in edited[0]["Changes"]
        if c["ResourceChange"]["LogicalResourceId"] == "ApplicationTaskDefinition"
    ]
    change["ResourceChange"]["Details"][0]["Target"]["AfterValue"] = '{"Image": "evil:latest"}'
    result = confirm(world, prod, edited, **expected)
    assert not result.succeeded
    assert "is not the change set reviewed and approved" in result.output


def test_a_difference_on_the_third_page_stops_the_release(world, prod):
    world.push("release-8c1d2aa", "8c1d2aa")
    plan = hundreds_of_changes()
    expected = planned(world, plan)
    # The same three pages again pass ...
    assert confirm(world, prod, copy.deepcopy(plan), **expected).succeeded
    # ... but one change more on the last page does not.
    edited = copy.deepcopy(plan)
    edited[2]["Changes"].append(
        {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Remove",
                "LogicalResourceId": "Database",
                "ResourceType": "AWS::RDS::DBInstance",
            },
        }
    )
    result = confirm(world, prod, edited, **expected)
    assert not result.succeeded
    assert "is not the change set reviewed and approved" in result.output
    tokens = [c[c.index("--next-token") + 1] for c in world.calls() if "--next-token" in c]
    assert tokens[-2:] == ["token-2", "token-3"]


def test_an_image_swapped_behind_its_tag_stops_the_release(world, prod):
    world.push("release-8c1d2aa", "8c1d2aa")
    plan = release_pages()
    expected = planned(world, plan)
    # Between plan and release someone pushes another image under the reviewed tag.
    world.push("something-else", "8c1d2aa")
    result = confirm(world, prod, recreated(plan), **expected)
    assert not result.succeeded
    assert "the image behind the tag was replaced" in result.output


def test_an_image_swapped_behind_a_pinned_tag_stops_the_release_too(world, prod):
    digest = world.push("release-8c1d2aa", "8c1d2aa")
    plan = release_pages(ApplicationImageDigest=digest)
    expected = planned(world, plan, digest_parameter_value=digest)
    assert confirm(world, prod, recreated(plan), **expected).succeeded
    world.push("something-else", "8c1d2aa")
    result = confirm(world, prod, recreated(plan), **expected)
    assert not result.succeeded
    assert f"not the {digest} this release pins" in result.output


def test_a_tag_the_registry_no_longer_has_stops_the_release(world, prod):
    plan = release_pages()
    world.push("release-8c1d2aa", "8c1d2aa")
    expected = planned(world, plan)
    world.registry_file.write_text(json.dumps({"images": []}))
    result = confirm(world, prod, recreated(plan), **expected)
    assert not result.succeeded
    assert "names no image in the registry" in result.output


# -- who approved ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answered_by", "allowed"),
    [
        (APPROVER_SESSION, True),
        (APPROVER_ROLE, True),
        ("arn:aws:sts::123456789012:assumed-role/Admin/bob", False),
        ("arn:aws:iam::123456789012:user/release-managers", False),  # a user, not the role
        ("arn:aws:sts::999999999999:assumed-role/release-managers/eve", False),  # another account
        ("", False),
    ],
)
def test_only_an_approver_may_answer_the_approval(world, prod, answered_by, allowed):
    world.push("release-8c1d2aa", "8c1d2aa")
    plan = release_pages()
    expected = planned(world, plan)
    if answered_by:
        world.approve(execution=PLAN, stage="production-approval", by=answered_by)
    else:
        world.approve(execution="another-execution", stage="production-approval", by=APPROVER_SESSION)
    result = confirm(world, prod, recreated(plan), **expected)
    assert result.succeeded is allowed, result.output
    if not allowed:
        assert "nothing is executed" in result.output


def test_a_member_of_the_approver_group_may_approve(world):
    """An environment with approverGroup: its members may approve (GetGroup now)."""
    from tests.conftest import config_with, run_config

    environments = [
        {"name": "production", "stackName": "todobackend-prod", "approval": True, "approverGroup": True}
    ]
    mocks = run_config(config_with(environments=environments)).mocks
    project = only(mocks, "aws:codebuild/project:Project", "review-production-project").inputs
    world.push("release-8c1d2aa", "8c1d2aa")
    plan = release_pages()
    expected = planned(world, plan)
    world.serve_pages(recreated(plan))
    world.serve_template(TEMPLATE)
    alice = "arn:aws:iam::123456789012:user/people/alice"
    world.approve(execution=PLAN, stage="production-approval", by=alice)
    variables = {"REVIEW_MODE": "confirm", "CHANGE_SET_NAME": "todobackend-prod-pipeline",
                 "PLAN_EXECUTION_ID": PLAN, "PIPELINE_EXECUTION_ID": PLAN, **expected}  # fmt: skip
    assert not world.run(project, variables).succeeded
    world.group(alice)
    result = world.run(project, variables)
    assert result.succeeded, result.output
    assert ["iam", "get-group", "--group-name", "todobackend-test-production-approvers"] in [
        c[:4] for c in world.calls()
    ]


# -- recorded: a rollback (or a retry) to a release approved and executed before --------------------
MARK = "release-production.20261205T090000Z-0f1e2d3c"


def record_of_plan(world, pages, *, digest, template=TEMPLATE, marked=True, **changes) -> dict[str, str]:
    """The record of the plan's release; its image carries the record's mark (it is one of the
    releases the environment keeps) unless `marked` is false."""
    template_response = {"TemplateBody": template, "StagesAvailable": ["Original"]}
    item = {
        "environment": "production",
        "executionId": PLAN,
        "releaseId": changeset_report.release_identity(pages, template_response),
        "fingerprint": "the-fingerprint-approved-then",
        "kind": "approved",
        "imageTag": "8c1d2aa",
        "imageDigest": digest,
        "approvedBy": APPROVER_SESSION,
        "approvedAt": "2026-12-05T09:00:00+00:00",
        "mark": MARK,
        **changes,
    }
    world.put_record(item)
    if marked:
        world.tag(digest, MARK)
    return item


def rollback_variables() -> dict[str, str]:
    """A rollback runs with the variables of the execution it returns to (AWS, "Configuring
    stage rollback"): the plan's are that execution's, its own id is the rollback's."""
    return {
        "EXPECTED_FINGERPRINT": "the-fingerprint-approved-then",
        "PLAN_IMAGE_DIGEST": "whatever-the-plan-reviewed-then",
        "PIPELINE_EXECUTION_ID": ROLLBACK,
    }


def test_a_rollback_to_a_recorded_release_is_let_through(world, prod):
    digest = world.push("release-8c1d2aa", "8c1d2aa")
    # Its change set differs from the plan that shipped then (it starts from another stack),
    # but it brings the stack to exactly the recorded release.
    back = recreated(release_pages())
    back[0]["Changes"] = back[0]["Changes"][:1]
    record_of_plan(world, back, digest=digest)
    result = confirm(world, prod, back, **rollback_variables())
    assert result.succeeded, result.output
    release = decode_release(result.exported["RELEASE"])
    assert (release["kind"], release["approvedBy"], release["imageDigest"]) == (
        "rollback",
        APPROVER_SESSION,
        digest,
    )


def test_a_rollback_to_a_release_no_longer_kept_is_refused(world, prod):
    # The recorder took its mark off (it is older than the newest ecr.keepReleases): the
    # registry may expire its image, and it goes out again only through a review.
    digest = world.push("release-8c1d2aa", "8c1d2aa")
    pages = recreated(release_pages())
    record_of_plan(world, pages, digest=digest, marked=False)
    result = confirm(world, prod, pages, **rollback_variables())
    assert not result.succeeded
    assert f"its mark {MARK} no longer names {digest}" in result.output
    assert "make redeploy" in result.output


def test_a_rollback_whose_mark_names_another_image_is_refused(world, prod):
    # A build pushed the mark's name onto its own image first (tags are immutable, so the
    # recorder could not mark the release): the release is not one the environment keeps.
    digest = world.push("release-8c1d2aa", "8c1d2aa")
    pages = recreated(release_pages())
    record_of_plan(world, pages, digest=digest, marked=False)
    world.push("planted", MARK)
    result = confirm(world, prod, pages, **rollback_variables())
    assert not result.succeeded
    assert "no longer one of the releases production keeps" in result.output


def test_a_rollback_without_a_record_is_refused(world, prod):
    world.push("release-8c1d2aa", "8c1d2aa")
    result = confirm(world, prod, recreated(release_pages()), **rollback_variables())
    assert not result.succeeded
    assert "this release runs with the plan of execution" in result.output
    assert "no release of production was recorded for that execution" in result.output


def test_a_rollback_to_something_else_than_the_record_is_refused(world, prod):
    digest = world.push("release-8c1d2aa", "8c1d2aa")
    record_of_plan(world, release_pages(), digest=digest)
    other = recreated(release_pages(ApplicationImageTag="0badc0ffee00"))
    world.push("bad", "0badc0ffee00")
    result = confirm(world, prod, other, **rollback_variables())
    assert not result.succeeded
    assert "would not deploy the release recorded for execution" in result.output


def test_a_rollback_whose_image_was_replaced_is_refused(world, prod):
    digest = world.push("release-8c1d2aa", "8c1d2aa")
    pages = recreated(release_pages())
    record_of_plan(world, pages, digest=digest)
    world.push("something-else", "8c1d2aa")
    result = confirm(world, prod, pages, **rollback_variables())
    assert not result.succeeded
    assert "the image behind the tag was replaced" in result.output


def test_a_rollback_pinned_by_digest_does_not_depend_on_the_tag(world, prod):
    # The build may push any tag: moving an old commit's tag must not block going back to a
    # release the template runs by its digest.
    digest = world.push("release-8c1d2aa", "8c1d2aa")
    pages = recreated(release_pages(ApplicationImageDigest=digest))
    record_of_plan(world, pages, digest=digest)
    world.push("pushed-by-a-build", "8c1d2aa")
    result = confirm(world, prod, pages, **rollback_variables())
    assert result.succeeded, result.output
    assert decode_release(result.exported["RELEASE"])["imageDigest"] == digest


def test_a_rollback_pinning_another_digest_than_the_record_is_refused(world, prod):
    digest = world.push("release-8c1d2aa", "8c1d2aa")
    other = world.push("another", "0badc0ffee00")
    pages = recreated(release_pages(ApplicationImageDigest=other))
    # A record whose identity matches (written by hand: a recorder writes its own digest).
    record_of_plan(world, pages, digest=digest)
    result = confirm(world, prod, pages, **rollback_variables())
    assert not result.succeeded
    assert f"this release pins {other}, not the {digest} recorded" in result.output


def test_a_retry_after_the_release_executed_is_the_recorded_release(world, prod):
    """RETRY (ALL_ACTIONS) after a failed smoke test: the stack already holds the release, so
    the new change set is empty (its fingerprint is not the plan's); it is recorded."""
    digest = world.push("release-8c1d2aa", "8c1d2aa")
    empty = recreated(release_pages())
    empty[0].update(
        Status="FAILED", StatusReason="The submitted information didn't contain changes.", Changes=[]
    )
    record_of_plan(world, empty, digest=digest)
    world.template_file.unlink(missing_ok=True)  # an empty change set may not answer GetTemplate
    world.stack_template_file.write_text(json.dumps({"TemplateBody": TEMPLATE}))
    world.serve_pages(empty)
    action = action_of(prod, "production", "ConfirmChangeSet")
    assert action  # the same action as in the other tests
    result = world.run(
        review_project(prod),
        {"REVIEW_MODE": "confirm", "CHANGE_SET_NAME": "todobackend-prod-pipeline",
         "PLAN_EXECUTION_ID": PLAN, "PIPELINE_EXECUTION_ID": PLAN,
         "EXPECTED_FINGERPRINT": "the-plan-fingerprint", "PLAN_IMAGE_DIGEST": digest},
    )  # fmt: skip
    assert result.succeeded, result.output
    assert decode_release(result.exported["RELEASE"])["kind"] == "retry"


def test_a_change_set_that_failed_is_refused(world, prod):
    world.push("release-8c1d2aa", "8c1d2aa")
    failed = recreated(release_pages())
    failed[0].update(Status="FAILED", StatusReason="Template error: unresolved resource dependencies")
    result = confirm(world, prod, failed, **planned(world, failed))
    assert not result.succeeded
    assert "FAILED: Template error" in result.output


# -- record ---------------------------------------------------------------------------------------
def recorded_release(digest: str) -> str:
    return encode_release(
        {
            "environment": "production",
            "releaseId": "r" * 64,
            "fingerprint": "f" * 64,
            "kind": "approved",
            "imageTag": "8c1d2aa",
            "imageDigest": digest,
            "approvedBy": APPROVER_SESSION,
            "approvedAt": "2026-12-06T10:00:00+00:00",
            "planExecutionId": PLAN,
        }
    )


def record(world, prod, release: str, execution: str = PLAN, start_ms: str = "1765015200000"):
    return world.run(
        recorder_project(prod),
        {
            "RELEASE": release,
            "PIPELINE_EXECUTION_ID": execution,
            "APP_COMMIT": "8c1d2aa4f0e1",
            "INFRA_COMMIT": "77aa88bb99cc",
            "CODEBUILD_START_TIME": start_ms,
        },
        state=f"record-{execution}",
    )


def test_the_recorder_project_writes_its_own_environments_record_and_keeps_releases(prod):
    project = recorder_project(prod)
    variables = {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]}
    assert variables == {
        "ENVIRONMENT": "production",
        "RECORD_TABLE": "todobackend-prod-releases",
        "IMAGE_REPOSITORY_NAME": "todobackend",
        "RELEASE_MARK_PREFIX": "release-production.",
        "KEEP_RELEASES": "10",
    }
    assert project["environment"]["privilegedMode"] is False


def test_a_release_is_recorded_and_its_image_marked(world, prod):
    digest = world.push("release-8c1d2aa", "8c1d2aa")
    result = record(world, prod, recorded_release(digest))
    assert result.succeeded, result.output
    item = world.records()[("production", PLAN)]
    # 1765015200000 ms is 2025-12-06T10:00:00Z.
    assert item["mark"] == "release-production.20251206T100000Z-0f1e2d3c"
    assert {
        k: item[k] for k in ("kind", "imageDigest", "approvedBy", "appCommit", "infraCommit", "recordedAt")
    } == {
        "kind": "approved",
        "imageDigest": digest,
        "approvedBy": APPROVER_SESSION,
        "appCommit": "8c1d2aa4f0e1",
        "infraCommit": "77aa88bb99cc",
        "recordedAt": "20251206T100000Z",
    }
    assert sorted(world.images()[digest]) == ["8c1d2aa", "release-production.20251206T100000Z-0f1e2d3c"]
    # Run again (a retried action): the mark is there, the record written once more.
    assert record(world, prod, recorded_release(digest)).succeeded


@pytest.mark.parametrize("immutable", [True, False], ids=["immutable", "mutable"])
def test_a_mark_someone_pushed_first_is_not_taken_for_the_release(world, prod, immutable):
    # A build may push any tag, the mark's name too, if it guesses it. An immutable repository
    # refuses to move it: the release is then not recorded, loudly. A mutable one moves the
    # tag to the released image, and the release is recorded as usual.
    if immutable:
        world.immutable_tags()
    digest = world.push("release-8c1d2aa", "8c1d2aa")
    mark = "release-production.20251206T100000Z-0f1e2d3c"
    planted = world.push("planted", mark)
    result = record(world, prod, recorded_release(digest))
    if immutable:
        assert not result.succeeded
        assert f"the mark {mark} names another image than the released {digest}" in result.output
        assert ("production", PLAN) not in world.records()
        assert mark in world.images()[planted]
    else:
        assert result.succeeded, result.output
        assert mark in world.images()[digest]


def test_only_the_newest_marks_of_the_environment_stay(world, prod):
    """keepReleases (10 in the prod stack): the 11th release takes the oldest mark off."""
    digests = []
    for day in range(11):
        digest = world.push(f"release-{day}", f"commit{day:02d}")
        digests.append(digest)
        execution = f"{day:08x}-0000-4000-8000-000000000000"
        assert record(
            world, prod, recorded_release(digest), execution, str(1765015200000 + day * 86_400_000)
        ).succeeded
    # Another environment's mark on the oldest image (an environment whose name begins with this
    # one's) is not this recorder's to take off.
    document = json.loads(world.registry_file.read_text())
    document["images"][0]["tags"].append("release-production-eu.20251201T000000Z-aaaaaaaa")
    world.registry_file.write_text(json.dumps(document))
    digest = world.push("release-11", "commit11")
    assert record(
        world,
        prod,
        recorded_release(digest),
        "0000000b-0000-4000-8000-000000000000",
        str(1765015200000 + 11 * 86_400_000),
    ).succeeded
    marked = {
        d: [t for t in tags if t.startswith("release-production.")] for d, tags in world.images().items()
    }
    assert marked[digests[0]] == [] and marked[digests[1]] == []
    assert all(len(marked[d]) == 1 for d in [*digests[2:], digest])
    assert "release-production-eu.20251201T000000Z-aaaaaaaa" in world.images()[digests[0]]


@pytest.mark.parametrize(
    "release",
    ["", "not base64!", '{"releaseId": "x", "imageDigest": "sha256:0"}', "eyJyZWxlYXNlSWQiOiAieCJ9"],
)
def test_a_release_that_was_not_confirmed_is_not_recorded(world, prod, release):
    world.push("release-8c1d2aa", "8c1d2aa")
    result = record(world, prod, release)
    assert not result.succeeded
    assert "RELEASE is not a confirmed release" in result.output
    assert world.records() == {}


def test_an_image_missing_from_the_registry_fails_the_record(world, prod):
    result = record(world, prod, recorded_release("sha256:" + "0" * 64))
    assert not result.succeeded
    assert "it cannot be kept" in result.output


def test_the_release_survives_codepipeline_putting_it_into_the_record_actions_json(prod):
    """CodePipeline puts a variable's value into the action's configuration as text; the
    record's EnvironmentVariables is JSON, so the value must hold nothing JSON would read."""
    release = recorded_release("sha256:" + "a" * 64)
    declared = action_of(prod, "production", "RecordRelease")["configuration"]["EnvironmentVariables"]
    resolved = declared.replace("#{Release-production.RELEASE}", release)
    (variable,) = [v for v in json.loads(resolved) if v["name"] == "RELEASE"]
    assert decode_release(variable["value"])["imageDigest"] == "sha256:" + "a" * 64
    # A JSON release would not have survived.
    raw = json.dumps(decode_release(release))
    with pytest.raises(json.JSONDecodeError):
        json.loads(declared.replace("#{Release-production.RELEASE}", raw))


def test_a_mark_no_record_names_is_taken_off_and_the_recorded_ones_stay(world, prod):
    """Any build can push a `release-` tag; the recorder keeps the marks of the releases the
    record holds, whatever other tags claim to be newer."""
    first = world.push("release-1", "commit01")
    assert record(world, prod, recorded_release(first), "00000001-0000-4000-8000-000000000000").succeeded
    # An application build pushes an image tagged like a newer mark of production.
    forged = world.push("planted", "release-production.99991231T235959Z-ffffffff")
    second = world.push("release-2", "commit02")
    later = str(1765015200000 + 86_400_000)
    assert record(
        world, prod, recorded_release(second), "00000002-0000-4000-8000-000000000000", later
    ).succeeded
    images = world.images()
    assert forged not in images  # its only tag was the forged mark: taken off, the image goes
    assert [t for t in images[first] if t.startswith("release-")] == [
        "release-production.20251206T100000Z-00000001"
    ]
    assert [t for t in images[second] if t.startswith("release-")] == [
        "release-production.20251207T100000Z-00000002"
    ]


def test_a_digest_parameter_that_is_not_a_digest_is_neither_exported_nor_released(world, prod):
    """The digest comes from the build's version file, which the application repository
    writes; a value with JSON in it, put into the confirm's configuration as text, could set
    the confirm's own variables. The review exports none, the confirm refuses it."""
    world.push("release-8c1d2aa", "8c1d2aa")
    injected = 'sha256:0"},{"name":"REVIEW_MODE","value":"review'
    plan = release_pages(ApplicationImageDigest=injected)
    world.serve_pages(plan)
    world.serve_template(TEMPLATE)
    reviewed = world.run(review_project(prod), {"PIPELINE_EXECUTION_ID": PLAN}, state="review")
    assert reviewed.succeeded, reviewed.output
    assert reviewed.exported["IMAGE_DIGEST"] == ""
    result = confirm(world, prod, recreated(plan), **planned(world, plan))
    assert not result.succeeded
    assert (
        "ApplicationImageDigest is 'sha256:0\"},{" in result.output and "not an image digest" in result.output
    )


# -- what the change set does not show ------------------------------------------------------------
# A nested stack as DescribeChangeSet shows it in a change set made without IncludeNestedStacks
# (as CodePipeline's CloudFormation action makes them): one Modify, its TemplateURL evaluated
# dynamically (the shape of tests/fixtures/changesets/risky.json, without a nested change set).
NESTED_CHANGE = {
    "Type": "Resource",
    "ResourceChange": {
        "Action": "Modify",
        "LogicalResourceId": "NetworkStack",
        "PhysicalResourceId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/todobackend-prod-NetworkStack-1ABC/0d1e2f3a",
        "ResourceType": "AWS::CloudFormation::Stack",
        "Replacement": "False",
        "Scope": ["Properties"],
        "Details": [
            {
                "Target": {"Attribute": "Properties", "Name": "TemplateURL", "RequiresRecreation": "Never"},
                "Evaluation": "Dynamic",
                "ChangeSource": "Automatic",
            }
        ],
    },
}
NESTED_TEMPLATE = TEMPLATE + (
    "  NetworkStack:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n"
    "      TemplateURL: https://infra-bucket.s3.amazonaws.com/network.yml\n"
)
REFUSED_NESTED = "deploys what it does not show: NetworkStack (AWS::CloudFormation::Stack)"


def with_nested_stack(pages: list[dict]) -> list[dict]:
    pages = copy.deepcopy(pages)
    pages[-1]["Changes"].append(copy.deepcopy(NESTED_CHANGE))
    return pages


def test_a_nested_stack_is_refused_though_reviewed_and_approved(world, prod):
    """Its fingerprint is the one approved, by an approver: what the nested stack deploys is
    still what nobody saw."""
    world.push("release-8c1d2aa", "8c1d2aa")
    plan = with_nested_stack(release_pages())
    expected = planned(world, plan, template=NESTED_TEMPLATE)
    result = confirm(world, prod, recreated(plan), template=NESTED_TEMPLATE, **expected)
    assert not result.succeeded
    assert REFUSED_NESTED in result.output
    assert "its template (TemplateURL) and its changes are not in this change set" in result.output
    assert "Nothing is executed" in result.output
    assert "inline the nested stack" in result.output and "E9108" in result.output
    assert not result.exported.get("RELEASE")


def test_the_plan_review_of_a_nested_stack_says_the_release_will_refuse_it(world, prod):
    world.push("release-8c1d2aa", "8c1d2aa")
    world.serve_pages(with_nested_stack(release_pages()))
    world.serve_template(NESTED_TEMPLATE)
    reviewed = world.run(review_project(prod), {"PIPELINE_EXECUTION_ID": PLAN}, state="review")
    assert reviewed.succeeded, reviewed.output  # the approver reads the report, and rejects
    assert reviewed.exported["REVIEW_SUMMARY"].startswith(
        "production: ⛔ THE RELEASE WILL REFUSE THIS: it deploys what it does not show (NetworkStack); "
    )


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (NESTED_TEMPLATE, "NetworkStack (AWS::CloudFormation::Stack)"),
        # A JSON template, as the CLI hands it over (parsed).
        (
            {
                "Resources": {
                    "Queue": {"Type": "AWS::SQS::Queue"},
                    "Spread": {"Type": "AWS::CloudFormation::StackSet"},
                }
            },
            "Spread (AWS::CloudFormation::StackSet)",
        ),
        (
            TEMPLATE + "  Product:\n    Type: AWS::ServiceCatalog::CloudFormationProvisionedProduct\n",
            "Product (AWS::ServiceCatalog::CloudFormationProvisionedProduct)",
        ),
    ],
)
def test_what_only_the_template_declares_is_refused_too(world, prod, body, named):
    """The change set need not list it (nothing of its own changed): the template it deploys
    declares it, and the confirm reads that template."""
    world.push("release-8c1d2aa", "8c1d2aa")
    plan = release_pages()
    expected = planned(world, plan, template=body)
    result = confirm(world, prod, recreated(plan), template=body, **expected)
    assert not result.succeeded
    assert f"deploys what it does not show: {named}" in result.output


def test_what_only_the_change_set_lists_is_refused_too(world, prod):
    """The template names a module; the change set lists what CloudFormation resolved it into,
    a nested stack among them: the confirm reads both."""
    world.push("release-8c1d2aa", "8c1d2aa")
    plan = release_pages()
    from_module = copy.deepcopy(NESTED_CHANGE)
    from_module["ResourceChange"].update(
        LogicalResourceId="NetworkNetworkStack",
        ModuleInfo={"LogicalIdHierarchy": "Network", "TypeHierarchy": "Example::Network::Vpc::MODULE"},
    )
    plan[0]["Changes"].append(from_module)
    template = TEMPLATE + "  Network:\n    Type: Example::Network::Vpc::MODULE\n"
    expected = planned(world, plan, template=template)
    result = confirm(world, prod, recreated(plan), template=template, **expected)
    assert not result.succeeded
    assert "deploys what it does not show: NetworkNetworkStack (AWS::CloudFormation::Stack)" in result.output


def test_a_rollback_to_a_release_with_a_nested_stack_is_refused(world, prod):
    """A release recorded with a nested stack (before this check, say) is not rolled back to
    unreviewed either: what its nested template holds now, nobody approved."""
    digest = world.push("release-8c1d2aa", "8c1d2aa")
    back = with_nested_stack(recreated(release_pages()))
    record_of_plan(world, back, digest=digest, template=NESTED_TEMPLATE)
    result = confirm(world, prod, back, template=NESTED_TEMPLATE, **rollback_variables())
    assert not result.succeeded
    assert REFUSED_NESTED in result.output


def test_a_retry_of_a_stack_with_a_nested_stack_is_refused(world, prod):
    """An empty change set (the stack already holds the release) whose stack's template has a
    nested stack: what executing it would do to the nested stack is not shown either."""
    digest = world.push("release-8c1d2aa", "8c1d2aa")
    empty = recreated(release_pages())
    empty[0].update(
        Status="FAILED", StatusReason="The submitted information didn't contain changes.", Changes=[]
    )
    record_of_plan(world, empty, digest=digest, template=NESTED_TEMPLATE)
    world.template_file.unlink(missing_ok=True)
    world.stack_template_file.write_text(json.dumps({"TemplateBody": NESTED_TEMPLATE}))
    world.serve_pages(empty)
    result = world.run(
        review_project(prod),
        {"REVIEW_MODE": "confirm", "CHANGE_SET_NAME": "todobackend-prod-pipeline",
         "PLAN_EXECUTION_ID": PLAN, "PIPELINE_EXECUTION_ID": PLAN,
         "EXPECTED_FINGERPRINT": "the-plan-fingerprint", "PLAN_IMAGE_DIGEST": digest},
    )  # fmt: skip
    assert not result.succeeded
    assert REFUSED_NESTED in result.output


def test_a_template_without_a_body_is_refused(world, prod):
    """Fail closed: without the template the confirm cannot tell what the change set deploys."""
    world.push("release-8c1d2aa", "8c1d2aa")
    plan = release_pages()
    expected = planned(world, plan)
    result = confirm(
        world, prod, recreated(plan), template_response={"StagesAvailable": ["Original"]}, **expected
    )
    assert not result.succeeded
    assert "could not be read (GetTemplate gave no TemplateBody)" in result.output
