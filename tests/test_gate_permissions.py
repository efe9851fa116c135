"""The review, the confirm and the record may make every AWS call they make: each call the build
image's scripts made in a run (the stub `aws` logs them) is turned into the IAM request AWS
would evaluate (action, resource, context keys) and evaluated against the role of the project
that ran it, with the resource's own policy where it has one. A permission the scripts need
but the role lacks fails here, before a release fails in AWS.

The action of a call is its CLI operation as IAM spells it (Service Authorization Reference:
`describe-change-set` is `cloudformation:DescribeChangeSet`; `s3 cp` of a file is
`s3:PutObject`); the resource is what the call names.
"""

from __future__ import annotations

import json

import pytest

from components.iam_policies import Request
from tests.conftest import CROSS_ACCOUNT, any_stack, only, shared_scope
from tests.support.permissions import declared_roles
from tests.support.release_world import GateWorld
from tests.test_changeset_report import report as changeset_report
from tests.test_release_gate import (
    APPROVER_SESSION,
    PLAN,
    TEMPLATE,
    recorded_release,
    recreated,
    release_pages,
)


@pytest.fixture(scope=shared_scope, params=["prod", CROSS_ACCOUNT])
def declared(request):
    return any_stack(request.param).mocks


def _camel(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("-"))


def _arg(call: list[str], flag: str) -> str:
    return call[call.index(flag) + 1]


def requests_of(calls: list[list[str]], mocks, stack_account: str | None = None) -> list[tuple[Request, str]]:
    """(the IAM request, the account owning its resource) of every AWS call a script made."""
    pipeline = only(mocks, "aws:codepipeline/pipeline:Pipeline").state["arn"]
    _, partition, _, region, account, _ = pipeline.split(":", 5)
    bucket = only(mocks, "aws:s3/bucket:Bucket").state["arn"]
    repository = only(mocks, "aws:ecr/repository:Repository", "app-image-repository").state["arn"]
    table = only(mocks, "aws:dynamodb/table:Table").state["arn"]
    found = []
    for call in calls:
        service, operation = call[0], call[1]
        if service == "configure":
            continue  # the CLI's own settings: no AWS call
        if service == "s3" and operation == "cp":
            # A folder copied up: one PutObject per file, under the destination's prefix.
            key = call[3].removeprefix("s3://").split("/", 1)[1]
            found.append(
                (
                    Request("s3:PutObject", f"{bucket}/{key}report.html", {"aws:ResourceAccount": account}),
                    account,
                )
            )
            continue
        action = f"{service}:{_camel(operation)}"
        if service == "cloudformation":
            # Through the reader profile: the stack in the environment's own account.
            reading = "--profile" in call
            owner = (stack_account or account) if reading else account
            stack = f"arn:{partition}:cloudformation:{region}:{owner}:stack/{_arg(call, '--stack-name')}/*"
            found.append((Request(action, stack), "reader" if reading else account))
        elif service == "ecr":
            found.append((Request(action, repository), account))
        elif service == "codepipeline":
            found.append((Request(action, pipeline), account))
        elif service == "dynamodb":
            if "--expression-attribute-values" in call:  # a Query, by the environment
                environment = json.loads(_arg(call, "--expression-attribute-values"))[":environment"]["S"]
            else:
                item = json.loads(_arg(call, "--key") if "--key" in call else _arg(call, "--item"))
                environment = item["environment"]["S"]
            found.append((Request(action, table, {"dynamodb:LeadingKeys": [environment]}), account))
        elif service == "iam":
            found.append(
                (
                    Request(
                        action,
                        f"arn:{partition}:iam::{account}:group/ecs-delivery/{_arg(call, '--group-name')}",
                    ),
                    account,
                )
            )
        else:
            raise AssertionError(f"a call this test does not know how to ask IAM about: {call}")
    return found


def resource_policy(mocks, request: Request):
    """The policy of the resource a request names, if this program declares one."""
    typ, name = {
        "s3": ("aws:s3/bucketPolicy:BucketPolicy", "artifacts-policy"),
        "ecr": ("aws:ecr/repositoryPolicy:RepositoryPolicy", "app-image-pull-policy"),
        "dynamodb": ("aws:dynamodb/resourcePolicy:ResourcePolicy", "releases-policy"),
    }.get(request.action.split(":")[0], (None, None))
    return json.loads(only(mocks, typ, name).inputs["policy"]) if typ else None


def assert_allowed(role, mocks, calls, reader=None) -> int:
    requests = requests_of(calls, mocks, reader.arn.split(":")[4] if reader else None)
    for request, owner in requests:
        if owner == "reader":
            # An environment in another account is read through its reader role there.
            assert reader is not None, request
            assert reader.allows(request), f"{reader.name} may not {request}"
            continue
        policy = resource_policy(mocks, request)
        allowed = role.allows_through(request, policy, owner) if policy else role.allows(request)
        assert allowed, f"{role.name} may not {request}"
    return len(requests)


def project(mocks, name):
    return only(mocks, "aws:codebuild/project:Project", name).inputs


def test_every_call_of_a_review_confirm_and_record_is_allowed_to_its_role(declared, tmp_path):
    roles = declared_roles(declared)
    review_role, recorder_role = roles["review-production-role"], roles["record-production-role"]
    reader = roles.get("production-reader-role")
    reader_arn = reader.arn if reader else None
    world = GateWorld(tmp_path)
    world.push("release-8c1d2aa", "8c1d2aa")
    pages = release_pages()
    world.serve_pages(pages)
    world.serve_template(TEMPLATE, stack_too=True)
    world.approve(execution=PLAN, stage="production-approval", by=APPROVER_SESSION)
    extra = {"READER_ROLE_ARN": reader_arn} if reader_arn else {}
    # The plan's review.
    reviewed = world.run(
        project(declared, "review-production-project"),
        {"PIPELINE_EXECUTION_ID": PLAN, **extra},
        state="review",
    )
    assert reviewed.succeeded, reviewed.output
    asked = assert_allowed(review_role, declared, world.calls(), reader)
    # The release's confirm.
    world.log.unlink()
    template = {"TemplateBody": TEMPLATE, "StagesAvailable": ["Original"]}
    world.serve_pages(recreated(pages))
    confirmed = world.run(
        project(declared, "review-production-project"),
        {
            "REVIEW_MODE": "confirm",
            "CHANGE_SET_NAME": "todobackend-prod-pipeline",
            "PLAN_EXECUTION_ID": PLAN,
            "PIPELINE_EXECUTION_ID": PLAN,
            "EXPECTED_FINGERPRINT": changeset_report.fingerprint(pages, template),
            "PLAN_IMAGE_DIGEST": reviewed.exported["IMAGE_DIGEST"],
            **extra,
        },
        state="confirm",
    )
    assert confirmed.succeeded, confirmed.output
    asked += assert_allowed(review_role, declared, world.calls(), reader)
    # The record.
    world.log.unlink()
    recorded = world.run(
        project(declared, "record-production-project"),
        {"RELEASE": recorded_release(reviewed.exported["IMAGE_DIGEST"]), "PIPELINE_EXECUTION_ID": PLAN},
        state="record",
    )
    assert recorded.succeeded, recorded.output
    asked += assert_allowed(recorder_role, declared, world.calls())
    # Every kind of call was asked about (a run that asked nothing would prove nothing).
    assert asked >= 12
