"""The stack configuration's schema: one typed model for every `ecs-delivery:*` key.

`DeliveryConfig` and the sections under it, what every environment has (`EnvironmentGates`:
each deploy target's variant extends it, each gate unit adds its own option, and
`components/units/__init__.py` assembles them into `EnvironmentConfig`), the field types that
say what each value may be (each with its `allowed` text, which docs/configuration.md
shows), the rules within a section and across sections (each written against the key it
names), and the AWS limits those rules enforce. Every component takes its typed values from
a `DeliveryConfig`; `components/config/reading.py` builds one from the stack config, and
`components/config/messages.py` words what pydantic reports wrong.
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
from importlib.resources import files
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.config.schedules import deployment_window_cron, iana_time_zone

if TYPE_CHECKING:
    # Assembled by the registry from each deploy target's variant and every gate's option; the
    # registry then rebuilds DeliveryConfig with it. Until then `environments` is a forward
    # reference: use DeliveryConfig through `components.config`, which assembles it first.
    from components.units import EnvironmentConfig

NAMESPACE = "ecs-delivery"

# AWS name limits the config can break (each checked below, naming the key).
IAM_ROLE_NAME_MAX = 64
# Managed policies IAM attaches to one role or user: 10 by default, 20 with a quota increase
# (IAM User Guide, "IAM and AWS STS quotas").
APPROVER_ATTACHMENTS_MAX = 10
# Pulumi auto-names a role `<logical name>-<7 random characters>`, and refuses a logical
# name whose result would exceed the provider's limit.
PULUMI_SUFFIX_LENGTH = 8
# The longest role logical names that embed an environment name: `recover-<env>-role`
# (StackRecovery) and `<env>-recover-role` (CrossAccountAccess); `review-<env>-role` and
# `deploy-<env>-role` are shorter.
ENVIRONMENT_ROLE_NAME_OVERHEAD = len("recover--role")
MAX_ENVIRONMENT_NAME = IAM_ROLE_NAME_MAX - PULUMI_SUFFIX_LENGTH - ENVIRONMENT_ROLE_NAME_OVERHEAD
CHANGE_SET_NAME_MAX = 128
CONNECTION_NAME_MAX = 32
PIPELINE_NAME_MAX = 100
NOTIFICATION_RULE_NAME_MAX = 64
# A gated release plans and reviews one change set, and creates and executes another
# (components/blueprint.py says why).
PLAN_CHANGE_SET_SUFFIX = "-plan"
RELEASE_CHANGE_SET_SUFFIX = "-pipeline"
MAX_PIPELINE_STAGES = 50
# A wave's members (components/blueprint.py, wave stages): at least two (one is an environment),
# at most four, so that the approval's CustomData shows each member's summary within
# CodePipeline's 500 characters (blueprint.wave_summary_limit gives each its share).
MIN_WAVE_MEMBERS = 2
MAX_WAVE_MEMBERS = 4
# Rules per stage condition (CodePipeline user guide, "Configure conditions for a stage").
MAX_CONDITION_RULES = 5
# A gated environment's stages: plan, approval, release (components/blueprint.py).
GATED_STAGES = 3
# The IAM path of this program's own roles and boundary policies (iam_policies.DELIVERY_ROLE_PATH).
RESERVED_ROLE_PATH = "ecs-delivery"
NOTIFICATION_RULE_SUFFIX = "-events"
# A stack name every name derived from it accepts (CodeBuild projects: [A-Za-z0-9_-]).
STACK_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")


# Set in the validation context of the second pass over a broken config (messages.cross_field_problems).
REPAIRING = "repairing"


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region of every partition, from the installed botocore's endpoint data (the
    partitions file the AWS SDKs share)."""
    document = json.loads((files("botocore") / "data" / "partitions.json").read_text())
    return frozenset(region for partition in document["partitions"] for region in partition["regions"])


def principal_kind_and_name(arn: str) -> tuple[str, str, str]:
    """(`role` or `user`, its path, its name) of an IAM role or user ARN."""
    resource = arn.split(":", 5)[5]
    kind, _, rest = resource.partition("/")
    path, _, name = rest.rpartition("/")
    return kind, f"/{path}/" if path else "/", name


# Here, not in reading.py, which imports this module: `environments[].region` is checked by it.
def _known_region(value: str) -> str:
    if value not in known_regions():
        raise ValueError(f"{value!r} is not allowed: {_known_region.allowed}")
    return value


_known_region.allowed = "a region the installed AWS SDK knows (e.g. eu-west-1)"
Region = Annotated[str, AfterValidator(_known_region)]


def _matches(pattern: str, allowed: str):
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not allowed: {allowed}")
        return value

    check.allowed = allowed  # what docs/configuration.md says the value may be
    return AfterValidator(check)


# Characters that are not what they show: control characters (a line break, a tab, NUL, DEL),
# format characters (the bidirectional overrides U+202A-U+202E and isolates U+2066-U+2069, zero-
# width characters) and the Unicode line and paragraph separators (Unicode general categories
# Cc, Cf, Zl, Zp).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_CONTROL_NAMES = {"\n": "a line break (\\n)", "\r": "a carriage return (\\r)", "\t": "a tab (\\t)"}


def _invisible_characters(value: str) -> list[str]:
    """The characters of `value` that are not what they show, each described once."""
    found: list[str] = []
    for char in dict.fromkeys(value):
        category = unicodedata.category(char)
        if category not in _INVISIBLE_CATEGORIES:
            continue
        name = unicodedata.name(char, "")
        found.append(
            _CONTROL_NAMES.get(char)
            or (f"U+{ord(char):04X} {name}" if name else f"the control character U+{ord(char):04X}")
        )
    return found


def _relative_path(value: str) -> str:
    # CodePipeline resolves `Artifact::path` inside the artifact zip; an absolute path or
    # `..` can never resolve there and only fails at run time.
    if not value or value.startswith("/") or ".." in value.split("/") or "::" in value:
        raise ValueError(
            f"{value!r} is not allowed: a relative path inside the repository "
            "(no leading '/', no '..', no '::')"
        )
    invisible = _invisible_characters(value)
    if invisible:
        # A line break in a path splits the action's configuration line and names no file the
        # repository holds; found only when the release runs.
        raise ValueError(
            f"{value!r} is not allowed: it holds {', '.join(invisible)}; a relative path inside the "
            "repository holds no line breaks or other control characters"
        )
    return value


def _visible_branch(value: str) -> str:
    invisible = _invisible_characters(value)
    if invisible:
        # Git refuses control characters in a ref (git check-ref-format); a bidirectional
        # override is accepted by Git but shows the name differently from what it is, so a
        # reviewer reads one branch and the pipeline follows another (Trojan Source,
        # CVE-2021-42574).
        raise ValueError(
            f"{value!r} is not allowed: it holds {', '.join(invisible)}; a Git branch name of visible "
            "characters only (no control characters, no bidirectional overrides)"
        )
    return value


# CodePipeline resolves `#{namespace.variable}` in an action's configuration when the action runs
# (CodePipeline user guide, "Variables reference"). In a value the stack file passes through
# (a template parameter, an alarm name), it is a reference to a variable the stack file never
# meant, and a namespace the pipeline does not have fails the release at run time.
_PIPELINE_VARIABLE = re.compile(r"#\{[^}]*\}")


def _no_pipeline_variable(value: str) -> str:
    found = _PIPELINE_VARIABLE.search(value)
    if found:
        raise ValueError(
            f"{value!r} is not allowed: {found.group()!r} is CodePipeline's variable syntax, which the "
            "pipeline would try to resolve when the release runs (and fail); write the value without '#{'"
        )
    return value


_no_pipeline_variable.allowed = "a string without CodePipeline variable syntax ('#{...}')"


ResourceName = Annotated[
    str,
    _matches(
        r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?",
        "lowercase letters, digits and '-', 1-63 characters, not starting or ending with '-'",
    ),
]
RepositoryId = Annotated[
    str,
    _matches(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", "a GitHub repository as 'owner/name'"),
]
BranchName = Annotated[
    str,
    AfterValidator(_visible_branch),
    _matches(
        r"(?!/)(?!.*\.\.)(?!.*//)[^\s~^:?*\[\\]{1,255}(?<![/.])",
        "a Git branch name (no spaces, '..', '~', '^', ':', '?', '*', '[' or '\\', no control or "
        "bidirectional-override characters)",
    ),
]
EcrRepositoryName = Annotated[
    str,
    _matches(
        r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*",
        "an ECR repository name: lowercase letters, digits, '.', '_', '-' and '/'-separated "
        "namespaces, 2-256 characters",
    ),
]
StackName = Annotated[
    str,
    _matches(
        r"[A-Za-z][A-Za-z0-9-]{0,127}",
        "a CloudFormation stack name: a letter, then letters, digits and '-', at most 128",
    ),
]
_relative_path.allowed = "a relative path inside the repository (no line breaks or other control characters)"
RelativePath = Annotated[str, AfterValidator(_relative_path)]
ParameterName = Annotated[
    str,
    _matches(r"[A-Za-z0-9]{1,255}", "a CloudFormation parameter name (letters and digits)"),
]
ConnectionArn = Annotated[
    str,
    _matches(
        r"arn:aws[a-z-]*:(?:codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:"
        r"connection/[0-9a-f-]{36}",
        "the ARN of a CodeConnections connection "
        "(arn:<partition>:codeconnections|codestar-connections:<region>:<account>:connection/<uuid>)",
    ),
]
ManagedPolicyArn = Annotated[
    str,
    _matches(
        r"arn:aws[a-z-]*:iam::(?:aws|\d{12}):policy/[\w+=,.@/-]{1,512}",
        "an IAM managed policy ARN (arn:<partition>:iam::<aws|account>:policy/<name>)",
    ),
]
# IAM cannot name a KMS key by alias: "You cannot use a key id, alias name, or alias ARN
# to identify a KMS key in an IAM policy statement" (KMS developer guide, cmks-in-iam-
# policies). An alias here would make every artifact read and write AccessDenied.
KmsKeyArn = Annotated[
    str,
    _matches(
        r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        r"|mrk-[0-9a-f]{32})",
        "a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>); "
        "IAM policies cannot name a key by alias, so an alias ARN is refused",
    ),
]

ComputeType = Literal[
    "BUILD_GENERAL1_SMALL",
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
]
# The values CloudWatch Logs accepts for a log group's retention.
LogRetentionDays = Literal[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
    2557, 2922, 3288, 3653,
]  # fmt: skip


class Section(BaseModel):
    """Base for every config object: camelCase keys, unknown keys rejected, immutable. The
    units' config options (a gate's `driftCheck`, a deploy target's variant) are Sections too."""

    model_config = ConfigDict(
        extra="forbid",
        # YAML's own types: `approval: "no"` is a string, not false; `timeoutMinutes: "30"` a
        # string, not 30. Coercing them would turn a typo into a plausible stack.
        strict=True,
        alias_generator=to_camel,
        # camelCase only, as in the stack file: `timeout_minutes` is an unknown key, not
        # an alias quietly accepted.
        populate_by_name=False,
        frozen=True,
        # The docstring under each field is its description: docs/configuration.md is
        # generated from them (offline/config_reference.py).
        use_attribute_docstrings=True,
    )


class ApplicationConfig(Section):
    name: ResourceName
    """Application name: names the application's ECR repository and prefixes every physical
    name (`<name>-<stack>`, never truncated: a truncated name could collide with another
    stack's). `<name>-<stack>` is at most 57 characters (the notification rule
    `<name>-<stack>-events` within 64), and 32 when the stack creates the connection
    (CodeConnections names are unique per account)."""
    repository: RepositoryId
    """GitHub `owner/name` of the application repository (source, Dockerfile, buildspec)."""
    branch: BranchName = "main"
    """Branch whose pushes start the pipeline."""
    image_repository: Optional[EcrRepositoryName] = None
    """An existing ECR repository the build publishes to (looked up, not managed); absent: the
    stack creates one named `application.name`. Refused with environments in other accounts:
    the stack must own the repository to let them pull."""


class InfrastructureConfig(Section):
    repository: RepositoryId
    """GitHub `owner/name` of the repository holding the CloudFormation template."""
    branch: BranchName = "main"
    """Branch whose pushes start the pipeline."""
    template_path: RelativePath = "stack.yml"
    """Template path inside the infrastructure repository."""


class BuildImageConfig(Section):
    repository_name: Optional[EcrRepositoryName] = None
    """ECR repository of the CodeBuild image; default `<application.name>/codebuild`."""


# ECR pull-through cache rules read upstream credentials only from Secrets Manager secrets
# whose name starts with "ecr-pullthroughcache/" (ECR user guide, pull-through cache).
SecretArn = Annotated[
    str,
    _matches(
        r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:ecr-pullthroughcache/[\w/+=.@-]+",
        "the ARN of a Secrets Manager secret whose name starts with 'ecr-pullthroughcache/' "
        "(ECR pull-through cache reads credentials only from such secrets), holding "
        '{"username": ..., "accessToken": ...}',
    ),
]
CachePrefix = Annotated[
    str,
    _matches(
        r"(?=.{2,30}$)[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*",
        "an ECR repository prefix: lowercase letters, digits, '.', '_', '-', '/', 2-30 characters",
    ),
]
CacheMode = Literal["LOCAL_DOCKER_LAYER_CACHE", "LOCAL_SOURCE_CACHE", "LOCAL_CUSTOM_CACHE"]


class DockerHubConfig(Section):
    """How builds reach Docker Hub without its anonymous pull rate limit (CodeBuild's
    egress addresses are shared by many accounts)."""

    credentials_secret_arn: SecretArn
    """Secrets Manager secret `ecr-pullthroughcache/<name>` with the Docker Hub `username` and
    `accessToken` (a personal access token)."""
    pull_through_cache: bool = True
    """Pull Docker Hub images through ECR: `<registry>/<cachePrefix>/library/python:3.12`."""
    cache_prefix: CachePrefix = "docker-hub"
    """ECR repository prefix of the pull-through cache rule (one rule per prefix per region)."""
    create_rule: bool = True
    """Create the rule; false when another stack in the account and region already has it."""
    login: bool = False
    """Also `docker login` to Docker Hub in the build, with the same secret."""


class BuildConfig(Section):
    compute_type: ComputeType = "BUILD_GENERAL1_SMALL"
    """CodeBuild compute size of the application build (SMALL: 3 GB of memory and 2 vCPUs; the
    others as CodeBuild's "Build environment compute types" lists them)."""
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    """CodeBuild host: x86_64 (LINUX_CONTAINER) or arm64 (ARM_CONTAINER); the build image and
    the tools image are built for the same platform (the small projects run on
    LINUX_LAMBDA_CONTAINER or ARM_LAMBDA_CONTAINER)."""
    small_steps_compute: Literal["lambda", "ec2"] = "lambda"
    """Where the small steps (recovery, review and confirm, record, smoke test) run the tools
    image: `lambda` (CodeBuild's Lambda compute: starts faster, never queues; a smoke test with
    `verify.timeoutMinutes` above 15 still runs on EC2) or `ec2` (BUILD_GENERAL1_SMALL). Lambda
    compute is offered in some regions only ("Run builds on AWS Lambda compute", "Which regions
    support AWS Lambda compute in CodeBuild?"): where it is not, choose `ec2`."""
    cache_modes: list[CacheMode] = Field(default_factory=lambda: ["LOCAL_DOCKER_LAYER_CACHE"], max_length=3)
    """CodeBuild local cache modes of the build project; empty: no local cache. The source
    cache keeps Git metadata of Git sources, so it does nothing for a CodePipeline artifact."""
    registry_cache: bool = True
    """A BuildKit registry cache in ECR (`<application.name>/build-cache`, mutable) for the
    application build, handed to it as `BUILD_CACHE_REPOSITORY_URI`."""
    docker_hub: Optional[DockerHubConfig] = None
    """Authenticated Docker Hub access; absent: base images are pulled anonymously."""
    timeout_minutes: int = Field(default=60, ge=5, le=2160)
    """CodeBuild timeout of one application build."""
    buildspec: RelativePath = "buildspec.yml"
    """Buildspec path inside the application repository."""
    version_file: RelativePath = "version.json"
    """JSON file the build writes into its output artifact."""
    version_key: ParameterName = "Version"
    """Key in `version_file` holding the image tag."""
    digest_key: ParameterName = "Digest"
    """Key in `version_file` holding the digest (`sha256:...`) of the image the build published
    under that tag, as the registry serves it (docs/app-repo-contract.md)."""
    log_retention_days: LogRetentionDays = 30
    """Retention of the CloudWatch log groups of every CodeBuild project the stack declares:
    the build's, and each environment's review, recovery and smoke test."""

    @model_validator(mode="after")
    def _version_keys_differ(self) -> BuildConfig:
        if self.digest_key == self.version_key:
            raise ValueError(
                f".digestKey: {self.digest_key!r} is already versionKey; the tag and the digest need "
                "keys of their own"
            )
        return self

    @field_validator("cache_modes")
    @classmethod
    def _cache_modes_are_unique(cls, modes: list[str]) -> list[str]:
        if len(set(modes)) != len(modes):
            raise ValueError(f"{modes} lists a mode twice")
        return modes


class DeploymentWindowConfig(Section):
    cron: Annotated[str, AfterValidator(deployment_window_cron)]
    """When releases may enter the environment, as the DeploymentWindow rule's Quartz cron
    (e.g. `* * 9-16 ? * MON-THU`: every minute from 09:00 to 16:59, Monday to Thursday)."""
    time_zone: Annotated[str, AfterValidator(iana_time_zone)]
    """The IANA time zone the cron is read in (e.g. `Europe/London`)."""


AlarmName = Annotated[
    str,
    _matches(
        r"[^\x00-\x1f\x7f]{1,255}",
        "a CloudWatch alarm name (1-255 characters, no control characters, no '#{...}')",
    ),
    AfterValidator(_no_pipeline_variable),
]
ParameterValue = Annotated[str, AfterValidator(_no_pipeline_variable)]


class OnFailureConfig(Section):
    result: Literal["ROLLBACK", "RETRY"]
    """ROLLBACK: run the stage again with the last successful execution's artifacts and
    variables, back to that release; RETRY: once more with the same ones
    (docs/operations.md). Absent: the run stops there."""
    retry_mode: Optional[Literal["FAILED_ACTIONS", "ALL_ACTIONS"]] = None
    """With RETRY: which actions run again (default FAILED_ACTIONS; a gated environment
    must retry ALL_ACTIONS, because its failed ExecuteChangeSet has consumed its change set)."""


AccountId = Annotated[str, _matches(r"\d{12}", "a 12-digit AWS account id (quoted in YAML)")]
RoleArn = Annotated[
    str,
    _matches(
        r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}",
        "an IAM role ARN (arn:<partition>:iam::<account>:role/<name>)",
    ),
]


# Who may approve: an IAM role or user of the pipeline's account (CodePipeline has no
# resource policy, so a principal of another account cannot call PutApprovalResult on it).
ApproverArn = Annotated[
    str,
    _matches(
        r"arn:aws[a-z-]*:iam::\d{12}:(?:role|user)/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,128}",
        "an IAM role or user ARN (arn:<partition>:iam::<account>:role/<name> or :user/<name>), no wildcards",
    ),
]


class TargetAccountConfig(Section):
    role_arn: RoleArn
    """The role Pulumi assumes in that account to create the roles its environments need
    (it must exist there beforehand; docs/cross-account.md)."""


class EnvironmentGates(Section):
    """What every environment has, whatever it deploys to: its name, its account, and the
    stage conditions the blueprint wraps its deploy target's actions in (components/blueprint.py).
    A deploy target's variant adds the keys its target reads, each gate unit its own option
    (`driftCheck`, `verify`): the registry joins them (components/units/__init__.py)."""

    name: ResourceName
    """Environment name, unique: names its pipeline stages and its roles, so at most 43
    characters (`recover-<name>-role` and Pulumi's 8-character suffix within IAM's 64)."""
    approval: bool = False
    """Gated: plan (change set and review), manual approval, then release (the change set
    created again, confirmed to be the one approved, executed) in three stages, instead of a
    direct deploy (docs/operations.md)."""
    approvers: list[ApproverArn] = Field(default_factory=list, max_length=10)
    """Gated: the IAM roles and users (of the pipeline's account) who may approve its releases.
    The program grants each of them `codepipeline:PutApprovalResult` on this environment's
    approval alone, and the release's confirm refuses a release approved by anyone else
    (docs/security.md, "Who can change what reaches production"). Each environment attaches a
    policy of its own to each of them, so one principal approves at most 10 environments (IAM's
    managed policies per role or user; fewer if it has policies of its own)."""
    approver_group: bool = False
    """Gated: also create the IAM group `<application>-<stack>-<name>-approvers`; its members
    (IAM users, added outside this program) may approve, as `approvers` may."""
    deployment_window: Optional[DeploymentWindowConfig] = None
    """Releases enter the environment only inside this window (a DeploymentWindow entry rule)."""
    alarms: list[AlarmName] = Field(default_factory=list, max_length=5)
    """CloudWatch alarms watched for `bakeMinutes` after a successful deploy; one in ALARM
    rolls the environment back (a condition holds at most 5 rules)."""
    bake_minutes: Optional[int] = Field(default=None, ge=1)
    """How long the alarms are watched after the deploy (the rules' WaitTime)."""
    on_failure: Optional[OnFailureConfig] = None
    """What CodePipeline does when the environment's release stage fails; absent: the
    execution stops there (FAIL)."""
    account: Optional[AccountId] = None
    """Another AWS account the environment's stack lives in (absent: the pipeline's own);
    Pulumi reaches it through `targetAccounts.<account>.roleArn`."""
    wave: Optional[ResourceName] = None
    """Deploy beside the other environments of the same wave: one plan stage, one approval
    that shows every member's change, one release stage, each member's actions side by side
    (docs/waves.md). Members are adjacent in the list, 2 to 4 of them, all gated or all
    ungated, with the same deploymentWindow, onFailure (not RETRY when gated) and approvers (and no
    approverGroup);
    the name follows the environment-name rules and is no environment's name."""
    region: Optional[Region] = None
    """The region the environment's stack lives in (absent: the pipeline's, `aws:region`). The
    pipeline then keeps an artifact store there too (docs/regions.md). Not with `account`."""

    @model_validator(mode="after")
    def _gates_are_consistent(self, info: ValidationInfo) -> EnvironmentGates:
        if (info.context or {}).get(REPAIRING):
            # Reported already; the second pass checks only what spans environments.
            return self
        problems: list[str] = []
        if self.alarms and self.bake_minutes is None:
            problems.append(".bakeMinutes: required with alarms (how long to watch them after a deploy)")
        if self.bake_minutes is not None and not self.alarms:
            problems.append(".bakeMinutes: set without alarms; there is nothing to watch")
        if len(set(self.alarms)) != len(self.alarms):
            problems.append(".alarms: each alarm once")
        if not self.approval and (self.approvers or self.approver_group):
            problems.append(
                ".approvers: only a gated environment (approval: true) has an approval; remove "
                "approvers and approverGroup, or set approval: true"
            )
        if self.approval and not (self.approvers or self.approver_group):
            problems.append(
                ".approvers: required for a gated environment: the IAM role or user ARNs allowed to "
                "approve its releases (or approverGroup: true); without them anyone who can act in "
                "the account could approve"
            )
        if len(set(self.approvers)) != len(self.approvers):
            problems.append(".approvers: each principal once")
        if self.region and self.account:
            problems.append(
                ".region: not yet for an environment in another account (account): its artifact "
                "store would need a bucket and a KMS key in that region its roles can read; remove "
                "region or account (docs/regions.md)"
            )
        if self.region and self.alarms:
            problems.append(
                ".alarms: not yet with region: the pipeline's alarm rules read alarms in the "
                "pipeline's region; remove alarms (deployment.alarms, which ECS watches in the stack's "
                "region, still roll a release back) or region (docs/regions.md)"
            )
        failure = self.on_failure
        if failure is not None:
            if failure.result != "RETRY" and failure.retry_mode is not None:
                problems.append(".onFailure.retryMode: only with result RETRY")
            if self.approval and failure.result == "RETRY" and failure.retry_mode != "ALL_ACTIONS":
                problems.append(
                    ".onFailure.retryMode: a gated environment retries ALL_ACTIONS; retrying only a "
                    "failed ExecuteChangeSet runs a change set the failed run already consumed"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self


# -- progressive delivery: the ECS service's own deployment strategy ---------------------------
# Bounds from the AWS::ECS::Service registry schema (cfn-lint's copy): DeploymentConfiguration
# BakeTimeInMinutes 0-1440, CanaryConfiguration CanaryPercent 0.1-100 in steps of 0.1 and
# CanaryBakeTimeInMinutes 0-1440, LinearConfiguration StepPercent 3-100 in steps of 0.1 and
# StepBakeTimeInMinutes 0-1440; defaults there: bake 15, canary 5% for 10 minutes, linear 10%
# steps of 6 minutes.
DEPLOYMENT_STRATEGIES = {
    "rolling": "ROLLING",
    "blue-green": "BLUE_GREEN",
    "canary": "CANARY",
    "linear": "LINEAR",
}
# CloudFormation refuses a canary or linear deployment whose configured time exceeds 33 hours
# (the schema's CanaryConfiguration and LinearConfiguration descriptions: its operations time
# out after 36).
CLOUDFORMATION_DEPLOYMENT_MINUTES_MAX = 33 * 60
MAX_DEPLOYMENT_ALARMS = 5
# The template parameters an environment's `deployment` sets (components/cloudformation.py,
# deployment_parameters; docs/template-contract.md): fixed names, so that one template serves
# every environment, each with its own strategy.
DEPLOYMENT_PARAMETER_NAMES = (
    "DeploymentStrategy",
    "DeploymentBakeMinutes",
    "DeploymentAlarmNames",
    "CanaryPercent",
    "CanaryBakeMinutes",
    "LinearStepPercent",
    "LinearStepBakeMinutes",
    "TestHookFunctionArn",
    "TestHookRoleArn",
)
MAX_TEST_PATHS = 5


def linear_steps(step_percent: float) -> int:
    """The deployment steps CloudFormation counts for a linear deployment's time (registry
    schema, LinearConfiguration): (100 / step) - 1 when the step divides 100, else floor(100 / step)."""
    tenths = round(step_percent * 10)
    return (1000 // tenths) - 1 if 1000 % tenths == 0 else 1000 // tenths


def _tenths(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{value} is not allowed: a finite number")
    if abs(value * 10 - round(value * 10)) > 1e-9:
        raise ValueError(
            f"{value} is not allowed: a multiple of 0.1 (ECS shifts traffic in tenths of a percent)"
        )
    return round(value, 1)


_tenths.allowed = "a percentage, a multiple of 0.1 (bounds in the description)"
Percent = Annotated[float, AfterValidator(_tenths)]
DeploymentAlarmName = Annotated[
    str,
    _matches(
        r"[^\x00-\x1f\x7f,]{1,255}",
        "a CloudWatch alarm name (1-255 characters, no control characters, no ',': the template "
        "receives the names as one comma-separated list)",
    ),
    AfterValidator(_no_pipeline_variable),
]
TestPath = Annotated[
    str,
    _matches(
        r"/[A-Za-z0-9._~!$&'()*+;=:@%/?-]{0,199}",
        "a URL path starting with '/' (at most 200 characters, no spaces, no ',')",
    ),
]


class DeploymentConfig(Section):
    """How the ECS service of the environment's template takes a new release (ECS's own
    deployment strategies; docs/deployment-strategies.md). Reaches the template as the
    parameters of `components/cloudformation.py`, `DEPLOYMENT_PARAMETERS`."""

    strategy: Literal["rolling", "blue-green", "canary", "linear"] = "rolling"
    """rolling: tasks replaced in place (ECS's default); blue-green: the new revision gets the
    test listener, then all production traffic at once; canary: `canaryPercent` of production
    traffic for `canaryBakeMinutes`, then the rest; linear: `stepPercent` more every
    `stepBakeMinutes`."""
    bake_minutes: int = Field(default=15, ge=0, le=1440)
    """blue-green, canary, linear: how long the old revision is kept, and the alarms watched,
    after all traffic has moved (ECS's BakeTimeInMinutes, 0-1440; default 15)."""
    canary_percent: Optional[Percent] = Field(default=None, ge=0.1, le=100.0)
    """canary: the share of production traffic the new revision gets first (0.1-100 in steps
    of 0.1; default 5)."""
    canary_bake_minutes: Optional[int] = Field(default=None, ge=0, le=1440)
    """canary: how long the canary share runs before the rest moves (0-1440; default 10)."""
    step_percent: Optional[Percent] = Field(default=None, ge=3.0, le=100.0)
    """linear: the share of production traffic moved at each step (3-100 in steps of 0.1;
    default 10)."""
    step_bake_minutes: Optional[int] = Field(default=None, ge=0, le=1440)
    """linear: the wait between steps (0-1440; default 6)."""
    alarms: list[DeploymentAlarmName] = Field(default_factory=list, max_length=MAX_DEPLOYMENT_ALARMS)
    """CloudWatch alarms (names, in the environment's account and Region) that fail the ECS
    deployment and roll the service back while it runs and bakes; at most 5."""
    test_paths: list[TestPath] = Field(default_factory=list, max_length=MAX_TEST_PATHS)
    """blue-green, canary, linear: paths the lifecycle-hook function requests on the test
    listener before production traffic moves (each must answer 2xx, or ECS rolls back);
    empty: no hook."""

    @model_validator(mode="after")
    def _strategy_is_consistent(self) -> DeploymentConfig:
        problems: list[str] = []
        progressive = self.strategy != "rolling"
        if not progressive:
            for key, field, why in (
                ("bakeMinutes", "bake_minutes", "the template sets a bake time for those only"),
                ("testPaths", "test_paths", "a rolling deployment has no test listener"),
            ):
                if field in self.model_fields_set:
                    problems.append(f".{key}: only with strategy blue-green, canary or linear ({why})")
        for key, field, strategy in (
            ("canaryPercent", "canary_percent", "canary"),
            ("canaryBakeMinutes", "canary_bake_minutes", "canary"),
            ("stepPercent", "step_percent", "linear"),
            ("stepBakeMinutes", "step_bake_minutes", "linear"),
        ):
            if getattr(self, field) is not None and self.strategy != strategy:
                problems.append(f".{key}: only with strategy {strategy} (the strategy is {self.strategy})")
        if len(set(self.alarms)) != len(self.alarms):
            problems.append(".alarms: each alarm once")
        if len(set(self.test_paths)) != len(self.test_paths):
            problems.append(".testPaths: each path once")
        if self.strategy == "canary":
            total = self.bake_minutes + self.canary_bake
            if total > CLOUDFORMATION_DEPLOYMENT_MINUTES_MAX:
                problems.append(
                    f".canaryBakeMinutes: bakeMinutes + canaryBakeMinutes is {total} minutes; CloudFormation "
                    f"refuses a canary deployment over {CLOUDFORMATION_DEPLOYMENT_MINUTES_MAX} (33 hours)"
                )
        if self.strategy == "linear":
            steps = linear_steps(self.step)
            total = self.bake_minutes + self.step_bake * steps
            if total > CLOUDFORMATION_DEPLOYMENT_MINUTES_MAX:
                problems.append(
                    f".stepBakeMinutes: bakeMinutes + stepBakeMinutes x {steps} steps is {total} minutes; "
                    "CloudFormation refuses a linear deployment over "
                    f"{CLOUDFORMATION_DEPLOYMENT_MINUTES_MAX} (33 hours)"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def ecs_strategy(self) -> str:
        """The strategy as AWS::ECS::Service DeploymentConfiguration Strategy names it."""
        return DEPLOYMENT_STRATEGIES[self.strategy]

    @property
    def canary(self) -> float:
        return self.canary_percent if self.canary_percent is not None else 5.0

    @property
    def canary_bake(self) -> int:
        return self.canary_bake_minutes if self.canary_bake_minutes is not None else 10

    @property
    def step(self) -> float:
        return self.step_percent if self.step_percent is not None else 10.0

    @property
    def step_bake(self) -> int:
        return self.step_bake_minutes if self.step_bake_minutes is not None else 6

    @property
    def has_test_hook(self) -> bool:
        """Whether the program declares the lifecycle-hook function for this environment."""
        return self.strategy != "rolling" and bool(self.test_paths)


class DeployRoleConfig(Section):
    managed_policy_arns: Optional[list[ManagedPolicyArn]] = Field(default=None, min_length=1, max_length=10)
    """The non-IAM permissions of every environment's CloudFormation deploy role (absent:
    PowerUserAccess); the IAM it needs is always the program's own scoped policy
    (docs/security.md)."""
    permissions_boundary_arn: Optional[ManagedPolicyArn] = None
    """Permissions boundary for the deploy roles themselves (the roles their stacks
    create always carry the boundary this program declares)."""


class EcrConfig(Section):
    untagged_expiry_days: int = Field(default=7, ge=1, le=3650)
    """Days after which untagged images expire (repositories this stack creates)."""
    max_image_count: int = Field(default=50, ge=1, le=10000)
    """Newest images kept per repository; older ones expire."""
    immutable_tags: Optional[bool] = None
    """Refuse to move an existing tag in the application repository. Unset: true with a gated
    environment (a build, which runs unreviewed code, must not move a released commit's tag or
    a release mark), false without; false with a gated environment is refused."""
    keep_releases: int = Field(default=10, ge=2, le=100)
    """Releases kept pullable per gated environment, whatever the other rules expire: each
    release a gated environment executes marks its image `release-<environment>.<time>`, and the
    newest marks of each environment are kept (at least 2: what runs and its rollback target;
    docs/operations.md)."""


class ArtifactsConfig(Section):
    expire_after_days: int = Field(default=30, ge=1, le=3650)
    """Days after which pipeline artifacts are deleted from the artifact store."""
    kms_key_arn: Optional[KmsKeyArn] = None
    """Customer-managed KMS key for the artifact store (the roles get kms:Decrypt and
    GenerateDataKey on it); absent: SSE-S3. Refused with environments in other accounts: the
    stack then creates the key, to write its key policy."""


# What the program sees for a secret config value offline (`make synth`), where nothing
# can decrypt it; a real `pulumi up` sees the decrypted value.
SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 - a marker, not a credential
# Keys whose values may be secrets: e-mail addresses are personal data, kept secret in
# the state. Every other key names a resource or a setting shown in plans and outputs.
SECRET_ALLOWED_KEYS = frozenset({"notifications"})


def _email(value: str, info: ValidationInfo) -> str:
    """An address pydantic's EmailStr accepts (email-validator's syntax rules; no DNS
    lookup), returned as written: SNS subscribes exactly this string. Offline, a secret
    address is only its placeholder."""
    if value == SECRET_PLACEHOLDER and f"{NAMESPACE}:notifications" in (info.context or {}).get(
        "secret_keys", ()
    ):
        return value
    try:
        _EMAIL_ADAPTER.validate_python(value)
    except ValidationError:
        raise ValueError(f"{value!r} is not allowed: an email address (local-part@domain.tld)") from None
    return value


_email.allowed = "an email address"
_EMAIL_ADAPTER = TypeAdapter(EmailStr)
EmailAddress = Annotated[str, AfterValidator(_email)]


class NotificationsConfig(Section):
    emails: list[EmailAddress] = Field(default_factory=list, max_length=20)
    """Email addresses subscribed to pipeline failures, successes and approval requests
    (each confirms its subscription by email); at least one with a gated environment, whose
    approval requests go only here."""
    create_service_linked_role: bool = False
    """Create CodeStar Notifications' service-linked role (AWSServiceRoleForCodeStarNotifications)
    before the notification rule. Only for an account that never had a notification rule: there
    the first CreateNotificationRule fails until the role exists; where it exists, creating it
    again fails ("has been taken in this account"). Kept on `pulumi destroy` (other rules of the
    account use it). See docs/operations.md, "First apply in a fresh account"."""


def _shown_setting(value: Any) -> str:
    """A setting as its stack file spells it, for a message comparing members' settings."""
    if isinstance(value, BaseModel):
        return json.dumps(value.model_dump(by_alias=True, exclude_none=True))
    return json.dumps(value)


class DeliveryConfig(Section):
    application: ApplicationConfig
    """The application: its name and the repository it is built from."""
    infrastructure: InfrastructureConfig
    """The repository holding the CloudFormation template every environment deploys."""
    connection_arn: Optional[ConnectionArn] = None
    """An existing CodeConnections connection both source actions use; absent: the stack
    creates a GitHub connection, PENDING until its one-time console handshake."""
    build_image: BuildImageConfig = BuildImageConfig()
    """The CodeBuild image this stack builds from `build-image/`."""
    build: BuildConfig = BuildConfig()
    """The privileged CodeBuild project that tests, builds and publishes the application image."""
    image_tag_parameter: ParameterName = "ApplicationImageTag"
    """Template parameter that receives the built version."""
    image_digest_parameter: Optional[ParameterName] = "ApplicationImageDigest"
    """Template parameter that receives the digest (`sha256:...`) of the image the build
    published, so the template pins the image by digest (`<registry>/<repository>@<digest>`):
    what runs is exactly what was reviewed, whatever later happens to the tag. `""` (empty)
    for a template that does not declare it yet: it then gets the tag only, and releases are
    checked by the tag (docs/template-contract.md says how to move)."""
    image_repository_parameter: ParameterName = "ApplicationImageRepository"
    """Template parameter that receives the name of the ECR repository the build pushes to."""
    image_registry_parameter: ParameterName = "ApplicationImageRegistry"
    """Template parameter that receives the registry the repository lives in
    (`<account>.dkr.ecr.<region>.amazonaws.com`): the pipeline's account, which for an
    environment in another account is not the stack's own."""
    permissions_boundary_parameter: ParameterName = "PermissionsBoundaryArn"
    """Template parameter that receives the ARN of the permissions boundary every role the
    environment's stack creates must carry."""
    environments: list[EnvironmentConfig] = Field(min_length=1, max_length=47)
    """Deployment stages in order (CodePipeline allows 50 stages: Source and Build use 2, an
    ungated environment 1, a gated one 3; checked below). Ungated environments come first: one
    after a gated environment would receive changes unreviewed, after the gated one has them."""
    deploy_role: DeployRoleConfig = DeployRoleConfig()
    """The CloudFormation deploy role of every environment."""
    ecr: EcrConfig = EcrConfig()
    """The ECR repositories this stack creates."""
    artifacts: ArtifactsConfig = ArtifactsConfig()
    """The S3 artifact store."""
    notifications: NotificationsConfig = NotificationsConfig()
    """The SNS topic of pipeline events and approval requests."""
    target_accounts: dict[AccountId, TargetAccountConfig] = Field(default_factory=dict)
    """How Pulumi reaches each account named by `environments[].account`."""
    execution_mode: Literal["SUPERSEDED", "QUEUED", "PARALLEL"] = "SUPERSEDED"
    """How overlapping runs behave: SUPERSEDED lets a newer run replace one waiting at a
    stage boundary (e.g. an approval); QUEUED runs every commit in order. PARALLEL is
    refused: parallel runs would deploy the same stacks and change sets at once."""
    protect_stateful_resources: bool = True
    """Protect repositories and the artifact store from deletion (prod); false lets
    `pulumi destroy` remove them with their contents (dev)."""

    @field_validator("image_digest_parameter", mode="before")
    @classmethod
    def _no_digest_parameter(cls, value: Any) -> Any:
        # Every config value reaches the program as a string (the CLI's `config set` takes no
        # null): an empty one means none.
        return None if value == "" else value

    @model_validator(mode="after")
    def _environments_are_consistent(self, info: ValidationInfo) -> DeliveryConfig:
        problems: list[str] = []
        pipeline_parameters = {
            key: parameter
            for key, parameter in {
                "imageTagParameter": self.image_tag_parameter,
                "imageDigestParameter": self.image_digest_parameter,
                "imageRepositoryParameter": self.image_repository_parameter,
                "imageRegistryParameter": self.image_registry_parameter,
                "permissionsBoundaryParameter": self.permissions_boundary_parameter,
            }.items()
            if parameter is not None
        }
        seen_parameters: dict[str, str] = {}
        for key, parameter in pipeline_parameters.items():
            if parameter in seen_parameters:
                problems.append(
                    f"{key}: {parameter!r} is already {seen_parameters[parameter]}; "
                    "each pipeline-set parameter needs its own name"
                )
            seen_parameters.setdefault(parameter, key)
        if self.execution_mode == "PARALLEL":
            rolling_back = [
                env.name
                for env in self.environments
                if env.alarms or (env.on_failure and env.on_failure.result == "ROLLBACK")
            ]
            problems.append(
                "executionMode: 'PARALLEL' is not allowed: parallel runs would deploy the same stacks "
                "and change sets at once"
                + (
                    f", and AWS refuses stage rollback in PARALLEL mode (environments {rolling_back} "
                    "roll back through alarms or onFailure)"
                    if rolling_back
                    else ""
                )
                + "; use SUPERSEDED or QUEUED"
            )
        problems.extend(self._account_problems())
        problems.extend(self._wave_problems())
        problems.extend(self._region_problems())
        # A wave's members share their stages: the wave counts once, as its first member.
        stage_count = 2 + sum(
            GATED_STAGES if env.approval else 1
            for index, env in enumerate(self.environments)
            if env.wave is None or index == 0 or self.environments[index - 1].wave != env.wave
        )
        if stage_count > MAX_PIPELINE_STAGES:
            problems.append(
                f"environments: {len(self.environments)} environments make {stage_count} pipeline stages "
                f"(Source and Build, 1 per ungated and {GATED_STAGES} per gated environment or wave: plan, "
                f"approval and release); CodePipeline allows {MAX_PIPELINE_STAGES}"
            )
        seen_names: dict[str, int] = {}
        seen_stacks: dict[str, int] = {}
        for index, env in enumerate(self.environments):
            where = f"environments[{index}]"
            if env.name in seen_names:
                problems.append(
                    f"{where}.name: {env.name!r} is already used by "
                    f"environments[{seen_names[env.name]}]; names must be unique"
                )
            seen_names.setdefault(env.name, index)
            if env.stack_name in seen_stacks:
                problems.append(
                    f"{where}.stackName: {env.stack_name!r} is already deployed by "
                    f"environments[{seen_stacks[env.stack_name]}]; stacks must be unique"
                )
            seen_stacks.setdefault(env.stack_name, index)
            for key, parameter in pipeline_parameters.items():
                if parameter in env.parameters:
                    problems.append(f"{where}.parameters.{parameter}: set by the pipeline ({key}); remove it")
            # With or without `deployment`: set here, they would skip its checks and the review
            # would still present them as how the release reaches users.
            for parameter in DEPLOYMENT_PARAMETER_NAMES:
                if parameter in env.parameters:
                    problems.append(
                        f"{where}.parameters.{parameter}: set by the pipeline from {where}.deployment; "
                        f"remove it (and set {where}.deployment instead)"
                    )
            if env.stack_name == RESERVED_ROLE_PATH:
                problems.append(
                    f"{where}.stackName: {env.stack_name!r} is reserved: the stack's roles would live under "
                    f"/{RESERVED_ROLE_PATH}/, the IAM path of this program's own roles"
                )
            if len(env.name) > MAX_ENVIRONMENT_NAME:
                problems.append(
                    f"{where}.name: {env.name!r} is {len(env.name)} characters; at most "
                    f"{MAX_ENVIRONMENT_NAME}, because it names the environment's IAM roles "
                    f"('recover-<name>-role' plus Pulumi's {PULUMI_SUFFIX_LENGTH}-character suffix) "
                    f"and IAM allows {IAM_ROLE_NAME_MAX}"
                )
            change_set = env.stack_name + max(PLAN_CHANGE_SET_SUFFIX, RELEASE_CHANGE_SET_SUFFIX, key=len)
            if env.approval and len(change_set) > CHANGE_SET_NAME_MAX:
                problems.append(
                    f"{where}.stackName: the change set {change_set!r} would be {len(change_set)} "
                    f"characters; CloudFormation allows {CHANGE_SET_NAME_MAX}"
                )
        problems.extend(self._gate_problems())
        stack = (info.context or {}).get("stack")
        if stack:
            problems.extend(self._physical_name_problems(stack))
        if problems:
            # One ValueError carrying several lines; messages.error_lines splits them again.
            raise ValueError("\n".join(problems))
        return self

    def _gate_problems(self) -> list[str]:
        """A gated environment must reach someone, and nothing ungated may come after one."""
        problems: list[str] = []
        gated = [(index, env) for index, env in enumerate(self.environments) if env.approval]
        if gated and not self.notifications.emails:
            named = ", ".join(f"environments[{index}] {env.name!r}" for index, env in gated[:3])
            named += f" and {len(gated) - 3} more" if len(gated) > 3 else ""
            problems.append(
                f"notifications.emails: required with a gated environment ({named}): approval requests "
                "are sent only to these addresses, so without one a release waits at its approval and "
                "no one is told; add at least one address"
            )
        if gated:
            first, first_gated = gated[0]
            for index, env in enumerate(self.environments[first + 1 :], start=first + 1):
                if not env.approval:
                    # Stages run in list order: whatever was approved for the gated environment
                    # then reaches this one unreviewed, after the gated one already runs it.
                    problems.append(
                        f"environments[{index}].approval: {env.name!r} is ungated but deploys after the "
                        f"gated environments[{first}] {first_gated.name!r}: environments deploy in order, "
                        f"so {env.name!r} would receive changes without a review of its own, after "
                        f"{first_gated.name!r} has them; move it before {first_gated.name!r}, or gate it "
                        "(approval: true)"
                    )
        return problems

    def _wave_problems(self) -> list[str]:
        """A wave's members become one set of stages: they must fit what a stage has once."""
        problems: list[str] = []
        waves: dict[str, list[int]] = {}
        for index, env in enumerate(self.environments):
            if env.wave is not None:
                waves.setdefault(env.wave, []).append(index)
        names = {env.name for env in self.environments}
        for wave, indexes in waves.items():
            first, where = indexes[0], f"environments[{indexes[0]}].wave"
            members = [self.environments[index] for index in indexes]
            member_names = ", ".join(repr(env.name) for env in members)
            if wave in names:
                problems.append(
                    f"{where}: {wave!r} is also an environment's name; a wave names its stages "
                    "(<wave>-plan, <wave>-approval, <wave>), so it needs a name of its own"
                )
            if len(wave) > MAX_ENVIRONMENT_NAME:
                problems.append(
                    f"{where}: {wave!r} is {len(wave)} characters; a wave name follows the "
                    f"environment-name rules: at most {MAX_ENVIRONMENT_NAME}"
                )
            if indexes != list(range(first, first + len(indexes))):
                between = next(i for i in range(first, indexes[-1]) if i not in indexes)
                problems.append(
                    f"environments[{between}]: {self.environments[between].name!r} stands between members "
                    f"of wave {wave!r} ({member_names}); a wave's members are adjacent in the list "
                    "(environments deploy in list order, a wave's members together)"
                )
            if not MIN_WAVE_MEMBERS <= len(indexes) <= MAX_WAVE_MEMBERS:
                problems.append(
                    f"{where}: wave {wave!r} has {len(indexes)} member(s) ({member_names}); a wave holds "
                    f"{MIN_WAVE_MEMBERS} to {MAX_WAVE_MEMBERS} environments (its approval shows every "
                    "member's summary in CodePipeline's 500-character CustomData)"
                )
            for key, attribute in (
                ("approval", "approval"),
                ("deploymentWindow", "deployment_window"),
                ("onFailure", "on_failure"),
            ):
                values = [getattr(env, attribute) for env in members]
                differing = next(
                    (i for i, value in zip(indexes, values, strict=True) if value != values[0]), None
                )
                if differing is not None:
                    shown = ", ".join(
                        f"{env.name!r}: {_shown_setting(value)}"
                        for env, value in zip(members, values, strict=True)
                    )
                    problems.append(
                        f"environments[{differing}].{key}: the members of wave {wave!r} differ ({shown}); "
                        f"they share one set of stages, which has one {key}: give every member the same"
                    )
            differing = next(
                (
                    i
                    for i, env in zip(indexes, members, strict=True)
                    if set(env.approvers) != set(members[0].approvers)
                ),
                None,
            )
            if not all(env.approval for env in members):
                differing = None  # ungated members have no approvers; mixed gating is reported above
            if differing is not None:
                problems.append(
                    f"environments[{differing}].approvers: the members of wave {wave!r} ({member_names}) "
                    "name different approvers; the wave has one approval, and each member's release accepts "
                    "only its own approvers' answer: give every member the same approvers"
                )
            retried = next(
                (
                    i
                    for i, env in zip(indexes, members, strict=True)
                    if env.approval and env.on_failure is not None and env.on_failure.result == "RETRY"
                ),
                None,
            )
            if retried is not None:
                # A retry creates every member's change set again; a member whose execute went
                # through has taken the release, so its new change set is empty, no longer the
                # reviewed one, and not yet recorded: its confirm refuses it, and the retry fails.
                problems.append(
                    f"environments[{retried}].onFailure: RETRY is not for a gated wave ({wave!r}): a retry "
                    "plans every member again, and a member that already took the release is refused as "
                    "unreviewed; use result: ROLLBACK (the wave returns to its last release, asking nobody)"
                )
            grouped = next((i for i, env in zip(indexes, members, strict=True) if env.approver_group), None)
            if grouped is not None:
                # Each member's group is its own, and each member's confirm accepts only its own
                # group's members: someone in one member's group could release that member alone.
                problems.append(
                    f"environments[{grouped}].approverGroup: not in a wave ({wave!r}): each member's group "
                    "is its own, so an approver in one member's group only would release that member and be "
                    "refused by the others; name the wave's approvers in every member's approvers instead"
                )
            alarms = [alarm for env in members for alarm in env.alarms]
            if len(alarms) > MAX_CONDITION_RULES:
                problems.append(
                    f"environments[{indexes[-1]}].alarms: the members of wave {wave!r} watch {len(alarms)} "
                    "alarms together; their release stage has one on-success condition, which holds at most "
                    f"{MAX_CONDITION_RULES} rules"
                )
            elif len(set(alarms)) != len(alarms):
                problems.append(
                    f"environments[{indexes[-1]}].alarms: members of wave {wave!r} name the same alarm "
                    "twice; their release stage watches each alarm once"
                )
        return problems

    def _region_problems(self) -> list[str]:
        """A KMS key lives in one region: a configured artifact key cannot encrypt the artifact
        store CodePipeline needs in another (AWS, "Add a cross-Region action in CodePipeline")."""
        key = self.artifacts.kms_key_arn
        if not key:
            return []
        key_region = key.split(":")[3]
        return [
            f"environments[{index}].region: {env.region!r} is not the region of artifacts.kmsKeyArn "
            f"({key_region}); a KMS key serves one region and the artifact store there would need its "
            "own; remove artifacts.kmsKeyArn (the stores then use SSE-S3) or the region (docs/regions.md)"
            for index, env in enumerate(self.environments)
            if env.region and env.region != key_region
        ]

    def _account_problems(self) -> list[str]:
        """Environments in other accounts: each reachable, each target used, and the
        artifact key and image repository ones this stack can open to them."""
        problems: list[str] = []
        used = {env.account for env in self.environments if env.account}
        for index, env in enumerate(self.environments):
            if env.account and env.account not in self.target_accounts:
                problems.append(
                    f"environments[{index}].account: {env.account!r} has no targetAccounts entry; "
                    f"set targetAccounts.{env.account}.roleArn, the role Pulumi assumes there"
                )
        for account, target in self.target_accounts.items():
            if account not in used:
                problems.append(f"targetAccounts.{account}: no environment deploys to this account")
            role_account = target.role_arn.split(":")[4]
            if role_account != account:
                problems.append(
                    f"targetAccounts.{account}.roleArn: the role is in account {role_account}; "
                    f"Pulumi must assume a role in {account} itself"
                )
        # Approvers act on the pipeline, in the pipeline's account: CodePipeline has no
        # resource policy that could admit a principal of another account.
        approver_accounts = {
            arn.split(":")[4]: (index, arn)
            for index, env in enumerate(self.environments)
            for arn in env.approvers
        }
        for account, (index, arn) in sorted(approver_accounts.items()):
            if account in self.target_accounts:
                problems.append(
                    f"environments[{index}].approvers: {arn!r} is in account {account}, a target account; "
                    "approvers are principals of the pipeline's own account"
                )
        if len(approver_accounts) > 1:
            problems.append(
                f"environments[].approvers: principals of {len(approver_accounts)} accounts "
                f"({', '.join(sorted(approver_accounts))}); all approvers belong to the pipeline's own "
                "account"
            )
        # Each gated environment attaches its own approver policy to every principal it names
        # (components/approvers.py): one principal of more environments than IAM attaches policies
        # to would stop `pulumi up` half-way.
        # Counted per principal, not per ARN: an attachment names a role or user by name alone
        # (IAM API Reference, "AttachRolePolicy": RoleName), and a name is unique in its account
        # whatever its path and case (IAM User Guide, "IAM identifiers").
        approved_by: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
        for index, env in enumerate(self.environments):
            for arn in env.approvers:
                kind, _, name = principal_kind_and_name(arn)
                approved_by.setdefault((arn.split(":")[4], kind, name.lower()), []).append((index, arn))
        for named in approved_by.values():
            indexes, arn = [index for index, _ in named], named[0][1]
            if len(indexes) > APPROVER_ATTACHMENTS_MAX:
                problems.append(
                    f"environments[{indexes[APPROVER_ATTACHMENTS_MAX]}].approvers: {arn!r} approves "
                    f"{len(indexes)} environments, and each attaches its own approver policy to it; IAM "
                    f"attaches at most {APPROVER_ATTACHMENTS_MAX} managed policies to a role or user "
                    "(fewer if it has policies of its own): name it on at most "
                    f"{APPROVER_ATTACHMENTS_MAX}; on the others set approverGroup: true without approvers "
                    "and add users to the group each creates (a role cannot join a group)"
                )
        if used and self.artifacts.kms_key_arn:
            problems.append(
                "artifacts.kmsKeyArn: with environments in other accounts the stack creates the "
                "artifact key itself, so that its key policy admits their roles; remove this key"
            )
        gated = any(env.approval for env in self.environments)
        if used and self.application.image_repository:
            problems.append(
                "application.imageRepository: with environments in other accounts the stack must own "
                "the image repository, to let those accounts' ECS tasks pull from it; remove this key"
            )
        elif self.application.image_repository and gated:
            problems.append(
                "application.imageRepository: with a gated environment the stack must own the image "
                "repository, to refuse every push but the build's and keep the images it releases "
                "(docs/security.md); remove this key"
            )
        if self.ecr.immutable_tags is False and gated:
            problems.append(
                "ecr.immutableTags: false with a gated environment would let a build (unreviewed "
                "code) move a released commit's tag or a release mark onto another image "
                "(docs/security.md); remove this key or set it to true"
            )
        return problems

    @property
    def application_tags_immutable(self) -> bool:
        """`ecr.immutableTags`, or when unset, whether an environment is gated."""
        if self.ecr.immutable_tags is not None:
            return self.ecr.immutable_tags
        return any(env.approval for env in self.environments)

    def _physical_name_problems(self, stack: str) -> list[str]:
        """Names built from `<application.name>-<stack>` that AWS would refuse (they are
        never truncated: a truncated name could collide with another stack's)."""
        prefix = self.name_prefix(stack)
        problems = []
        if not STACK_NAME.fullmatch(stack):
            # Pulumi accepts '.' in a stack name; CodeBuild project names (`<prefix>-build`) and
            # CodeConnections names do not.
            problems.append(
                f"the stack name {stack!r} is not allowed: letters, digits, '-' and '_' only, since it names "
                "the pipeline, its CodeBuild projects and roles (rename Pulumi.<stack>.yaml)"
            )
        limits = [
            ("pipeline", prefix, PIPELINE_NAME_MAX),
            ("notification rule", prefix + NOTIFICATION_RULE_SUFFIX, NOTIFICATION_RULE_NAME_MAX),
        ]
        if not self.connection_arn:
            # Connection names are unique per account, so they carry the stack name too.
            limits.append(("GitHub connection", prefix, CONNECTION_NAME_MAX))
        # Imported here: the config module loads no Pulumi SDK (the hook's module does).
        from components.lifecycle_hook import FUNCTION_NAME_MAX, function_name

        limits += [
            (
                f"environment {env.name}'s lifecycle-hook function",
                function_name(prefix, env.name),
                FUNCTION_NAME_MAX,
            )
            for env in self.environments
            if env.has_test_hook
        ]
        for what, name, limit in limits:
            if len(name) > limit:
                hint = (
                    " or set connectionArn to an existing connection" if what.endswith("connection") else ""
                )
                problems.append(
                    f"application.name: with stack {stack!r} the {what} is named {name!r} "
                    f"({len(name)} characters); AWS allows {limit}: shorten application.name{hint}"
                )
        return problems

    def name_prefix(self, stack: str) -> str:
        """Prefix of the physical names users see in the console; the stack name keeps
        two stacks of one application apart."""
        return f"{self.application.name}-{stack}"

    @property
    def image_repository_name(self) -> str:
        """The ECR repository the build publishes to: the configured one, or the one the
        stack creates (named after the application)."""
        return self.application.image_repository or self.application.name

    @property
    def build_cache_repository_name(self) -> str:
        return f"{self.application.name}/build-cache"

    @property
    def build_image_repository_name(self) -> str:
        return self.build_image.repository_name or f"{self.application.name}/codebuild"

    @property
    def tools_image_repository_name(self) -> str:
        """The small projects' tools image, beside the build image's repository."""
        return f"{self.build_image_repository_name}-tools"
