"""Production safety gates: deployment windows, verify, alarms with bake time, rollback and
retry, and the skipped approval when a change set changes nothing.

Expected shapes are written out literally from AWS's CodePipeline rule reference
(DeploymentWindow: Cron, TimeZone; CloudWatchAlarm: AlarmName, WaitTime in minutes;
VariableCheck: Variable, Operator EQ|NE|CONTAINS|MATCHES, Value; every rule of category
Rule, owner AWS, version 1) and its stage-conditions page (entry results FAIL|SKIP, SKIP
only with VariableCheck/LambdaInvoke; success results ROLLBACK; failure ROLLBACK|RETRY
with retryMode FAILED_ACTIONS|ALL_ACTIONS).
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from components.blueprint import BlueprintError, delivery_blueprint, validate_blueprint, worst_case_refs
from components.config import ConfigError, load_config
from tests.conftest import (
    MINIMAL_RAW,
    action_of,
    actions_of,
    only,
    pipeline_inputs,
    run_stack,
    shared_scope,
    stage_names,
)
from tests.support.buildspec import run_buildspec


def rule(provider: str, name: str, configuration: dict[str, str]) -> dict:
    return {
        "name": name,
        "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": provider, "version": "1"},
        "configuration": configuration,
    }


@pytest.fixture(scope=shared_scope)
def four():
    return run_stack("four-environments").mocks


def stage(mocks, name: str) -> dict:
    (found,) = [s for s in pipeline_inputs(mocks)["stages"] if s["name"] == name]
    return found


# -- the realised conditions, per option ---------------------------------------------------
def test_a_gated_environment_plans_then_asks_then_releases_only_when_something_changes(four):
    assert stage_names(four) == [
        "Source", "Build", "dev",
        "staging",
        "qa-plan", "qa-approval", "qa",
        "production-plan", "production-approval", "production",
    ]  # fmt: skip
    plan = stage(four, "production-plan")
    # production has driftCheck: its check runs beside the plan's change set.
    assert [(a["name"], a["runOrder"]) for a in plan["actions"]] == [
        ("RecoverStack", 1), ("CreateChangeSet", 2), ("CheckDrift", 2), ("ReviewChangeSet", 3),
    ]  # fmt: skip
    assert action_of(four, "production-plan", "ReviewChangeSet")["namespace"] == "Plan-production"
    skip_when_nothing_changes = {
        "condition": {
            "result": "SKIP",
            "rules": [
                rule(
                    "VariableCheck",
                    "ChangesToRelease",
                    {"Variable": "#{Plan-production.CHANGE_COUNT}", "Operator": "NE", "Value": "0"},
                )
            ],
        }
    }
    # The approval is a stage of its own with no onFailure: a rejection ends the run, and
    # nothing rolls it back or asks again.
    approval = stage(four, "production-approval")
    assert approval["beforeEntry"] == skip_when_nothing_changes
    assert [a["name"] for a in approval["actions"]] == ["Approve"]
    assert set(approval) == {"name", "actions", "beforeEntry"}
    # Everything a rollback or retry runs again is in the release stage, and no approval: a
    # fresh change set, its confirmation against the reviewed one (or the recorded release a
    # rollback returns to), the execute, its record and the smoke test side by side.
    release = stage(four, "production")
    assert release["beforeEntry"] == skip_when_nothing_changes
    # driftCheck: block checks again beside the confirmation, before the execute.
    assert [(a["name"], a["runOrder"]) for a in release["actions"]] == [
        ("CreateChangeSet", 1),
        ("ConfirmChangeSet", 2),
        ("CheckDrift", 2),
        ("ExecuteChangeSet", 3),
        ("RecordRelease", 4),
        ("Verify", 4),
    ]
    create_in_plan = action_of(four, "production-plan", "CreateChangeSet")["configuration"]
    create_in_release = action_of(four, "production", "CreateChangeSet")["configuration"]
    assert create_in_release == {**create_in_plan, "ChangeSetName": "todobackend-prod-pipeline"}
    assert action_of(four, "production", "ExecuteChangeSet")["configuration"]["ChangeSetName"] == (
        "todobackend-prod-pipeline"
    )


def test_the_review_exports_the_count_the_release_checks():
    from components.change_set_review import EXPORTED_VARIABLES

    assert {"CHANGE_COUNT", "FINGERPRINT", "PLAN_EXECUTION_ID"} <= set(EXPORTED_VARIABLES)


def test_a_deployment_window_gates_the_first_stage_of_an_environment(four):
    window = {
        "condition": {
            "result": "FAIL",
            "rules": [
                rule(
                    "DeploymentWindow",
                    "DeploymentWindow",
                    {"Cron": "* * 9-16 ? * MON-THU *", "TimeZone": "Europe/London"},
                )
            ],
        }
    }
    assert stage(four, "production-plan")["beforeEntry"] == window
    assert stage(four, "qa-plan")["beforeEntry"]["condition"]["rules"][0]["configuration"] == {
        "Cron": "* * 8-18 ? * MON-FRI",
        "TimeZone": "America/New_York",
    }
    # Environments without a window have no entry condition of their own.
    assert "beforeEntry" not in stage(four, "dev")
    assert "beforeEntry" not in stage(four, "staging")


def test_alarms_watch_each_release_for_the_bake_time_and_roll_back(four):
    assert stage(four, "staging")["onSuccess"] == {
        "condition": {
            "result": "ROLLBACK",
            "rules": [
                rule("CloudWatchAlarm", "Alarm1", {"AlarmName": "todobackend-staging-5xx", "WaitTime": "20"}),
                rule(
                    "CloudWatchAlarm",
                    "Alarm2",
                    {"AlarmName": "todobackend-staging-latency", "WaitTime": "20"},
                ),
            ],
        }
    }
    assert stage(four, "production")["onSuccess"]["condition"]["rules"] == [
        rule("CloudWatchAlarm", "Alarm1", {"AlarmName": "todobackend-prod-5xx", "WaitTime": "30"})
    ]
    assert "onSuccess" not in stage(four, "dev")


def test_on_failure_rolls_back_or_retries_as_configured(four):
    assert stage(four, "dev")["onFailure"] == {
        "result": "RETRY",
        "retryConfiguration": {"retryMode": "FAILED_ACTIONS"},
    }
    assert stage(four, "qa")["onFailure"] == {
        "result": "RETRY",
        "retryConfiguration": {"retryMode": "ALL_ACTIONS"},
    }
    assert stage(four, "staging")["onFailure"] == {"result": "ROLLBACK"}
    assert stage(four, "production")["onFailure"] == {"result": "ROLLBACK"}
    # A plan stage has nothing to undo (it changes no stack but one that never held a
    # release), an approval stage nothing to retry.
    assert "onFailure" not in stage(four, "qa-plan")
    assert "onFailure" not in stage(four, "qa-approval")


def test_verify_runs_after_the_deploy_with_the_stack_outputs(four):
    deploy = action_of(four, "dev", "Deploy")
    verify = action_of(four, "dev", "Verify")
    assert deploy["namespace"] == "Stack-dev"
    assert (verify["category"], verify["owner"], verify["provider"], verify["runOrder"]) == (
        "Test",
        "AWS",
        "CodeBuild",
        2,
    )
    assert verify["inputArtifacts"] == ["ApplicationSource"]
    assert json.loads(verify["configuration"]["EnvironmentVariables"]) == [
        {"name": "ApplicationUrl", "value": "#{Stack-dev.ApplicationUrl}", "type": "PLAINTEXT"},
        {"name": "TaskDefinition", "value": "#{Stack-dev.TaskDefinition}", "type": "PLAINTEXT"},
    ]
    project = only(four, "aws:codebuild/project:Project", "verify-dev-project")
    assert (
        verify["configuration"]["ProjectName"]
        == project.state["name"]
        == "todobackend-four-environments-verify-dev"
    )
    assert project.inputs["environment"]["privilegedMode"] is False
    # 10 minutes fit Lambda compute: no project timeout there, verify-environment bounds the
    # command with VERIFY_TIMEOUT_MINUTES (below).
    assert project.inputs["environment"]["type"] == "ARM_LAMBDA_CONTAINER"  # the fixture builds for arm64
    assert "buildTimeout" not in project.inputs
    assert json.loads(project.inputs["source"]["buildspec"])["phases"]["build"]["commands"] == [
        "verify-environment"
    ]
    variables = {v["name"]: v["value"] for v in project.inputs["environment"]["environmentVariables"]}
    assert variables == {
        "ENVIRONMENT": "dev",
        "VERIFY_COMMAND": "make smoke SMOKE_PATH=/health",
        "STACK_OUTPUTS": "ApplicationUrl TaskDefinition",
        "VERIFY_TIMEOUT_MINUTES": "10",
    }
    # Gated: the smoke test reads the outputs the execute action publishes.
    assert action_of(four, "production", "ExecuteChangeSet")["namespace"] == "Stack-production"
    assert json.loads(action_of(four, "production", "Verify")["configuration"]["EnvironmentVariables"]) == [
        {"name": "ApplicationUrl", "value": "#{Stack-production.ApplicationUrl}", "type": "PLAINTEXT"}
    ]
    assert [a["name"] for a in actions_of(four, "staging")] == ["Deploy"]


def test_the_example_stack_exports_what_verify_reads():
    from cfnlint.decode import decode_str

    template, errors = decode_str(
        (Path(__file__).parent.parent / "examples/infra-repo/stack.yml").read_text()
    )
    assert not errors
    assert {"ApplicationUrl", "TaskDefinition"} <= set(template["Outputs"])


def test_the_prod_stack_uses_a_window_verify_and_rollback_and_dev_stays_simple():
    prod = run_stack("prod").mocks
    assert stage(prod, "production-plan")["beforeEntry"]["condition"]["rules"][0]["ruleTypeId"][
        "provider"
    ] == ("DeploymentWindow")
    assert stage(prod, "production")["onFailure"] == {"result": "ROLLBACK"}
    assert [a["name"] for a in actions_of(prod, "production")][-1] == "Verify"
    dev = run_stack("dev").mocks
    (sandbox,) = pipeline_inputs(dev)["stages"][2:]
    assert set(sandbox) == {"name", "actions"}
    assert [a["name"] for a in sandbox["actions"]] == ["Deploy"]


# -- what config refuses -------------------------------------------------------------------
def config_error(**environment) -> list[str]:
    raw = {**MINIMAL_RAW, "environments": [{"name": "prod", "stackName": "app-prod", **environment}]}
    with pytest.raises(ConfigError) as caught:
        load_config(raw)
    return caught.value.problems


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        (
            {"deploymentWindow": {"cron": "0 * 9-16 ? * MON-THU", "timeZone": "UTC"}},
            "ecs-delivery:environments[0].deploymentWindow.cron: '0 * 9-16 ? * MON-THU' is not allowed: "
            "its seconds field '0' takes only '*'",
        ),
        (
            {"deploymentWindow": {"cron": "* 9-16 ? * MON-THU", "timeZone": "UTC"}},
            "ecs-delivery:environments[0].deploymentWindow.cron: '* 9-16 ? * MON-THU' is not allowed: 5 fields",
        ),
        (
            {"deploymentWindow": {"cron": "* * 9-16 * * MON-THU", "timeZone": "UTC"}},
            "ecs-delivery:environments[0].deploymentWindow.cron: '* * 9-16 * * MON-THU' is not allowed: one of "
            "day-of-month and day-of-week must be '?'",
        ),
        (
            {"deploymentWindow": {"cron": "* * 9-16 ? * MON-THU", "timeZone": "Europe/Londn"}},
            "ecs-delivery:environments[0].deploymentWindow.timeZone: 'Europe/Londn' is not allowed: an IANA time "
            "zone such as 'Europe/London' or 'UTC' (did you mean 'Europe/London'?)",
        ),
        (
            {"deploymentWindow": {"cron": "* * 9-16 ? * MON-THU"}},
            "ecs-delivery:environments[0].deploymentWindow.timeZone: required",
        ),
        (
            {"alarms": ["app-5xx"]},
            "ecs-delivery:environments[0].bakeMinutes: required with alarms",
        ),
        ({"bakeMinutes": 30}, "ecs-delivery:environments[0].bakeMinutes: set without alarms"),
        ({"alarms": ["a"] * 2, "bakeMinutes": 5}, "ecs-delivery:environments[0].alarms: each alarm once"),
        (
            {"alarms": [f"a{i}" for i in range(6)], "bakeMinutes": 5},
            "ecs-delivery:environments[0].alarms: a list of 6 items is not allowed: at most 5 items",
        ),
        (
            {"alarms": ["a"], "bakeMinutes": 0},
            "ecs-delivery:environments[0].bakeMinutes: 0 is not allowed: a whole number of at least 1",
        ),
        (
            {"onFailure": {"result": "ROLLBACK", "retryMode": "ALL_ACTIONS"}},
            "ecs-delivery:environments[0].onFailure.retryMode: only with result RETRY",
        ),
        (
            {"onFailure": {"result": "FAIL"}},
            "ecs-delivery:environments[0].onFailure.result: 'FAIL' is not allowed: one of ROLLBACK, RETRY",
        ),
        (
            {
                "approval": True,
                "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
                "onFailure": {"result": "RETRY"},
            },
            "ecs-delivery:environments[0].onFailure.retryMode: a gated environment retries ALL_ACTIONS",
        ),
        (
            {
                "approval": True,
                "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
                "onFailure": {"result": "RETRY", "retryMode": "FAILED_ACTIONS"},
            },
            "ecs-delivery:environments[0].onFailure.retryMode: a gated environment retries ALL_ACTIONS",
        ),
        (
            {"verify": {"timeoutMinutes": 4}},
            "ecs-delivery:environments[0].verify.timeoutMinutes: 4 is not allowed: a whole number from 5 to 2160",
        ),
        (
            {"verify": {"stackOutputs": ["Application-Url"]}},
            "ecs-delivery:environments[0].verify.stackOutputs[0]:",
        ),
        ({"verify": {"comand": "make smoke"}}, "ecs-delivery:environments[0].verify.comand: unknown key"),
    ],
)
def test_invalid_gates_fail_in_config_naming_the_key(environment, expected):
    problems = config_error(**environment)
    assert any(p.startswith(expected) for p in problems), problems


def test_rollback_in_parallel_mode_is_refused_with_the_reason():
    raw = {
        **MINIMAL_RAW,
        "executionMode": "PARALLEL",
        "environments": [{"name": "prod", "stackName": "app-prod", "onFailure": {"result": "ROLLBACK"}}],
    }
    with pytest.raises(ConfigError) as caught:
        load_config(raw)
    assert caught.value.problems == [
        "ecs-delivery:executionMode: 'PARALLEL' is not allowed: parallel runs would deploy the same stacks and "
        "change sets at once, and AWS refuses stage rollback in PARALLEL mode (environments ['prod'] roll back "
        "through alarms or onFailure); use SUPERSEDED or QUEUED"
    ]


def test_too_many_gated_environments_for_fifty_stages_fail_in_config():
    environments = [
        {
            "name": f"e{i}",
            "stackName": f"s{i}",
            "approval": True,
            # One approver each: IAM attaches at most 10 managed policies to one principal.
            "approvers": [f"arn:aws:iam::123456789012:role/release-managers-{i}"],
        }
        for i in range(16)
    ]
    notified = {"emails": ["platform-team@example.com"]}
    load_config({**MINIMAL_RAW, "environments": environments, "notifications": notified})  # 2 + 16 * 3 = 50
    seventeen = [
        *environments,
        {
            "name": "e16",
            "stackName": "s16",
            "approval": True,
            "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
        },
    ]
    with pytest.raises(ConfigError) as caught:
        load_config({**MINIMAL_RAW, "environments": seventeen, "notifications": notified})
    assert caught.value.problems == [
        "ecs-delivery:environments: 17 environments make 53 pipeline stages (Source and Build, 1 per ungated "
        "and 3 per gated environment or wave: plan, approval and release); CodePipeline allows 50"
    ]


# -- what the blueprint check refuses (AWS's rules for conditions) ----------------------------
def four_blueprint():
    from components.config import raw_config_from_pulumi
    from offline.program import load_stack_config
    from tests.conftest import FIXTURE_STACKS

    stack = load_stack_config("four-environments", FIXTURE_STACKS)
    config = load_config(raw_config_from_pulumi(stack.values))
    return delivery_blueprint(config, worst_case_refs(config))


def test_a_deployment_window_cannot_skip_a_stage():
    blueprint = four_blueprint()
    stages = list(blueprint.stages)
    names = [s.name for s in stages]
    index = names.index("production")
    window = stages[names.index("production-plan")].before_entry
    stages[index] = dataclasses.replace(
        stages[index], before_entry=dataclasses.replace(window, result="SKIP")
    )
    with pytest.raises(BlueprintError) as caught:
        validate_blueprint(dataclasses.replace(blueprint, stages=tuple(stages)))
    assert caught.value.problems == [
        "stage 'production' (environment 'production'), before_entry: rule 'DeploymentWindow' (DeploymentWindow) "
        "cannot SKIP a stage; only ['LambdaInvoke', 'VariableCheck'] rules can"
    ]


def test_a_retry_needs_its_mode_and_a_condition_at_most_five_rules():
    blueprint = four_blueprint()
    stages = list(blueprint.stages)
    index = [s.name for s in stages].index("staging")
    staging = stages[index]
    alarms = staging.on_success
    stages[index] = dataclasses.replace(
        staging,
        on_failure=dataclasses.replace(staging.on_failure, result="RETRY"),
        on_success=dataclasses.replace(alarms, rules=alarms.rules * 3),
    )
    with pytest.raises(BlueprintError) as caught:
        validate_blueprint(dataclasses.replace(blueprint, stages=tuple(stages)))
    assert caught.value.problems == [
        "stage 'staging' (environment 'staging'), on_success: 6 rules; a condition holds 1 to 5",
        "stage 'staging' (environment 'staging'), on_success: rule names repeat "
        "(['Alarm1', 'Alarm2', 'Alarm1', 'Alarm2', 'Alarm1', 'Alarm2'])",
        "stage 'staging' (environment 'staging'), on_failure: a retry mode goes with RETRY and only with it",
    ]


# -- the smoke test itself -------------------------------------------------------------------
APP = Path(__file__).parent.parent / "examples" / "app-repo"


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(self.server.status)
        if 300 <= self.server.status < 400:
            self.send_header("Location", "/elsewhere")
        self.end_headers()
        self.server.paths.append(self.path)

    def log_message(self, *args):
        pass


@pytest.fixture
def application():
    """A loopback HTTP server standing in for the deployed application."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Answer)
    server.status = 200
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


needs_tools = pytest.mark.skipif(
    not (shutil.which("make") and shutil.which("curl")), reason="make smoke needs make and curl"
)


def smoke(tmp_path, url: str, extra: dict[str, str] | None = None):
    """The verify project's buildspec, as CodeBuild runs it, in a checkout of the example app."""
    from components.units.verify import verify_buildspec, verify_environment

    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    shutil.copy(APP / "Makefile", source / "Makefile")
    environment = {
        # verify-environment from the image's folder, as it is on the image's PATH.
        "PATH": f"{APP.parents[1] / 'build-image'}{os.pathsep}{os.environ['PATH']}",
        "SMOKE_RETRIES": "0",
        **verify_environment(
            environment="dev", command="make smoke", stack_outputs=["ApplicationUrl"], timeout_minutes=15
        ),
        **({"ApplicationUrl": url} if url else {}),
    }
    return run_buildspec(
        verify_buildspec(),
        source_dir=source,
        environment={**environment, **(extra or {})},
        state_dir=tmp_path / "runner",
    )


@needs_tools
def test_the_smoke_test_passes_on_a_2xx_answer(tmp_path, application):
    result = smoke(tmp_path, f"http://127.0.0.1:{application.server_port}")
    assert result.succeeded, result.output
    assert application.paths == ["/todos"]
    assert "-> 200" in result.output


@needs_tools
@pytest.mark.parametrize("status", [500, 404, 302])
def test_the_smoke_test_fails_on_any_other_answer(tmp_path, application, status):
    application.status = status
    result = smoke(tmp_path, f"http://127.0.0.1:{application.server_port}")
    assert not result.succeeded
    assert f"-> {status}" in result.output


@needs_tools
def test_the_smoke_test_fails_without_a_url_or_an_answer(tmp_path):
    missing = smoke(tmp_path, "")
    assert not missing.succeeded
    assert "no value for ApplicationUrl: does the stack declare these outputs?" in missing.output
    # Nothing listens on port 9 of loopback (discard): the connection is refused.
    refused = smoke(tmp_path, "http://127.0.0.1:9")
    assert not refused.succeeded
    assert "-> 000" in refused.output


@needs_tools
def test_a_smoke_test_that_outlasts_verify_timeout_minutes_is_stopped_and_fails(tmp_path):
    # On Lambda compute the project has no timeout of its own: verify-environment stops the
    # command itself (timeout(1) takes fractions of a minute, so the test waits about a second).
    result = smoke(
        tmp_path,
        "http://127.0.0.1:9",
        {"VERIFY_COMMAND": "sleep 10", "VERIFY_TIMEOUT_MINUTES": "0.02"},
    )
    assert not result.succeeded
    assert "'sleep 10' ran longer than 0.02 minutes (verify.timeoutMinutes)" in result.output
