"""The delivery pipeline as plain data: what it is, apart from how CodePipeline realises it.

`delivery_blueprint(config)` turns the stack config into stages, actions and triggers;
`validate_blueprint` checks the graph against the rules CodePipeline would only enforce at
`pulumi up`. Values that exist only once resources do (the connection ARN, the build
project name, the deploy role) are `Ref`s that `DeliveryPipeline` fills in.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from typing import Optional, Union

from components.config import CHANGE_SET_SUFFIX, DeliveryConfig, EnvironmentConfig

APPLICATION_SOURCE = "ApplicationSource"
INFRASTRUCTURE_SOURCE = "InfrastructureSource"
APPLICATION_VERSION = "ApplicationVersion"
APPLICATION_SOURCE_NAMESPACE = "AppSource"
INFRASTRUCTURE_SOURCE_NAMESPACE = "InfraSource"
CAPABILITIES = "CAPABILITY_NAMED_IAM"

# Names DeliveryPipeline binds every Ref to.
REF_CONNECTION_ARN = "connection_arn"
REF_BUILD_PROJECT = "build_project_name"
REF_NOTIFICATION_TOPIC_ARN = "notification_topic_arn"
REF_IMAGE_REGISTRY = "image_registry"


def _environment_ref(kind: str, environment: str) -> str:
    # string.Template identifiers take no '-'.
    return f"{kind}_" + environment.replace("-", "_")


def review_project_ref(environment: str) -> str:
    """Ref name of an environment's change-set review project."""
    return _environment_ref("review_project", environment)


def deploy_role_ref(environment: str) -> str:
    """Ref name of the role CloudFormation deploys an environment's stack with."""
    return _environment_ref("deploy_role_arn", environment)


def boundary_ref(environment: str) -> str:
    """Ref name of the permissions boundary an environment's stack roles must carry."""
    return _environment_ref("boundary_arn", environment)


def action_role_ref(environment: str) -> str:
    """Ref name of the role the pipeline assumes for an environment in another account."""
    return _environment_ref("action_role_arn", environment)


def review_reader_ref(environment: str) -> str:
    """Ref name of the read-only role a review assumes in another account."""
    return _environment_ref("review_reader_arn", environment)


def verify_project_ref(environment: str) -> str:
    """Ref name of an environment's verify (smoke test) project."""
    return _environment_ref("verify_project", environment)


def review_namespace(environment: str) -> str:
    return f"Review-{environment}"


def stack_namespace(environment: str) -> str:
    """Variables namespace of the action that deploys an environment's stack: CloudFormation
    actions publish the stack's outputs as variables (`#{Stack-<env>.ApplicationUrl}`)."""
    return f"Stack-{environment}"


def plan_stage_name(environment: str) -> str:
    return f"{environment}-plan"


def plan_namespace(environment: str) -> str:
    """Variables namespace of the plan stage's review (its CHANGE_COUNT gates the release)."""
    return f"Plan-{environment}"


@dataclass(frozen=True)
class Ref:
    """A configuration value known only once resources exist: a `string.Template` whose
    `${names}` are bound by DeliveryPipeline (CodePipeline's own `#{...}` variables pass
    through untouched)."""

    template: str

    def render(self, values: dict[str, str]) -> str:
        return string.Template(self.template).substitute(values)

    def render_sample(self) -> str:
        """The value with every bound name replaced by a worst-case stand-in, for the
        checks that need a length or a parse before resources exist."""
        return string.Template(self.template).substitute(_SampleValues())


# Longer than any ARN a Ref is bound to here: an IAM role ARN is at most ~100 characters
# (64-character name), a boundary policy ARN under /ecs-delivery/ about 120.
REF_SAMPLE_LENGTH = 128


class _SampleValues(dict):
    def __missing__(self, key: str) -> str:
        return "x" * REF_SAMPLE_LENGTH


def ref(name: str) -> Ref:
    """A configuration value that is exactly one bound value."""
    return Ref("${" + name + "}")


ConfigValue = Union[str, Ref]


@dataclass(frozen=True)
class ActionSpec:
    name: str
    category: str
    provider: str
    configuration: dict[str, ConfigValue]
    input_artifacts: tuple[str, ...] = ()
    output_artifacts: tuple[str, ...] = ()
    run_order: int = 1
    namespace: Optional[str] = None
    owner: str = "AWS"
    version: str = "1"
    role: Optional[ConfigValue] = None
    """The role the pipeline assumes to run the action (an environment in another account)."""


@dataclass(frozen=True)
class RuleSpec:
    """One rule of a stage condition (category Rule, owner AWS, version 1)."""

    name: str
    provider: str
    """DeploymentWindow, CloudWatchAlarm or VariableCheck."""
    configuration: dict[str, str]
    role: Optional[ConfigValue] = None
    """The role the rule runs with (alarms in another account); None: the pipeline's."""


@dataclass(frozen=True)
class ConditionSpec:
    """Rules evaluated together; when one fails, `result` happens."""

    result: str
    rules: tuple[RuleSpec, ...]


@dataclass(frozen=True)
class FailureSpec:
    """What CodePipeline does when the stage fails."""

    result: str
    """ROLLBACK or RETRY."""
    retry_mode: Optional[str] = None
    """With RETRY: FAILED_ACTIONS or ALL_ACTIONS."""


@dataclass(frozen=True)
class StageSpec:
    name: str
    actions: tuple[ActionSpec, ...]
    environment: Optional[str] = None
    """The config environment this stage deploys (None for Source and Build)."""
    before_entry: Optional[ConditionSpec] = None
    on_success: Optional[ConditionSpec] = None
    on_failure: Optional[FailureSpec] = None
    account: Optional[str] = None
    """The other AWS account the stage deploys to; None: the pipeline's own."""


@dataclass(frozen=True)
class TriggerSpec:
    source_action: str
    branch: str


@dataclass(frozen=True)
class Blueprint:
    stages: tuple[StageSpec, ...]
    triggers: tuple[TriggerSpec, ...]
    stack_names: tuple[str, ...] = field(default=())
    """Stacks the pipeline role drives itself: those in the pipeline's own account (the
    others are driven through their environments' action roles)."""


def json_ref(document: object) -> Ref:
    """`document` as compact JSON text in which every `Ref` (a whole string value) is
    bound later and everything else stays literal (`$` included)."""
    bound: dict[str, str] = {}

    def mark(value: object) -> str:
        if not isinstance(value, Ref):
            raise TypeError(f"{type(value).__name__} is not JSON serializable")
        marker = f"__ecs_delivery_ref_{len(bound)}__"
        bound[marker] = value.template
        return marker

    text = json.dumps(document, separators=(",", ":"), default=mark).replace("$", "$$")
    for marker, template in bound.items():
        text = text.replace(marker, template)
    return Ref(text)


def parameter_overrides(config: DeliveryConfig, env: EnvironmentConfig) -> Ref:
    """What the pipeline sets in every environment's template: the image tag from the
    build's version file, the repository the build pushed it to, and the permissions
    boundary of the environment (known once it exists, hence a Ref); the environment's
    own parameters are merged in after them."""
    overrides: dict[str, object] = {
        config.image_tag_parameter: {
            "Fn::GetParam": [APPLICATION_VERSION, config.build.version_file, config.build.version_key]
        },
        config.image_repository_parameter: config.image_repository_name,
        config.image_registry_parameter: ref(REF_IMAGE_REGISTRY),
        config.permissions_boundary_parameter: ref(boundary_ref(env.name)),
    }
    overrides.update(env.parameters)
    return json_ref(overrides)


def change_set_name(env: EnvironmentConfig) -> str:
    return env.stack_name + CHANGE_SET_SUFFIX


def _template_settings(config: DeliveryConfig, env: EnvironmentConfig) -> dict[str, ConfigValue]:
    settings: dict[str, ConfigValue] = {
        "StackName": env.stack_name,
        "TemplatePath": f"{INFRASTRUCTURE_SOURCE}::{config.infrastructure.template_path}",
    }
    if env.template_configuration:
        settings["TemplateConfiguration"] = f"{INFRASTRUCTURE_SOURCE}::{env.template_configuration}"
    settings.update(
        ParameterOverrides=parameter_overrides(config, env),
        Capabilities=CAPABILITIES,
        RoleArn=ref(deploy_role_ref(env.name)),
    )
    return settings


def _deploy_action(
    name: str, mode: str, settings: dict[str, ConfigValue], env: EnvironmentConfig, run_order: int
) -> ActionSpec:
    return ActionSpec(
        name=name,
        category="Deploy",
        provider="CloudFormation",
        configuration={"ActionMode": mode, **settings},
        input_artifacts=(INFRASTRUCTURE_SOURCE, APPLICATION_VERSION),
        run_order=run_order,
        namespace=stack_namespace(env.name),
        role=_action_role(env),
    )


def _action_role(env: EnvironmentConfig) -> Optional[Ref]:
    """CloudFormation actions of an environment in another account run as its action
    role there; everything else runs as the pipeline's role."""
    return ref(action_role_ref(env.name)) if env.account else None


def _verify_action(env: EnvironmentConfig, run_order: int) -> Optional[ActionSpec]:
    """The smoke test after the deploy: a CodeBuild project running `verify.command` in the
    application's checkout, with the named stack outputs as environment variables."""
    if env.verify is None:
        return None
    namespace = stack_namespace(env.name)
    variables = [
        {"name": output, "value": f"#{{{namespace}.{output}}}", "type": "PLAINTEXT"}
        for output in env.verify.stack_outputs
    ]
    return ActionSpec(
        name="Verify",
        category="Test",
        provider="CodeBuild",
        configuration={
            "ProjectName": ref(verify_project_ref(env.name)),
            "EnvironmentVariables": json.dumps(variables, separators=(",", ":")),
        },
        input_artifacts=(APPLICATION_SOURCE,),
        run_order=run_order,
    )


def deployment_window_condition(env: EnvironmentConfig) -> Optional[ConditionSpec]:
    """Entry only inside the window. The result is FAIL, the only entry result AWS allows
    for a DeploymentWindow rule (SKIP takes only VariableCheck and LambdaInvoke rules);
    outside the window the execution waits at the stage's entry until the window opens."""
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
    """Entry only when the reviewed change set changes something; otherwise the stage is
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


def alarms_condition(env: EnvironmentConfig) -> Optional[ConditionSpec]:
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
                role=_action_role(env),
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


def _in_account(env: EnvironmentConfig) -> str:
    return f" in account {env.account}" if env.account else ""


def _environment_stages(config: DeliveryConfig, env: EnvironmentConfig) -> tuple[StageSpec, ...]:
    """An ungated environment is one stage: deploy, then verify. A gated one is two, so
    that each gate acts where AWS allows it (README, "What happens when a deploy goes
    wrong"):

    - `<env>-plan`: create the change set and review it, to count its changes. The
      deployment window is its entry condition: a release starts only inside the window.
    - `<env>`: entered only when the plan counted changes (VariableCheck, SKIP: nothing
      to approve, nothing to ask); create the change set again, review it, approve,
      execute, verify. Alarms and onFailure act here. Everything a rollback or a retry
      needs is inside this stage: a rollback runs its actions again with the last
      successful execution's artifacts, so it creates a change set back to that version,
      and a person approves it like any other change set (an ExecuteChangeSet alone would
      find its change set consumed by the run that failed).
    """
    settings = _template_settings(config, env)
    if not env.approval:
        deploy = _deploy_action("Deploy", "CREATE_UPDATE", settings, env, run_order=1)
        verify = _verify_action(env, run_order=2)
        return (
            StageSpec(
                env.name,
                tuple(a for a in (deploy, verify) if a),
                environment=env.name,
                before_entry=deployment_window_condition(env),
                on_success=alarms_condition(env),
                on_failure=failure_spec(env),
                account=env.account,
            ),
        )

    change_set = change_set_name(env)
    create = ActionSpec(
        name="CreateChangeSet",
        category="Deploy",
        provider="CloudFormation",
        configuration={"ActionMode": "CHANGE_SET_REPLACE", "ChangeSetName": change_set, **settings},
        input_artifacts=(INFRASTRUCTURE_SOURCE, APPLICATION_VERSION),
        run_order=1,
        role=_action_role(env),
    )

    variables: list[dict[str, object]] = [
        {"name": "PIPELINE_EXECUTION_ID", "value": "#{codepipeline.PipelineExecutionId}"},
        {"name": "APP_COMMIT", "value": f"#{{{APPLICATION_SOURCE_NAMESPACE}.CommitId}}"},
    ]
    if env.account:
        # The read-only role the review assumes in the environment's account.
        variables.append({"name": "READER_ROLE_ARN", "value": ref(review_reader_ref(env.name))})
    review_variables = json_ref(variables)

    def review(namespace: str) -> ActionSpec:
        return ActionSpec(
            name="ReviewChangeSet",
            category="Build",
            provider="CodeBuild",
            configuration={
                "ProjectName": ref(review_project_ref(env.name)),
                "EnvironmentVariables": review_variables,
            },
            # CodeBuild actions take at least one input; the review reads the change set, not it.
            input_artifacts=(INFRASTRUCTURE_SOURCE,),
            run_order=2,
            namespace=namespace,
        )

    namespace = review_namespace(env.name)
    approve = ActionSpec(
        name="Approve",
        category="Approval",
        provider="Manual",
        configuration={
            "NotificationArn": ref(REF_NOTIFICATION_TOPIC_ARN),
            # What the approver reads in the notification: the review's one-line summary
            # (environment, changes, replacements, removals, image tag old → new), the
            # stack, the change set and the commit; the link opens exactly this change set
            # in the CloudFormation console (the full report's address is in the review's
            # REPORT_URL variable and build log).
            "CustomData": (
                f"#{{{namespace}.REVIEW_SUMMARY}} | stack {env.stack_name}{_in_account(env)}, "
                f"change set {change_set}, commit #{{{APPLICATION_SOURCE_NAMESPACE}.CommitId}}"
            ),
            "ExternalEntityLink": f"#{{{namespace}.CHANGE_SET_URL}}",
        },
        run_order=3,
    )
    execute = ActionSpec(
        name="ExecuteChangeSet",
        category="Deploy",
        provider="CloudFormation",
        configuration={
            "ActionMode": "CHANGE_SET_EXECUTE",
            "StackName": env.stack_name,
            "ChangeSetName": change_set,
        },
        run_order=4,
        namespace=stack_namespace(env.name),
        role=_action_role(env),
    )
    verify = _verify_action(env, run_order=5)
    return (
        StageSpec(
            plan_stage_name(env.name),
            (create, review(plan_namespace(env.name))),
            environment=env.name,
            before_entry=deployment_window_condition(env),
            account=env.account,
        ),
        StageSpec(
            env.name,
            tuple(a for a in (create, review(namespace), approve, execute, verify) if a),
            environment=env.name,
            before_entry=changes_condition(env),
            on_success=alarms_condition(env),
            on_failure=failure_spec(env),
            account=env.account,
        ),
    )


def _source_action(name: str, namespace: str, repository: str, branch: str, artifact: str) -> ActionSpec:
    return ActionSpec(
        name=name,
        category="Source",
        provider="CodeStarSourceConnection",
        configuration={
            "ConnectionArn": ref(REF_CONNECTION_ARN),
            "FullRepositoryId": repository,
            "BranchName": branch,
            "OutputArtifactFormat": "CODE_ZIP",
        },
        output_artifacts=(artifact,),
        namespace=namespace,
    )


def delivery_blueprint(config: DeliveryConfig) -> Blueprint:
    app, infra = config.application, config.infrastructure
    source = StageSpec(
        "Source",
        (
            _source_action(
                "Application", APPLICATION_SOURCE_NAMESPACE, app.repository, app.branch, APPLICATION_SOURCE
            ),
            _source_action(
                "Infrastructure",
                INFRASTRUCTURE_SOURCE_NAMESPACE,
                infra.repository,
                infra.branch,
                INFRASTRUCTURE_SOURCE,
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
                    "ProjectName": ref(REF_BUILD_PROJECT),
                    # The commit the image is tagged with, from the source action itself:
                    # CODEBUILD_RESOLVED_SOURCE_VERSION can be empty for a CODE_ZIP input.
                    "EnvironmentVariables": json.dumps(
                        [{"name": "APP_COMMIT", "value": f"#{{{APPLICATION_SOURCE_NAMESPACE}.CommitId}}"}],
                        separators=(",", ":"),
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
        *(stage for env in config.environments for stage in _environment_stages(config, env)),
    )
    triggers = (
        TriggerSpec("Application", app.branch),
        TriggerSpec("Infrastructure", infra.branch),
    )
    return Blueprint(
        stages, triggers, tuple(env.stack_name for env in config.environments if not env.account)
    )


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
                if isinstance(value, Ref):
                    value = value.render_sample()
                if len(value) > MAX_CONFIGURATION_VALUE_CHARS:
                    problems.append(
                        f"{where}: configuration {key} is {len(value)} characters; "
                        f"CodePipeline allows {MAX_CONFIGURATION_VALUE_CHARS}"
                    )
            overrides = action.configuration.get("ParameterOverrides")
            if isinstance(overrides, Ref):
                overrides = overrides.render_sample()
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
