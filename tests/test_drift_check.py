"""The drift-check gate (components/units/drift_check.py): its config, its place beside the plan,
its project and role (proved both ways in principalmapper's simulator), and build-image/check-drift
run here through its buildspec against a stub `aws` that answers as CloudFormation's drift API
documents (DetectStackDrift, DescribeStackDriftDetectionStatus, DescribeStackResourceDrifts)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.config import ConfigError, load_config
from components.iam_policies import Request
from components.units.drift_check import drift_buildspec
from tests.conftest import (
    MINIMAL_RAW,
    action_of,
    actions_of,
    config_with,
    only,
    run_config,
    run_stack,
    shared_scope,
)
from tests.support.aws_stubs import DRIFT_AWS
from tests.support.buildspec import run_buildspec, stub_environment
from tests.support.permissions import declared_roles

ROOT = Path(__file__).resolve().parent.parent
APPROVERS = ["arn:aws:iam::123456789012:role/release-managers"]


def gated(**drift: str) -> dict:
    return {"name": "production", "stackName": "shop-prod", "approval": True, "approvers": APPROVERS, **drift}


NOTIFIED = {"emails": ["releases@example.com"]}


def problems_for(environments: list[dict]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config({**MINIMAL_RAW, "environments": environments, "notifications": NOTIFIED})
    return caught.value.problems


# -- config --------------------------------------------------------------------------------------
def test_drift_check_takes_warn_or_block_and_nothing_else():
    (problem,) = problems_for([gated(driftCheck="sometimes")])
    assert problem.startswith("ecs-delivery:environments[0].driftCheck: 'sometimes' is not allowed")
    assert "warn, block" in problem


def test_drift_check_needs_a_gated_environment():
    (problem,) = problems_for([{"name": "dev", "stackName": "shop-dev", "driftCheck": "warn"}])
    assert problem.startswith("ecs-delivery:environments[0].driftCheck: only a gated environment")


def test_drift_check_is_refused_in_another_account_for_now():
    environment = {**gated(driftCheck="block"), "account": "222222222222"}
    raw = {
        **MINIMAL_RAW,
        "notifications": NOTIFIED,
        "environments": [environment],
        "targetAccounts": {
            "222222222222": {"roleArn": "arn:aws:iam::222222222222:role/ecs-delivery-deployer"}
        },
    }
    with pytest.raises(ConfigError) as caught:
        load_config(raw)
    assert [p for p in caught.value.problems if "driftCheck" in p] == [
        "ecs-delivery:environments[0].driftCheck: not yet for an environment in another account "
        "(account); remove driftCheck (docs/drift.md)"
    ]


# -- the pipeline --------------------------------------------------------------------------------
@pytest.fixture(scope=shared_scope)
def four():
    return run_stack("four-environments").mocks


def test_the_check_runs_beside_the_plan_change_set_and_the_review_shows_its_summary(four):
    assert [(a["name"], a["runOrder"]) for a in actions_of(four, "production-plan")] == [
        ("RecoverStack", 1),
        ("CreateChangeSet", 2),
        ("CheckDrift", 2),
        ("ReviewChangeSet", 3),
    ]
    check = action_of(four, "production-plan", "CheckDrift")
    assert check["namespace"] == "Drift-production"
    assert check["configuration"]["ProjectName"] == "todobackend-four-environments-drift-production"
    review = action_of(four, "production-plan", "ReviewChangeSet")
    variables = json.loads(review["configuration"]["EnvironmentVariables"])
    assert {"name": "REVIEW_CHECK_DRIFT", "value": "#{Drift-production.DRIFT_SUMMARY}"} in variables
    # Environments that did not ask for it have none.
    assert "CheckDrift" not in [a["name"] for a in actions_of(four, "dev")]


def test_the_projects_mode_is_the_environments(four):
    modes = {}
    for name in ("qa", "production"):
        project = only(four, "aws:codebuild/project:Project", f"drift-{name}-project")
        variables = {v["name"]: v["value"] for v in project.inputs["environment"]["environmentVariables"]}
        modes[name] = (variables["STACK_NAME"], variables["DRIFT_MODE"])
        assert project.inputs["environment"]["computeType"] == "BUILD_LAMBDA_2GB"
    assert modes == {"qa": ("todobackend-qa", "warn"), "production": ("todobackend-prod", "block")}


def test_the_pipeline_role_may_start_the_check(four):
    check = only(four, "aws:codebuild/project:Project", "drift-qa-project").state["arn"]
    assert check == "arn:aws:codebuild:us-east-1:123456789012:project/todobackend-four-environments-drift-qa"
    pipeline_role = declared_roles(four)["delivery-role"]
    assert pipeline_role.allows(Request("codebuild:StartBuild", check))
    assert pipeline_role.allows(Request("codebuild:BatchGetBuilds", check))


# -- the role, both ways ---------------------------------------------------------------------------
STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/todobackend-prod/0a1b2c3d"
OTHER_STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/todobackend-qa/0a1b2c3d"


def test_the_role_may_detect_drift_on_its_stack_and_read_what_the_stack_holds(four):
    role = declared_roles(four)["drift-production-role"]
    needed = [
        Request("cloudformation:DescribeStacks", STACK),
        Request("cloudformation:DetectStackDrift", STACK),
        Request("cloudformation:DetectStackResourceDrift", STACK),
        Request("cloudformation:DescribeStackDriftDetectionStatus", "*"),
        Request("cloudformation:DescribeStackResourceDrifts", STACK),
        # What drift detection reads of the example template's resources (their read handlers,
        # AWS::ECS::Service and AWS::IAM::Role in cfn-lint's registry schemas).
        Request("ecs:DescribeServices", "arn:aws:ecs:us-east-1:123456789012:service/todobackend/app"),
        Request("iam:GetRole", "arn:aws:iam::123456789012:role/todobackend-prod/task-role"),
        Request("iam:ListRolePolicies", "arn:aws:iam::123456789012:role/todobackend-prod/task-role"),
    ]
    assert role.denied(needed) == []


def test_the_role_writes_nothing_and_detects_no_other_stack(four):
    role = declared_roles(four)["drift-production-role"]
    refused = [
        Request("cloudformation:DetectStackDrift", OTHER_STACK),
        Request("cloudformation:DetectStackResourceDrift", OTHER_STACK),
        Request("cloudformation:UpdateStack", STACK),
        Request("cloudformation:ExecuteChangeSet", STACK),
        Request("cloudformation:DeleteStack", STACK),
        Request("s3:PutObject", "arn:aws:s3:::artifacts-bucket/pipeline/ApplicationVersion/x"),
        Request("ecr:PutImage", "arn:aws:ecr:us-east-1:123456789012:repository/todobackend"),
        Request("iam:PassRole", "arn:aws:iam::123456789012:role/todobackend-prod/task-role"),
        Request("iam:PutRolePolicy", "arn:aws:iam::123456789012:role/todobackend-prod/task-role"),
        Request("ecs:UpdateService", "arn:aws:ecs:us-east-1:123456789012:service/todobackend/app"),
        Request("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/todobackend-releases"),
        Request("codepipeline:PutApprovalResult", "arn:aws:codepipeline:us-east-1:123456789012:x/y/z"),
        Request("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"),
    ]
    assert [r for r in refused if role.allows(r)] == []


# -- check-drift, run ----------------------------------------------------------------------------
def check(tmp_path: Path, status: str, mode: str = "warn", pages: list[dict] | None = None, **variables: str):
    bin_dir, work, page_dir = tmp_path / "bin", tmp_path / "work", tmp_path / "pages"
    for folder in (bin_dir, work, page_dir):
        folder.mkdir(parents=True, exist_ok=True)
    (bin_dir / "aws").write_text(DRIFT_AWS)
    (bin_dir / "aws").chmod(0o755)
    shutil.copy(ROOT / "build-image" / "check-drift", bin_dir / "check-drift")
    for index, page in enumerate(pages or []):
        (page_dir / ("page-1.json" if index == 0 else f"token-{index}.json")).write_text(json.dumps(page))
    log = tmp_path / "aws.log"
    environment = {
        "STACK_NAME": "shop-prod",
        "DRIFT_MODE": mode,
        "DRIFT_WAIT_SECONDS": "60",
        "DRIFT_POLL_SECONDS": "0",
        "STUB_STATUS": status,
        "STUB_LOG": str(log),
        "STUB_DRIFT_PAGES": str(page_dir),
        **variables,
    }
    result = run_buildspec(
        drift_buildspec(),
        source_dir=work,
        environment=stub_environment(bin_dir, environment),
        state_dir=tmp_path / "runner",
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


SERVICE_DRIFT = {
    "StackId": STACK,
    "LogicalResourceId": "Service",
    "PhysicalResourceId": "arn:aws:ecs:us-east-1:123456789012:service/todobackend/app",
    "ResourceType": "AWS::ECS::Service",
    "StackResourceDriftStatus": "MODIFIED",
    "PropertyDifferences": [
        {
            "PropertyPath": "/DesiredCount",
            "ExpectedValue": "2",
            "ActualValue": "5",
            "DifferenceType": "NOT_EQUAL",
        }
    ],
}
ROLE_DRIFT = {
    "StackId": STACK,
    "LogicalResourceId": "TaskRole",
    "ResourceType": "AWS::IAM::Role",
    "StackResourceDriftStatus": "DELETED",
}


def test_a_stack_in_sync_passes_with_its_status(tmp_path):
    result, calls = check(tmp_path, "UPDATE_COMPLETE", mode="block")
    assert result.succeeded, result.output
    assert [c[:2] for c in calls] == [
        ["cloudformation", "describe-stacks"],
        ["cloudformation", "detect-stack-drift"],
        ["cloudformation", "describe-stack-drift-detection-status"],
        ["cloudformation", "describe-stack-resource-drifts"],
        ["cloudformation", "describe-stack-resource-drifts"],
    ]
    # Each call bounded, so that one that hangs cannot outlast the wait.
    assert all("--cli-read-timeout" in call for call in calls)
    assert result.exported == {
        "DRIFT_STATUS": "IN_SYNC",
        "DRIFTED_COUNT": "0",
        "DRIFT_SUMMARY": "in sync: no resource drifted",
    }


def test_drift_is_listed_with_its_properties_and_warn_lets_the_plan_go_on(tmp_path):
    result, _ = check(
        tmp_path, "UPDATE_COMPLETE", pages=[{"StackResourceDrifts": [SERVICE_DRIFT, ROLE_DRIFT]}]
    )
    assert result.succeeded, result.output
    assert result.exported == {
        "DRIFT_STATUS": "DRIFTED",
        "DRIFTED_COUNT": "2",
        "DRIFT_SUMMARY": "2 drifted: Service MODIFIED (/DesiredCount); TaskRole DELETED",
    }
    assert "    /DesiredCount: NOT_EQUAL" in result.output
    # Which properties, never their values (a secret's value can be one).
    assert "'5'" not in result.output
    assert "WARNING (driftCheck: warn)" in result.output


def test_block_stops_the_plan_on_drift(tmp_path):
    result, _ = check(
        tmp_path, "UPDATE_COMPLETE", mode="block", pages=[{"StackResourceDrifts": [ROLE_DRIFT]}]
    )
    assert not result.succeeded
    assert "driftCheck is block: shop-prod is DRIFTED, so this stage stops here" in result.output


def test_every_page_of_drifts_is_read_and_detection_is_awaited(tmp_path):
    pages = [
        {"StackResourceDrifts": [SERVICE_DRIFT], "NextToken": "token-1"},
        {"StackResourceDrifts": [ROLE_DRIFT]},
    ]
    result, calls = check(
        tmp_path,
        "UPDATE_COMPLETE",
        pages=pages,
        STUB_DETECTION="DETECTION_IN_PROGRESS,DETECTION_IN_PROGRESS,DETECTION_COMPLETE",
    )
    assert result.succeeded, result.output
    assert [c[1] for c in calls].count("describe-stack-drift-detection-status") == 3
    drift_pages = [c for c in calls if c[1] == "describe-stack-resource-drifts" and "MODIFIED" in c]
    assert [c[c.index("--next-token") + 1] if "--next-token" in c else None for c in drift_pages] == [
        None,
        "token-1",
    ]
    assert result.exported["DRIFTED_COUNT"] == "2"


@pytest.mark.parametrize(
    ("status", "summary"),
    [
        ("missing", "no stack yet: nothing deployed can have drifted"),
        (
            "REVIEW_IN_PROGRESS",
            "the stack holds only a change set (REVIEW_IN_PROGRESS): nothing can have drifted",
        ),
    ],
)
def test_a_stack_with_nothing_deployed_has_nothing_to_check(tmp_path, status, summary):
    result, calls = check(tmp_path, status, mode="block")
    assert result.succeeded, result.output
    assert [c[1] for c in calls] == ["describe-stacks"]
    assert result.exported == {"DRIFT_STATUS": "NO_STACK", "DRIFTED_COUNT": "0", "DRIFT_SUMMARY": summary}


@pytest.mark.parametrize(
    ("status", "variables", "reason"),
    [
        ("denied", {}, "not authorized to perform: cloudformation:DescribeStacks"),
        # Another detection keeps running (AWS runs one per stack at a time).
        ("UPDATE_COMPLETE", {"STUB_DETECT_BUSY": "3"}, "Drift detection is already in progress for stack"),
        ("UPDATE_IN_PROGRESS", {}, "the stack is UPDATE_IN_PROGRESS: another operation is running on it"),
        (
            "UPDATE_COMPLETE",
            {
                "STUB_DETECTION": "DETECTION_FAILED",
                "STUB_DETECTION_REASON": "Failed to detect drift on Bucket",
            },
            "incomplete: Failed to detect drift on Bucket",
        ),
        (
            "UPDATE_COMPLETE",
            {"STUB_DETECTION": "DETECTION_IN_PROGRESS", "DRIFT_WAIT_SECONDS": "0"},
            "did not finish within 0 s",
        ),
    ],
)
def test_a_stack_that_cannot_be_checked_is_unchecked_warned_or_blocked(tmp_path, status, variables, reason):
    warned, _ = check(tmp_path / "warn", status, mode="warn", **variables)
    assert warned.succeeded, warned.output
    assert warned.exported["DRIFT_STATUS"] == "UNCHECKED"
    assert reason in warned.exported["DRIFT_SUMMARY"]
    blocked, _ = check(tmp_path / "block", status, mode="block", **variables)
    assert not blocked.succeeded
    assert "is UNCHECKED, so this stage stops here" in blocked.output


def test_a_long_summary_is_cut_to_what_an_approval_can_show(tmp_path):
    drifts = [{**ROLE_DRIFT, "LogicalResourceId": f"Resource{n:03d}"} for n in range(40)]
    result, _ = check(tmp_path, "UPDATE_COMPLETE", pages=[{"StackResourceDrifts": drifts}])
    summary = result.exported["DRIFT_SUMMARY"]
    assert len(summary) == 200
    assert summary.startswith("40 drifted: Resource000 DELETED; ")
    assert summary.endswith("…")


# -- the review shows it -------------------------------------------------------------------------
def render(out_dir: Path, *arguments: str, environment: str = "production") -> str:
    """The review's renderer on the release fixture, as review-change-set runs it: its summary line."""
    return subprocess.run(  # noqa: S603 (the project's own renderer)
        [
            sys.executable,
            str(ROOT / "build-image" / "changeset_report.py"),
            "--environment",
            environment,
            "--out-dir",
            str(out_dir),
            *arguments,
            str(ROOT / "tests" / "fixtures" / "changesets" / "release.json"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_the_review_shows_each_check_in_its_report_and_summary(tmp_path):
    summary = render(tmp_path, "--check", "drift=1 drifted: Service MODIFIED (/DesiredCount)")
    # After the counts; when the line is too long the names of what is replaced give way first.
    assert summary.endswith("; drift: 1 drifted: Service MODIFIED (/DesiredCount)")
    report = (tmp_path / "report.md").read_text()
    assert "## Checks beside the plan\n\n- drift: 1 drifted: Service MODIFIED (/DesiredCount)\n" in report


def test_a_config_without_the_check_declares_nothing_of_it():
    mocks = run_config(config_with(environments=[gated()]), stack="shop").mocks
    assert not [r for r in mocks.resources if "drift" in r.name]


def test_another_detection_running_is_waited_for(tmp_path):
    result, calls = check(tmp_path, "UPDATE_COMPLETE", mode="block", STUB_DETECT_BUSY="1")
    assert result.succeeded, result.output
    assert [c[1] for c in calls].count("detect-stack-drift") == 2
    assert result.exported["DRIFT_STATUS"] == "IN_SYNC"


def test_resources_not_checked_are_counted_and_do_not_block(tmp_path):
    result, _ = check(tmp_path, "UPDATE_ROLLBACK_COMPLETE", mode="block", STUB_NOT_CHECKED="2")
    assert result.succeeded, result.output
    assert result.exported["DRIFT_SUMMARY"] == "in sync: no resource drifted (2 not checked)"


def test_the_stacks_drift_status_wins_over_an_empty_listing(tmp_path):
    result, _ = check(tmp_path, "UPDATE_COMPLETE", mode="block", STUB_STACK_DRIFT_STATUS="DRIFTED")
    assert not result.succeeded
    assert result.exported["DRIFT_STATUS"] == ""  # not exported: the stage failed first
    assert "shop-prod: DRIFTED: drifted: CloudFormation lists no drifted resource" in result.output


def test_the_summary_holds_only_plain_characters_whatever_a_property_path_holds(tmp_path):
    hostile = {
        **SERVICE_DRIFT,
        "PropertyDifferences": [
            {
                "PropertyPath": '/EventPattern/a"},{"name":"REVIEW_CHECK_X","value":"#{Plan-x.Y}[ok](https:evil)`<b>'
            }
        ],
    }
    result, _ = check(tmp_path, "UPDATE_COMPLETE", pages=[{"StackResourceDrifts": [hostile]}])
    summary = result.exported["DRIFT_SUMMARY"]
    assert summary == (
        "1 drifted: Service MODIFIED "
        "(/EventPattern/a??,??name?:?REVIEW_CHECK_X?,?value?:???Plan-x.Y??ok?(https:evil)??b?)"
    )
    assert not set(summary) & set('"{}[]`<>#$\\')


def test_an_unchecked_summary_is_cut_like_any_other(tmp_path):
    result, _ = check(
        tmp_path, "UPDATE_COMPLETE", STUB_DETECTION="DETECTION_FAILED", STUB_DETECTION_REASON="x" * 900
    )
    assert len(result.exported["DRIFT_SUMMARY"]) == 200


def test_the_checkout_cannot_stand_in_for_the_results(tmp_path):
    # The application's checkout is the build's working folder: what it holds is not read.
    work = tmp_path / "work"
    (work / "drift").mkdir(parents=True)
    (work / "drift" / "exports.sh").symlink_to("/dev/null")
    (work / "exports.sh").write_text("export DRIFT_STATUS=IN_SYNC\n")
    result, _ = check(tmp_path, "UPDATE_COMPLETE", pages=[{"StackResourceDrifts": [ROLE_DRIFT]}])
    assert result.exported["DRIFT_STATUS"] == "DRIFTED"


def test_block_checks_again_in_the_release_stage_before_anything_is_executed(four):
    assert [(a["name"], a["runOrder"]) for a in actions_of(four, "production")] == [
        ("CreateChangeSet", 1),
        ("ConfirmChangeSet", 2),
        ("CheckDrift", 2),
        ("ExecuteChangeSet", 3),
        ("RecordRelease", 4),
        ("Verify", 4),
    ]
    again = action_of(four, "production", "CheckDrift")
    assert again["configuration"]["ProjectName"] == "todobackend-four-environments-drift-production"
    assert "namespace" not in again
    # warn shows drift at plan time only.
    assert "CheckDrift" not in [a["name"] for a in actions_of(four, "qa")]


def test_the_role_is_allowed_every_read_handler_of_the_example_templates_resource_types(four):
    from tests.support.deploy_requests import handler_permissions, load_template

    template = load_template((ROOT / "examples" / "infra-repo" / "stack.yml").read_text())
    types = sorted({r["Type"] for r in template["Resources"].values() if r["Type"].startswith("AWS::")})
    role = declared_roles(four)["drift-production-role"]
    # Reading the stack's secrets and its functions' encrypted variables, as IAM sets the context
    # for them: the secret carries CloudFormation's stack tag, the decrypt comes through Lambda.
    context = {
        "secretsmanager:GetSecretValue": {
            "secretsmanager:ResourceTag/aws:cloudformation:stack-name": "todobackend-prod"
        },
        "kms:Decrypt": {"kms:ViaService": "lambda.us-east-1.amazonaws.com"},
    }
    resource = {
        "secretsmanager:GetSecretValue": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
        "kms:Decrypt": "arn:aws:kms:us-east-1:123456789012:key/0000abcd-12ab-34cd-56ef-1234567890ab",
    }
    needed = [
        Request(action, resource.get(action, "*"), context.get(action, {}), why=f"{type_name} read handler")
        for type_name in types
        for action in handler_permissions(type_name, ["read"])
    ]
    assert len(needed) > 20
    assert role.denied(needed) == []


def test_the_role_reads_no_data_and_detects_no_stack_set_drift(four):
    role = declared_roles(four)["drift-production-role"]
    refused = [
        Request("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/todobackend-releases"),
        Request("dynamodb:Scan", "arn:aws:dynamodb:us-east-1:123456789012:table/todobackend-releases"),
        Request("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:orders"),
        Request(
            "logs:GetLogEvents", "arn:aws:logs:us-east-1:123456789012:log-group:/aws/codebuild/x:log-stream:y"
        ),
        Request("codebuild:BatchGetBuilds", "arn:aws:codebuild:us-east-1:123456789012:project/x"),
        Request(
            "cloudformation:DetectStackSetDrift", "arn:aws:cloudformation:us-east-1:123456789012:stackset/x:1"
        ),
        # Another stack's secret; a key not through Lambda (the artifact key is the one the check's
        # input needs: ArtifactKey).
        Request(
            "secretsmanager:GetSecretValue",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:db",
            {"secretsmanager:ResourceTag/aws:cloudformation:stack-name": "todobackend-qa"},
        ),
        Request(
            "kms:Decrypt",
            "arn:aws:kms:us-east-1:123456789012:key/0000abcd-12ab-34cd-56ef-1234567890ab",
            {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
        ),
    ]
    assert [r for r in refused if role.allows(r)] == []


def test_what_a_check_says_is_shown_as_plain_text_and_never_as_markup(tmp_path):
    render(
        tmp_path, "--check", 'drift=[open the reviewed change set](javascript:alert(1)) `x` **passed** <b>"'
    )
    page = (tmp_path / "report.html").read_text()
    assert "javascript:alert(1)" in page  # shown, as text
    assert 'href="javascript' not in page
    assert "<strong>passed" not in page and "<b>" not in page and "<code>x" not in page
    assert "?open the reviewed change set?(javascript:alert(1)) ?x? ??passed?? ?b??" in page


def test_in_codebuild_the_review_runs_the_images_own_renderer_and_gate(tmp_path):
    """A variable that reaches the build (a pipeline variable resolved into the action's
    configuration) cannot choose what reviews a release: with CODEBUILD_BUILD_ID set, the
    review ignores CHANGESET_RENDERER, RELEASE_GATE and PYTHON."""
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    for script, mode in (("review-change-set", "confirm"), ("record-release", "")):
        run = subprocess.run(  # noqa: S603 (the project's own scripts)
            ["bash", str(ROOT / "build-image" / script)],
            cwd=tmp_path,
            env={
                "PATH": "/usr/bin:/bin",
                "CODEBUILD_BUILD_ID": "shop-review:0a1b",
                "REVIEW_MODE": mode or "review",
                "CHANGESET_RENDERER": str(evil),
                "RELEASE_GATE": str(evil),
                "PYTHON": sys.executable,
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert not marker.exists(), (script, run.stdout, run.stderr)
        assert "/opt/ecs-delivery/release_gate.py" in run.stderr, run.stderr


def test_a_short_share_of_the_approval_keeps_the_counts_and_the_check(tmp_path):
    """A wave's member has a share of one approval's text: the names give way first, then what
    the check says is shortened, and the counts stay."""
    out = render(
        tmp_path,
        "--summary-limit",
        "106",
        "--check",
        "drift=3 drifted: ApplicationTaskDefinition MODIFIED (ContainerDefinitions.0.Environment)",
        environment="production-eu-central",
    )
    assert (
        out
        == "production-eu-central: 3 changes — 1 replacement, 0 removals; image tag (none) → 8c1d2aa; drift: 3 drifte…"
    )
    assert len(out) == 106
