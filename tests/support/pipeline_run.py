"""A pipeline-run simulator: the pipeline the program declares, run through time.

It reads what the program declared under the mocks (the Pipeline resource's stages, actions
and conditions, and the CodeBuild projects the actions start) and runs executions of it
against a small world: the two repositories' heads, the image registry, CloudFormation
stacks and their change sets, the approvers, the alarms, the deployment window and the
smoke test's outcome. Scenario tests (tests/scenarios/) push commits, decide approvals,
break templates, fire alarms, and then read what happened: how many images were built,
change sets created, reviews and approvals asked for, and where each environment ended.

ECR (the application repository, "Lifecycle policy properties")
  E1  The registry serves each tag's digest; a tag can be moved to another image (World.swap).
  E2  Lifecycle (expire_images): each image is governed by the highest-priority rule whose tag
      selection matches it; a count rule expires the oldest pushed images it governs beyond its
      count, an age rule those pushed longer ago than its days. Assumed: the count is over the images the rule governs, not every image its
      selection matches.

ECS deployments as a stack update drives them (issue 27; the strategy and its times are read
from the parameters the declared action passes, ParameterOverrides and its template
configuration file, when the update runs, never from the stack file)
  S1  CloudFormation's update of AWS::ECS::Service returns only when the service's deployment
      has finished, bake included ("AWS::ECS::Service DeploymentConfiguration", BakeTimeInMinutes;
      "AWS::ECS::Service CanaryConfiguration": operations time out after 36 hours): the
      CloudFormation action waits for it. A deployment starts when the task definition changes
      (the image parameter, or a template that modifies ApplicationTaskDefinition; "UpdateService").
      Assumed: the update deploys with the strategy it sets itself (DeploymentStrategy of the new
      parameters); a stack create serves the new image at once (no previous revision to shift from).
      Not modelled: CloudFormation's answer to a change set or a recovery asked for while the
      update runs (a later execution's plan stage, during this one's bake).
  S2  Strategies ("Amazon ECS blue/green deployments", "Amazon ECS canary deployments", "Amazon
      ECS linear deployments", "LinearConfiguration"): ROLLING (or no DeploymentStrategy) replaces
      the tasks at once, as before this rule; BLUE_GREEN moves all production traffic, then bakes
      DeploymentBakeMinutes; CANARY moves CanaryPercent, waits CanaryBakeMinutes, moves the rest,
      then bakes; LINEAR moves LinearStepPercent more every LinearStepBakeMinutes until 100 (no
      step wait after 100), then bakes. Assumed: scaling up, the test traffic shift and the hook's
      own run take no simulated minute (inside the action's ACTION_MINUTES).
      Not modelled: alarms on a ROLLING deployment (ECS watches them for a bake it computes from
      the alarms' own configuration, "How CloudWatch alarms detect Amazon ECS deployment failures").
  S3  A lifecycle hook ("Lifecycle hooks for Amazon ECS service deployments"; "Lambda hooks for
      Amazon ECS service deployments"): with TestHookFunctionArn set, the hook runs at
      POST_TEST_TRAFFIC_SHIFT, before any production traffic moves; FAILED (World.test_hook_fails)
      rolls the deployment back to the last successful service revision.
  S4  Deployment alarms ("How CloudWatch alarms detect Amazon ECS deployment failures"): an alarm
      of DeploymentAlarmNames in ALARM while the deployment runs or bakes fails it and ECS rolls
      back (the template sets Rollback: true). An alarm the parameters do not name is not watched.
      World.deployment_alarm_after: minutes after an image first takes production traffic;
      World.alarm_from: a simulated minute from which an alarm is in ALARM whatever runs.
      Assumed: an alarm in ALARM at the very minute the bake ends no longer fails it.
  S5  A rolled-back deployment: production traffic is back on the old image at that minute, the
      stack update fails and CloudFormation rolls the stack back (UPDATE_ROLLBACK_COMPLETE, the
      stack as it was; C4), and the action fails. Assumed: both rollbacks take no simulated minute.
      What the pipeline then does is P4/P8 as declared: a stage with onFailure ROLLBACK starts a
      rollback execution, whose change set finds the stack already as the target left it (C3),
      so the service is not deployed again; the rollback runs the failed stage only, so the
      approval stage is not asked again (P8).
  S6  Traffic: PipelineRun.traffic(environment) is which image serves production traffic, in
      percent, from each minute it changed; PipelineRun.deployments holds each deployment with its
      strategy, minutes and outcome.

What runs for real, against stubs that answer from the world:
- the Build action: the example application's buildspec, Makefile, `start-dockerd`,
  `image-published` and `image-digest` (tests/support/app_build.py); the registry is the
  world's, each image in it served under a digest derived from its name;
- the review project: the build image's `review-change-set` and its renderer, in review and
  in confirm mode (DescribeChangeSet and DescribeStacks answered from the world);
- the recovery project: the build image's `recover-stack` (DescribeStacks from the world; a
  DeleteStack it makes deletes the world's stack);
- the drift check: the tools image's `check-drift` (DescribeStacks from the world, drift
  detection answering with the world's drifts of the stack, D1);
- the release gate: the confirm (`review-change-set` in confirm mode → `release_gate.py`) and
  the recorder (`record-release`), against the world's change sets, templates, registry,
  approvals and release records (tests/support/aws_stubs.py REVIEW_AWS).

What is modelled, each rule with the AWS documentation it follows:

CodePipeline ("CodePipeline concepts", "How pipeline executions are processed"; user guide)
  P1  Stages run in order. An execution holds a stage from entry to completion; one
      execution at a time per stage.
  P2  Execution modes: SUPERSEDED: an execution waiting to enter a stage is replaced by a
      newer one that reaches the same point (the older one is Superseded); QUEUED: waiting
      executions enter in the order they arrived.
  P3  Source actions read their branch's head when the execution starts them.
  P4  Actions of a stage run by run order; a failed action fails the stage.
  P5  `#{namespace.variable}` is resolved when an action starts; an unknown one fails the
      action ("Variables reference"). `#{codepipeline.PipelineExecutionId}` is the running
      execution's id.
  P6  Entry conditions ("Configure conditions for a stage"): every rule must succeed;
      otherwise FAIL fails the stage and the execution, SKIP skips the stage and the
      execution goes on. DeploymentWindow succeeds inside its window, VariableCheck when
      its comparison holds (rule reference: DeploymentWindow, VariableCheck).
  P7  On-success conditions: CloudWatchAlarm rules watch their alarm for WaitTime minutes;
      one in ALARM rolls the stage back (rule reference: CloudWatchAlarm).
  P8  Rollback ("Configuring stage rollback"): a new execution of type ROLLBACK runs the
      stage alone with the source revisions, artifacts and variables of the last execution
      that succeeded in it, never a rollback one; with none, the stage stays failed.
      Assumed (not documented): `#{codepipeline.PipelineExecutionId}` is the rollback
      execution's own id, and a rollback does not evaluate the stage's entry condition.
  P9  Automatic retry ("Configuring stage retry"): the failed stage runs once more, all of
      its actions (ALL_ACTIONS) or the failed ones and those after them (FAILED_ACTIONS),
      with the same artifacts and variables.
  P10 Manual approval ("Manage approval actions"): a rejection fails the action, and with
      it the stage. Assumed (not documented): ListActionExecutions' `updatedBy` of the
      approval is who answered it, an STS assumed-role ARN (World.approved_by).
  P11 Pipeline structure ("Configuring stage rollback"; "View rollback status details"): a
      rollback returns only to an execution started in the current pipeline structure version;
      a `pulumi up` that changes the declaration (update_pipeline) starts a new version, and
      the next failure has nothing to roll back to.
  P12 Source revision overrides ("StartPipelineExecution", sourceRevisions; V2 pipelines): a
      started execution reads the given commits instead of the branches' heads.

CloudFormation (CodePipeline "CloudFormation deploy action reference"; CloudFormation API)
  C1  CREATE_UPDATE creates a missing stack and updates an existing one; a stack in a failed
      state (ROLLBACK_COMPLETE, ...) cannot be updated, and the action fails.
  C2  REPLACE_ON_FAILURE: like CREATE_UPDATE, except that a stack in ROLLBACK_COMPLETE,
      ROLLBACK_FAILED, CREATE_FAILED, DELETE_FAILED or UPDATE_ROLLBACK_FAILED is deleted and
      created again.
  C3  CHANGE_SET_REPLACE replaces the named change set; for a missing stack it makes a
      CREATE change set (the stack waits in REVIEW_IN_PROGRESS); a stack in ROLLBACK_COMPLETE
      refuses it. A change set without changes is FAILED ("didn't contain changes") and the
      action succeeds.
  C4  CHANGE_SET_EXECUTE executes it; a failed create rolls back to ROLLBACK_COMPLETE, a
      failed update to UPDATE_ROLLBACK_COMPLETE (the stack as it was). Executing removes every
      other change set of the stack (ExecuteChangeSet). Assumed: a change set without changes
      executes as a no-op (what CDK Pipelines' unconditional prepare/execute pair relies on).
  C5  Updating a stack invalidates its earlier change sets.

Waves (components/blueprint.py, docs/waves.md)
  W1  A wave's stage holds its members' actions, each named `<member>-<action>`; the environment
      of an action there is its name's prefix. Actions of one run order start together (P4,
      "CodePipeline pipeline structure reference", runOrder; the simulator runs them in turn).
      Assumed (no page says it for a failure): when one fails, the actions already started
      beside it run to their end, and no action of a later run order starts.
  W2  A rollback of a wave's release stage runs every member's actions (P8: the stage, with the
      last successful execution's artifacts and variables), so every member returns to that
      release. A member whose stack already holds it (CloudFormation rolled it back, C4, or it
      never changed) gets a change set without changes, which its confirm lets through as the
      recorded release, executes as a no-op (C4's assumption) and records again.
  W3  Not modelled: the alarms of a wave's release stage (P7) are asked about with no stack
      (World.alarm_fires(alarm, None)): the simulator does not know which member an alarm
      watches.

Drift (CloudFormation API reference: DetectStackDrift, DescribeStackResourceDrifts)
  D1  Drift detection reports `World.drifts[stack]` (changes made outside the pipeline, as
      DescribeStackResourceDrifts returns them, MODIFIED or DELETED) and completes at once. A
      release does not clear them. Assumed (no page says it either way for every property):
      an update sets only what the template changes, so a drifted property the release does
      not touch stays drifted.

Release time (the model: tests/support/durations.py holds every figure with its source; the
simulator's own clock above, in whole minutes, only orders events and is not this model)
  T1  Every action that runs is recorded in `PipelineRun.timeline` (its execution, stage,
      declared action, outcome, the AWS CLI calls its script made, whether it changed its
      stack); every bake (P7) with its WaitTime. The model prices the record afterwards.
  T2  An action costs CodePipeline's transition overhead, plus what its provider adds: a
      source fetch; a CodeBuild start (EC2: provisioning, or Lambda compute: its start), the
      pull of the project's image (its size per GB; none for CodeBuild's curated images, kept
      on the fleet), the build's own phases and its script's AWS CLI calls; a change set's
      creation; for a CloudFormation wait, half of the status polling interval on average.
  T3  The compute and the image are the declared project's `environment` (`type`,
      `computeType`, `image`), so the model follows the program; "before" prices every project
      that is not privileged with the shared build image on EC2 (BUILD_GENERAL1_SMALL), as
      they were before the tools image.
  T4  Excluded from the overhead and shown apart: the application's own work (the
      application build's commands, the stack update itself, the smoke test's command) and the
      approver's answer (human). A bake (the CloudWatchAlarm rule's WaitTime) is configuration:
      counted, but shown as "bake", not as overhead.
  T5  Actions of one run order run in parallel (the simulator runs them in turn, P4): the
      longest is on the critical path. Stages run one after another (P1).
  T6  The critical path of an execution is its actions, stage by stage, in run order; waits
      for a stage held by another execution (P1, P2) are not modelled. Stages skipped (P6)
      cost nothing. Per environment: the stages named after it (`<env>`, `<env>-plan`,
      `<env>-approval`).

"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from tests.support import app_build
from tests.support.aws_stubs import DRIFT_AWS, REVIEW_AWS, STACK_AWS
from tests.support.buildspec import run_buildspec, stub_environment
from tests.support.release_world import INDEX_MEDIA_TYPE, manifest_for

ROOT = Path(__file__).resolve().parents[2]
RENDERER = ROOT / "build-image" / "changeset_report.py"
GATE = ROOT / "build-image" / "release_gate.py"
# Who answers an approval, as ListActionExecutions' updatedBy names them (P10): a session of
# the fixtures' approver role.
APPROVER_SESSION = "arn:aws:sts::123456789012:assumed-role/release-managers/alice"
# The simulated clock's minute 0, as CodeBuild's CODEBUILD_START_TIME (epoch milliseconds).
EPOCH_MS = 1_765_015_200_000

# How long things take, in simulated minutes (only their order matters to the scenarios).
ACTION_MINUTES = 1
BUILD_MINUTES = 5
APPROVAL_MINUTES = 30

FAILED_STATES = {
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "CREATE_FAILED",
    "DELETE_FAILED",
    "UPDATE_ROLLBACK_FAILED",
}
RESOURCE_TYPES = {
    "ApplicationTaskDefinition": "AWS::ECS::TaskDefinition",
    "ApplicationService": "AWS::ECS::Service",
    "ApplicationLoadBalancer": "AWS::ElasticLoadBalancingV2::LoadBalancer",
}


def run_order(action: dict[str, Any]) -> float:
    """Actions of one run order run in parallel, the next order after them all ("CodePipeline
    pipeline structure reference", runOrder)."""
    return float(action.get("runOrder", 1))


# -- the world -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Template:
    """The infrastructure repository's template at one commit."""

    name: str
    fails_in: frozenset[str] = frozenset()
    """The stacks where a create or update with it fails (and CloudFormation rolls it back)."""
    modifies: tuple[str, ...] = ("ApplicationService",)
    """What it changes when it replaces another template."""
    resources: tuple[str, ...] = tuple(RESOURCE_TYPES)
    outputs: Mapping[str, str] = field(
        default_factory=lambda: {
            "ApplicationUrl": "http://app.example.com",
            "TaskDefinition": "todobackend:1",
        }
    )


@dataclass(frozen=True)
class InfraCommit:
    sha: str
    template: Template
    files: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Template configuration files: path → their Parameters."""


@dataclass
class ChangeSet:
    name: str
    id: str
    kind: str  # CREATE or UPDATE
    template: Template
    parameters: dict[str, str]
    changes: list[dict[str, Any]]
    status: str = "CREATE_COMPLETE"  # or FAILED (no changes)


@dataclass
class Stack:
    name: str
    status: str
    template: Optional[Template] = None
    parameters: dict[str, str] = field(default_factory=dict)
    change_sets: dict[str, ChangeSet] = field(default_factory=dict)
    image_parameter: Optional[str] = None

    @property
    def version(self) -> Optional[str]:
        """`<image tag> <template>` of what the stack holds, None before a first release."""
        if self.template is None or self.status in ("REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE"):
            return None
        return f"{self.parameters.get(self.image_parameter or '', '?')} {self.template.name}"


@dataclass(frozen=True)
class ApprovalRequest:
    stage: str
    execution: str
    summary: str


@dataclass
class World:
    app_head: str
    infra_head: InfraCommit
    registry: set[str] = field(default_factory=set)
    stacks: dict[str, Stack] = field(default_factory=dict)
    decide: Callable[[ApprovalRequest], tuple[str, int]] = lambda request: ("Approved", APPROVAL_MINUTES)
    """The approver: (Approved or Rejected, minutes until they answer)."""
    immutable_tags: bool = True
    """The application repository refuses to overwrite a tag (ecr.immutableTags)."""
    window_open: Callable[[Mapping[str, str]], bool] = lambda rule: True
    alarm_fires: Callable[[str, Stack], bool] = lambda alarm, stack: False
    smoke_passes: Callable[[str, Stack], bool] = lambda environment, stack: True
    approved_by: Callable[[ApprovalRequest], str] = lambda request: APPROVER_SESSION
    """Who answers an approval the approver approves (P10)."""
    pushed_at: dict[str, int] = field(default_factory=dict)
    """When each tag was pushed (simulated minutes): ECR's lifecycle counts by it (E2)."""
    swapped: dict[str, str] = field(default_factory=dict)
    """Tags moved to another image since the build pushed them: tag → that image's name (E1)."""
    marks: dict[str, list[str]] = field(default_factory=dict)
    """Release marks on each image (by the tag the build gave it), as the recorders leave them."""
    infra_commits: dict[str, InfraCommit] = field(default_factory=dict)
    """Every infrastructure commit pushed, by sha (P12)."""
    test_hook_fails: Callable[[str, str], bool] = lambda stack, image: False
    """S3: the lifecycle hook answers FAILED for (stack name, image tag)."""
    deployment_alarm_after: Callable[[str, str, str], Optional[int]] = lambda alarm, stack, image: None
    """S4: (alarm, stack name, image tag) → minutes after that image first takes production
    traffic in that stack when the alarm goes into ALARM; None: it stays OK."""
    alarm_from: dict[str, int] = field(default_factory=dict)
    """S4: alarm → the simulated minute from which it is in ALARM, whatever runs."""
    drifts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """D1: stack name → its drifted resources, as DescribeStackResourceDrifts returns them."""


# -- what happened -----------------------------------------------------------------------------
@dataclass
class Counts:
    image_builds: int = 0
    """Build actions that built and pushed an image (not the ones that found it published)."""
    builds: int = 0
    change_sets: int = 0
    reviews: int = 0
    confirms: int = 0
    recoveries: int = 0
    drift_checks: int = 0
    approvals: int = 0
    records: int = 0


@dataclass
class Execution:
    id: str
    type: str  # STANDARD or ROLLBACK
    status: str = "InProgress"
    stages: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict[str, str]] = field(default_factory=dict)
    rollback_of: Optional[str] = None
    """The stage a rollback execution runs."""
    structure: int = 1
    """The pipeline structure version it started in (P11)."""
    source_revisions: Mapping[str, str] = field(default_factory=dict)
    """Source action → commit it reads instead of its branch's head (P12)."""
    target: Optional[str] = None
    """The execution a rollback returns to."""
    log: list[str] = field(default_factory=list)


class ActionFailed(Exception):
    pass


@dataclass
class ActionRun:
    """T1: one run of one action, as the release-time model prices it."""

    execution: Execution
    stage: str
    action: dict[str, Any]
    """The declared action (provider, runOrder, configuration)."""
    succeeded: bool = False
    aws_calls: tuple = ()
    """The AWS CLI calls its script made (each an argument list), for CodeBuild actions."""
    stack_changed: bool = False
    """A CloudFormation action that created, updated or rolled back its stack."""


@dataclass(frozen=True)
class Bake:
    """T1: an on-success condition's wait (P7)."""

    execution: Execution
    stage: str
    minutes: int


# -- running the real scripts, once per distinct input ------------------------------------------
_SCRIPT_RUNS: dict[str, Any] = {}


def _memo(kind: str, inputs: Any, run: Callable[[], Any]) -> Any:
    """The scripts are functions of their inputs (environment, files, script text): a run is
    kept by a digest of all of them and replayed when the same inputs come again."""
    key = hashlib.sha256(json.dumps([kind, inputs], sort_keys=True, default=str).encode()).hexdigest()
    if key not in _SCRIPT_RUNS:
        _SCRIPT_RUNS[key] = run()
    return _SCRIPT_RUNS[key]


@dataclass(frozen=True)
class ScriptRun:
    succeeded: bool
    output: str
    exported: Mapping[str, str]
    files: Mapping[str, str] = field(default_factory=dict)
    calls: tuple = ()
    aws_calls: tuple = ()
    """The AWS CLI calls the script made (T1)."""


def _logged_calls(log: Path) -> tuple:
    """The calls a stub `aws` recorded (one JSON list per line), for the release-time model."""
    return tuple(tuple(json.loads(line)) for line in log.read_text().splitlines()) if log.exists() else ()


def _sources(*paths: Path) -> list[str]:
    return [p.read_text() for p in paths]


@dataclass
class Deployment:
    """S1-S6: one ECS deployment of a stack's service, as its stack update drives it."""

    stack: str
    execution: str
    strategy: str
    old: Optional[str]
    """The image tag serving before."""
    new: str
    started: int
    shifts: list[tuple[int, float]]
    """(minute, percent of production traffic on the new image) as planned (S2)."""
    bake_ends: int
    """The minute the deployment completes if nothing fails."""
    failed_at: Optional[int] = None
    failure: Optional[str] = None
    ended: Optional[int] = None
    """The minute it completed or was rolled back."""


# -- the simulator -------------------------------------------------------------------------------
class PipelineRun:
    """Executions of one declared pipeline in one world."""

    def __init__(self, mocks, world: World):
        (pipeline,) = [r for r in mocks.resources if r.type == "aws:codepipeline/pipeline:Pipeline"]
        self.declared = pipeline.inputs
        self.stages: list[dict[str, Any]] = self.declared["stages"]
        self.mode: str = self.declared.get("executionMode", "SUPERSEDED")
        self.projects = {
            r.inputs["name"]: r.inputs for r in mocks.resources if r.type == "aws:codebuild/project:Project"
        }
        self.lifecycle_policies = [
            r.inputs for r in mocks.resources if r.type == "aws:ecr/lifecyclePolicy:LifecyclePolicy"
        ]
        (self.application_repository,) = {
            v["value"]
            for project in self.projects.values()
            for v in project["environment"].get("environmentVariables") or []
            if v["name"] == "IMAGE_REPOSITORY_NAME"
            and "RECORD_TABLE" not in {w["name"] for w in project["environment"]["environmentVariables"]}
        }
        self.world = world
        self.counts = Counts()
        self.executions: list[Execution] = []
        self.approvals: list[ApprovalRequest] = []
        self.now = 0
        self._ids = itertools.count(1)
        self._build_numbers: dict[str, int] = {}
        self._queue: list[tuple[int, int, Generator, Any]] = []
        self._seq = itertools.count()
        self._holder: dict[str, Execution] = {}
        self._waiting: dict[str, list[tuple[Execution, Generator]]] = {}
        self._tmp = Path(tempfile.mkdtemp(prefix="pipeline-run-"))
        self.structure = 1
        self.deployments: list[Deployment] = []
        """S6: every ECS deployment a stack update started, in order."""
        self._traffic: dict[str, list[tuple[int, dict[str, float]]]] = {}
        self._deploying: dict[str, tuple[Deployment, Template, dict[str, str], Optional[str]]] = {}
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        """Release records as the table holds them (DynamoDB JSON items), by (environment, execution)."""
        self.answered: dict[tuple[str, str], str] = {}
        """(execution, approval stage) → who approved it (P10)."""
        self.world.infra_commits.setdefault(self.world.infra_head.sha, self.world.infra_head)
        self.timeline: list[ActionRun | Bake] = []
        """T1: every action run and bake, in the order they happened."""
        self._script_calls: tuple = ()

    # -- the clock and the stage locks (P1, P2) --
    def _schedule(self, at: int, process: Generator, value: Any = None) -> None:
        heapq.heappush(self._queue, (at, next(self._seq), process, value))

    def start(
        self, at: Optional[int] = None, source_revisions: Optional[Mapping[str, str]] = None
    ) -> Execution:
        """A push (or "Release change", or StartPipelineExecution with `source_revisions`, P12):
        a new standard execution starting at `at` (default: now)."""
        execution = Execution(
            id=self._new_id(),
            type="STANDARD",
            structure=self.structure,
            source_revisions=dict(source_revisions or {}),
        )
        self.executions.append(execution)
        process = self._standard(execution)
        self._schedule(self.now if at is None else at, process)
        return execution

    def push(
        self, *, app: Optional[str] = None, infra: Optional[InfraCommit] = None, at: Optional[int] = None
    ):
        """Commits to the branches the triggers watch at `at` (default: now), and the
        execution they start then."""

        def land() -> Generator:
            if app is not None:
                self.world.app_head = app
            if infra is not None:
                self.world.infra_head = infra
                self.world.infra_commits[infra.sha] = infra
            self.start(self.now)
            yield from ()

        self._schedule(self.now if at is None else at, land())

    def update_pipeline(self) -> None:
        """A `pulumi up` that changes the pipeline's declaration: a new structure version (P11)."""
        self.structure += 1

    def run(self, until: Optional[int] = None) -> None:
        """Advance the clock until nothing is left to do (or until `until`)."""
        while self._queue and (until is None or self._queue[0][0] <= until):
            at, _, process, value = heapq.heappop(self._queue)
            self.now = max(self.now, at)
            self._step(process, value)

    def _step(self, process: Generator, value: Any) -> None:
        try:
            request = process.send(value)
        except StopIteration:
            return
        kind, argument = request
        if kind == "wait":
            self._schedule(self.now + argument, process)
        elif kind == "enter":
            execution, stage = argument
            self._enter(execution, stage, process)
        elif kind == "leave":
            self._leave(argument)
            self._schedule(self.now, process)

    def _enter(self, execution: Execution, stage: str, process: Generator) -> None:
        if stage not in self._holder:
            self._holder[stage] = execution
            self._schedule(self.now, process, True)
            return
        waiting = self._waiting.setdefault(stage, [])
        if self.mode == "SUPERSEDED":
            for older, older_process in waiting:
                older.status = "Superseded"
                older.log.append(f"{self.now}: superseded at the entry of {stage}")
                older_process.close()
            waiting.clear()
        waiting.append((execution, process))

    def _leave(self, stage: str) -> None:
        self._holder.pop(stage, None)
        waiting = self._waiting.get(stage) or []
        if waiting:
            execution, process = waiting.pop(0)
            self._holder[stage] = execution
            self._schedule(self.now, process, True)

    def _new_id(self) -> str:
        number = next(self._ids)
        return f"{number:08x}-0000-4000-8000-{number:012x}"

    # -- executions --
    def _standard(self, execution: Execution) -> Generator:
        for stage in self.stages:
            yield ("enter", (execution, stage["name"]))
            outcome = yield from self._run_stage(execution, stage)
            if outcome == "handed-over":
                execution.status = "Failed"
                return
            yield ("leave", stage["name"])
            if outcome == "Failed":
                execution.status = "Failed"
                return
        execution.status = "Succeeded"

    def _rollback(self, execution: Execution, stage: dict[str, Any]) -> Generator:
        # The stage is handed over: no "enter".
        outcome = yield from self._run_stage(execution, stage, rolling_back=True)
        if outcome != "handed-over":
            yield ("leave", stage["name"])
        execution.status = "Succeeded" if outcome == "Succeeded" else "Failed"

    def _run_stage(
        self, execution: Execution, stage: dict[str, Any], rolling_back: bool = False
    ) -> Generator:
        name = stage["name"]
        entry = (stage.get("beforeEntry") or {}).get("condition")
        if entry and not rolling_back:
            failed_rules = [r["name"] for r in entry["rules"] if not self._rule_holds(execution, r)]
            if failed_rules:
                result = "Skipped" if entry["result"] == "SKIP" else "Failed"
                execution.stages[name] = result
                execution.log.append(f"{self.now}: {name}: entry rules {failed_rules} failed: {result}")
                return result
        actions = sorted(stage["actions"], key=run_order)
        retried = False
        start_at = 0
        while True:
            failed_at = None
            for index in range(start_at, len(actions)):
                if failed_at is not None and run_order(actions[index]) != run_order(actions[failed_at]):
                    break  # the actions beside the failed one ran (CodePipeline starts them together)
                try:
                    yield from self._timed(execution, stage, actions[index])
                except ActionFailed as failure:
                    execution.log.append(f"{self.now}: {name}/{actions[index]['name']} failed: {failure}")
                    if failed_at is None:
                        failed_at = index
            if failed_at is None:
                break
            failure = stage.get("onFailure") or {}
            if failure.get("result") == "RETRY" and not retried:  # P9
                retried = True
                mode = (failure.get("retryConfiguration") or {}).get("retryMode", "FAILED_ACTIONS")
                start_at = 0 if mode == "ALL_ACTIONS" else failed_at
                execution.log.append(f"{self.now}: {name}: retry ({mode})")
                continue
            execution.stages[name] = "Failed"
            if failure.get("result") == "ROLLBACK" and not rolling_back:
                return self._start_rollback(execution, stage)
            return "Failed"
        success = (stage.get("onSuccess") or {}).get("condition")
        if success and not rolling_back:  # P7
            wait = max(int(r["configuration"].get("WaitTime", "0")) for r in success["rules"])
            self.timeline.append(Bake(execution, name, wait))  # T1
            yield ("wait", wait)
            fired = [
                r["configuration"]["AlarmName"]
                for r in success["rules"]
                if r["ruleTypeId"]["provider"] == "CloudWatchAlarm"
                and self.world.alarm_fires(r["configuration"]["AlarmName"], self._stack_of_stage(stage))
            ]
            if fired:
                execution.stages[name] = "Failed"
                execution.log.append(f"{self.now}: {name}: alarms {fired} in ALARM during the bake")
                return self._start_rollback(execution, stage)
        execution.stages[name] = "Succeeded"
        return "Succeeded"

    def _start_rollback(self, failed: Execution, stage: dict[str, Any]) -> str:
        """P8: the last standard execution that succeeded in the stage, if any."""
        name = stage["name"]
        succeeded = [e for e in self.executions if e.type == "STANDARD" and e.stages.get(name) == "Succeeded"]
        targets = [e for e in succeeded if e.structure == self.structure]  # P11
        if not targets:
            why = (
                "every earlier successful execution started in an older pipeline structure; "
                "CodePipeline refuses the rollback"
                if succeeded
                else "no earlier successful execution to roll back to"
            )
            failed.log.append(f"{self.now}: {name}: {why}")
            return "Failed"
        target = targets[-1]
        rollback = Execution(
            id=self._new_id(),
            type="ROLLBACK",
            structure=self.structure,
            artifacts=dict(target.artifacts),
            variables={k: dict(v) for k, v in target.variables.items() if k != "codepipeline"},
            rollback_of=name,
            target=target.id,
        )
        self.executions.append(rollback)
        failed.log.append(f"{self.now}: {name}: rolling back to {target.id} ({rollback.id})")
        # The rollback takes the stage straight from the execution that failed in it.
        self._holder[name] = rollback
        process = self._rollback(rollback, stage)
        self._schedule(self.now, process)
        return "handed-over"

    # -- conditions --
    def _rule_holds(self, execution: Execution, rule: dict[str, Any]) -> bool:
        provider = rule["ruleTypeId"]["provider"]
        configuration = rule["configuration"]
        if provider == "DeploymentWindow":
            return self.world.window_open(configuration)
        if provider == "VariableCheck":
            value = self._resolve(execution, configuration["Variable"])
            expected = configuration["Value"]
            operator = configuration["Operator"]
            return {
                "EQ": value == expected,
                "NE": value != expected,
                "CONTAINS": expected in value,
                "MATCHES": re.fullmatch(expected, value) is not None,
            }[operator]
        raise NotImplementedError(f"entry rule {provider}")

    # -- variables (P5) --
    def _resolve(self, execution: Execution, text: str) -> str:
        def lookup(match: re.Match) -> str:
            namespace, variable = match.group(1), match.group(2)
            if namespace == "codepipeline" and variable == "PipelineExecutionId":
                return execution.id
            try:
                return execution.variables[namespace][variable]
            except KeyError:
                raise ActionFailed(f"variable #{{{namespace}.{variable}}} cannot be resolved") from None

        return re.sub(r"#\{([A-Za-z0-9@_-]+)\.([A-Za-z0-9@_-]+)\}", lookup, text)

    def _configuration(self, execution: Execution, action: dict[str, Any]) -> dict[str, str]:
        return {k: self._resolve(execution, v) for k, v in (action.get("configuration") or {}).items()}

    # -- actions --
    def _timed(self, execution: Execution, stage: dict[str, Any], action: dict[str, Any]) -> Generator:
        """T1: the action run, recorded with what the release-time model prices."""
        stack_name = (action.get("configuration") or {}).get("StackName")
        before = self._stack_state(stack_name)
        self._script_calls = ()
        record = ActionRun(execution, stage["name"], action)
        self.timeline.append(record)
        try:
            yield from self._run_action(execution, stage, action)
            record.succeeded = True
        finally:
            record.aws_calls = self._script_calls
            record.stack_changed = stack_name is not None and self._stack_state(stack_name) != before

    def _stack_state(self, name: Optional[str]) -> Optional[tuple]:
        stack = self.world.stacks.get(name or "")
        if stack is None:
            return None
        template = stack.template.name if stack.template else None
        return (stack.status, template, tuple(sorted(stack.parameters.items())))

    def _run_action(self, execution: Execution, stage: dict[str, Any], action: dict[str, Any]) -> Generator:
        provider = action["provider"]
        configuration = self._configuration(execution, action)
        if provider == "CodeStarSourceConnection":
            self._source(execution, action)  # the revision as the action starts (P3)
            yield ("wait", ACTION_MINUTES)
        elif provider == "CodeBuild":
            yield (
                "wait",
                BUILD_MINUTES
                if action.get("category") == "Build" and action["name"] == "Build"
                else ACTION_MINUTES,
            )
            self._codebuild(execution, stage, action, configuration)
        elif provider == "CloudFormation":
            yield ("wait", ACTION_MINUTES)
            self._cloudformation(execution, action, configuration)
            yield from self._await_deployment(execution, configuration.get("StackName", ""))  # S1
        elif provider == "Manual":
            self.counts.approvals += 1
            request = ApprovalRequest(stage["name"], execution.id, configuration.get("CustomData", ""))
            self.approvals.append(request)
            decision, minutes = self.world.decide(request)
            yield ("wait", minutes)
            if decision != "Approved":
                raise ActionFailed(f"rejected ({stage['name']})")  # P10
            self.answered[(execution.id, stage["name"])] = self.world.approved_by(request)
        else:
            raise NotImplementedError(provider)
        namespace = action.get("namespace")
        if namespace and namespace not in execution.variables:
            execution.variables[namespace] = {}

    def _source(self, execution: Execution, action: dict[str, Any]) -> None:
        """P3: the head of the action's branch, now."""
        (artifact,) = action["outputArtifacts"]
        override = execution.source_revisions.get(action["name"])  # P12
        if action["name"] == "Application":
            commit = override or self.world.app_head
            execution.artifacts[artifact] = {"commit": commit}
        else:
            infra = self.world.infra_commits[override] if override else self.world.infra_head
            commit = infra.sha
            execution.artifacts[artifact] = {"commit": commit, "infra": infra}
        if action.get("namespace"):
            execution.variables[action["namespace"]] = {
                "CommitId": commit,
                "BranchName": action["configuration"]["BranchName"],
            }

    def _action_variables(self, configuration: Mapping[str, str]) -> dict[str, str]:
        raw = configuration.get("EnvironmentVariables")
        return {v["name"]: v["value"] for v in json.loads(raw)} if raw else {}

    def _codebuild(self, execution, stage, action, configuration) -> None:
        project = self.projects[configuration["ProjectName"]]
        environment = {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]}
        environment.update(self._action_variables(configuration))
        number = self._build_numbers[project["name"]] = self._build_numbers.get(project["name"], 0) + 1
        environment["CODEBUILD_BUILD_NUMBER"] = str(number)
        buildspec = project["source"].get("buildspec", "buildspec.yml")
        commands = (
            [] if buildspec == "buildspec.yml" else json.loads(buildspec)["phases"]["build"]["commands"]
        )
        if buildspec == "buildspec.yml":
            exported = self._app_build(execution, action, environment)
        elif commands[0] == "review-change-set":
            exported = self._review(execution, environment, buildspec)
        elif commands[0] == "recover-stack":
            exported = self._recover(environment, buildspec)
        elif "check-drift" in commands:
            exported = self._check_drift(environment, buildspec)
        elif commands[0] == "verify-environment":
            exported = self._verify(environment)
        elif commands[0] == "record-release":
            exported = self._record(environment, buildspec)
        else:
            raise NotImplementedError(commands)
        if action.get("namespace"):
            execution.variables[action["namespace"]] = dict(exported)

    def _app_build(self, execution, action, environment: dict[str, str]) -> Mapping[str, str]:
        """The application's buildspec, run for real against the world's registry."""
        self.counts.builds += 1
        commit = execution.artifacts[action["inputArtifacts"][0]]["commit"]
        settings = {
            **environment,
            "CODEBUILD_RESOLVED_SOURCE_VERSION": commit,
            "STUB_PUBLISHED": ",".join(sorted(self.world.registry)),
        }
        buildspec = (app_build.APP / "buildspec.yml").read_text()

        def build() -> ScriptRun:
            work = self._tmp / f"build-{len(_SCRIPT_RUNS)}"
            built = app_build.run_app_build(work, {}, buildspec=buildspec, project=settings)
            version = built.result.artifacts.get("version.json")
            return ScriptRun(
                built.result.succeeded,
                built.result.output,
                built.result.exported,
                {"version.json": version.read_text()} if version else {},
                tuple(built.pushed),
            )

        run = _memo(
            "app-build",
            [
                settings,
                buildspec,
                _sources(
                    app_build.APP / "Makefile",
                    ROOT / "build-image" / "image-published",
                    ROOT / "build-image" / "image-digest",
                ),
            ],
            build,
        )
        if not run.succeeded:
            raise ActionFailed("the build failed:\n" + run.output[-2000:])
        overwritten = sorted(set(run.calls) & self.world.registry)
        if overwritten and self.world.immutable_tags:
            # ECR: ImageTagAlreadyExistsException; `docker push` fails, and the build with it.
            raise ActionFailed(
                f"tag invalid: the image tag {overwritten} already exists and cannot be overwritten"
            )
        if run.calls:
            self.counts.image_builds += 1
            self.world.registry.update(run.calls)
            for image in run.calls:
                self.world.pushed_at[image] = self.now
        (output,) = action["outputArtifacts"]
        execution.artifacts[output] = dict(run.files)
        return run.exported

    def _describe_change_set(self, stack: Optional[Stack], name: str) -> Optional[dict[str, Any]]:
        change_set = stack.change_sets.get(name) if stack else None
        if change_set is None:
            return None
        return {
            "ChangeSetName": change_set.name,
            "ChangeSetId": change_set.id,
            "StackName": stack.name,
            "StackId": f"arn:aws:cloudformation:eu-west-1:123456789012:stack/{stack.name}/0",
            "Status": change_set.status,
            "StatusReason": "The submitted information didn't contain changes. Submit different information to create a change set."
            if change_set.status == "FAILED"
            else None,
            "ExecutionStatus": "UNAVAILABLE" if change_set.status == "FAILED" else "AVAILABLE",
            "Parameters": [
                {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(change_set.parameters.items())
            ],
            "Capabilities": ["CAPABILITY_NAMED_IAM"],
            "Changes": change_set.changes,
        }

    def _describe_stacks(self, stack: Optional[Stack]) -> dict[str, Any]:
        if stack is None:
            return {}
        return {
            "Stacks": [
                {
                    "StackName": stack.name,
                    "StackStatus": stack.status,
                    "Parameters": [
                        {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(stack.parameters.items())
                    ],
                }
            ]
        }

    # -- the release gate's world: templates, registry, approvals, records --
    def _image_tag(self, image: str) -> str:
        return image.rsplit(":", 1)[1]

    def _digest_of(self, image: str) -> str:
        """E1: what the registry serves for an image the build pushed (its tag maybe moved)."""
        moved = self.world.swapped.get(self._image_tag(image))
        return app_build.registry_digest(moved or image)

    def _registry_document(self) -> dict[str, Any]:
        """The application repository as the stub `aws` reads and writes it (STUB_REGISTRY)."""
        images: dict[str, dict[str, Any]] = {}
        for image in sorted(self.world.registry):
            digest = self._digest_of(image)
            entry = images.setdefault(
                digest,
                {
                    "digest": digest,
                    "tags": [],
                    "manifest": manifest_for(digest),
                    "mediaType": INDEX_MEDIA_TYPE,
                },
            )
            entry["tags"] += [self._image_tag(image), *self.world.marks.get(self._image_tag(image), [])]
        return {"images": list(images.values())}

    def _take_registry(self, document: Mapping[str, Any]) -> None:
        """What the recorder left in the registry: the release marks on each image."""
        marks: dict[str, list[str]] = {}
        for image in document["images"]:
            built = [t for t in image["tags"] if not t.startswith("release-")]
            for tag in built:
                marks[tag] = [t for t in image["tags"] if t.startswith("release-")]
        self.world.marks = {tag: found for tag, found in marks.items() if found}

    def _template_body(self, template: Template) -> str:
        return f"# the infrastructure repository's template {template.name}\nResources: {list(template.resources)}\n"

    def _gate_files(
        self, work: Path, *, stack: Optional[Stack], change_set_name: str, execution: str
    ) -> dict[str, str]:
        """Write what the stub `aws` answers the release gate from; the variables naming them."""
        change_set = stack.change_sets.get(change_set_name) if stack else None
        template = work / "template.json"
        if change_set is not None:
            template.write_text(json.dumps({"TemplateBody": self._template_body(change_set.template)}))
        stack_template = work / "stack-template.json"
        if stack is not None and stack.template is not None:
            stack_template.write_text(json.dumps({"TemplateBody": self._template_body(stack.template)}))
        (work / "registry.json").write_text(json.dumps(self._registry_document()))
        (work / "actions.json").write_text(
            json.dumps(
                {
                    "actionExecutionDetails": [
                        {
                            "pipelineExecutionId": answered_in,
                            "stageName": stage,
                            "actionName": "Approve",
                            "status": "Succeeded",
                            "updatedBy": who,
                        }
                        for (answered_in, stage), who in self.answered.items()
                        if answered_in == execution
                    ]
                }
            )
        )
        (work / "group.json").write_text(json.dumps({"Users": [], "IsTruncated": False}))
        records = work / "records"
        records.mkdir(exist_ok=True)
        for (environment, executed), item in self.records.items():
            (records / f"{environment}__{executed}.json").write_text(json.dumps(item))
        return {
            "STUB_TEMPLATE": str(template),
            "STUB_STACK_TEMPLATE": str(stack_template),
            "STUB_REGISTRY": str(work / "registry.json"),
            "STUB_ACTIONS": str(work / "actions.json"),
            "STUB_GROUP": str(work / "group.json"),
            "STUB_RECORDS": str(records),
            "RELEASE_GATE": str(GATE),
        }

    def _gate_state(self, stack: Optional[Stack], change_set_name: str, execution: str) -> list[Any]:
        """Everything the gate's answers depend on (the memo's key)."""
        change_set = stack.change_sets.get(change_set_name) if stack else None
        return [
            change_set.template.name if change_set else None,
            stack.template.name if stack and stack.template else None,
            self._registry_document(),
            sorted((k, who) for k, who in self.answered.items() if k[0] == execution),
            sorted((f"{e}__{x}", json.dumps(i, sort_keys=True)) for (e, x), i in self.records.items()),
        ]

    def _review(self, execution, environment: dict[str, str], buildspec: str) -> Mapping[str, str]:
        """The review project's buildspec (review-change-set), in the mode the action asks for:
        the review of the plan, or the release gate's confirm."""
        confirming = environment.get("REVIEW_MODE") == "confirm"
        if confirming:
            self.counts.confirms += 1
        else:
            self.counts.reviews += 1
        stack = self.world.stacks.get(environment["STACK_NAME"])
        page = self._describe_change_set(stack, environment["CHANGE_SET_NAME"])
        stack_json = self._describe_stacks(stack)
        environment = {
            **environment,
            "AWS_REGION": "eu-west-1",
            "PIPELINE_EXECUTION_ID": environment.get("PIPELINE_EXECUTION_ID", ""),
        }
        gate = self._gate_state(stack, environment["CHANGE_SET_NAME"], environment["PIPELINE_EXECUTION_ID"])

        def review() -> ScriptRun:
            work, (bin_dir, pages, s3, source) = self._script_work(
                "review", "review-change-set", REVIEW_AWS, "bin", "pages", "s3", "src"
            )
            if page is not None:
                (pages / "page-1.json").write_text(json.dumps(page))
            (work / "stack.json").write_text(json.dumps(stack_json))
            files = self._gate_files(
                work,
                stack=stack,
                change_set_name=environment["CHANGE_SET_NAME"],
                execution=environment["PIPELINE_EXECUTION_ID"],
            )
            result = run_buildspec(
                buildspec,
                source_dir=source,
                environment=stub_environment(
                    bin_dir,
                    {
                        **environment,
                        **files,
                        "STUB_LOG": str(work / "aws.log"),
                        "STUB_STACK": str(work / "stack.json"),
                        "STUB_PAGES": str(pages),
                        "STUB_S3": str(s3),
                        "CHANGESET_RENDERER": str(RENDERER),
                        "PYTHON": sys.executable,
                    },
                ),
                state_dir=work / "runner",
            )
            return ScriptRun(
                result.succeeded, result.output, result.exported, aws_calls=_logged_calls(work / "aws.log")
            )

        run = _memo(
            "review",
            [
                environment,
                page,
                stack_json,
                gate,
                buildspec,
                _sources(ROOT / "build-image" / "review-change-set", RENDERER, GATE),
            ],
            review,
        )
        self._script_calls = run.aws_calls
        if not run.succeeded:
            raise ActionFailed(("confirm" if confirming else "review") + " failed:\n" + run.output[-1500:])
        return run.exported

    def _script_work(self, kind: str, script: str, aws_stub: str, *folders: str) -> tuple[Path, list[Path]]:
        """A fresh folder for one run of a build-image script: `folders` made in it, the first
        (`bin`) holding the script itself and the AWS CLI stub it will call."""
        work = self._tmp / f"{kind}-{len(_SCRIPT_RUNS)}"
        made = [work / folder for folder in folders]
        for folder in made:
            folder.mkdir(parents=True)
        (made[0] / "aws").write_text(aws_stub)
        (made[0] / "aws").chmod(0o755)
        shutil.copy(ROOT / "build-image" / script, made[0] / script)
        return work, made

    def _record(self, environment: dict[str, str], buildspec: str) -> Mapping[str, str]:
        """The recorder project's buildspec (record-release): the release record written and the
        image marked, in the world's table and registry."""
        self.counts.records += 1
        environment = {**environment, "CODEBUILD_START_TIME": str(EPOCH_MS + self.now * 60_000)}
        gate = self._gate_state(None, "", environment.get("PIPELINE_EXECUTION_ID", ""))

        def record() -> ScriptRun:
            work, (bin_dir, source) = self._script_work("record", "record-release", REVIEW_AWS, "bin", "src")
            files = self._gate_files(work, stack=None, change_set_name="", execution="")
            result = run_buildspec(
                buildspec,
                source_dir=source,
                environment=stub_environment(
                    bin_dir,
                    {**environment, **files, "STUB_LOG": str(work / "aws.log"), "PYTHON": sys.executable},
                ),
                state_dir=work / "runner",
            )
            left = {
                "registry": (work / "registry.json").read_text(),
                **{f"record:{p.stem}": p.read_text() for p in (work / "records").glob("*.json")},
            }
            return ScriptRun(
                result.succeeded,
                result.output,
                result.exported,
                left,
                aws_calls=_logged_calls(work / "aws.log"),
            )

        run = _memo(
            "record",
            [environment, gate, buildspec, _sources(ROOT / "build-image" / "record-release", GATE)],
            record,
        )
        self._script_calls = run.aws_calls
        if not run.succeeded:
            raise ActionFailed("the record failed:\n" + run.output[-1500:])
        self._take_registry(json.loads(run.files["registry"]))
        for name, text in run.files.items():
            if name.startswith("record:"):
                environment_name, _, executed = name.removeprefix("record:").partition("__")
                self.records[(environment_name, executed)] = json.loads(text)
        return run.exported

    def swap(self, tag: str, name: str) -> None:
        """Someone moves `tag` to another image (E1): a push the repository's policy would refuse."""
        self.world.swapped[tag] = name

    def expire_images(self, policy: Optional[Mapping[str, Any]] = None) -> list[str]:
        """E2: ECR's lifecycle run over the application repository, as declared (or `policy`);
        the images it expires leave the registry (with their marks). Returns their tags."""
        if policy is None:
            (policy,) = [
                json.loads(r["policy"])
                for r in self.lifecycle_policies
                if r["repository"] == self.application_repository
            ]
        rules = sorted(policy["rules"], key=lambda rule: rule["rulePriority"])
        governed: dict[int, list[str]] = {rule["rulePriority"]: [] for rule in rules}
        for image in self.world.registry:
            tags = [self._image_tag(image), *self.world.marks.get(self._image_tag(image), [])]
            for rule in rules:
                selection = rule["selection"]
                if selection["tagStatus"] == "untagged":
                    continue  # every image here carries its build's tag
                prefixes = selection.get("tagPrefixList")
                patterns = selection.get("tagPatternList")
                if prefixes and not any(t.startswith(x) for t in tags for x in prefixes):
                    continue
                if patterns and not any(
                    re.fullmatch(x.replace("*", ".*"), t) for t in tags for x in patterns
                ):
                    continue
                governed[rule["rulePriority"]].append(image)
                break
        expired: list[str] = []
        for rule in rules:
            selection = rule["selection"]
            images = governed[rule["rulePriority"]]
            if selection.get("countType") == "imageCountMoreThan":
                newest_first = sorted(images, key=lambda i: (-self.world.pushed_at.get(i, 0), i))
                expired += newest_first[selection["countNumber"] :]
            elif selection.get("countType") == "sinceImagePushed":
                assert selection["countUnit"] == "days", selection
                minutes = selection["countNumber"] * 24 * 60
                expired += [i for i in images if self.now - self.world.pushed_at.get(i, 0) > minutes]
        for image in expired:
            self.world.registry.discard(image)
            self.world.marks.pop(self._image_tag(image), None)
        return sorted(self._image_tag(image) for image in expired)

    def _recover(self, environment: dict[str, str], buildspec: str) -> Mapping[str, str]:
        """The recovery project's buildspec (recover-stack) against the world's stack."""
        self.counts.recoveries += 1
        stack = self.world.stacks.get(environment["STACK_NAME"])
        status = stack.status if stack else "missing"

        def recover() -> ScriptRun:
            work, (bin_dir, source) = self._script_work("recover", "recover-stack", STACK_AWS, "bin", "src")
            log = work / "aws.log"
            result = run_buildspec(
                buildspec,
                source_dir=source,
                environment=stub_environment(
                    bin_dir, {**environment, "STUB_STATUS": status, "STUB_LOG": str(log)}
                ),
                state_dir=work / "runner",
            )
            calls = (
                tuple(tuple(json.loads(line)) for line in log.read_text().splitlines())
                if log.exists()
                else ()
            )
            return ScriptRun(result.succeeded, result.output, result.exported, calls=calls, aws_calls=calls)

        run = _memo(
            "recover",
            [environment, status, buildspec, _sources(ROOT / "build-image" / "recover-stack")],
            recover,
        )
        self._script_calls = run.aws_calls
        if any(call[:2] == ("cloudformation", "delete-stack") for call in run.calls):
            del self.world.stacks[environment["STACK_NAME"]]
        if not run.succeeded:
            raise ActionFailed("recovery failed:\n" + run.output[-1500:])
        return run.exported

    def _check_drift(self, environment: dict[str, str], buildspec: str) -> Mapping[str, str]:
        """The drift check's buildspec (check-drift) against the world's stack and drifts (D1)."""
        self.counts.drift_checks += 1
        stack = self.world.stacks.get(environment["STACK_NAME"])
        status = stack.status if stack else "missing"
        drifts = self.world.drifts.get(environment["STACK_NAME"], []) if stack else []

        def check() -> ScriptRun:
            work, (bin_dir, source, pages) = self._script_work(
                "drift", "check-drift", DRIFT_AWS, "bin", "src", "pages"
            )
            (pages / "page-1.json").write_text(json.dumps({"StackResourceDrifts": drifts}))
            log = work / "aws.log"
            result = run_buildspec(
                buildspec,
                source_dir=source,
                environment=stub_environment(
                    bin_dir,
                    {
                        **environment,
                        "STUB_STATUS": status,
                        "STUB_LOG": str(log),
                        "STUB_DRIFT_PAGES": str(pages),
                        "DRIFT_POLL_SECONDS": "0",
                    },
                ),
                state_dir=work / "runner",
            )
            calls = _logged_calls(log)
            return ScriptRun(result.succeeded, result.output, result.exported, calls=calls, aws_calls=calls)

        run = _memo(
            "drift",
            [environment, status, drifts, buildspec, _sources(ROOT / "build-image" / "check-drift")],
            check,
        )
        self._script_calls = run.aws_calls
        if not run.succeeded:
            raise ActionFailed("the drift check stopped the plan:\n" + run.output[-1500:])
        return run.exported

    def _verify(self, environment: dict[str, str]) -> Mapping[str, str]:
        """Modelled: verify-environment refuses an empty output, then the smoke test passes or
        not as the world says for what the environment's stack holds."""
        missing = [name for name in environment.get("STACK_OUTPUTS", "").split() if not environment.get(name)]
        if missing:
            raise ActionFailed(f"no value for {missing}")
        name = environment["ENVIRONMENT"]
        stack = self._stack_of_environment(name)
        if stack is None or not self.world.smoke_passes(name, stack):
            raise ActionFailed(f"the smoke test of {name} failed")
        return {}

    @property
    def _version_key(self) -> str:
        """The version file's key for the tag, as the build project sets it (VERSION_KEY)."""
        (key,) = {
            v["value"]
            for project in self.projects.values()
            for v in project["environment"].get("environmentVariables") or []
            if v["name"] == "VERSION_KEY"
        }
        return key

    # -- CloudFormation (C1-C5) --
    def _parameters(
        self, execution, configuration: Mapping[str, str]
    ) -> tuple[InfraCommit, dict[str, str], Optional[str]]:
        infra: InfraCommit = execution.artifacts["InfrastructureSource"]["infra"]
        parameters: dict[str, str] = {}
        template_configuration = configuration.get("TemplateConfiguration")
        if template_configuration:
            path = template_configuration.split("::", 1)[1]
            if path not in infra.files:
                raise ActionFailed(f"{path} is not in the infrastructure source")
            parameters.update(infra.files[path])
        image_parameter = None
        for key, value in json.loads(configuration.get("ParameterOverrides", "{}")).items():
            if isinstance(value, dict) and "Fn::GetParam" in value:
                artifact, path, field_name = value["Fn::GetParam"]
                parameters[key] = json.loads(execution.artifacts[artifact][path])[field_name]
                # The tag's parameter names the image (the version file also feeds the digest's).
                if field_name == self._version_key:
                    image_parameter = key
            else:
                parameters[key] = value
        return infra, parameters, image_parameter

    def _changes(
        self, stack: Optional[Stack], template: Template, parameters: dict[str, str], image_parameter
    ) -> list[dict]:
        def change(
            action: str, logical_id: str, replacement: Optional[str] = None, cause: Optional[str] = None
        ):
            resource = {
                "Action": action,
                "LogicalResourceId": logical_id,
                "ResourceType": RESOURCE_TYPES.get(logical_id, "AWS::CloudFormation::CustomResource"),
                "Scope": [] if action == "Add" else ["Properties"],
                "Details": [],
            }
            if replacement is not None:
                resource["Replacement"] = replacement
            if cause:
                resource["Details"] = [
                    {
                        "Target": {
                            "Attribute": "Properties",
                            "Name": "ContainerDefinitions",
                            "RequiresRecreation": "Always",
                        },
                        "Evaluation": "Static",
                        "ChangeSource": "ParameterReference",
                        "CausingEntity": cause,
                    }
                ]
            return {"Type": "Resource", "ResourceChange": resource}

        if stack is None or stack.template is None or stack.status == "REVIEW_IN_PROGRESS":
            return [change("Add", r) for r in template.resources]
        found: list[dict] = []
        if stack.template.name != template.name:
            found += [change("Modify", r, "False") for r in template.modifies]
        for key in sorted(set(parameters) | set(stack.parameters)):
            if parameters.get(key) != stack.parameters.get(key):
                if key == image_parameter:
                    found.append(change("Modify", "ApplicationTaskDefinition", "True", cause=key))
                elif not any(c["ResourceChange"]["LogicalResourceId"] == "ApplicationService" for c in found):
                    found.append(change("Modify", "ApplicationService", "False", cause=key))
        return found

    def _apply(
        self, stack: Stack, template: Template, parameters: dict[str, str], image_parameter, creating: bool
    ) -> None:
        stack.change_sets.clear()  # C4, C5
        if stack.name in template.fails_in:
            stack.status = "ROLLBACK_COMPLETE" if creating else "UPDATE_ROLLBACK_COMPLETE"
            if creating:
                stack.template, stack.parameters = template, dict(parameters)
            raise ActionFailed(
                f"{stack.name}: the {'create' if creating else 'update'} failed and rolled back"
            )
        if self._start_deployment(stack, template, parameters, image_parameter, creating):  # S1
            return
        stack.status = "CREATE_COMPLETE" if creating else "UPDATE_COMPLETE"
        stack.template, stack.parameters, stack.image_parameter = template, dict(parameters), image_parameter

    def _cloudformation(self, execution, action, configuration: Mapping[str, str]) -> None:
        mode = configuration["ActionMode"]
        name = configuration["StackName"]
        stack = self.world.stacks.get(name)
        if mode in ("CREATE_UPDATE", "REPLACE_ON_FAILURE"):
            infra, parameters, image_parameter = self._parameters(execution, configuration)
            if stack is not None and stack.status in FAILED_STATES:
                if mode == "CREATE_UPDATE":
                    raise ActionFailed(f"{name} is in {stack.status} state and can not be updated")  # C1
                del self.world.stacks[name]  # C2
                stack = None
            creating = stack is None or stack.status == "REVIEW_IN_PROGRESS"
            if stack is None:
                stack = self.world.stacks[name] = Stack(name, "CREATE_IN_PROGRESS")
            elif not self._changes(stack, infra.template, parameters, image_parameter):
                self._publish_outputs(execution, action, stack)
                return  # "No updates are to be performed": the action succeeds.
            try:
                self._apply(stack, infra.template, parameters, image_parameter, creating)
            finally:
                stack.image_parameter = image_parameter
            self._publish_outputs(execution, action, stack)
        elif mode == "CHANGE_SET_REPLACE":  # C3
            infra, parameters, image_parameter = self._parameters(execution, configuration)
            if stack is not None and stack.status == "ROLLBACK_COMPLETE":
                raise ActionFailed(f"{name} is in ROLLBACK_COMPLETE state and can not be updated")
            if stack is None:
                stack = self.world.stacks[name] = Stack(
                    name, "REVIEW_IN_PROGRESS", image_parameter=image_parameter
                )
            changes = self._changes(stack, infra.template, parameters, image_parameter)
            self.counts.change_sets += 1
            change_set_name = configuration["ChangeSetName"]
            stack.change_sets[change_set_name] = ChangeSet(
                name=change_set_name,
                id=f"arn:aws:cloudformation:eu-west-1:123456789012:changeSet/{change_set_name}/{self.counts.change_sets}",
                kind="CREATE" if stack.status == "REVIEW_IN_PROGRESS" else "UPDATE",
                template=infra.template,
                parameters=dict(parameters),
                changes=changes,
                status="CREATE_COMPLETE" if changes else "FAILED",
            )
            stack.image_parameter = stack.image_parameter or image_parameter
        elif mode == "CHANGE_SET_EXECUTE":  # C4
            change_set = stack.change_sets.get(configuration["ChangeSetName"]) if stack else None
            if change_set is None:
                raise ActionFailed(f"ChangeSet [{configuration['ChangeSetName']}] does not exist")
            if change_set.status == "FAILED":
                stack.change_sets.clear()
                self._publish_outputs(execution, action, stack)
                return
            self._apply(
                stack,
                change_set.template,
                change_set.parameters,
                stack.image_parameter,
                change_set.kind == "CREATE",
            )
            self._publish_outputs(execution, action, stack)
        else:
            raise NotImplementedError(mode)

    def _publish_outputs(self, execution, action, stack: Stack) -> None:
        if action.get("namespace") and stack.template is not None:
            execution.variables[action["namespace"]] = dict(stack.template.outputs)

    # -- ECS deployments (S1-S6) --
    def _start_deployment(
        self, stack: Stack, template: Template, parameters: dict[str, str], image_parameter, creating: bool
    ) -> bool:
        """S1: an update whose service takes a progressive deployment goes UPDATE_IN_PROGRESS
        until the CloudFormation action has waited it out (_await_deployment); True then.
        Everything else completes at once, as before, with its traffic recorded (S6)."""
        new = parameters.get(image_parameter or "", "?")
        old = None if creating else stack.parameters.get(image_parameter or "")
        template_changes_tasks = (
            stack.template is not None
            and stack.template.name != template.name
            and "ApplicationTaskDefinition" in template.modifies
        )
        if not creating and new == old and not template_changes_tasks:
            return False  # no new task definition: the service is updated in place (S1)
        strategy = parameters.get("DeploymentStrategy", "ROLLING") or "ROLLING"
        if creating or strategy == "ROLLING":
            self._serve(stack.name, {new: 100.0})
            return False
        started = self.now
        shifts = self._traffic_shifts(strategy, parameters, started)
        deployment = Deployment(
            stack=stack.name,
            execution="",
            strategy=strategy,
            old=old,
            new=new,
            started=started,
            shifts=shifts,
            bake_ends=shifts[-1][0] + int(parameters.get("DeploymentBakeMinutes", "15")),
        )
        if parameters.get("TestHookFunctionArn") and self.world.test_hook_fails(stack.name, new):  # S3
            deployment.failed_at = started
            deployment.failure = "the lifecycle hook at POST_TEST_TRAFFIC_SHIFT answered FAILED"
        else:
            self._watch_alarms(deployment, parameters)  # S4
        self.deployments.append(deployment)
        self._deploying[stack.name] = (deployment, template, dict(parameters), image_parameter)
        stack.status = "UPDATE_IN_PROGRESS"
        return True

    @staticmethod
    def _traffic_shifts(
        strategy: str, parameters: Mapping[str, str], started: int
    ) -> list[tuple[int, float]]:
        """S2: when each share of production traffic moves to the new revision."""
        if strategy == "BLUE_GREEN":
            return [(started, 100.0)]
        if strategy == "CANARY":
            canary_bake = int(parameters.get("CanaryBakeMinutes", "10"))
            return [(started, float(parameters.get("CanaryPercent", "5.0"))), (started + canary_bake, 100.0)]
        if strategy == "LINEAR":
            # In tenths of a percent, as ECS takes them, so that 100 is reached exactly.
            step = round(float(parameters.get("LinearStepPercent", "10.0")) * 10)
            step_bake = int(parameters.get("LinearStepBakeMinutes", "6"))
            increments = -(-1000 // step)
            return [(started + k * step_bake, min(1000, (k + 1) * step) / 10) for k in range(increments)]
        raise NotImplementedError(f"DeploymentStrategy {strategy}")

    def _watch_alarms(self, deployment: Deployment, parameters: Mapping[str, str]) -> None:
        """S4: the first minute, from the start until the bake ends, that a named alarm is in ALARM."""
        first_traffic = deployment.shifts[0][0]
        for alarm in filter(None, parameters.get("DeploymentAlarmNames", "").split(",")):
            minutes = []
            if alarm in self.world.alarm_from:
                minutes.append(max(self.world.alarm_from[alarm], deployment.started))
            after = self.world.deployment_alarm_after(alarm, deployment.stack, deployment.new)
            if after is not None:
                minutes.append(first_traffic + after)
            for minute in minutes:
                if minute < deployment.bake_ends and (
                    deployment.failed_at is None or minute < deployment.failed_at
                ):
                    deployment.failed_at = minute
                    deployment.failure = f"alarm {alarm} in ALARM"

    def _await_deployment(self, execution: Execution, stack_name: str) -> Generator:
        """S1, S5: the CloudFormation action waits while ECS shifts traffic and bakes; a failed
        deployment is rolled back by ECS, then the stack by CloudFormation, and the action fails."""
        pending = self._deploying.pop(stack_name, None)
        if pending is None:
            return
        deployment, template, parameters, image_parameter = pending
        deployment.execution = execution.id
        stack = self.world.stacks[stack_name]
        ends = deployment.bake_ends if deployment.failed_at is None else deployment.failed_at
        for minute, percent in deployment.shifts:
            if minute > ends or (minute == ends and deployment.failed_at is not None):
                break
            yield ("wait", minute - self.now)
            self._serve(stack_name, {deployment.new: percent, deployment.old or "?": 100.0 - percent})
        yield ("wait", ends - self.now)
        deployment.ended = self.now
        if deployment.failed_at is not None:
            self._serve(stack_name, {deployment.old or "?": 100.0})
            stack.status = "UPDATE_ROLLBACK_COMPLETE"  # S5: the stack as it was
            raise ActionFailed(
                f"{stack_name}: ECS rolled the {deployment.strategy} deployment of {deployment.new} back "
                f"({deployment.failure}); the update failed and rolled back"
            )
        stack.status = "UPDATE_COMPLETE"
        stack.template, stack.parameters, stack.image_parameter = template, parameters, image_parameter

    def _serve(self, stack_name: str, shares: Mapping[str, float]) -> None:
        served = {image: share for image, share in shares.items() if share > 0}
        history = self._traffic.setdefault(stack_name, [])
        if history and history[-1][0] == self.now:
            history.pop()
        if not history or history[-1][1] != served:
            history.append((self.now, served))

    def traffic(self, environment: str) -> list[tuple[int, dict[str, float]]]:
        """S6: (minute, image tag → percent of production traffic) from each minute it changed."""
        return list(self._traffic.get(self.environment_stacks().get(environment, ""), []))

    # -- reading the declared pipeline --
    def environment_stacks(self) -> dict[str, str]:
        """Environment → stack name, from the CloudFormation actions of each environment's stages."""
        found: dict[str, str] = {}
        for stage in self.stages[2:]:
            environment = re.sub(r"-(plan|approval)$", "", stage["name"])
            for action in stage["actions"]:
                if "StackName" in (action.get("configuration") or {}):
                    # W1: a wave's stage holds its members' actions, each named `<member>-<action>`.
                    member = action["name"].rpartition("-")[0]
                    found.setdefault(member or environment, action["configuration"]["StackName"])
        return found

    def _stack_of_environment(self, environment: str) -> Optional[Stack]:
        return self.world.stacks.get(self.environment_stacks().get(environment, ""))

    def _stack_of_stage(self, stage: dict[str, Any]) -> Optional[Stack]:
        return self._stack_of_environment(re.sub(r"-(plan|approval)$", "", stage["name"]))

    # -- the result --
    def environments(self) -> dict[str, tuple[Optional[str], Optional[str]]]:
        """Environment → (stack status, version it holds)."""
        result = {}
        for environment, stack_name in self.environment_stacks().items():
            stack = self.world.stacks.get(stack_name)
            result[environment] = (stack.status, stack.version) if stack else (None, None)
        return result

    def statuses(self) -> list[tuple[str, str]]:
        return [(e.type, e.status) for e in self.executions]

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)
