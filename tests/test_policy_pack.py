"""The CrossGuard policy pack, each rule on properties recorded from the program under
mocks: the committed prod stack is compliant; a recorded resource changed to break the
rule is reported."""

from __future__ import annotations

import copy
import json

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)

from offline.synth import plain_numbers
from policy.rules import POLICIES
from tests.conftest import any_stack, run_stack, shared_scope, with_user_stacks

BY_NAME = {p.name: p for p in POLICIES}


@pytest.fixture(scope=shared_scope)
def prod_resources():
    return [r for r in run_stack("prod").mocks.resources if r.custom]


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _props(recorded) -> dict:
    return plain_numbers(
        copy.deepcopy(recorded.inputs) | {k: v for k, v in recorded.state.items() if k not in recorded.inputs}
    )


def check_resources(policy_name: str, resources, change=None) -> list[str]:
    """Run a resource policy over every recorded resource; `change(type, props)` may
    break one of them first."""
    violations: list[str] = []
    for recorded in resources:
        props = _props(recorded)
        if change:
            change(recorded.type, props)
        args = ResourceValidationArgs(recorded.type, props, recorded.urn, recorded.name, _options(), None)
        BY_NAME[policy_name].validate(args, lambda message, urn=None: violations.append(message))
    return violations


def check_stack(policy_name: str, resources, change=None) -> list[str]:
    return [message for message, _ in check_stack_with_urns(policy_name, resources, change)]


def check_stack_with_urns(policy_name: str, resources, change=None) -> list[tuple[str, str]]:
    policy_resources = []
    for recorded in resources:
        props = _props(recorded)
        if change:
            change(recorded.type, props)
        policy_resources.append(
            PolicyResource(recorded.type, props, recorded.urn, recorded.name, _options(), None, None, [], {})
        )
    violations: list[tuple[str, str]] = []
    BY_NAME[policy_name].validate(
        StackValidationArgs(policy_resources), lambda message, urn=None: violations.append((message, urn))
    )
    return violations


def test_the_pack_has_the_seven_rules():
    assert sorted(BY_NAME) == [
        "approval-before-change-set-execution",
        "change-sets-recreated-where-stages-run-again",
        "ecr-scan-on-push",
        "encrypted-artifact-store",
        "no-wildcard-iam-actions",
        "permission-boundaries-stay-ceilings",
        "privileged-codebuild-pinned-image",
    ]


def test_every_rule_is_mandatory():
    # An advisory rule only prints: a guardrail turned advisory would let a violation deploy.
    from pulumi_policy import EnforcementLevel

    assert {p.name: p.enforcement_level for p in POLICIES} == dict.fromkeys(
        BY_NAME, EnforcementLevel.MANDATORY
    )


def test_boundaries_compliant(prod_resources):
    assert check_stack("permission-boundaries-stay-ceilings", prod_resources) == []


def test_a_boundary_that_admits_iam_is_a_violation(prod_resources):
    def admit_iam(typ, props):
        if typ == "aws:iam/policy:Policy" and _is_boundary(props):
            document = json.loads(props["policy"])
            document["Statement"][0]["NotAction"].remove("iam:*")
            props["policy"] = json.dumps(document)

    violations = check_stack("permission-boundaries-stay-ceilings", prod_resources, admit_iam)
    assert (
        violations
        == [
            "permissions boundary statement 'ApplicationRuntime' admits IAM actions: "
            "a role it bounds could create an unbounded role"
        ]
        * 2
    )


def test_a_boundary_attached_as_a_grant_is_a_violation(prod_resources):
    boundary = next(
        r for r in prod_resources if r.type == "aws:iam/policy:Policy" and _is_boundary(r.inputs)
    ).state["arn"]

    def attach_boundary(typ, props):
        if typ == "aws:iam/rolePolicyAttachment:RolePolicyAttachment" and props["role"].startswith("deploy-"):
            props["policyArn"] = boundary

    violations = check_stack("permission-boundaries-stay-ceilings", prod_resources, attach_boundary)
    assert (
        violations == [f"permissions boundary {boundary!r} is attached to a role as a permission policy"] * 2
    )


def test_an_untagged_boundary_is_judged_as_a_grant(prod_resources):
    def untag(typ, props):
        if typ == "aws:iam/policy:Policy":
            props["tags"] = {}

    violations = check_resources("no-wildcard-iam-actions", prod_resources, untag)
    assert violations == ["statement 'ApplicationRuntime' allows NotAction (everything but a list)"] * 2


def test_pinned_image_compliant(prod_resources):
    assert check_stack("privileged-codebuild-pinned-image", prod_resources) == []


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("docker:29.1-dind", "must run an ECR image pinned by digest"),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/todobackend/codebuild:latest", "pinned by digest"),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/someone-else@sha256:" + "a" * 64,
            "not an ECR repository of this stack",
        ),
    ],
)
def test_pinned_image_violations(prod_resources, image, expected):
    def change(typ, props):
        if typ == "aws:codebuild/project:Project":
            props["environment"]["image"] = image

    (violation,) = check_stack("privileged-codebuild-pinned-image", prod_resources, change)
    assert expected in violation


def test_encrypted_artifact_store_compliant(prod_resources):
    assert check_stack("encrypted-artifact-store", prod_resources) == []


def test_encrypted_artifact_store_violation(prod_resources):
    def change(typ, props):
        if typ.endswith("BucketServerSideEncryptionConfiguration"):
            props["bucket"] = "some-other-bucket"

    ((violation, urn),) = check_stack_with_urns("encrypted-artifact-store", prod_resources, change)
    bucket = next(r for r in prod_resources if r.type == "aws:s3/bucket:Bucket").state["bucket"]
    assert violation == (
        f"artifact store {bucket!r} has no default encryption "
        "(declare a BucketServerSideEncryptionConfiguration or an encryption key)"
    )
    assert urn == next(r for r in prod_resources if r.type == "aws:codepipeline/pipeline:Pipeline").urn


@pytest.mark.parametrize(
    ("algorithm", "compliant"),
    [("AES256", True), ("aws:kms", True), ("aws:kms:dsse", True), ("none", False), ("", False)],
)
def test_every_s3_default_encryption_algorithm_counts(prod_resources, algorithm, compliant):
    def change(typ, props):
        if typ.endswith("BucketServerSideEncryptionConfiguration"):
            props["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] = algorithm

    assert (check_stack("encrypted-artifact-store", prod_resources, change) == []) is compliant


def test_a_store_with_its_own_kms_key_needs_no_bucket_default(prod_resources):
    def change(typ, props):
        if typ.endswith("BucketServerSideEncryptionConfiguration"):
            props["bucket"] = "some-other-bucket"
        if typ == "aws:codepipeline/pipeline:Pipeline":
            props["artifactStores"][0]["encryptionKey"] = {
                "id": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "type": "KMS",
            }

    assert check_stack("encrypted-artifact-store", prod_resources, change) == []


def test_only_the_unencrypted_store_of_several_is_reported(prod_resources):
    def change(typ, props):
        if typ == "aws:codepipeline/pipeline:Pipeline":
            props["artifactStores"] = [
                *props["artifactStores"],
                {"location": "unencrypted-bucket", "type": "S3"},
            ]

    assert check_stack("encrypted-artifact-store", prod_resources, change) == [
        "artifact store 'unencrypted-bucket' has no default encryption "
        "(declare a BucketServerSideEncryptionConfiguration or an encryption key)"
    ]


def test_approval_compliant(prod_resources):
    assert check_resources("approval-before-change-set-execution", prod_resources) == []


def test_approval_violation_when_the_approval_is_dropped(prod_resources):
    def change(typ, props):
        if typ == "aws:codepipeline/pipeline:Pipeline":
            for stage in props["stages"]:
                stage["actions"] = [a for a in stage["actions"] if a["provider"] != "Manual"]

    (violation,) = check_resources("approval-before-change-set-execution", prod_resources, change)
    assert (
        "change set 'todobackend-prod-pipeline' on stack 'todobackend-prod' is executed without a manual approval"
        in violation
    )


def test_approval_violation_when_the_approval_comes_after_the_release(prod_resources):
    def change(typ, props):
        if typ == "aws:codepipeline/pipeline:Pipeline":
            stages = props["stages"]
            approval = next(s for s in stages if s["name"] == "production-approval")
            stages.remove(approval)
            stages.append(approval)

    assert check_resources("approval-before-change-set-execution", prod_resources, change) == [UNAPPROVED]


def test_approval_violation_when_the_approval_comes_before_the_review(prod_resources):
    def change(typ, props):
        if typ == "aws:codepipeline/pipeline:Pipeline":
            stages = props["stages"]
            approval = next(s for s in stages if s["name"] == "production-approval")
            stages.remove(approval)
            stages.insert([s["name"] for s in stages].index("production-plan"), approval)

    assert check_resources("approval-before-change-set-execution", prod_resources, change) == [UNAPPROVED]


def _confirm_variables(edit):
    def change(typ, props):
        if typ == "aws:codepipeline/pipeline:Pipeline":
            for stage in props["stages"]:
                for action in stage["actions"]:
                    if action["name"] == "ConfirmChangeSet":
                        variables = json.loads(action["configuration"]["EnvironmentVariables"])
                        edit({v["name"]: v for v in variables})
                        action["configuration"]["EnvironmentVariables"] = json.dumps(variables)

    return change


@pytest.mark.parametrize(
    ("what", "edit"),
    [
        ("a review, not a confirm", lambda v: v["REVIEW_MODE"].update(value="review")),
        (
            "a fingerprint from nowhere",
            lambda v: v["EXPECTED_FINGERPRINT"].update(value="#{Nobody.FINGERPRINT}"),
        ),
        ("a literal fingerprint", lambda v: v["EXPECTED_FINGERPRINT"].update(value="0" * 64)),
    ],
)
def test_a_confirm_counts_only_against_the_reviewed_fingerprint(prod_resources, what, edit):
    found = check_resources("approval-before-change-set-execution", prod_resources, _confirm_variables(edit))
    assert found == [UNAPPROVED], what


def _pipeline(edit):
    def change(typ, props):
        if typ == "aws:codepipeline/pipeline:Pipeline":
            edit({stage["name"]: stage for stage in props["stages"]}, props["stages"])

    return change


def _approval_check(prod_resources, edit) -> list[str]:
    return check_resources("approval-before-change-set-execution", prod_resources, _pipeline(edit))


def test_an_approval_after_the_review_in_the_plan_stage_counts(prod_resources):
    def edit(stages, order):
        (approve,) = stages["production-approval"]["actions"]
        order.remove(stages["production-approval"])
        stages["production-plan"]["actions"].append({**approve, "runOrder": 4})  # after the review (3)

    assert _approval_check(prod_resources, edit) == []


@pytest.mark.parametrize("run_order", [3, 2])
def test_an_approval_alongside_or_before_the_review_does_not_count(prod_resources, run_order):
    def edit(stages, order):
        (approve,) = stages["production-approval"]["actions"]
        order.remove(stages["production-approval"])
        stages["production-plan"]["actions"].append({**approve, "runOrder": run_order})

    assert _approval_check(prod_resources, edit) == [UNAPPROVED]


def test_an_approval_in_a_stage_before_the_review_does_not_count_whatever_its_run_order(prod_resources):
    def edit(stages, order):
        approval = stages["production-approval"]
        order.remove(approval)
        order.insert(order.index(stages["production-plan"]), approval)
        approval["actions"][0]["runOrder"] = 9

    assert _approval_check(prod_resources, edit) == [UNAPPROVED]


def test_a_review_and_an_approval_without_run_orders_count_as_run_order_one(prod_resources):
    def edit(stages, order):
        # The review alone in its stage, the approval first in the next: both at run order 1.
        plan = stages["production-plan"]
        plan["actions"] = [a for a in plan["actions"] if a["name"] == "ReviewChangeSet"]
        plan["actions"][0].pop("runOrder")
        stages["production-approval"]["actions"][0].pop("runOrder")

    assert _approval_check(prod_resources, edit) == []

    def alongside(stages, order):
        (approve,) = stages["production-approval"]["actions"]
        order.remove(stages["production-approval"])
        plan = stages["production-plan"]
        plan["actions"] = [a for a in plan["actions"] if a["name"] == "ReviewChangeSet"]
        plan["actions"][0].pop("runOrder")
        plan["actions"].append({k: v for k, v in approve.items() if k != "runOrder"})

    assert _approval_check(prod_resources, alongside) == [UNAPPROVED]


def test_only_a_manual_approval_counts(prod_resources):
    def not_manual(stages, order):
        stages["production-approval"]["actions"][0]["provider"] = "CodeBuild"

    def not_an_approval(stages, order):
        stages["production-approval"]["actions"][0]["category"] = "Test"

    def something_else_after_the_review(stages, order):
        approval = stages["production-approval"]
        approval["actions"] = [
            {**stages["production-plan"]["actions"][-1], "name": "Lint", "namespace": None}
        ]

    for edit in (not_manual, not_an_approval, something_else_after_the_review):
        assert _approval_check(prod_resources, edit) == [UNAPPROVED], edit.__name__


def test_other_actions_beside_the_confirm_do_not_hide_it(prod_resources):
    def edit(stages, order):
        release = stages["production"]
        for action in release["actions"]:
            if action["name"] in ("ConfirmChangeSet", "ExecuteChangeSet", "Verify"):
                action["runOrder"] += 1
        lint = {**next(a for a in release["actions"] if a["name"] == "ConfirmChangeSet"), "name": "Lint"}
        lint["configuration"] = {**lint["configuration"], "EnvironmentVariables": "[]"}
        lint["runOrder"] = 2
        release["actions"].insert(1, lint)

    assert _approval_check(prod_resources, edit) == []


def test_a_confirm_without_a_fingerprint_does_not_count(prod_resources):
    def edit(variables):
        variables.pop("EXPECTED_FINGERPRINT")

    assert check_resources(
        "approval-before-change-set-execution", prod_resources, _confirm_without(edit)
    ) == [UNAPPROVED]


def _confirm_without(edit):
    def change(typ, props):
        if typ == "aws:codepipeline/pipeline:Pipeline":
            for stage in props["stages"]:
                for action in stage["actions"]:
                    if action["name"] == "ConfirmChangeSet":
                        variables = {
                            v["name"]: v for v in json.loads(action["configuration"]["EnvironmentVariables"])
                        }
                        edit(variables)
                        action["configuration"]["EnvironmentVariables"] = json.dumps(list(variables.values()))

    return change


def test_an_approval_in_the_executing_stage_is_compliant_as_before(prod_resources):
    """A pipeline of the older shape (create, approve, execute in one stage) still complies."""

    def change(typ, props):
        if typ == "aws:codepipeline/pipeline:Pipeline":
            stages = props["stages"]
            approval = next(s for s in stages if s["name"] == "production-approval")
            release = next(s for s in stages if s["name"] == "production")
            stages.remove(approval)
            release["actions"] = [
                {**approval["actions"][0], "runOrder": a["runOrder"]}
                if a["name"] == "ConfirmChangeSet"
                else a
                for a in release["actions"]
            ]

    assert check_resources("approval-before-change-set-execution", prod_resources, change) == []


def _release_with_approval(approve_at: int, *, more=()):
    """The older shape, one stage: the prod stack's release (create 1, confirm 2, execute 3)
    with its confirm replaced by the manual approval at `approve_at`, and no approval stage;
    `more` are (name, mode, run order) of further change-set actions of the same change set."""

    def edit(stages, order):
        approval = stages["production-approval"]
        order.remove(approval)
        release = stages["production"]
        create = next(a for a in release["actions"] if a["name"] == "CreateChangeSet")
        release["actions"] = [
            {**approval["actions"][0], "runOrder": approve_at} if a["name"] == "ConfirmChangeSet" else a
            for a in release["actions"]
        ]
        for name, mode, run_order in more:
            configuration = {**create["configuration"], "ActionMode": mode}
            release["actions"].append(
                {**create, "name": name, "runOrder": run_order, "configuration": configuration}
            )

    return edit


@pytest.mark.parametrize(
    ("approve_at", "approved"),
    [
        pytest.param(2, True, id="strictly between"),
        # Equal run orders run in parallel (CodePipeline user guide, "Action declaration"):
        # an approval beside the create approves a change set that does not exist yet, one
        # beside the execute approves nothing the execute waits for.
        pytest.param(1, False, id="beside the create"),
        pytest.param(3, False, id="beside the execute"),
    ],
)
def test_an_approval_in_the_executing_stage_counts_only_strictly_between(
    prod_resources, approve_at, approved
):
    found = _approval_check(prod_resources, _release_with_approval(approve_at))
    assert found == ([] if approved else [UNAPPROVED])


def test_a_confirm_beside_the_execute_does_not_count(prod_resources):
    def edit(actions, stage):
        actions["ConfirmChangeSet"]["runOrder"] = actions["ExecuteChangeSet"]["runOrder"]

    assert _production_actions(prod_resources, edit) == [UNAPPROVED]


@pytest.mark.parametrize(
    "create_again_at",
    [
        pytest.param(4, id="after the approval"),
        pytest.param(5, id="beside the execute"),
    ],
)
def test_a_change_set_created_again_after_its_approval_is_not_the_approved_one(
    prod_resources, create_again_at
):
    """Create (1), approve (2), create again, execute (5): CHANGE_SET_REPLACE replaced the
    change set the person approved."""

    def edit(stages, order):
        _release_with_approval(2, more=[("CreateAgain", "CHANGE_SET_REPLACE", create_again_at)])(
            stages, order
        )
        for action in stages["production"]["actions"]:
            if action["name"] in ("ExecuteChangeSet", "Verify"):
                action["runOrder"] += 2

    assert _approval_check(prod_resources, edit) == [UNAPPROVED]


def test_a_confirmed_change_set_created_again_before_its_execute_is_not_the_confirmed_one(prod_resources):
    def edit(actions, stage):
        again = copy.deepcopy(actions["CreateChangeSet"]) | {"name": "CreateAgain", "runOrder": 3}
        actions["ExecuteChangeSet"]["runOrder"] = 4
        actions["Verify"]["runOrder"] = 5
        stage["actions"].append(again)

    assert _production_actions(prod_resources, edit) == [UNAPPROVED]
    # A create after the execute (for a later run) is not what this execute runs.
    assert (
        _production_actions(
            prod_resources,
            lambda actions, stage: stage["actions"].append(
                copy.deepcopy(actions["CreateChangeSet"]) | {"name": "CreateLater", "runOrder": 9}
            ),
        )
        == []
    )


def test_an_execute_with_every_create_after_it_is_unapproved(prod_resources):
    def edit(actions, stage):
        actions["CreateChangeSet"]["runOrder"] = 9

    assert _production_actions(prod_resources, edit) == [UNAPPROVED]


def test_no_wildcard_actions_compliant(prod_resources):
    assert check_resources("no-wildcard-iam-actions", prod_resources) == []


@pytest.mark.parametrize("action", ["*", "s3:*"])
def test_no_wildcard_actions_violation(prod_resources, action):
    def change(typ, props):
        if typ == "aws:iam/rolePolicy:RolePolicy" and "codebuild" in props["policy"]:
            document = json.loads(props["policy"])
            document["Statement"][0]["Action"] = [action]
            props["policy"] = json.dumps(document)

    violations = check_resources("no-wildcard-iam-actions", prod_resources, change)
    assert violations and all(f"wildcard action '{action}'" in v for v in violations)


def test_scan_on_push_compliant(prod_resources):
    assert check_resources("ecr-scan-on-push", prod_resources) == []


def test_scan_on_push_violation(prod_resources):
    def change(typ, props):
        if typ == "aws:ecr/repository:Repository" and props["name"] == "todobackend":
            props["imageScanningConfiguration"] = {"scanOnPush": False}

    assert check_resources("ecr-scan-on-push", prod_resources, change) == [
        "ECR repository 'todobackend' does not scan images on push"
    ]


def test_the_pack_starts_its_analyzer_as_the_cli_would(tmp_path):
    """`pulumi preview --policy-pack policy` has the Python policy host run
    `python -m pulumi.policy <engine> <pack dir>`, which executes policy/__main__.py; the
    pack must load its rules from there and print the port its analyzer serves on."""
    import subprocess
    import sys
    from pathlib import Path

    pack = Path(__file__).resolve().parent.parent / "policy"
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "pulumi.policy", "127.0.0.1:1", str(pack)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read() if process.poll() is not None else port
    finally:
        process.kill()
        process.wait()


def _is_boundary(props) -> bool:
    # The approvers' policies are managed policies too, but grants, not ceilings.
    return (props.get("tags") or {}).get("ecs-delivery:use") == "permissions-boundary"


def _edit_boundaries(edit):
    def change(typ, props):
        if typ == "aws:iam/policy:Policy" and _is_boundary(props):
            document = json.loads(props["policy"])
            edit(document["Statement"])
            props["policy"] = json.dumps(document)

    return change


ADMITS = "a role it bounds could create an unbounded role"


@pytest.mark.parametrize(
    ("edit", "sid"),
    [
        # Passing roles to any service (no iam:PassedToService condition).
        (lambda statements: statements[1].pop("Condition"), "PassOwnStackRoles"),
        # Any other IAM action, in list or string form, or everything.
        (
            lambda statements: statements[1].update(Action=["iam:PassRole", "iam:CreateRole"]),
            "PassOwnStackRoles",
        ),
        (lambda statements: statements[1].update(Action="iam:AttachRolePolicy"), "PassOwnStackRoles"),
        (lambda statements: statements[1].update(Action="*"), "PassOwnStackRoles"),
        # NotAction as a string that is not iam:*.
        (lambda statements: statements[0].update(NotAction="organizations:*"), "ApplicationRuntime"),
    ],
)
def test_every_way_a_boundary_can_admit_iam_is_a_violation(prod_resources, edit, sid):
    violations = check_stack("permission-boundaries-stay-ceilings", prod_resources, _edit_boundaries(edit))
    assert violations == [f"permissions boundary statement {sid!r} admits IAM actions: {ADMITS}"] * 2


def test_a_deny_before_an_admitting_statement_hides_nothing(prod_resources):
    def edit(statements):
        statements[0]["NotAction"].remove("iam:*")
        statements.insert(0, {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"})

    violations = check_stack("permission-boundaries-stay-ceilings", prod_resources, _edit_boundaries(edit))
    assert (
        violations
        == [f"permissions boundary statement 'ApplicationRuntime' admits IAM actions: {ADMITS}"] * 2
    )


def test_a_boundary_violation_names_the_boundary_resource(prod_resources):
    def edit(statements):
        statements[1].pop("Condition")

    found = check_stack_with_urns(
        "permission-boundaries-stay-ceilings", prod_resources, _edit_boundaries(edit)
    )
    boundaries = sorted(
        r.urn for r in prod_resources if r.type == "aws:iam/policy:Policy" and _is_boundary(r.inputs)
    )
    assert sorted(urn for _, urn in found) == boundaries


def test_wildcards_hide_behind_neither_a_deny_nor_a_string_nor_a_missing_sid(prod_resources):
    def change(typ, props):
        if typ == "aws:iam/rolePolicy:RolePolicy" and props["role"].startswith("build-role"):
            document = json.loads(props["policy"])
            document["Statement"] = [
                {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
                {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"},
            ]
            props["policy"] = json.dumps(document)

    assert check_resources("no-wildcard-iam-actions", prod_resources, change) == [
        "statement '?' allows the wildcard action 'ecr:*'"
    ]


def test_an_image_in_an_unowned_repository_under_an_owned_name_is_a_violation(prod_resources):
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/todobackend/not-ours@sha256:" + "b" * 64

    def change(typ, props):
        if typ == "aws:codebuild/project:Project" and props["environment"].get("privilegedMode"):
            props["environment"]["image"] = image

    found = check_stack_with_urns("privileged-codebuild-pinned-image", prod_resources, change)
    project = next(
        r for r in prod_resources if r.type == "aws:codebuild/project:Project" and r.name == "build-project"
    )
    assert found == [
        (
            "privileged CodeBuild project runs an image from "
            "'123456789012.dkr.ecr.eu-west-1.amazonaws.com/todobackend/not-ours', "
            "which is not an ECR repository of this stack",
            project.urn,
        )
    ]


def test_an_unprivileged_project_is_not_judged_and_a_violation_names_its_project(prod_resources):
    def change(typ, props):
        if typ == "aws:codebuild/project:Project":
            props["environment"]["image"] = "docker:29-dind"

    found = check_stack_with_urns("privileged-codebuild-pinned-image", prod_resources, change)
    project = next(
        r for r in prod_resources if r.type == "aws:codebuild/project:Project" and r.name == "build-project"
    )
    # The review project runs unprivileged: only the build project is reported.
    assert found == [
        (
            "privileged CodeBuild project runs 'docker:29-dind': privileged builds must run an ECR image "
            "pinned by digest (<account>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:<digest>)",
            project.urn,
        )
    ]


def test_an_execute_without_its_change_set_is_named_exactly(prod_resources):
    def change(typ, props):
        if typ == "aws:codepipeline/pipeline:Pipeline":
            for stage in props["stages"]:
                stage["actions"] = [
                    a
                    for a in stage["actions"]
                    if (a.get("configuration") or {}).get("ActionMode") != "CHANGE_SET_REPLACE"
                ]

    assert check_resources("approval-before-change-set-execution", prod_resources, change) == [
        "stage 'production': ExecuteChangeSet executes a change set that no action creates"
    ]


def test_the_rule_factories_keep_what_they_are_given():
    from pulumi_policy import EnforcementLevel

    from policy import rules

    calls = []

    def validate(args, report):
        calls.append((args, report))

    for factory in (rules._resource_policy, rules._stack_policy):
        built = factory("a-rule", "What it checks.", validate)
        assert (built.name, built.description, built.enforcement_level) == (
            "a-rule",
            "What it checks.",
            EnforcementLevel.MANDATORY,
        )
        built.validate("args", "report")
    # Each built rule runs the function it was given.
    assert calls == [("args", "report")] * 2


def _production_actions(prod_resources, edit):
    def change(typ, props):
        if typ == "aws:codepipeline/pipeline:Pipeline":
            stage = next(s for s in props["stages"] if s["name"] == "production")
            edit({a["name"]: a for a in stage["actions"]}, stage)

    return check_resources("approval-before-change-set-execution", prod_resources, change)


UNAPPROVED = (
    "stage 'production': change set 'todobackend-prod-pipeline' on stack 'todobackend-prod' is executed "
    "without a manual approval between its creation and its execution, nor confirmed there to be the "
    "change set a person approved in an earlier stage"
)


def test_a_missing_run_order_counts_as_one(prod_resources):
    # CodePipeline's default run order is 1: create (1), confirm (2), execute (3) stays compliant.
    assert _production_actions(prod_resources, lambda a, s: a["CreateChangeSet"].pop("runOrder")) == []
    # An execute without a run order runs first (1): before the confirm, a violation.
    assert _production_actions(prod_resources, lambda a, s: a["ExecuteChangeSet"].pop("runOrder")) == [
        UNAPPROVED
    ]


def test_a_confirm_alongside_the_change_set_does_not_count(prod_resources):
    def edit(actions, stage):
        actions["ConfirmChangeSet"]["runOrder"] = actions["CreateChangeSet"]["runOrder"]

    assert _production_actions(prod_resources, edit) == [UNAPPROVED]


def test_every_execute_of_a_stage_is_checked(prod_resources):
    def edit(actions, stage):
        orphan = copy.deepcopy(actions["ExecuteChangeSet"]) | {"name": "ExecuteOrphan"}
        orphan["configuration"] = orphan["configuration"] | {"ChangeSetName": "nobody-creates-this"}
        unapproved = copy.deepcopy(actions["ExecuteChangeSet"]) | {"name": "ExecuteEarly", "runOrder": 2}
        stage["actions"] = [orphan, *stage["actions"], unapproved]

    assert _production_actions(prod_resources, edit) == [
        "stage 'production': ExecuteOrphan executes a change set that no action creates",
        UNAPPROVED,
    ]


def test_a_store_of_unknown_location_hides_no_other(prod_resources):
    def change(typ, props):
        if typ == "aws:codepipeline/pipeline:Pipeline":
            props["artifactStores"] = [
                {"location": "", "type": "S3"},
                *props["artifactStores"],
                {"location": "unencrypted-bucket", "type": "S3"},
            ]

    assert check_stack("encrypted-artifact-store", prod_resources, change) == [
        "artifact store 'unencrypted-bucket' has no default encryption "
        "(declare a BucketServerSideEncryptionConfiguration or an encryption key)"
    ]


def test_boundary_violations_name_unnamed_statements_and_the_attachment(prod_resources):
    def edit(statements):
        statements[1].pop("Sid")
        statements[1].pop("Condition")

    assert (
        check_stack("permission-boundaries-stay-ceilings", prod_resources, _edit_boundaries(edit))
        == [f"permissions boundary statement '?' admits IAM actions: {ADMITS}"] * 2
    )
    boundary = next(
        r for r in prod_resources if r.type == "aws:iam/policy:Policy" and _is_boundary(r.inputs)
    ).state["arn"]

    def attach(typ, props):
        if typ == "aws:iam/rolePolicyAttachment:RolePolicyAttachment" and props["role"].startswith("deploy-"):
            props["policyArn"] = boundary

    found = check_stack_with_urns("permission-boundaries-stay-ceilings", prod_resources, attach)
    attachments = sorted(
        r.urn
        for r in prod_resources
        if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
        and r.inputs["role"].startswith("deploy-")
    )
    assert sorted(urn for _, urn in found) == attachments


# -- change-sets-recreated-where-stages-run-again -----------------------------------------
RECREATE = "change-sets-recreated-where-stages-run-again"


@pytest.fixture(scope="module")
def four_resources():
    return run_stack("four-environments").mocks.resources


def test_rollback_and_retry_stages_compliant(prod_resources, four_resources):
    assert check_resources(RECREATE, prod_resources) == []
    assert check_resources(RECREATE, four_resources) == []


def _release(name, edit):
    def change(typ, props):
        if typ == "aws:codepipeline/pipeline:Pipeline":
            edit(next(s for s in props["stages"] if s["name"] == name))

    return change


def test_a_rollback_stage_that_only_executes_is_a_violation(prod_resources):
    def drop_create(stage):
        stage["actions"] = [a for a in stage["actions"] if a["name"] != "CreateChangeSet"]

    assert check_resources(RECREATE, prod_resources, _release("production", drop_create)) == [
        "stage 'production' runs again (ROLLBACK), but ExecuteChangeSet would execute change set "
        "'todobackend-prod-pipeline' again without creating it first in the same run: an executed change set "
        "is consumed"
    ]


def test_alarm_rollback_and_failed_action_retry_are_checked_too(four_resources):
    def alarms_only(stage):
        stage.pop("onFailure")
        stage["actions"] = [a for a in stage["actions"] if a["name"] != "CreateChangeSet"]

    (violation,) = check_resources(RECREATE, four_resources, _release("production", alarms_only))
    assert violation.startswith("stage 'production' runs again (ROLLBACK)")

    def retry_failed_only(stage):
        stage["onFailure"]["retryConfiguration"]["retryMode"] = "FAILED_ACTIONS"

    (violation,) = check_resources(RECREATE, four_resources, _release("qa", retry_failed_only))
    assert violation.startswith("stage 'qa' runs again (RETRY FAILED_ACTIONS)")


@pytest.mark.parametrize(
    "stack",
    with_user_stacks("dev", "prod", "four-environments", "cross-account", "two-in-one-account", "regions"),
)
def test_every_stack_complies_with_every_rule(stack):
    resources = any_stack(stack).mocks.resources
    for policy in POLICIES:
        if isinstance(policy, ResourceValidationPolicy):
            assert check_resources(policy.name, resources) == [], (stack, policy.name)
        else:
            assert check_stack(policy.name, resources) == [], (stack, policy.name)


def test_a_change_set_created_only_after_its_execute_does_not_count(prod_resources):
    def create_last(stage):
        for action in stage["actions"]:
            if action["name"] == "CreateChangeSet":
                action["runOrder"] = 9  # after ExecuteChangeSet (4)

    (violation,) = check_resources(RECREATE, prod_resources, _release("production", create_last))
    assert violation.startswith(
        "stage 'production' runs again (ROLLBACK), but ExecuteChangeSet would execute"
    )
