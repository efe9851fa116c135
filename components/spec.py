"""The vocabulary a pipeline is written in, as plain data: stages, actions, conditions,
triggers, and the names of resources the actions refer to.

`components/blueprint.py` writes a pipeline in it, a deploy target (`components/cloudformation.py`)
contributes actions in it, and `DeliveryPipeline` realises it. Values known only once resources
exist (an ARN, a project name) are typed fields of `PipelineRefs`, filled in twice: with
worst-case stand-ins when the config is checked, with the real values when the pipeline is
declared. Every configuration value is a plain string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional

# Longer than any value a reference takes here: an IAM role ARN is at most about 100
# characters (64-character name), a boundary policy ARN under /ecs-delivery/ about 120, a
# CodeBuild project name at most 150 but ours are bounded by config (`<app>-<stack>-review-<env>`).
WORST_CASE_LENGTH = 128

# The application's checkout, as the Source stage's Application action outputs it: what every
# CodeBuild action that needs no other input takes (CodeBuild actions take at least one).
APPLICATION_SOURCE = "ApplicationSource"
# The Source stage's other output: the infrastructure repository's checkout (a deploy target's
# templates and settings); the Build stage's output: the version file (`version.json`); and the
# variables namespace of the application's source action (its CommitId).
INFRASTRUCTURE_SOURCE = "InfrastructureSource"
APPLICATION_VERSION = "ApplicationVersion"
APPLICATION_SOURCE_NAMESPACE = "AppSource"


@dataclass(frozen=True)
class EnvironmentRefs:
    """What the pipeline's actions name of one environment's resources (`EnvironmentDelivery`)."""

    target: Mapping[str, Optional[str]]
    """What its deploy target's actions name, by the target's own names (for a CloudFormation
    stack: components/cloudformation.py, `StackRefs`)."""
    account_role_arn: Optional[str] = None
    """In another account: the role there the pipeline acts through (its actions, its alarm rules)."""
    record_project: Optional[str] = None
    """Gated: the CodeBuild project that records each release and keeps its image."""
    units: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Per gate unit the environment has (components/units/), what its actions name."""


@dataclass(frozen=True)
class PipelineRefs:
    """Everything a pipeline's configuration names that exists only once resources do."""

    connection_arn: str
    build_project: str
    notification_topic_arn: str
    image_registry: str
    """`<account>.dkr.ecr.<region>.amazonaws.com`: where the application image is pushed."""
    environments: Mapping[str, EnvironmentRefs] = field(default_factory=dict)


def worst_case_value(what: str) -> str:
    """A stand-in as long as any value of `what` can be (for length checks)."""
    return (what + "-").ljust(WORST_CASE_LENGTH, "x")[:WORST_CASE_LENGTH]


def codebuild_variables(variables: list[dict[str, str]]) -> str:
    """A CodeBuild action's `EnvironmentVariables` configuration: the variables as compact JSON
    text (CodePipeline takes the configuration value as a string)."""
    return json.dumps(variables, separators=(",", ":"))


@dataclass(frozen=True)
class ActionSpec:
    name: str
    category: str
    provider: str
    configuration: Mapping[str, str]
    input_artifacts: tuple[str, ...] = ()
    output_artifacts: tuple[str, ...] = ()
    run_order: int = 1
    namespace: Optional[str] = None
    owner: str = "AWS"
    version: str = "1"
    role: Optional[str] = None
    """The role the pipeline assumes to run the action (an environment in another account)."""
    region: Optional[str] = None
    """The region the action runs in (an environment in another region); None: the pipeline's.
    CodePipeline then needs an artifact store in that region (docs/regions.md)."""


@dataclass(frozen=True)
class RuleSpec:
    """One rule of a stage condition (category Rule, owner AWS, version 1)."""

    name: str
    provider: str
    """DeploymentWindow, CloudWatchAlarm or VariableCheck."""
    configuration: Mapping[str, str]
    role: Optional[str] = None
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
