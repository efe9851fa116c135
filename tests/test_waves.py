"""Waves (docs/waves.md): the `wave` key's rules, the stages a wave becomes, what its approver
sees, and who may answer its approval, on the waves fixture (tests/fixtures/stacks:
dev, then prod-eu and prod-us in the wave `production`)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from components import blueprint
from components.config import ConfigError, load_config
from components.spec import ActionSpec, Blueprint, StageSpec
from components.units import GATES
from tests.conftest import WAVES, action_of, actions_of, only, run_stack, shared_scope, stage_names
from tests.support.permissions import approver_roles

ROOT = Path(__file__).resolve().parent.parent
APPROVER = "arn:aws:iam::123456789012:role/release-managers"


def _renderer():
    # build-image/changeset_report.py as tests/test_changeset_report.py loads it.
    from tests.test_changeset_report import report

    return report


@pytest.fixture(scope=shared_scope)
def waves():
    return run_stack(WAVES).mocks


# -- config ------------------------------------------------------------------------------------
def member(name: str, **keys) -> dict:
    return {
        "name": name,
        "stackName": f"todobackend-{name}",
        "wave": "production",
        "approval": True,
        "approvers": [APPROVER],
        **keys,
    }


BASE = {
    "application": {"name": "todobackend", "repository": "docker-in-aws/todobackend"},
    "infrastructure": {"repository": "docker-in-aws/todobackend-aws"},
    "notifications": {"emails": ["release-managers@example.com"]},
}


def problems_for(*environments: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config({**copy.deepcopy(BASE), "environments": list(environments)})
    return caught.value.problems


def test_a_wave_of_two_gated_members_is_valid():
    config = load_config({**copy.deepcopy(BASE), "environments": [member("prod-eu"), member("prod-us")]})
    assert [(env.name, env.wave) for env in config.environments] == [
        ("prod-eu", "production"),
        ("prod-us", "production"),
    ]


def test_a_wave_needs_a_name_of_its_own():
    assert problems_for(member("prod-eu"), member("production")) == [
        "ecs-delivery:environments[0].wave: 'production' is also an environment's name; a wave names its "
        "stages (<wave>-plan, <wave>-approval, <wave>), so it needs a name of its own"
    ]


def test_a_wave_name_follows_the_environment_name_pattern():
    # The wrong name is reported; prod-us is then a wave of one.
    assert problems_for(member("prod-eu", wave="Production"), member("prod-us")) == [
        "ecs-delivery:environments[0].wave: 'Production' is not allowed: lowercase letters, digits and '-', "
        "1-63 characters, not starting or ending with '-'",
        "ecs-delivery:environments[1].wave: wave 'production' has 1 member(s) ('prod-us'); a wave holds 2 to 4 "
        "environments (its approval shows every member's summary in CodePipeline's 500-character CustomData)",
    ]


def test_a_wave_members_are_adjacent():
    between = {
        "name": "staging",
        "stackName": "todobackend-staging",
        "approval": True,
        "approvers": [APPROVER],
    }
    assert problems_for(member("prod-eu"), between, member("prod-us")) == [
        "ecs-delivery:environments[1]: 'staging' stands between members of wave 'production' ('prod-eu', "
        "'prod-us'); a wave's members are adjacent in the list (environments deploy in list order, a "
        "wave's members together)"
    ]


@pytest.mark.parametrize("count", [1, 5])
def test_a_wave_holds_two_to_four_members(count):
    members = [member(f"prod-{index}") for index in range(count)]
    named = ", ".join(f"'prod-{index}'" for index in range(count))
    assert problems_for(*members) == [
        f"ecs-delivery:environments[0].wave: wave 'production' has {count} member(s) ({named}); a wave holds "
        "2 to 4 environments (its approval shows every member's summary in CodePipeline's 500-character "
        "CustomData)"
    ]


def test_a_wave_members_are_all_gated_or_all_ungated():
    ungated = {"name": "prod-us", "stackName": "todobackend-prod-us", "wave": "production"}
    assert problems_for(member("prod-eu"), ungated) == [
        "ecs-delivery:environments[1].approval: the members of wave 'production' differ ('prod-eu': true, "
        "'prod-us': false); they share one set of stages, which has one approval: give every member the same",
        "ecs-delivery:environments[1].approval: 'prod-us' is ungated but deploys after the gated environments[0] "
        "'prod-eu': environments deploy in order, so 'prod-us' would receive changes without a review of its "
        "own, after 'prod-eu' has them; move it before 'prod-eu', or gate it (approval: true)",
    ]


def test_a_wave_members_share_the_window_and_what_a_failure_does():
    window = {"cron": "* * 9-16 ? * MON-THU *", "timeZone": "Europe/London"}
    problems = problems_for(
        member("prod-eu", deploymentWindow=window, onFailure={"result": "ROLLBACK"}), member("prod-us")
    )
    assert problems == [
        "ecs-delivery:environments[1].deploymentWindow: the members of wave 'production' differ ('prod-eu': "
        '{"cron": "* * 9-16 ? * MON-THU *", "timeZone": "Europe/London"}, \'prod-us\': null); they share one '
        "set of stages, which has one deploymentWindow: give every member the same",
        "ecs-delivery:environments[1].onFailure: the members of wave 'production' differ ('prod-eu': "
        '{"result": "ROLLBACK"}, \'prod-us\': null); they share one set of stages, which has one onFailure: '
        "give every member the same",
    ]


def test_a_wave_members_name_the_same_approvers():
    other = "arn:aws:iam::123456789012:role/other-managers"
    assert problems_for(member("prod-eu"), member("prod-us", approvers=[other])) == [
        "ecs-delivery:environments[1].approvers: the members of wave 'production' ('prod-eu', 'prod-us') name "
        "different approvers; the wave has one approval, and each member's release accepts only its own "
        "approvers' answer: give every member the same approvers"
    ]


def test_a_wave_members_name_their_approvers_rather_than_each_a_group_of_its_own():
    assert problems_for(member("prod-eu"), member("prod-us", approverGroup=True)) == [
        "ecs-delivery:environments[1].approverGroup: not in a wave ('production'): each member's group is its "
        "own, so an approver in one member's group only would release that member and be refused by the "
        "others; name the wave's approvers in every member's approvers instead"
    ]


def test_a_gated_wave_rolls_back_rather_than_retries():
    retry = {"result": "RETRY", "retryMode": "ALL_ACTIONS"}
    assert problems_for(member("prod-eu", onFailure=retry), member("prod-us", onFailure=retry)) == [
        "ecs-delivery:environments[0].onFailure: RETRY is not for a gated wave ('production'): a retry plans "
        "every member again, and a member that already took the release is refused as unreviewed; use "
        "result: ROLLBACK (the wave returns to its last release, asking nobody)"
    ]


def test_a_wave_members_watch_at_most_five_alarms_together():
    problems = problems_for(
        member("prod-eu", alarms=["a1", "a2", "a3"], bakeMinutes=10),
        member("prod-us", alarms=["b1", "b2", "b3"], bakeMinutes=10),
    )
    assert problems == [
        "ecs-delivery:environments[1].alarms: the members of wave 'production' watch 6 alarms together; their "
        "release stage has one on-success condition, which holds at most 5 rules"
    ]


# -- the stages ----------------------------------------------------------------------------------
def test_a_wave_is_one_plan_one_approval_and_one_release_stage(waves):
    assert stage_names(waves) == [
        "Source",
        "Build",
        "dev",
        "production-plan",
        "production-approval",
        "production",
    ]


def test_each_member_plans_beside_the_other_and_the_last_review_adds_the_wave_up(waves):
    plan = [(a["name"], a.get("runOrder")) for a in actions_of(waves, "production-plan")]
    assert plan == [
        ("prod-eu-RecoverStack", 1),
        ("prod-us-RecoverStack", 1),
        ("prod-eu-CreateChangeSet", 2),
        ("prod-us-CreateChangeSet", 2),
        ("prod-eu-ReviewChangeSet", 3),
        ("prod-us-ReviewChangeSet", 4),
    ]
    first = json.loads(
        action_of(waves, "production-plan", "prod-eu-ReviewChangeSet")["configuration"][
            "EnvironmentVariables"
        ]
    )
    last = json.loads(
        action_of(waves, "production-plan", "prod-us-ReviewChangeSet")["configuration"][
            "EnvironmentVariables"
        ]
    )
    # 500 - len("wave production: ") - len(" | ") - len(" | commit ") - 40, shared by two: 215.
    assert {"name": "SUMMARY_LIMIT", "value": "215"} in first
    assert {"name": "SUMMARY_LIMIT", "value": "215"} in last
    assert [v for v in first if v["name"] == "WAVE_CHANGES_BEFORE"] == []
    assert {"name": "WAVE_CHANGES_BEFORE", "value": "#{Plan-prod-eu.CHANGE_COUNT}"} in last
    assert {"name": "WAVE_MEMBERS", "value": "2"} in last
    # Namespaces stay per member: every reference the gates and the release make keeps working.
    assert [a.get("namespace") for a in actions_of(waves, "production-plan")][4:] == [
        "Plan-prod-eu",
        "Plan-prod-us",
    ]


def test_the_approver_sees_every_member_and_enters_only_when_the_wave_changes(waves):
    approve = action_of(waves, "production-approval", "Approve")["configuration"]
    assert approve["CustomData"] == (
        "wave production: #{Plan-prod-eu.REVIEW_SUMMARY} | #{Plan-prod-us.REVIEW_SUMMARY} | commit #{AppSource.CommitId}"
    )
    assert approve["ExternalEntityLink"] == "#{Plan-prod-eu.REPORT_URL}"
    stages = {s["name"]: s for s in only(waves, "aws:codepipeline/pipeline:Pipeline").inputs["stages"]}
    wave_changes = {
        "result": "SKIP",
        "rules": [
            {
                "name": "WaveChangesToRelease",
                "ruleTypeId": {
                    "category": "Rule",
                    "owner": "AWS",
                    "provider": "VariableCheck",
                    "version": "1",
                },
                "configuration": {
                    "Variable": "#{Plan-prod-us.WAVE_CHANGE_COUNT}",
                    "Operator": "NE",
                    "Value": "0",
                },
            }
        ],
    }
    assert stages["production-approval"]["beforeEntry"]["condition"] == wave_changes
    assert stages["production"]["beforeEntry"]["condition"] == wave_changes


def test_each_member_releases_beside_the_other_under_the_wave_alarms(waves):
    release = [(a["name"], a.get("runOrder"), a.get("namespace")) for a in actions_of(waves, "production")]
    assert release == [
        ("prod-eu-CreateChangeSet", 1, None),
        ("prod-us-CreateChangeSet", 1, None),
        ("prod-eu-ConfirmChangeSet", 2, "Release-prod-eu"),
        ("prod-us-ConfirmChangeSet", 2, "Release-prod-us"),
        ("prod-eu-ExecuteChangeSet", 3, "Stack-prod-eu"),
        ("prod-us-ExecuteChangeSet", 3, "Stack-prod-us"),
        ("prod-eu-RecordRelease", 4, None),
        ("prod-eu-Verify", 4, None),
        ("prod-us-RecordRelease", 4, None),
    ]
    stage = next(
        s
        for s in only(waves, "aws:codepipeline/pipeline:Pipeline").inputs["stages"]
        if s["name"] == "production"
    )
    assert [(r["name"], r["configuration"]) for r in stage["onSuccess"]["condition"]["rules"]] == [
        ("Alarm1", {"AlarmName": "todobackend-prod-eu-5xx", "WaitTime": "20"}),
        ("Alarm2", {"AlarmName": "todobackend-prod-us-5xx", "WaitTime": "20"}),
    ]
    assert stage["onFailure"]["result"] == "ROLLBACK"


def test_an_ungated_wave_is_one_deploy_stage():
    ungated = [
        {"name": name, "stackName": f"todobackend-{name}", "wave": "test"} for name in ("test-eu", "test-us")
    ]
    config = load_config({**copy.deepcopy(BASE), "environments": ungated})
    stages = blueprint.delivery_blueprint(config, blueprint.worst_case_refs(config)).stages
    assert [(s.name, [a.name for a in s.actions]) for s in stages[2:]] == [
        ("test", ["test-eu-Deploy", "test-us-Deploy"])
    ]


def test_the_approval_text_fits_500_characters_with_four_members_and_the_longest_wave_name():
    wave = "w" * 43
    limit = blueprint.wave_summary_limit(wave, 4)
    summary = "x" * limit
    resolved = f"wave {wave}: " + " | ".join([summary] * 4) + " | commit " + "c" * 40
    assert len(resolved) <= 500
    # (500 - len("wave <43>: ") - 3 separators - len(" | commit ") - 40) // 4
    assert limit == 97


def test_the_review_cuts_its_summary_to_the_wave_share_and_adds_up_the_wave(tmp_path):
    report = _renderer()
    page = ROOT / "tests" / "fixtures" / "changesets" / "risky.json"
    out = tmp_path / "out"
    code = report.main(
        [
            str(page),
            "--environment",
            "prod-us",
            "--out-dir",
            str(out),
            "--summary-limit",
            "60",
            "--wave-changes-before",
            "2 5",
            "--wave-members",
            "3",
        ]
    )
    assert code == 0
    exports = (out / "exports.sh").read_text()
    summary = (out / "summary.txt").read_text().rstrip("\n")
    assert len(summary) == 60 and summary.endswith("…")
    own = int(
        next(line for line in exports.splitlines() if line.startswith("export CHANGE_COUNT=")).split("=")[1]
    )
    assert f"export WAVE_CHANGE_COUNT={own + 7}\n" in exports


@pytest.mark.parametrize(
    "counts",
    [
        "2 #{Plan-prod-eu.CHANGE_COUNT}",  # a variable that did not resolve
        "",  # a member's count missing
        " ",
        "2",  # one count for a wave of three
        "2 3 4",
        "2 ²",  # a digit, but not an ASCII one
    ],
)
def test_the_review_refuses_wave_counts_that_are_not_one_count_per_other_member(tmp_path, capsys, counts):
    report = _renderer()
    page = ROOT / "tests" / "fixtures" / "changesets" / "risky.json"
    with pytest.raises(SystemExit):
        report.main(
            [
                str(page),
                "--environment",
                "prod-us",
                "--out-dir",
                str(tmp_path),
                "--wave-changes-before",
                counts,
                "--wave-members",
                "3",
            ]
        )
    assert "is not 2 change count(s), one per other member of the wave" in capsys.readouterr().err


def test_an_action_name_over_100_characters_is_refused():
    action = ActionSpec(name="x" * 101, category="Approval", provider="Manual", configuration={})
    stages = (
        StageSpec(
            "Source", (ActionSpec("App", "Source", "CodeStarSourceConnection", {}, output_artifacts=("A",)),)
        ),
        StageSpec("Gate", (action,)),
    )
    with pytest.raises(blueprint.BlueprintError) as caught:
        blueprint.validate_blueprint(Blueprint(stages, ()))
    assert caught.value.problems == [
        f"stage 'Gate', action '{'x' * 101}': an action name must match [A-Za-z0-9.@_-]{{1,100}}"
    ]


# -- who may approve ----------------------------------------------------------------------------
def test_the_wave_approvers_may_answer_its_approval_and_each_member_confirms_it(waves):
    from components.iam_policies import Request

    pipeline = only(waves, "aws:codepipeline/pipeline:Pipeline").state["arn"]
    (approver,) = approver_roles(waves).values()
    assert approver.name == "release-managers"
    assert approver.allows(
        Request("codepipeline:PutApprovalResult", f"{pipeline}/production-approval/Approve")
    )
    for stage in ("prod-eu-approval", "prod-us-approval", "production", "production-plan"):
        assert not approver.allows(Request("codepipeline:PutApprovalResult", f"{pipeline}/{stage}/Approve"))
    # Each member's release checks the wave's approval was answered by one of its approvers.
    for name in ("prod-eu", "prod-us"):
        project = only(waves, "aws:codebuild/project:Project", f"review-{name}-project")
        variables = {v["name"]: v["value"] for v in project.inputs["environment"]["environmentVariables"]}
        assert (variables["APPROVAL_STAGE"], variables["APPROVAL_ACTION"], variables["APPROVERS"]) == (
            "production-approval",
            "Approve",
            APPROVER,
        )


def test_the_gate_units_are_not_told_about_waves():
    # A wave wraps what the units declare; no unit reads the key.
    for unit in GATES:
        source = Path(unit.__file__).read_text()
        assert "wave" not in source.lower(), unit.__name__


def test_a_members_gate_units_keep_their_actions_and_namespaces_in_the_wave():
    members = [member("prod-eu", driftCheck="block"), member("prod-us")]
    config = load_config({**copy.deepcopy(BASE), "environments": members})
    built = blueprint.delivery_blueprint(config, blueprint.worst_case_refs(config))
    blueprint.validate_blueprint(built)
    plan = next(stage for stage in built.stages if stage.name == "production-plan")
    drift = [(a.name, a.run_order, a.namespace) for a in plan.actions if "Drift" in a.name]
    assert drift == [("prod-eu-CheckDrift", 2, "Drift-prod-eu")]
    review = next(a for a in plan.actions if a.name == "prod-eu-ReviewChangeSet")
    variables = json.loads(review.configuration["EnvironmentVariables"])
    assert {"name": "REVIEW_CHECK_DRIFT", "value": "#{Drift-prod-eu.DRIFT_SUMMARY}"} in variables
