"""The delivery pipeline as plain data: what it is, apart from how CodePipeline realises it.

`delivery_blueprint(config, refs)` writes the stack config as stages, actions and triggers
(the vocabulary of `components/spec.py`): Source and Build, then each environment's stages,
which wrap its deploy target's actions in the gates config asks for (deployment window,
skip when nothing changes, manual approval, verify, alarms with bake time, rollback or retry).
`validate_blueprint` checks the graph against the rules CodePipeline would only enforce at
`pulumi up`; `__main__.py` runs it once, on the blueprint written with worst-case references.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Optional, Protocol

from components.config import DeliveryConfig, EnvironmentConfig
from components.spec import (
    APPLICATION_SOURCE,
    APPLICATION_SOURCE_NAMESPACE,
    APPLICATION_VERSION,
    INFRASTRUCTURE_SOURCE,
    ActionSpec,
    Blueprint,
    ConditionSpec,
    EnvironmentRefs,
    FailureSpec,
    PipelineRefs,
    RuleSpec,
    StageSpec,
    TriggerSpec,
    codebuild_variables,
    worst_case_value,
)
from components.units import GATES, target_of
from components.units.seam import AFTER_DEPLOY, PLAN_CHECKS, RELEASE_CHECKS

INFRASTRUCTURE_SOURCE_NAMESPACE = "InfraSource"


class DeployTarget(Protocol):
    """The seam between the gates and what an environment deploys to. One implementation:
    components/cloudformation.py (a module with these functions); a second target is one more
    module and a config variant, and `target_of` choosing it."""

    def deploy(
        self, config: DeliveryConfig, env: EnvironmentConfig, refs: PipelineRefs
    ) -> tuple[ActionSpec, ...]: ...

    PLAN_CHECKS_RUN_ORDER: int
    """The run order, in the plan stage, at which the gate units' checks run: after the target
    is ready, before its review (components/units/seam.py, PLAN_CHECKS)."""
    RELEASE_CHECKS_RUN_ORDER: int
    """The run order, in the release stage, at which the gate units' release checks run: before
    the target applies anything (components/units/seam.py, RELEASE_CHECKS)."""

    def plan(
        self,
        config: DeliveryConfig,
        env: EnvironmentConfig,
        refs: PipelineRefs,
        *,
        review_namespace: str,
        review_checks: Mapping[str, str],
    ) -> tuple[ActionSpec, ...]:
        """The plan stage's actions: ready the target, plan the change and review it,
        exporting CHANGE_COUNT (and what the approval shows) into `review_namespace`. The
        review shows each of `review_checks` (a check's name → the variable of its result)."""
        ...

    def release(
        self,
        config: DeliveryConfig,
        env: EnvironmentConfig,
        refs: PipelineRefs,
        *,
        plan_namespace: str,
        release_namespace: str,
    ) -> tuple[ActionSpec, ...]:
        """The release stage's actions, after the approval: apply exactly the reviewed
        change (or stop), in a form a rollback or retry can run again, exporting RELEASE (what
        the release record keeps: JSON) into `release_namespace` before it applies anything."""
        ...

    def describe(self, env: EnvironmentConfig) -> str: ...

    def outputs_namespace(self, environment: str) -> str: ...

    def worst_case_refs(self, env: EnvironmentConfig) -> Mapping[str, Optional[str]]:
        """What its actions name (`EnvironmentRefs.target`), each as long as it can be."""
        ...


def worst_case_refs(config: DeliveryConfig) -> PipelineRefs:
    """References as long as any real value can be, for the checks that need a length or a
    parse before resources exist (CodePipeline's 1000-character configuration values,
    CloudFormation's 1 KB ParameterOverrides)."""
    return PipelineRefs(
        connection_arn=worst_case_value("connection"),
        build_project=worst_case_value("build-project"),
        notification_topic_arn=worst_case_value("topic"),
        image_registry=worst_case_value("registry"),
        environments={
            env.name: EnvironmentRefs(
                target=target_of(env).worst_case_refs(env),
                account_role_arn=worst_case_value("action-role") if env.account else None,
                record_project=worst_case_value("record-project") if env.approval else None,
                units={unit.NAME: unit.worst_case_refs(env) for unit in GATES if unit.applies(env)},
            )
            for env in config.environments
        },
    )


def plan_stage_name(environment: str) -> str:
    return f"{environment}-plan"


def approval_stage_name(environment: str) -> str:
    return f"{environment}-approval"


def approval_stage_of(env: EnvironmentConfig) -> str:
    """The stage holding the approval that answers for `env`: its own, or its wave's."""
    return approval_stage_name(env.wave or env.name)


def plan_namespace(environment: str) -> str:
    """Variables namespace of the plan stage's review (its CHANGE_COUNT gates the release)."""
    return f"Plan-{environment}"


def release_namespace(environment: str) -> str:
    """Variables namespace of the release's confirmation (its RELEASE is what gets recorded)."""
    return f"Release-{environment}"


def _record_action(env: EnvironmentConfig, refs: PipelineRefs, run_order: int) -> ActionSpec:
    """Once the release has been applied: record it (what the confirmation established, and the
    commits it came from) and keep its image (components/release_recorder.py)."""
    variables = [
        {"name": "RELEASE", "value": f"#{{{release_namespace(env.name)}.RELEASE}}"},
        {"name": "PIPELINE_EXECUTION_ID", "value": "#{codepipeline.PipelineExecutionId}"},
        {"name": "APP_COMMIT", "value": f"#{{{APPLICATION_SOURCE_NAMESPACE}.CommitId}}"},
        {"name": "INFRA_COMMIT", "value": f"#{{{INFRASTRUCTURE_SOURCE_NAMESPACE}.CommitId}}"},
    ]
    return ActionSpec(
        name="RecordRelease",
        category="Build",
        provider="CodeBuild",
        configuration={
            "ProjectName": refs.environments[env.name].record_project or "",
            "EnvironmentVariables": codebuild_variables(variables),
        },
        # CodeBuild actions take at least one input; the recorder reads the variables, not it.
        input_artifacts=(APPLICATION_SOURCE,),
        run_order=run_order,
    )


def _unit_actions(
    env: EnvironmentConfig, refs: PipelineRefs, slot: str, *, run_order: int
) -> tuple[ActionSpec, ...]:
    """The actions every gate unit the environment asks for puts in `slot`, at `run_order`."""
    bound = refs.environments[env.name].units
    outputs_namespace = target_of(env).outputs_namespace(env.name)
    return tuple(
        dataclasses.replace(action, run_order=run_order)
        for unit in GATES
        if unit.applies(env)
        for action in unit.actions(env, bound[unit.NAME], outputs_namespace=outputs_namespace).get(slot, ())
    )


def _review_checks(env: EnvironmentConfig) -> dict[str, str]:
    """What the plan's review shows of the gate units: check name → its result's variable."""
    checks: dict[str, str] = {}
    for unit in GATES:
        if unit.applies(env):
            checks.update(unit.review_checks(env))
    return checks


def deployment_window_condition(env: EnvironmentConfig) -> Optional[ConditionSpec]:
    """Entry only inside the window. The result is FAIL, the only entry result AWS allows
    for a DeploymentWindow rule (SKIP takes only VariableCheck and LambdaInvoke rules)."""
    window = env.deployment_window
    if window is None:
        return None
    return ConditionSpec(
        "FAIL",
        (
            RuleSpec(
                "DeploymentWindow", "DeploymentWindow", {"Cron": window.cron, "TimeZone": window.time_zone}
            ),
        ),
    )


def changes_condition(env: EnvironmentConfig) -> ConditionSpec:
    """Entry only when the reviewed change changes something; otherwise the stage is
    skipped and the execution goes on (and succeeds)."""
    return ConditionSpec(
        "SKIP",
        (
            RuleSpec(
                "ChangesToRelease",
                "VariableCheck",
                {"Variable": f"#{{{plan_namespace(env.name)}.CHANGE_COUNT}}", "Operator": "NE", "Value": "0"},
            ),
        ),
    )


def alarms_condition(env: EnvironmentConfig, refs: PipelineRefs) -> Optional[ConditionSpec]:
    """After the stage succeeds, watch each alarm for `bakeMinutes`; one in ALARM rolls
    the stage back to the last successful execution."""
    if not env.alarms:
        return None
    return ConditionSpec(
        "ROLLBACK",
        tuple(
            RuleSpec(
                f"Alarm{index}",
                "CloudWatchAlarm",
                {"AlarmName": alarm, "WaitTime": str(env.bake_minutes)},
                # The alarms of an environment in another account live there.
                role=refs.environments[env.name].account_role_arn if env.account else None,
            )
            for index, alarm in enumerate(env.alarms, start=1)
        ),
    )


def failure_spec(env: EnvironmentConfig) -> Optional[FailureSpec]:
    failure = env.on_failure
    if failure is None:
        return None
    if failure.result == "RETRY":
        return FailureSpec("RETRY", failure.retry_mode or "FAILED_ACTIONS")
    return FailureSpec("ROLLBACK")


def _approval(env: EnvironmentConfig, refs: PipelineRefs, namespace: str, run_order: int) -> ActionSpec:
    return ActionSpec(
        name="Approve",
        category="Approval",
        provider="Manual",
        configuration={
            "NotificationArn": refs.notification_topic_arn,
            # What the approver reads in the notification: the review's one-line summary
            # (environment, changes, replacements, removals, image tag old → new), what the
            # target says the release changes, and the commit; the link opens exactly the
            # reviewed change (the full report's address is in the review's REPORT_URL
            # variable and build log).
            "CustomData": (
                f"#{{{namespace}.REVIEW_SUMMARY}} | {target_of(env).describe(env)}, "
                f"commit #{{{APPLICATION_SOURCE_NAMESPACE}.CommitId}}"
            ),
            "ExternalEntityLink": f"#{{{namespace}.CHANGE_SET_URL}}",
        },
        run_order=run_order,
    )


def _environment_stages(
    config: DeliveryConfig, env: EnvironmentConfig, refs: PipelineRefs
) -> tuple[StageSpec, ...]:
    """An ungated environment is one stage: deploy, then verify. A gated one is three, so
    that each gate acts where AWS allows it and a decision is not mistaken for a failure
    (docs/pipeline.md):

    - `<env>-plan`: ready the target, plan the change and review it, to count its changes
      and show them. The deployment window is its entry condition (FAIL: the only result AWS
      allows a DeploymentWindow rule).
    - `<env>-approval`: the manual approval, entered only when the plan counted changes
      (VariableCheck, SKIP: nothing to approve, nobody asked). It has no onFailure: a
      rejection (or the approval's 7-day timeout) ends the run, and nothing rolls back or
      asks again.
    - `<env>`: entered on the same condition; the reviewed change applied (the target proves
      it is the one approved, or stops), then recorded with its image kept and verified, side
      by side. Alarms
      and onFailure act here only: a rollback or retry runs these actions again, and a
      rollback, which runs with the last successful execution's artifacts and variables,
      restores that release without a new approval (it was approved and recorded when it
      shipped, which its confirm checks).
    """
    target = target_of(env)
    if not env.approval:
        if _unit_actions(env, refs, PLAN_CHECKS, run_order=1) or _unit_actions(
            env, refs, RELEASE_CHECKS, run_order=1
        ):
            raise ValueError(f"environment {env.name!r}: a plan or release check needs a gated environment")
        deploy = target.deploy(config, env, refs)
        after = _unit_actions(env, refs, AFTER_DEPLOY, run_order=max(a.run_order for a in deploy) + 1)
        return (
            StageSpec(
                env.name,
                (*deploy, *after),
                environment=env.name,
                before_entry=deployment_window_condition(env),
                on_success=alarms_condition(env, refs),
                on_failure=failure_spec(env),
                account=env.account,
            ),
        )
    namespace = plan_namespace(env.name)
    release = target.release(
        config, env, refs, plan_namespace=namespace, release_namespace=release_namespace(env.name)
    )
    record = _record_action(env, refs, run_order=max(a.run_order for a in release) + 1)
    # Beside the record, not after it: neither reads what the other does, and each fails the
    # stage on its own (docs/operations.md, "Why each step is there").
    after = _unit_actions(env, refs, AFTER_DEPLOY, run_order=record.run_order)
    checks = _unit_actions(env, refs, PLAN_CHECKS, run_order=target.PLAN_CHECKS_RUN_ORDER)
    release_checks = _unit_actions(env, refs, RELEASE_CHECKS, run_order=target.RELEASE_CHECKS_RUN_ORDER)
    planned = target.plan(config, env, refs, review_namespace=namespace, review_checks=_review_checks(env))
    return (
        StageSpec(
            plan_stage_name(env.name),
            tuple(sorted((*planned, *checks), key=lambda action: action.run_order)),
            environment=env.name,
            before_entry=deployment_window_condition(env),
            account=env.account,
        ),
        StageSpec(
            approval_stage_name(env.name),
            (_approval(env, refs, namespace, run_order=1),),
            environment=env.name,
            before_entry=changes_condition(env),
        ),
        StageSpec(
            env.name,
            (*sorted((*release, *release_checks), key=lambda action: action.run_order), record, *after),
            environment=env.name,
            before_entry=changes_condition(env),
            on_success=alarms_condition(env, refs),
            on_failure=failure_spec(env),
            account=env.account,
        ),
    )


# -- waves: environments released side by side --------------------------------------------

# CodePipeline's ActionName: 1-100 characters of [A-Za-z0-9.@_-] (API reference, ActionDeclaration).
ACTION_NAME = re.compile(r"[A-Za-z0-9.@_-]{1,100}")
# ASSUMPTION (the figure the lead's brief gives for the approval's "Comments" field; the API model
# has no length for the CustomData configuration value beyond its 1000): CodePipeline shows at
# most 500 characters of a manual approval's CustomData, after its variables are resolved.
MAX_APPROVAL_CUSTOM_DATA = 500
# A commit id as `#{<source>.CommitId}` resolves (a full git SHA-1).
COMMIT_ID_LENGTH = 40


def _wave_custom_data_prefix(wave: str) -> str:
    return f"wave {wave}: "


def _wave_custom_data_suffix() -> str:
    return f" | commit #{{{APPLICATION_SOURCE_NAMESPACE}.CommitId}}"


WAVE_SUMMARY_SEPARATOR = " | "


def wave_summary_limit(wave: str, members: int) -> int:
    """How long each member's REVIEW_SUMMARY may be (the review cuts it there: SUMMARY_LIMIT), so
    that the wave's approval shows all of them within MAX_APPROVAL_CUSTOM_DATA once resolved."""
    resolved_suffix = len(_wave_custom_data_suffix().split("#")[0]) + COMMIT_ID_LENGTH
    fixed = (
        len(_wave_custom_data_prefix(wave)) + (members - 1) * len(WAVE_SUMMARY_SEPARATOR) + resolved_suffix
    )
    return (MAX_APPROVAL_CUSTOM_DATA - fixed) // members


def _with_variables(action: ActionSpec, variables: list[dict[str, str]]) -> ActionSpec:
    """A CodeBuild action with more environment variables (the wave's, for a member's review)."""
    current = json.loads(action.configuration.get("EnvironmentVariables") or "[]")
    return dataclasses.replace(
        action,
        configuration={
            **action.configuration,
            "EnvironmentVariables": codebuild_variables(current + variables),
        },
    )


def _member_action(env: EnvironmentConfig, action: ActionSpec) -> ActionSpec:
    """A member's action in its wave's stage: named after the member, so that the names of the
    members' actions stay unique within the stage."""
    return dataclasses.replace(action, name=f"{env.name}-{action.name}")


def wave_changes_condition(wave: str, last_member: EnvironmentConfig) -> ConditionSpec:
    """Entry only when some member's reviewed change changes something. A condition's rules
    are ANDed ("Configure conditions for a stage"), so "any member" cannot be one VariableCheck
    per member: the last member's review adds every member's CHANGE_COUNT into
    WAVE_CHANGE_COUNT, and the rule reads that."""
    return ConditionSpec(
        "SKIP",
        (
            RuleSpec(
                "WaveChangesToRelease",
                "VariableCheck",
                {
                    "Variable": f"#{{{plan_namespace(last_member.name)}.WAVE_CHANGE_COUNT}}",
                    "Operator": "NE",
                    "Value": "0",
                },
            ),
        ),
    )


def _wave_alarms(members: list[EnvironmentConfig], refs: PipelineRefs) -> Optional[ConditionSpec]:
    """Every member's alarms in the one on-success condition (rule names numbered across the
    members; each rule keeps its member's bake and role)."""
    rules = [
        rule
        for env in members
        for rule in (alarms_condition(env, refs) or ConditionSpec("ROLLBACK", ())).rules
    ]
    if not rules:
        return None
    return ConditionSpec(
        "ROLLBACK",
        tuple(dataclasses.replace(rule, name=f"Alarm{index}") for index, rule in enumerate(rules, start=1)),
    )


def _wave_approval(wave: str, members: list[EnvironmentConfig], refs: PipelineRefs) -> ActionSpec:
    return ActionSpec(
        name="Approve",
        category="Approval",
        provider="Manual",
        configuration={
            "NotificationArn": refs.notification_topic_arn,
            # Every member's one-line summary (each begins with its environment's name), each
            # cut by its review to its share of the 500 characters (wave_summary_limit).
            "CustomData": _wave_custom_data_prefix(wave)
            + WAVE_SUMMARY_SEPARATOR.join(
                f"#{{{plan_namespace(env.name)}.REVIEW_SUMMARY}}" for env in members
            )
            + _wave_custom_data_suffix(),
            # One link: the first member's full report (each member's is its review's REPORT_URL,
            # shown in the pipeline's console beside its review action).
            "ExternalEntityLink": f"#{{{plan_namespace(members[0].name)}.REPORT_URL}}",
        },
        run_order=1,
    )


def _wave_stages(
    config: DeliveryConfig, wave: str, members: list[EnvironmentConfig], refs: PipelineRefs
) -> tuple[StageSpec, ...]:
    """A wave (docs/waves.md): its members' stages as one set, each member's actions beside the
    others' with their own run orders and names prefixed with the member's (the gate units and
    the target write each member's actions as they would alone: namespaces stay per member).

    - `<wave>-plan`: every member's plan; the reviews run once every change set exists, the last
      member's after the others', adding their CHANGE_COUNTs into its WAVE_CHANGE_COUNT.
    - `<wave>-approval`: one approval showing every member's summary, entered when the wave
      changes something (wave_changes_condition).
    - `<wave>`: every member's release side by side, on the same condition; the members' alarms
      together, their shared onFailure. A member whose change set is empty runs its release
      all the same (a stage cannot skip some of its actions).
    An ungated wave is one stage `<wave>`: every member's deploy, side by side."""
    first, last = members[0], members[-1]
    shared_account = first.account if all(env.account == first.account for env in members) else None
    per_member = [(env, _environment_stages(config, env, refs)) for env in members]
    if not first.approval:
        return (
            StageSpec(
                wave,
                tuple(
                    _member_action(env, action) for env, (stage,) in per_member for action in stage.actions
                ),
                environment=wave,
                before_entry=deployment_window_condition(first),
                on_success=_wave_alarms(members, refs),
                on_failure=failure_spec(first),
                account=shared_account,
            ),
        )
    limit = wave_summary_limit(wave, len(members))
    last_run_order = max(a.run_order for _, stages in per_member for a in stages[0].actions)
    plan_actions: list[ActionSpec] = []
    for env, (plan, _, _) in per_member:
        for action in plan.actions:
            if action.namespace == plan_namespace(env.name):
                # The review: what the approval shows of this member, cut to its share.
                action = _with_variables(action, [{"name": "SUMMARY_LIMIT", "value": str(limit)}])
                if env is last:
                    before = " ".join(f"#{{{plan_namespace(m.name)}.CHANGE_COUNT}}" for m in members[:-1])
                    action = dataclasses.replace(
                        _with_variables(
                            action,
                            [
                                {"name": "WAVE_CHANGES_BEFORE", "value": before},
                                # How many counts the review must find there: one per other member.
                                {"name": "WAVE_MEMBERS", "value": str(len(members))},
                            ],
                        ),
                        run_order=last_run_order + 1,
                    )
            plan_actions.append(_member_action(env, action))
    return (
        StageSpec(
            plan_stage_name(wave),
            tuple(sorted(plan_actions, key=lambda action: action.run_order)),
            environment=wave,
            before_entry=deployment_window_condition(first),
            account=shared_account,
        ),
        StageSpec(
            approval_stage_name(wave),
            (_wave_approval(wave, members, refs),),
            environment=wave,
            before_entry=wave_changes_condition(wave, last),
        ),
        StageSpec(
            wave,
            tuple(
                sorted(
                    (
                        _member_action(env, action)
                        for env, (_, _, release) in per_member
                        for action in release.actions
                    ),
                    key=lambda action: action.run_order,
                )
            ),
            environment=wave,
            before_entry=wave_changes_condition(wave, last),
            on_success=_wave_alarms(members, refs),
            on_failure=failure_spec(first),
            account=shared_account,
        ),
    )


def _all_environment_stages(config: DeliveryConfig, refs: PipelineRefs) -> tuple[StageSpec, ...]:
    """Each environment's stages in list order; a wave's adjacent members as one set."""
    stages: list[StageSpec] = []
    environments = list(config.environments)
    index = 0
    while index < len(environments):
        env = environments[index]
        if env.wave is None:
            stages.extend(_environment_stages(config, env, refs))
            index += 1
            continue
        members = [env]
        while (
            index + len(members) < len(environments) and environments[index + len(members)].wave == env.wave
        ):
            members.append(environments[index + len(members)])
        stages.extend(_wave_stages(config, env.wave, members, refs))
        index += len(members)
    return tuple(stages)


def _source_action(
    name: str, namespace: str, repository: str, branch: str, artifact: str, connection_arn: str
) -> ActionSpec:
    return ActionSpec(
        name=name,
        category="Source",
        provider="CodeStarSourceConnection",
        configuration={
            "ConnectionArn": connection_arn,
            "FullRepositoryId": repository,
            "BranchName": branch,
            "OutputArtifactFormat": "CODE_ZIP",
        },
        output_artifacts=(artifact,),
        namespace=namespace,
    )


def delivery_blueprint(config: DeliveryConfig, refs: PipelineRefs) -> Blueprint:
    app, infra = config.application, config.infrastructure
    source = StageSpec(
        "Source",
        (
            _source_action(
                "Application",
                APPLICATION_SOURCE_NAMESPACE,
                app.repository,
                app.branch,
                APPLICATION_SOURCE,
                refs.connection_arn,
            ),
            _source_action(
                "Infrastructure",
                INFRASTRUCTURE_SOURCE_NAMESPACE,
                infra.repository,
                infra.branch,
                INFRASTRUCTURE_SOURCE,
                refs.connection_arn,
            ),
        ),
    )
    build = StageSpec(
        "Build",
        (
            ActionSpec(
                name="Build",
                category="Build",
                provider="CodeBuild",
                configuration={
                    "ProjectName": refs.build_project,
                    # The commit the image is tagged with, from the source action itself:
                    # CODEBUILD_RESOLVED_SOURCE_VERSION can be empty for a CODE_ZIP input.
                    "EnvironmentVariables": codebuild_variables(
                        [{"name": "APP_COMMIT", "value": f"#{{{APPLICATION_SOURCE_NAMESPACE}.CommitId}}"}]
                    ),
                },
                input_artifacts=(APPLICATION_SOURCE,),
                output_artifacts=(APPLICATION_VERSION,),
                namespace="Build",
            ),
        ),
    )
    stages = (
        source,
        build,
        *_all_environment_stages(config, refs),
    )
    triggers = (
        TriggerSpec("Application", app.branch),
        TriggerSpec("Infrastructure", infra.branch),
    )
    return Blueprint(stages, triggers)


# -- validation ----------------------------------------------------------------------

ARTIFACT_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")
MAX_PARAMETER_OVERRIDES_BYTES = 1024
MAX_CONFIGURATION_VALUE_CHARS = 1000


class BlueprintError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid pipeline:\n" + "\n".join(f"  - {p}" for p in problems))


def _get_param_artifacts(value: object) -> list[str]:
    """Artifacts named by every Fn::GetParam inside a ParameterOverrides document."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Fn::GetParam" and isinstance(inner, list) and inner:
                found.append(str(inner[0]))
            else:
                found.extend(_get_param_artifacts(inner))
    elif isinstance(value, list):
        for inner in value:
            found.extend(_get_param_artifacts(inner))
    return found


# Stage conditions (CodePipeline user guide, stage-conditions; API Condition): 1-5 rules
# each; an entry condition may SKIP only with VariableCheck or LambdaInvoke rules; an
# automatic retry takes no condition; a source stage cannot roll back.
MAX_CONDITION_RULES = 5
SKIPPABLE_RULE_PROVIDERS = frozenset({"VariableCheck", "LambdaInvoke"})
RULE_NAME = re.compile(r"[A-Za-z0-9.@_-]{1,100}")
CONDITION_RESULTS = {
    "before_entry": frozenset({"FAIL", "SKIP"}),
    "on_success": frozenset({"ROLLBACK", "FAIL"}),
}


def _condition_problems(stage: StageSpec, index: int, where: str) -> list[str]:
    problems: list[str] = []
    for kind in ("before_entry", "on_success"):
        condition: Optional[ConditionSpec] = getattr(stage, kind)
        if condition is None:
            continue
        at = f"{where}, {kind}"
        if condition.result not in CONDITION_RESULTS[kind]:
            problems.append(
                f"{at}: result {condition.result} is not one of {sorted(CONDITION_RESULTS[kind])}"
            )
        if not 1 <= len(condition.rules) <= MAX_CONDITION_RULES:
            problems.append(
                f"{at}: {len(condition.rules)} rules; a condition holds 1 to {MAX_CONDITION_RULES}"
            )
        names = [rule.name for rule in condition.rules]
        if len(set(names)) != len(names):
            problems.append(f"{at}: rule names repeat ({names})")
        for rule in condition.rules:
            if not RULE_NAME.fullmatch(rule.name):
                problems.append(f"{at}: rule name {rule.name!r} must match [A-Za-z0-9.@_-]{{1,100}}")
            if condition.result == "SKIP" and rule.provider not in SKIPPABLE_RULE_PROVIDERS:
                problems.append(
                    f"{at}: rule {rule.name!r} ({rule.provider}) cannot SKIP a stage; only "
                    f"{sorted(SKIPPABLE_RULE_PROVIDERS)} rules can"
                )
        if condition.result == "ROLLBACK" and index == 0:
            problems.append(f"{at}: the source stage cannot roll back")
    failure = stage.on_failure
    if failure is not None:
        if failure.result not in ("ROLLBACK", "RETRY"):
            problems.append(f"{where}, on_failure: result {failure.result} is not ROLLBACK or RETRY")
        if (failure.result == "RETRY") != (failure.retry_mode is not None):
            problems.append(f"{where}, on_failure: a retry mode goes with RETRY and only with it")
        if failure.result == "ROLLBACK" and index == 0:
            problems.append(f"{where}, on_failure: the source stage cannot roll back")
    return problems


def validate_blueprint(blueprint: Blueprint) -> None:
    """Raise BlueprintError listing what CodePipeline would reject at deploy time."""
    problems: list[str] = []
    stage_names: set[str] = set()
    produced: set[str] = set()  # artifacts of earlier stages
    if not 2 <= len(blueprint.stages) <= 50:
        problems.append(f"pipeline: {len(blueprint.stages)} stages; CodePipeline allows 2 to 50")
    for index, stage in enumerate(blueprint.stages):
        where_stage = f"stage {stage.name!r}" + (
            f" (environment {stage.environment!r})" if stage.environment else ""
        )
        if stage.name in stage_names:
            problems.append(f"{where_stage}: duplicate stage name")
        stage_names.add(stage.name)
        action_names: set[str] = set()
        produced_in_stage: set[str] = set()
        for action in stage.actions:
            where = f"{where_stage}, action {action.name!r}"
            if not ACTION_NAME.fullmatch(action.name):
                problems.append(f"{where}: an action name must match [A-Za-z0-9.@_-]{{1,100}}")
            if action.name in action_names:
                problems.append(f"{where}: duplicate action name in the stage")
            action_names.add(action.name)
            is_source = action.category == "Source"
            if index == 0 and not is_source:
                problems.append(f"{where}: the first stage may hold only source actions")
            if index > 0 and is_source:
                problems.append(f"{where}: source actions belong in the first stage only")
            if not 1 <= action.run_order <= 999:
                problems.append(f"{where}: run order {action.run_order} is outside 1-999")
            for artifact in (*action.input_artifacts, *action.output_artifacts):
                if not ARTIFACT_NAME.fullmatch(artifact):
                    problems.append(f"{where}: artifact name {artifact!r} must match [A-Za-z0-9_-]{{1,100}}")
            for artifact in action.input_artifacts:
                from_earlier_action = artifact in produced or any(
                    other.run_order < action.run_order and artifact in other.output_artifacts
                    for other in stage.actions
                )
                if not from_earlier_action:
                    problems.append(f"{where}: input artifact {artifact!r} is produced by no earlier action")
            for artifact in action.output_artifacts:
                if artifact in produced or artifact in produced_in_stage:
                    problems.append(f"{where}: output artifact {artifact!r} is already produced")
                produced_in_stage.add(artifact)
            for key, value in action.configuration.items():
                if len(value) > MAX_CONFIGURATION_VALUE_CHARS:
                    problems.append(
                        f"{where}: configuration {key} is {len(value)} characters; "
                        f"CodePipeline allows {MAX_CONFIGURATION_VALUE_CHARS}"
                    )
            overrides = action.configuration.get("ParameterOverrides")
            if isinstance(overrides, str):
                size = len(overrides.encode())
                if size > MAX_PARAMETER_OVERRIDES_BYTES:
                    problems.append(
                        f"{where}: ParameterOverrides is {size} bytes; CloudFormation actions "
                        f"allow {MAX_PARAMETER_OVERRIDES_BYTES} (move parameters into the "
                        "template configuration file)"
                    )
                for artifact in _get_param_artifacts(json.loads(overrides)):
                    if artifact not in action.input_artifacts:
                        problems.append(
                            f"{where}: Fn::GetParam reads artifact {artifact!r}, "
                            "which is not an input of the action"
                        )
        problems.extend(_condition_problems(stage, index, where_stage))
        produced.update(produced_in_stage)
    namespaces = [a.namespace for stage in blueprint.stages for a in stage.actions if a.namespace]
    repeated = sorted({n for n in namespaces if namespaces.count(n) > 1})
    if repeated:
        problems.append(f"pipeline: variable namespaces {repeated} are used by more than one action")
    if problems:
        raise BlueprintError(problems)
