"""How long the steps of a release take: every figure of the release-time model with its
source, and the model itself (rules T1-T6 in tests/support/pipeline_run.py's docstring), which
prices what the pipeline-run simulator recorded of a run.

A figure's source is an AWS page title where AWS states a number, otherwise a public page
(its title) or "assumption: <why>". AWS publishes no start-up time for CodeBuild's EC2 or
Lambda compute, no ECR pull throughput and no CodePipeline transition latency, so most
figures here are assumptions: the model says which steps a release pays for and how they add
up, not what AWS will measure. Nothing here was measured on AWS.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from dev import measurements
from tests.support.pipeline_run import ActionRun, Bake, Execution, PipelineRun


@dataclass(frozen=True)
class Figure:
    what: str
    seconds: float
    """Seconds; per GB for the image pull; per call for the AWS CLI."""
    source: str
    """An AWS page title, a public page's title, or "assumption: <why>"."""


ACTION_TRANSITION = Figure(
    "CodePipeline's own overhead per action (start, hand-over, status)",
    1,
    'cloudonaut.io, "Migrating CodePipeline to GitHub Actions to improve performance" (2022): '
    "a CloudFormation deploy through CodePipeline is usually a second slower than the API called directly",
)
SOURCE_FETCH = Figure(
    "a source action: the branch's head archived into the artifact store",
    5,
    "assumption: a small repository through CodeConnections; AWS states no figure",
)
EC2_PROVISIONING = Figure(
    "CodeBuild on EC2 (on-demand): provisioning, the image aside",
    10,
    'cloudonaut.io, "Migrating CodePipeline to GitHub Actions to improve performance" (2022): '
    "provisioning times of 10 seconds are not unusual (us-east-1); queueing (up to 60 s there) "
    "is left out: assumption: the account is under its concurrent-build quota",
)
LAMBDA_START = Figure(
    "CodeBuild on Lambda compute: start-up, the image aside",
    2,
    'assumption: AWS states "optimized start-up speeds" and no queue ("Run builds on AWS Lambda '
    'compute"; "Build environment compute modes and types") but no number',
)
IMAGE_PULL_PER_GB = Figure(
    "pulling a custom build image from ECR, per GB of image (uncompressed)",
    30,
    "assumption: layers downloaded and unpacked at about 35 MB/s on a small build host; AWS states "
    'no throughput ("Optimizing performance for Amazon ECR" gives none). CodeBuild\'s curated images '
    "are kept on the build fleet and not pulled (aws/aws-codebuild-docker-images#424, a maintainer's answer)",
)
BUILD_PHASES = Figure(
    "a build's phases around its commands (download source, upload artifacts, finalize)",
    3,
    "assumption: small artifacts to and from S3 in the same region; AWS states no figure",
)
AWS_CLI_CALL = Figure(
    "one AWS CLI call of a step's script (the CLI's start and one API round trip)",
    1,
    "assumption: AWS CLI v2 starts in under a second; calls counted from the step's run in the "
    "simulator (`aws configure` makes no API call and is not counted)",
)
CHANGE_SET_CREATION = Figure(
    "CloudFormation creating a change set (small stack)",
    10,
    'assumption: aws/copilot-cli#393, "Reduce wait time for CF polling from 30s -> 3s": change set '
    "creation is usually much faster than 30 s; AWS states no figure",
)
CLOUDFORMATION_POLL = Figure(
    "CloudFormation status polling interval (a wait loses half of it on average)",
    30,
    "botocore's CloudFormation waiters (ChangeSetCreateComplete, StackUpdateComplete) poll every 30 s "
    "(botocore/data/cloudformation/2010-05-15/waiters-2.json); assumption: CodePipeline's "
    "CloudFormation action polls as often, which AWS does not document",
)
DRIFT_DETECTION = Figure(
    "CloudFormation's drift detection on a small stack, from DetectStackDrift to its status complete",
    30,
    'assumption: the API reference (DetectStackDrift) says only that it "can take up to several '
    'minutes, depending on the number of resources"; check-drift polls every 5 s',
)
FIGURES: tuple[Figure, ...] = (
    ACTION_TRANSITION,
    SOURCE_FETCH,
    EC2_PROVISIONING,
    LAMBDA_START,
    IMAGE_PULL_PER_GB,
    BUILD_PHASES,
    AWS_CLI_CALL,
    CHANGE_SET_CREATION,
    CLOUDFORMATION_POLL,
    DRIFT_DETECTION,
)

BUILD_IMAGE_GB_MEASURED_KEY = "build-image-size"
"""dev/measurements.json's key for the build image's size (MB; `make bench-container`)."""
TOOLS_IMAGE_GB_MEASURED_KEY = "tools-image-size"
"""Where a tools image's size will be once `make bench-container` records one (MB)."""
TOOLS_IMAGE_GB_ASSUMED = 0.35
"""assumption: a slim Debian base with AWS CLI v2 and Python, about a third of a GB, until
`make bench-container` records the tools image's size."""
BUILD_IMAGE_GB_ASSUMED = 1.15
"""docs/build-image.md's measured size, should dev/measurements.json have none."""

LAMBDA_TYPES = frozenset({"LINUX_LAMBDA_CONTAINER", "ARM_LAMBDA_CONTAINER"})
# What every small project ran on before the tools image (T3): the build image on EC2.
BEFORE_COMPUTE_TYPE = "BUILD_GENERAL1_SMALL"
# CodeBuild's own images: kept on its build fleet, not pulled per build (IMAGE_PULL_PER_GB).
CURATED_IMAGE_PREFIX = "aws/codebuild/"

OVERHEAD, BAKE, APPLICATION, HUMAN = "overhead", "bake", "application", "human"


@dataclass(frozen=True)
class Part:
    what: str
    seconds: float
    kind: str = OVERHEAD
    """overhead, bake (configured WaitTime), application or human (both excluded, T4)."""


@dataclass(frozen=True)
class Step:
    """One action run (or a bake) on the critical path, priced."""

    stage: str
    action: str
    parts: tuple[Part, ...]

    @property
    def overhead(self) -> float:
        return sum(p.seconds for p in self.parts if p.kind == OVERHEAD)

    @property
    def bake(self) -> float:
        return sum(p.seconds for p in self.parts if p.kind == BAKE)

    @property
    def excluded(self) -> tuple[str, ...]:
        """What of it is left out of the overhead (T4)."""
        return tuple(p.what for p in self.parts if p.kind in (APPLICATION, HUMAN))

    @property
    def name(self) -> str:
        return f"{self.stage}/{self.action}"


def _median_mb(key: str) -> Optional[float]:
    recorded = measurements.load().get(key)
    return statistics.median(recorded.samples) if recorded and recorded.unit == "MB" else None


def measured_build_image_gb() -> float:
    """The build image's size as `make bench-container` last measured it, in GB."""
    mb = _median_mb(BUILD_IMAGE_GB_MEASURED_KEY)
    return round(mb / 1000, 2) if mb else BUILD_IMAGE_GB_ASSUMED


def tools_image_gb() -> float:
    """The tools image's size if measured, otherwise the assumption."""
    mb = _median_mb(TOOLS_IMAGE_GB_MEASURED_KEY)
    return round(mb / 1000, 2) if mb else TOOLS_IMAGE_GB_ASSUMED


@dataclass(frozen=True)
class Model:
    """The release-time model's inputs: the images' sizes, and before or after the tools image."""

    build_image_gb: float
    """The privileged build image (docs/build-image.md measures it)."""
    tools_image_gb: float
    """Any other custom image a project runs (the tools image)."""
    before: bool = False
    """T3: price every project that is not privileged as it was: the build image on EC2."""

    # -- T2, T3: one action run --
    def price(self, run: PipelineRun, record: ActionRun | Bake) -> Step:
        """What one recorded action run or bake costs."""
        if isinstance(record, Bake):
            return Step(record.stage, "bake", (Part("alarm watch (WaitTime)", record.minutes * 60, BAKE),))
        action = record.action
        parts = [Part("CodePipeline action", ACTION_TRANSITION.seconds)]
        provider = action["provider"]
        if provider == "CodeStarSourceConnection":
            parts.append(Part("source fetch", SOURCE_FETCH.seconds))
        elif provider == "CodeBuild":
            parts += self._codebuild(run, action, record.aws_calls)
        elif provider == "CloudFormation":
            parts += _cloudformation(action, record.stack_changed)
        elif provider == "Manual":
            parts.append(Part("the approver's answer", 0, HUMAN))
        else:
            raise NotImplementedError(
                f"no duration for a {provider} action ({record.stage}/{action['name']})"
            )
        return Step(record.stage, action["name"], tuple(parts))

    def environment_of(self, run, project: Mapping[str, Any]) -> Mapping[str, Any]:
        """T3: the project's declared environment, or "before" the build image's on EC2."""
        environment = project["environment"]
        if not self.before or environment.get("privilegedMode"):
            return environment
        build = _build_environment(run)
        return {
            **environment,
            "type": build["type"],
            "computeType": BEFORE_COMPUTE_TYPE,
            "image": build["image"],
        }

    def _codebuild(self, run, action: Mapping[str, Any], aws_calls: Iterable) -> list[Part]:
        name = action["configuration"]["ProjectName"]
        project = run.projects[name]
        environment = self.environment_of(run, project)
        if _on_lambda(environment, name):
            parts = [Part(f"start on Lambda compute ({environment['computeType']})", LAMBDA_START.seconds)]
        else:
            parts = [Part(f"provisioning on EC2 ({environment['computeType']})", EC2_PROVISIONING.seconds)]
        size = self._image_gb(run, environment["image"])
        if size:
            # Rounded: a tenth of a second is finer than any figure here.
            parts.append(Part(f"image pull ({size:g} GB)", round(size * IMAGE_PULL_PER_GB.seconds, 1)))
        parts.append(Part("build phases", BUILD_PHASES.seconds))
        first = _first_command(project)
        if first is None:
            parts.append(Part("the application's build", 0, APPLICATION))
        elif first == "verify-environment":
            parts.append(Part("the smoke test's command", 0, APPLICATION))
        else:
            if first == "check-drift" or _runs(project, "check-drift"):
                parts.append(Part("drift detection", DRIFT_DETECTION.seconds))
            calls = [c for c in aws_calls if c[:1] != ("configure",)]
            parts.append(Part(f"{len(calls)} AWS CLI calls", len(calls) * AWS_CLI_CALL.seconds))
        return parts

    def _image_gb(self, run, image: str) -> float:
        if image.startswith(CURATED_IMAGE_PREFIX):
            return 0
        return self.build_image_gb if image == _build_environment(run)["image"] else self.tools_image_gb

    # -- T5, T6: the critical path --
    def path(self, run: PipelineRun, execution: Execution) -> list[Step]:
        """The execution's critical path: each group of actions of one run order (the longest of
        them), stage by stage, and each bake."""
        steps: list[Step] = []
        group: list[Step] = []
        key = None
        for record in run.timeline:
            if record.execution is not execution:
                continue
            step = self.price(run, record)
            here = (
                None if isinstance(record, Bake) else (record.stage, float(record.action.get("runOrder", 1)))
            )
            # A retry (P9) runs the same action again after it failed: a new group, not a parallel one.
            if here is None or here != key or any(s.action == step.action for s in group):
                steps += _longest(group)
                group, key = [], here
            if here is None:
                steps.append(step)
            else:
                group.append(step)
        return steps + _longest(group)


def _longest(group: list[Step]) -> list[Step]:
    if not group:
        return []
    return [max(group, key=lambda s: s.overhead + s.bake)]


def _cloudformation(action: Mapping[str, Any], stack_changed: bool) -> list[Part]:
    mode = action["configuration"]["ActionMode"]
    half_poll = CLOUDFORMATION_POLL.seconds / 2
    if mode == "CHANGE_SET_REPLACE":
        return [Part("change set creation", CHANGE_SET_CREATION.seconds), Part("status polling", half_poll)]
    if mode in ("CHANGE_SET_EXECUTE", "CREATE_UPDATE", "REPLACE_ON_FAILURE"):
        if not stack_changed:
            return [Part("no change: the action returns at once", 0)]
        return [Part("the stack's update", 0, APPLICATION), Part("status polling", half_poll)]
    raise NotImplementedError(f"no duration for CloudFormation {mode}")


def _on_lambda(environment: Mapping[str, Any], project: str) -> bool:
    lambda_type = environment["type"] in LAMBDA_TYPES
    lambda_compute = environment["computeType"].startswith("BUILD_LAMBDA_")
    if lambda_type != lambda_compute:
        # CodeBuild refuses the pair ("Build environment compute modes and types").
        raise ValueError(
            f"project {project}: environment type {environment['type']} with compute type "
            f"{environment['computeType']}: Lambda compute takes LINUX_LAMBDA_CONTAINER or "
            "ARM_LAMBDA_CONTAINER with a BUILD_LAMBDA_* compute type, EC2 neither"
        )
    return lambda_type


def _build_environment(run) -> Mapping[str, Any]:
    """The privileged application build's environment (the build image)."""
    (environment,) = {
        json.dumps(p["environment"], sort_keys=True): p["environment"]
        for p in run.projects.values()
        if p["environment"].get("privilegedMode")
    }.values()
    return environment


def _runs(project: Mapping[str, Any], command: str) -> bool:
    """Whether the project's inline buildspec runs `command` (after setting its variables)."""
    buildspec = project["source"].get("buildspec", "buildspec.yml")
    return buildspec != "buildspec.yml" and command in json.loads(buildspec)["phases"]["build"]["commands"]


def _first_command(project: Mapping[str, Any]) -> Optional[str]:
    """The inline buildspec's first build command; None for the application's buildspec.yml."""
    buildspec = project["source"].get("buildspec", "buildspec.yml")
    if buildspec == "buildspec.yml":
        return None
    return json.loads(buildspec)["phases"]["build"]["commands"][0]


# -- per environment ------------------------------------------------------------------------
COMMIT = "commit"
"""The steps before the first environment: Source and Build."""


@dataclass(frozen=True)
class EnvironmentTime:
    name: str
    gated: bool
    steps: tuple[Step, ...]

    @property
    def overhead(self) -> float:
        return sum(s.overhead for s in self.steps)

    @property
    def bake(self) -> float:
        return sum(s.bake for s in self.steps)


def environment_of_stage(stage: str) -> str:
    for suffix in ("-plan", "-approval"):
        if stage.endswith(suffix):
            return stage.removesuffix(suffix)
    return stage


def by_environment(run, steps: Iterable[Step]) -> list[EnvironmentTime]:
    """The steps grouped by environment (T6), in pipeline order; Source and Build as "commit"."""
    declared = [s["name"] for s in run.stages]
    first_environment = {"Source", "Build"}
    groups: dict[str, list[Step]] = {}
    for stage in declared:
        groups.setdefault(COMMIT if stage in first_environment else environment_of_stage(stage), [])
    for step in steps:
        groups[COMMIT if step.stage in first_environment else environment_of_stage(step.stage)].append(step)
    gated = {environment_of_stage(s) for s in declared if s.endswith("-approval")}
    return [EnvironmentTime(name, name in gated, tuple(found)) for name, found in groups.items()]
