#!/usr/bin/env python3
"""Render a CloudFormation change set for the person who approves it.

Python standard library only, plus PyYAML when present (Debian's python3-yaml, in the tools
image) to read a YAML template: it is baked into the ecs-delivery tools image and runs in the
change-set review action with nothing installed at run time.

    changeset_report.py --environment production --out-dir report --template template.json \
        [--stack-json stack.json] [--image-parameter ApplicationImageTag] \
        [--digest-parameter ApplicationImageDigest] [--registry-digest sha256:...] \
        [--report-url URL] [--commit SHA] [--execution-id ID] changes-1.json [changes-2.json ...]
    changeset_report.py --print-fingerprint --template template.json changes-1.json [...]
    changeset_report.py --print-parameter NAME changes-1.json [...]

Inputs are DescribeChangeSet responses (`aws cloudformation describe-change-set
--include-property-values`), one per page, the GetTemplate response of the change set (the
template it deploys), and optionally the DescribeStacks response for the old parameter values.
Writes `report.md`, `report.html`, `summary.txt` (the one line for the approval) and
`exports.sh` (shell-quoted `export NAME=value` lines for CodeBuild exported variables), among
them the change set's FINGERPRINT: what a release compares its own change set with before it
executes (build-image/release_gate.py confirm).
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import shlex
import sys
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

# PyYAML (Debian's python3-yaml in the tools image, build-image/tools.Dockerfile): the one
# module beyond the standard library, and optional; without it a YAML template is not
# verified, and the review says so rather than vouching for it.
try:
    import yaml
except ImportError:  # pragma: no cover - the unit tests' venv has it; tests simulate its absence
    yaml = None  # type: ignore[assignment]

# An image digest as registries name a manifest (OCI image spec, "Digests": sha256, 64 hex).
IMAGE_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
NO_CHANGES_REASONS = (
    "didn't contain changes",
    "No updates are to be performed",
)
SUMMARY_LIMIT = 300
NAMES_IN_SUMMARY = 3
FLAGGED_TYPES = (
    ("IAM", lambda t: t.startswith("AWS::IAM::")),
    ("security group", lambda t: t.startswith("AWS::EC2::SecurityGroup")),
    ("KMS", lambda t: t.startswith("AWS::KMS::")),
)
# Resources that deploy more than the change set shows: what they make is another template,
# in another stack, which neither the approver nor the release's fingerprint sees. A gated
# environment's release refuses them (release_gate.py confirm); the template contract's E9108
# says so where the template is written.
UNSHOWN_TYPES = {
    # "Change sets for nested stacks": a change set holds its nested stacks' changes only when
    # created with IncludeNestedStacks, and CodePipeline's CloudFormation action has no such
    # property ("AWS CloudFormation configuration properties reference"); even with it, each
    # nested stack's changes are a change set of their own, which the fingerprint leaves out.
    # Without it the parent shows one Modify of the nested stack, and the nested template
    # (TemplateURL, an S3 object outside the pipeline's artifacts) is read when it executes
    # (assumed: AWS does not say when; either way the change set does not show it).
    "AWS::CloudFormation::Stack": (
        "a nested stack: its template (TemplateURL) and its changes are not in this change set"
    ),
    # "AWS::CloudFormation::StackSet": it provisions stacks across accounts and Regions from its
    # template; the change set shows the stack set's properties, not what its stacks change.
    "AWS::CloudFormation::StackSet": (
        "a stack set: the stacks it deploys to accounts and Regions, and their changes, are not in "
        "this change set"
    ),
    # "AWS::ServiceCatalog::CloudFormationProvisionedProduct": provisioning a product launches
    # a CloudFormation stack from the product's template, kept in Service Catalog.
    "AWS::ServiceCatalog::CloudFormationProvisionedProduct": (
        "a Service Catalog product: the stack it launches (the product's template) is not in this change set"
    ),
    # "AWS::Serverless::Application": SAM deploys it as a nested AWS::CloudFormation::Stack.
    "AWS::Serverless::Application": (
        "a SAM nested application: deployed as a nested stack, its template is not in this change set"
    ),
}
# Not among them: a module (`…::MODULE`). CloudFormation resolves it into its resources when it
# processes the template, and each shows in the change set with its ModuleInfo ("Create reusable
# resource configurations that can be included across templates with CloudFormation modules";
# "ModuleInfo"): what it deploys is what the change set shows, and the fingerprint covers it.


@dataclass
class Change:
    action: str
    logical_id: str
    resource_type: str
    physical_id: Optional[str]
    replacement: Optional[str]
    details: list[dict[str, Any]]
    nested_change_set: Optional[str]
    policy_action: Optional[str]
    module: Optional[str] = None
    """The module the resource comes from (ModuleInfo: logical ids and types, innermost first)."""

    @property
    def replaces(self) -> bool:
        return self.replacement in ("True", "Conditional")

    @property
    def dynamic(self) -> bool:
        return self.action == "Dynamic" or any(d.get("Evaluation") == "Dynamic" for d in self.details)

    @property
    def flags(self) -> list[str]:
        return [label for label, matches in FLAGGED_TYPES if matches(self.resource_type)]


@dataclass
class Review:
    environment: str
    stack_name: str
    change_set_name: str
    status: str
    status_reason: str
    execution_status: str
    changes: list[Change]
    old_parameters: dict[str, str]
    new_parameters: dict[str, str]
    image_parameter: str
    stack_id: Optional[str] = None
    change_set_id: Optional[str] = None
    region: Optional[str] = None
    commit: Optional[str] = None
    report_url: Optional[str] = None
    pages: int = 1
    counts: Counter = field(default_factory=Counter)
    fingerprint: str = ""
    """What the release compares its own change set with (see `fingerprint`)."""
    execution_id: Optional[str] = None
    """The pipeline execution this review belongs to."""
    image_digest: str = ""
    """The image digest the change deploys: the template's digest parameter, or what the tag
    named in the registry when the review ran; empty when neither is known."""
    digest_parameter: Optional[str] = None
    """The template parameter that receives the digest, if the pipeline sets one."""
    digest_source: Optional[str] = None
    """Where `image_digest` comes from: "parameter", "registry", "" (the registry was asked
    and knows no such tag), "invalid" (the parameter holds no digest) or None (nobody asked)."""
    unshown: list[Unshown] = field(default_factory=list)
    """Resources whose content the change set does not show: the release refuses it."""
    template: Optional[dict[str, Any]] = None
    """The change set's GetTemplate response: what the review checks the deployment against."""
    checks: dict[str, str] = field(default_factory=dict)
    """What the gate units' checks beside the plan found (a check's name → its one-line
    result, e.g. drift: components/units/drift_check.py), shown as they said it."""
    summary_limit: int = SUMMARY_LIMIT
    """How long the approver's one line may be (shorter in a wave, whose approval shows every
    member's: components/blueprint.py, wave_summary_limit)."""
    wave_changes_before: tuple[int, ...] = ()
    """In a wave, the CHANGE_COUNT of each member reviewed before this one: WAVE_CHANGE_COUNT
    adds them to this change set's own (the wave's approval enters on the last member's)."""

    @property
    def no_changes(self) -> bool:
        return self.status == "FAILED" and any(r in self.status_reason for r in NO_CHANGES_REASONS)

    @property
    def failed(self) -> bool:
        return self.status == "FAILED" and not self.no_changes

    @property
    def replacements(self) -> list[Change]:
        return [c for c in self.changes if c.action == "Modify" and c.replaces]

    @property
    def removals(self) -> list[Change]:
        return [c for c in self.changes if c.action == "Remove"]

    @property
    def flagged(self) -> dict[str, list[Change]]:
        found: dict[str, list[Change]] = {}
        for change in self.changes:
            for flag in change.flags:
                found.setdefault(flag, []).append(change)
        return found

    @property
    def parameter_changes(self) -> list[tuple[str, Optional[str], Optional[str]]]:
        """(name, old, new) for every parameter whose value changes, the image tag first."""
        names = sorted(set(self.old_parameters) | set(self.new_parameters))
        changed = [
            (n, self.old_parameters.get(n), self.new_parameters.get(n))
            for n in names
            if self.old_parameters.get(n) != self.new_parameters.get(n)
        ]
        return sorted(changed, key=lambda item: item[0] != self.image_parameter)

    @property
    def console_url(self) -> Optional[str]:
        if not (self.region and self.stack_id and self.change_set_id):
            return None
        query = urllib.parse.urlencode({"stackId": self.stack_id, "changeSetId": self.change_set_id})
        return (
            f"https://{self.region}.console.aws.amazon.com/cloudformation/home?region={self.region}"
            f"#/stacks/changesets/changes?{query}"
        )


def _parameters(items: Any, previous: Optional[dict[str, str]] = None) -> dict[str, str]:
    """Parameter values by name. `UsePreviousValue` keeps the stack's current value (from
    `previous`): it is no change, however the change set lists it."""
    result = {}
    for item in items or []:
        key = item.get("ParameterKey")
        if key is None:
            continue
        if item.get("UsePreviousValue"):
            if previous is not None and key in previous:
                result[key] = previous[key]
            continue
        value = item.get("ResolvedValue", item.get("ParameterValue"))
        result[key] = "" if value is None else str(value)
    return result


def _change(entry: dict[str, Any]) -> Optional[Change]:
    resource = entry.get("ResourceChange")
    if entry.get("Type", "Resource") != "Resource" or not resource:
        return None
    return Change(
        action=resource.get("Action", "?"),
        logical_id=resource.get("LogicalResourceId", "?"),
        resource_type=resource.get("ResourceType", "?"),
        physical_id=resource.get("PhysicalResourceId"),
        replacement=resource.get("Replacement"),
        details=list(resource.get("Details") or []),
        nested_change_set=resource.get("ChangeSetId"),
        policy_action=resource.get("PolicyAction"),
        module=_module(resource.get("ModuleInfo")),
    )


def _module(info: Any) -> Optional[str]:
    if not isinstance(info, dict) or not info.get("LogicalIdHierarchy"):
        return None
    return f"{info['LogicalIdHierarchy']} ({info.get('TypeHierarchy') or '?'})"


@dataclass(frozen=True)
class Unshown:
    """A resource whose content the change set does not show (UNSHOWN_TYPES)."""

    logical_id: str
    resource_type: str

    @property
    def why(self) -> str:
        return UNSHOWN_TYPES[self.resource_type]


# A resource's type in a YAML template's text (`Type: AWS::…`, plain, quoted or in a flow
# mapping), and a mapping key alone on its line (a logical id above its `Type`).
_TYPE_IN_YAML = re.compile(r"""["']?\bType["']?\s*:\s*["']?([A-Za-z0-9]+(?:::[A-Za-z0-9]+){2,3})""")
_KEY_LINE = re.compile(r"""^(\s*)["']?([A-Za-z0-9]+)["']?\s*:\s*(?:#.*)?$""")
_FLOW_OWNER = re.compile(r"""^\s*["']?([A-Za-z0-9]+)["']?\s*:\s*\{""")


def _template_resources(template: Optional[dict[str, Any]]) -> list[tuple[str, str]]:
    """(logical id, type) of the template's resources of UNSHOWN_TYPES. A JSON template is read
    as such; a YAML one (its text) is searched for `Type:` values, without a YAML parser (the
    build image's Python has the standard library only): any such type named anywhere counts,
    with the key above it as its logical id ("?" when there is none)."""
    body = (template or {}).get("TemplateBody")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return _yaml_template_resources(body)
    resources = body.get("Resources") if isinstance(body, dict) else None
    if not isinstance(resources, dict):
        return []
    return [
        (str(name), resource["Type"])
        for name, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") in UNSHOWN_TYPES
    ]


def _yaml_template_resources(text: str) -> list[tuple[str, str]]:
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines):
        if line.lstrip().startswith("#"):
            continue
        for match in _TYPE_IN_YAML.finditer(line):
            if match.group(1) in UNSHOWN_TYPES:
                found.append((_yaml_owner(lines, number), match.group(1)))
    return found


def _yaml_owner(lines: list[str], number: int) -> str:
    """The logical id a `Type` on line `number` belongs to: the key of the flow mapping it is in
    (`Nested: {Type: …}`), or the nearest key above it, alone on its line and indented less."""
    line = lines[number]
    inline = _FLOW_OWNER.match(line)
    if inline:
        return inline.group(1)
    indent = len(line) - len(line.lstrip())
    for above in reversed(lines[:number]):
        key = _KEY_LINE.match(above)
        if key and len(key.group(1)) < indent:
            return key.group(2)
    return "?"


def unshown_resources(
    pages: list[dict[str, Any]], template: Optional[dict[str, Any]] = None
) -> list[Unshown]:
    """The resources whose content the change set does not show: those of UNSHOWN_TYPES among
    its changes (on every page) or declared in the template it deploys (its GetTemplate
    response), sorted, each once. Both are asked: a resource the change set lists as unchanged
    is not in it, and a transform (SAM) turns the template's types into others."""
    found = {
        (change.logical_id, change.resource_type)
        for page in pages
        for change in (_change(entry) for entry in page.get("Changes") or [])
        if change and change.resource_type in UNSHOWN_TYPES
    }
    found.update(_template_resources(template))
    return [Unshown(logical_id, kind) for logical_id, kind in sorted(found)]


def load_review(
    pages: list[dict[str, Any]],
    *,
    environment: str,
    stack: Optional[dict[str, Any]] = None,
    image_parameter: str = "ApplicationImageTag",
    commit: Optional[str] = None,
    report_url: Optional[str] = None,
    execution_id: Optional[str] = None,
    template: Optional[dict[str, Any]] = None,
    digest_parameter: Optional[str] = None,
    registry_digest: Optional[str] = None,
) -> Review:
    """One review from every page of a DescribeChangeSet response (and DescribeStacks, and
    the change set's GetTemplate response)."""
    if not pages:
        raise ValueError("no DescribeChangeSet page given")
    first = pages[0]
    changes = [c for page in pages for c in (_change(e) for e in page.get("Changes") or []) if c]
    stacks = (stack or {}).get("Stacks") or []
    stack_id = first.get("StackId")
    region = stack_id.split(":")[3] if stack_id and stack_id.count(":") >= 5 else None
    old_parameters = _parameters(stacks[0].get("Parameters")) if stacks else {}
    review = Review(
        environment=environment,
        stack_name=first.get("StackName", "?"),
        change_set_name=first.get("ChangeSetName", "?"),
        status=first.get("Status", "?"),
        status_reason=first.get("StatusReason") or "",
        execution_status=first.get("ExecutionStatus", "?"),
        changes=changes,
        old_parameters=old_parameters,
        new_parameters=_parameters(first.get("Parameters"), previous=old_parameters),
        image_parameter=image_parameter,
        stack_id=stack_id,
        change_set_id=first.get("ChangeSetId"),
        region=region,
        commit=commit,
        report_url=report_url,
        pages=len(pages),
        fingerprint=fingerprint(pages, template),
        execution_id=execution_id,
        unshown=unshown_resources(pages, template),
        template=template,
    )
    review.digest_parameter = digest_parameter
    pinned = review.new_parameters.get(digest_parameter or "", "")
    if pinned and not IMAGE_DIGEST.fullmatch(pinned):
        # Exported, it would be put into the confirm's action configuration (JSON) as text: only
        # a digest's own characters may reach it.
        review.digest_source = "invalid"
    elif pinned:
        review.image_digest, review.digest_source = pinned, "parameter"
    elif registry_digest:
        review.image_digest, review.digest_source = registry_digest, "registry"
    elif registry_digest is not None:
        review.digest_source = ""
    review.counts = Counter(c.action for c in changes)
    return review


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _names(changes: list[Change], limit: int = NAMES_IN_SUMMARY) -> str:
    names = [c.logical_id for c in changes[:limit]]
    if len(changes) > limit:
        names.append(f"+{len(changes) - limit} more")
    return ", ".join(names)


def _unshown_names(review: Review, limit: int = NAMES_IN_SUMMARY) -> str:
    names = [u.logical_id for u in review.unshown[:limit]]
    if len(review.unshown) > limit:
        names.append(f"+{len(review.unshown) - limit} more")
    return ", ".join(names)


def _shorten(value: Optional[str]) -> str:
    if value is None:
        return "(none)"
    return value if len(value) <= 12 else value[:7]


CHECK_SUMMARY_CHARS = 80
# What a check's result may hold (as build-image/check-drift writes it): anything else is "?", so
# that nothing a check passes on reads as a link, markup or another field.
UNSAFE_CHECK_CHARACTERS = re.compile(r"[^A-Za-z0-9 ._:/()+=@,;?…-]")


def safe_check(text: str) -> str:
    return UNSAFE_CHECK_CHARACTERS.sub("?", " ".join(text.split()))


def _shorten_check(result: str, chars: int = CHECK_SUMMARY_CHARS) -> str:
    return result if len(result) <= chars else result[: chars - 1] + "…"


def summary_line(review: Review, limit: int = SUMMARY_LIMIT) -> str:
    """The one line an approver reads in the notification."""
    env = review.environment
    if review.no_changes:
        line = f"{env}: no changes to stack {review.stack_name}"
        return line if len(line) <= limit else line[: limit - 1] + "…"
    if review.failed:
        line = f"{env}: change set FAILED on stack {review.stack_name} — {review.status_reason}"
        return line if len(line) <= limit else line[: limit - 1] + "…"
    # The counts and the image always fit: what must give way to the limit (a wave's member has a
    # share of one approval's text) is the names first, then what the checks say, then the tail.
    line = ""
    for names, check_chars in ((True, CHECK_SUMMARY_CHARS), (False, CHECK_SUMMARY_CHARS), (False, 24)):
        line = _summary_parts(review, names=names, check_chars=check_chars)
        if len(line) <= limit:
            return line
    return line[: limit - 1] + "…"


def _summary_parts(review: Review, *, names: bool, check_chars: int) -> str:
    parts = [f"{review.environment}: "]
    if review.unshown:
        # First, so that no cut to the limit takes it off.
        parts.append(
            f"⛔ THE RELEASE WILL REFUSE THIS: it deploys what it does not show ({_unshown_names(review)}); "
        )
    parts.append(f"{_plural(len(review.changes), 'change')} — ")
    replacements, removals = review.replacements, review.removals
    parts.append(_plural(len(replacements), "replacement"))
    if replacements and names:
        parts.append(f" ({_names(replacements)})")
    parts.append(f", {_plural(len(removals), 'removal')}")
    if removals and names:
        parts.append(f" ({_names(removals)})")
    image = next((p for p in review.parameter_changes if p[0] == review.image_parameter), None)
    if image:
        parts.append(f"; image tag {_shorten(image[1])} → {_shorten(image[2])}")
    flagged = review.flagged
    if flagged:
        parts.append("; changes " + ", ".join(flagged) + " resources")
    parts.extend(f"; {name}: {_shorten_check(result, check_chars)}" for name, result in review.checks.items())
    return "".join(parts)


def _detail_text(detail: dict[str, Any]) -> str:
    target = detail.get("Target") or {}
    what = ".".join(str(p) for p in (target.get("Attribute"), target.get("Name")) if p)
    cause = detail.get("CausingEntity") or detail.get("ChangeSource") or ""
    recreation = target.get("RequiresRecreation")
    text = what or "?"
    if cause:
        text += f" ← {cause}"
    if recreation and recreation != "Never":
        text += f" (recreation: {recreation})"
    if detail.get("Evaluation") == "Dynamic":
        text += " [dynamic: resolved only at execution]"
    return text


def _change_row(change: Change) -> list[str]:
    marks = []
    if change.action == "Remove":
        marks.append("**REMOVAL**")
    if change.action == "Modify" and change.replacement == "True":
        marks.append("**REPLACEMENT**")
    if change.action == "Modify" and change.replacement == "Conditional":
        marks.append("**MAY BE REPLACED**")
    if change.nested_change_set:
        nested = change.nested_change_set.split(":changeSet/")[-1].split("/")[0]
        marks.append(f"nested stack: its changes are in change set `{nested}`")
    if change.resource_type in UNSHOWN_TYPES:
        marks.append("**⛔ CONTENT NOT SHOWN**")
    if change.module:
        marks.append(f"from module {change.module}")
    if change.dynamic:
        marks.append("dynamic")
    marks += [f"⚠ {flag}" for flag in change.flags]
    if change.policy_action and change.policy_action not in ("Delete",):
        marks.append(f"policy: {change.policy_action}")
    return [
        change.action,
        f"`{change.logical_id}`",
        change.resource_type,
        " ".join(marks) or "—",
        "<br>".join(_detail_text(d) for d in change.details) or "—",
    ]


ACTION_ORDER = {"Remove": 0, "Modify": 1, "Add": 2, "Import": 3, "Dynamic": 4}


def _ordered(changes: list[Change]) -> list[Change]:
    """Removals and replacements first: what can lose data is what the approver must see."""
    return sorted(
        changes,
        key=lambda c: (ACTION_ORDER.get(c.action, 9), not c.replaces, c.resource_type, c.logical_id),
    )


# A report is a list of blocks, rendered as Markdown or HTML. Text may hold `code`,
# **strong** and [links](url) in Markdown syntax.
Block = tuple[str, Any]


def _what(change: Change) -> str:
    """The resource type, and which resource exactly (its physical id) when it exists."""
    if change.physical_id:
        return f"{change.resource_type}, `{change.physical_id}`"
    return change.resource_type


# The template parameters an environment's `deployment` sets (docs/template-contract.md,
# "Deployment strategies"; tests/test_changeset_report.py keeps them equal to the program's).
STRATEGY_PARAMETER = "DeploymentStrategy"
BAKE_PARAMETER = "DeploymentBakeMinutes"
ALARMS_PARAMETER = "DeploymentAlarmNames"
CANARY_PERCENT_PARAMETER, CANARY_BAKE_PARAMETER = "CanaryPercent", "CanaryBakeMinutes"
STEP_PERCENT_PARAMETER, STEP_BAKE_PARAMETER = "LinearStepPercent", "LinearStepBakeMinutes"
HOOK_FUNCTION_PARAMETER = "TestHookFunctionArn"


def _number(value: Optional[str]) -> Optional[float]:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _minutes(value: Optional[float]) -> str:
    return "?" if value is None else f"{value:g} minute" + ("" if value == 1 else "s")


def linear_steps(step_percent: float) -> int:
    """The steps CloudFormation counts for a linear deployment (AWS::ECS::Service registry
    schema, LinearConfiguration): 100 / step - 1 when the step divides 100, else its floor."""
    tenths = round(step_percent * 10)
    return (1000 // tenths) - 1 if 1000 % tenths == 0 else 1000 // tenths


HOOK_ROLE_PARAMETER = "TestHookRoleArn"
# The lifecycle stage at which the test listener points at the new revision and production
# still at the current one (AWS, "Lifecycle hooks for Amazon ECS service deployments").
TEST_STAGE = "POST_TEST_TRAFFIC_SHIFT"
PROGRESSIVE_STRATEGIES = ("BLUE_GREEN", "CANARY", "LINEAR")


def _cfn_yaml_loader() -> Any:
    """A safe loader that reads CloudFormation's short-form intrinsics (`!Ref X` as
    {"Ref": "X"}, `!If [...]` as {"Fn::If": [...]}) and refuses a key given twice: which of
    the two CloudFormation takes is not something to guess."""

    class Loader(yaml.SafeLoader):
        pass

    def intrinsic(loader: Any, suffix: str, node: Any) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}": value}

    def unique_mapping(loader: Any, node: Any) -> dict[Any, Any]:
        keys = [loader.construct_object(key, deep=True) for key, _ in node.value]
        repeated = sorted({str(k) for k in keys if keys.count(k) > 1})
        if repeated:
            raise yaml.constructor.ConstructorError(None, None, f"key given twice: {', '.join(repeated)}")
        return loader.construct_mapping(node, deep=True)

    Loader.add_multi_constructor("!", intrinsic)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, unique_mapping)
    return Loader


def template_body(template: Optional[dict[str, Any]]) -> tuple[Optional[dict[str, Any]], str]:
    """The template a change set deploys, parsed from its GetTemplate response, or None and
    why it could not be read (the CLI hands a JSON body over parsed, a YAML one as text)."""
    body = (template or {}).get("TemplateBody")
    if body is None:
        return None, "the change set's template was not given to the review"
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            if yaml is None:
                return None, "YAML template, and this image has no YAML parser"
            try:
                body = yaml.load(body, Loader=_cfn_yaml_loader())
            except yaml.YAMLError as error:
                return None, f"the YAML template does not parse ({str(error).splitlines()[0]})"
    if not isinstance(body, dict):
        return None, "the template is not a mapping"
    return body, ""


def condition_holds(
    expression: Any, conditions: dict[str, Any], parameters: dict[str, str], seen: tuple[str, ...] = ()
) -> Optional[bool]:
    """A template condition's value with these parameter values (Fn::Equals, Fn::And, Fn::Or,
    Fn::Not, Condition), or None when it depends on anything else: pseudo parameters, other
    functions, parameters not given. policy/template_rules/ecs_delivery.py evaluates the same
    way (each file stands alone where it runs)."""
    if not isinstance(expression, dict) or len(expression) != 1:
        return None
    ((function, arguments),) = expression.items()
    if function == "Condition" and isinstance(arguments, str) and arguments in conditions:
        if arguments in seen:
            return None
        return condition_holds(conditions[arguments], conditions, parameters, (*seen, arguments))
    if not isinstance(arguments, list):
        return None
    if function == "Fn::Equals" and len(arguments) == 2:
        left, right = (_condition_operand(a, parameters) for a in arguments)
        return None if left is None or right is None else left == right
    values = [condition_holds(a, conditions, parameters, seen) for a in arguments]
    if None in values or not values:
        return None
    if function == "Fn::Not" and len(values) == 1:
        return not values[0]
    if function == "Fn::And":
        return all(values)
    if function == "Fn::Or":
        return any(values)
    return None


def _condition_operand(value: Any, parameters: dict[str, str]) -> Optional[str]:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, dict) and list(value) == ["Ref"] and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    # `!Join [delimiter, !Ref List]`: a CommaDelimitedList parameter (DeploymentAlarmNames) is
    # passed as one comma-separated string; joined, its items stand with the delimiter between.
    joined = value.get("Fn::Join") if isinstance(value, dict) and list(value) == ["Fn::Join"] else None
    if (
        isinstance(joined, list)
        and len(joined) == 2
        and isinstance(joined[0], str)
        and isinstance(joined[1], dict)
        and list(joined[1]) == ["Ref"]
        and joined[1]["Ref"] in parameters
    ):
        return joined[0].join(parameters[joined[1]["Ref"]].split(","))
    return None


def _shown(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, separators=(",", ":"), sort_keys=True).replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hooks_applied(
    value: Any, conditions: dict[str, Any], parameters: dict[str, str]
) -> tuple[Optional[list[Any]], str, str]:
    """The LifecycleHooks entries a service gets with these parameters: a list as written, or
    the one conditional shape the template contract allows (`!If [Condition, [hooks],
    !Ref AWS::NoValue]`), its condition evaluated. Otherwise None, and why: how the template
    decides otherwise, or (a condition the review cannot evaluate) why it is not verified."""
    if isinstance(value, list):
        return value, "", ""
    branches = value.get("Fn::If") if isinstance(value, dict) and len(value) == 1 else None
    if (
        isinstance(branches, list)
        and len(branches) == 3
        and isinstance(branches[0], str)
        and isinstance(branches[1], list)
        and branches[2] == {"Ref": "AWS::NoValue"}
    ):
        holds = condition_holds({"Condition": branches[0]}, conditions, parameters)
        if holds is None:
            return (
                None,
                "",
                f"its LifecycleHooks depend on the condition `{branches[0]}`, which the review cannot "
                "evaluate",
            )
        return (branches[1] if holds else []), "", ""
    return (
        None,
        "its LifecycleHooks are not a list or `!If [condition, [hooks], !Ref AWS::NoValue]`: "
        f"`{_shown(value)}`",
        "",
    )


# Where the other parameters reach the service's DeploymentConfiguration (AWS::ECS::Service
# registry schema; policy/template_rules/ecs_delivery.py DEPLOYMENT_WIRING says the same):
# each must take the parameter itself, or the review would vouch for times and alarms that
# ECS does not use.
VALUE_WIRING = {
    BAKE_PARAMETER: ("BakeTimeInMinutes",),
    ALARMS_PARAMETER: ("Alarms", "AlarmNames"),
    CANARY_PERCENT_PARAMETER: ("CanaryConfiguration", "CanaryPercent"),
    CANARY_BAKE_PARAMETER: ("CanaryConfiguration", "CanaryBakeTimeInMinutes"),
    STEP_PERCENT_PARAMETER: ("LinearConfiguration", "StepPercent"),
    STEP_BAKE_PARAMETER: ("LinearConfiguration", "StepBakeTimeInMinutes"),
}
ABSENT = {"Ref": "AWS::NoValue"}


def _decided(value: Any, conditions: dict[str, Any], parameters: dict[str, str]) -> tuple[Any, str]:
    """A property value with its `Fn::If`s decided by these parameters (ABSENT for
    `!Ref AWS::NoValue`), or (None, the condition) when the review cannot decide one."""
    while isinstance(value, dict) and len(value) == 1 and "Fn::If" in value:
        branches = value["Fn::If"]
        if not (isinstance(branches, list) and len(branches) == 3 and isinstance(branches[0], str)):
            return value, ""
        holds = condition_holds({"Condition": branches[0]}, conditions, parameters)
        if holds is None:
            return None, branches[0]
        value = branches[1] if holds else branches[2]
    return value, ""


def _at(
    configuration: dict[str, Any],
    path: tuple[str, ...],
    conditions: dict[str, Any],
    parameters: dict[str, str],
) -> tuple[Any, str]:
    """The value at `path` under DeploymentConfiguration with these parameters (ABSENT when
    there is none), or (None, the condition) when the review cannot decide."""
    value: Any = configuration
    for key in path:
        value, unknown = _decided(value, conditions, parameters)
        if unknown:
            return None, unknown
        value = value.get(key, ABSENT) if isinstance(value, dict) else ABSENT
    return _decided(value, conditions, parameters)


def _transforms(body: Any) -> list[str]:
    """The macros a template runs (a top-level Transform, Fn::Transform, Fn::ForEach of
    AWS::LanguageExtensions): CloudFormation deploys the processed template, not this one."""
    found = (
        [f"Transform {_shown(body['Transform'])}"] if isinstance(body, dict) and "Transform" in body else []
    )
    stack = [body]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "Fn::Transform" or str(key).startswith("Fn::ForEach::"):
                    found.append(str(key))
                stack.append(inner)
        elif isinstance(value, list):
            stack.extend(value)
    return sorted(set(found))


def deployment_wiring(
    template: Optional[dict[str, Any]], parameters: dict[str, str]
) -> tuple[list[str], list[str], list[Any]]:
    """Whether ECS will do what the parameters say: every AWS::ECS::Service of the template
    takes its Strategy as exactly `!Ref DeploymentStrategy` and, when a hook is passed for a
    progressive strategy, has a LifecycleHooks entry whose HookTargetArn is exactly
    `!Ref TestHookFunctionArn` at POST_TEST_TRAFFIC_SHIFT. Returns (what the template decides
    otherwise, what could not be verified, the HookDetails of the hooks that will run)."""
    body, unreadable = template_body(template)
    if body is None:
        return [], [unreadable], []
    transforms = _transforms(body)
    if transforms:
        return (
            [],
            [
                f"the template runs {', '.join(transforms)}: CloudFormation deploys the processed "
                "template, and the review reads the one as written"
            ],
            [],
        )
    resources = body.get("Resources") if isinstance(body.get("Resources"), dict) else {}
    conditions = body.get("Conditions") if isinstance(body.get("Conditions"), dict) else {}
    services = {
        str(name): resource
        for name, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::ECS::Service"
    }
    if not services:
        return ["the template declares no AWS::ECS::Service to take the strategy"], [], []
    strategy = parameters.get(STRATEGY_PARAMETER) or ""
    hook = parameters.get(HOOK_FUNCTION_PARAMETER) or ""
    differs: list[str] = []
    unverified: list[str] = []
    details: list[Any] = []
    created = 0
    for name, service in sorted(services.items()):
        if "Condition" in service:
            # A service under a false condition is not created: vouching for it would be a decoy.
            holds = condition_holds({"Condition": service["Condition"]}, conditions, parameters)
            if holds is None:
                unverified.append(
                    f"`{name}`: whether it is created depends on the condition "
                    f"`{_shown(service['Condition'])}`, which the review cannot evaluate"
                )
                continue
            if not holds:
                continue
        created += 1
        properties = service.get("Properties") if isinstance(service.get("Properties"), dict) else {}
        configuration = properties.get("DeploymentConfiguration")
        configuration = configuration if isinstance(configuration, dict) else {}
        if configuration.get("Strategy") != {"Ref": STRATEGY_PARAMETER}:
            differs.append(
                f"`{name}`: its Strategy is not `!Ref {STRATEGY_PARAMETER}` but "
                f"`{_shown(configuration.get('Strategy'))}`"
            )
        # ECS runs its own strategies and lifecycle hooks with the ECS deployment controller only
        # (AWS::ECS::Service DeploymentController; an assumption that CloudFormation does not
        # refuse the combination, not checked here).
        controller = properties.get("DeploymentController")
        if controller is not None and controller != {"Type": "ECS"}:
            differs.append(f"`{name}`: its DeploymentController is `{_shown(controller)}`, not ECS")
        for parameter, path in VALUE_WIRING.items():
            if not parameters.get(parameter):
                continue
            value, unknown = _at(configuration, path, conditions, parameters)
            if unknown:
                unverified.append(
                    f"`{name}`: its {'.'.join(path)} depends on the condition `{unknown}`, which the review "
                    "cannot evaluate"
                )
            elif value != {"Ref": parameter}:
                shown = "nothing" if value == ABSENT else f"`{_shown(value)}`"
                differs.append(f"`{name}`: its {'.'.join(path)} is not `!Ref {parameter}` but {shown}")
        if parameters.get(ALARMS_PARAMETER):
            alarms, unknown = _at(configuration, ("Alarms",), conditions, parameters)
            for switch in ("Enable", "Rollback"):
                if not unknown and isinstance(alarms, dict) and alarms.get(switch) not in (True, "true"):
                    differs.append(f"`{name}`: its Alarms.{switch} is not true")
        if not hook or strategy not in PROGRESSIVE_STRATEGIES:
            continue
        hooks, decided, unknown = _hooks_applied(
            configuration.get("LifecycleHooks", []), conditions, parameters
        )
        if hooks is None:
            differs.extend([f"`{name}`: {decided}"] if decided else [])
            unverified.extend([f"`{name}`: {unknown}"] if unknown else [])
            continue
        tests = [
            entry
            for entry in hooks
            if isinstance(entry, dict)
            and entry.get("HookTargetArn") == {"Ref": HOOK_FUNCTION_PARAMETER}
            and isinstance(entry.get("LifecycleStages"), list)
            and TEST_STAGE in entry["LifecycleStages"]
        ]
        if not tests:
            differs.append(
                f"`{name}`: no lifecycle hook runs `!Ref {HOOK_FUNCTION_PARAMETER}` at {TEST_STAGE} "
                "with these parameters"
            )
        details.extend(entry.get("HookDetails") for entry in tests)
    if not created and not unverified:
        differs.append("no AWS::ECS::Service of the template is created with these parameters")
    return differs, unverified, details


def deployment_facts(parameters: dict[str, str], template: Optional[dict[str, Any]]) -> list[str]:
    """How the ECS service takes this release, read from the change set's parameters: the
    strategy, its steps and bake times, the alarms and the test that roll it back, and what
    happens on failure (AWS, "Amazon ECS blue/green deployments", "Amazon ECS canary
    deployments", "Amazon ECS linear deployments", "Lifecycle hooks for Amazon ECS service
    deployments", "How CloudWatch alarms detect Amazon ECS deployment failures"). Empty when
    the template takes no DeploymentStrategy. The parameters are only what the pipeline passed:
    unless the template (its GetTemplate response) plainly takes the strategy and the hook from
    them (`deployment_wiring`), the section leads with a warning instead of vouching for them."""
    strategy = parameters.get(STRATEGY_PARAMETER)
    if not strategy:
        return []
    differs, unverified, hook_details = deployment_wiring(template, parameters)
    facts = []
    if differs:
        facts.append(
            "⚠ **the template decides its own strategy / hook**: what follows is what the pipeline passed, "
            "not what ECS will do: " + "; ".join(differs)
        )
    elif unverified:
        facts.append(
            "⚠ **could not verify** that the template applies the strategy and the hook ("
            + "; ".join(unverified)
            + "): what follows is what the pipeline passed, not necessarily what ECS will do"
        )
    bake = _number(parameters.get(BAKE_PARAMETER))
    least: Optional[float] = None
    if strategy == "ROLLING":
        facts.append(
            "strategy: **rolling update**: ECS replaces the tasks in place; there is no test listener"
        )
    elif strategy == "BLUE_GREEN":
        facts.append(
            "strategy: **blue/green**: the new revision starts beside the current one and gets the test "
            f"listener, then all production traffic at once; the current revision is kept for "
            f"{_minutes(bake)} (bake time), then stopped"
        )
        least = bake
    elif strategy == "CANARY":
        percent = _number(parameters.get(CANARY_PERCENT_PARAMETER))
        canary_bake = _number(parameters.get(CANARY_BAKE_PARAMETER))
        facts.append(
            f"strategy: **canary**: {percent if percent is not None else '?'}% of production traffic for "
            f"{_minutes(canary_bake)}, then the rest at once; the current revision is kept for "
            f"{_minutes(bake)} more (bake time)"
        )
        least = None if bake is None or canary_bake is None else bake + canary_bake
    elif strategy == "LINEAR":
        percent = _number(parameters.get(STEP_PERCENT_PARAMETER))
        step_bake = _number(parameters.get(STEP_BAKE_PARAMETER))
        steps = linear_steps(percent) if percent and percent >= 3 else None
        facts.append(
            f"strategy: **linear**: {percent if percent is not None else '?'}% more production traffic every "
            f"{_minutes(step_bake)} ({steps if steps is not None else '?'} waits), then the current revision "
            f"is kept for {_minutes(bake)} (bake time)"
        )
        least = None if None in (bake, step_bake, steps) else bake + step_bake * steps
    else:
        facts.append(f"strategy: `{strategy}` (not one ECS knows: ROLLING, BLUE_GREEN, CANARY, LINEAR)")
    alarms = [a for a in (parameters.get(ALARMS_PARAMETER) or "").split(",") if a.strip()]
    if alarms:
        facts.append(
            "rolled back by ECS when any of these alarms is in ALARM during the deployment or its bake: "
            + ", ".join(f"`{a}`" for a in alarms)
        )
    else:
        facts.append("**no deployment alarms**: nothing watches the new revision once traffic has moved")
    hook = parameters.get(HOOK_FUNCTION_PARAMETER) or ""
    if hook and strategy != "ROLLING":
        facts.append(
            f"tested before production traffic: ECS runs `{hook}` once the test listener points at the new "
            "revision; a failing test rolls back before any user is sent to the new revision"
        )
        # Which address the function tests is the template's to say: the review shows it, and
        # cannot tell a test listener's address from a production one.
        facts.extend(
            f"the test's HookDetails, as the template gives them: `{_shown(details)}` (not checked to be "
            "the test listener)"
            for details in hook_details
        )
    elif strategy != "ROLLING":
        facts.append("**no test before production traffic** (no lifecycle hook)")
    facts.append(
        "on failure: ECS rolls the service back to the current revision; the stack update then fails and "
        "CloudFormation rolls the stack back, and this release stage fails"
    )
    if least is not None:
        facts.append(
            "duration: CloudFormation waits for the whole deployment, bake included: at least "
            + _minutes(least)
        )
    return facts


def blocks(review: Review) -> list[Block]:
    out: list[Block] = [
        ("h1", f"Change set review — {review.environment}"),
        ("p", f"**{summary_line(review)}**"),
    ]
    # The account shows which one is being changed when environments live in several.
    account = review.stack_id.split(":")[4] if review.stack_id and review.stack_id.count(":") >= 5 else None
    facts = [
        f"stack: `{review.stack_name}`" + (f" in account `{account}`" if account else ""),
        f"change set: `{review.change_set_name}` "
        f"(status {review.status}, execution {review.execution_status})",
    ]
    if review.commit:
        facts.append(f"application commit: `{review.commit}`")
    if review.image_digest:
        how = (
            # The parameter, not proof that the containers run by it: the template contract's
            # W9107 checks that where the template is written.
            f"the template's {review.digest_parameter} parameter"
            if review.digest_source == "parameter"
            else "what the tag names in the registry now; the template pins no digest"
        )
        facts.append(f"image digest: `{review.image_digest}` ({how})")
    elif review.digest_source == "invalid":
        facts.append(
            f"image digest: **not an image digest** in `{review.digest_parameter}` "
            "(the build's version file; the release would be refused)"
        )
    elif review.digest_source == "" and not review.no_changes:
        facts.append(
            "image digest: **unknown**: the image tag is not in the registry (the release would be refused)"
        )
    if review.console_url:
        facts.append(f"console: [open the change set]({review.console_url})")
    out.append(("ul", facts))
    if review.checks:
        out.append(("h2", "Checks beside the plan"))
        # Plain text: no link, code or emphasis is made of what a check says.
        out.append(("plain", [f"{name}: {result}" for name, result in review.checks.items()]))
    if review.no_changes:
        return [*out, ("p", "CloudFormation found **no changes** to make: the stack already matches.")]
    if review.failed:
        return [*out, ("h2", "The change set FAILED"), ("p", review.status_reason)]

    if review.unshown:
        out += [
            ("h2", "⛔ The release will refuse this change set"),
            (
                "p",
                "These resources deploy more than this change set shows: what they make is another "
                "template, which neither you nor the release's check of this change set can see. The "
                f"release stage of {review.environment} refuses any change set that has them; nothing will "
                "be executed. Reject this approval, then put their resources into the template itself "
                "(inline the nested stack), or deploy them with a stack of their own outside this "
                "gated environment.",
            ),
            ("ul", [f"`{u.logical_id}` ({u.resource_type}): {u.why}" for u in review.unshown]),
        ]
    deployment = deployment_facts(review.new_parameters, review.template)
    if deployment:
        out += [("h2", "How the release reaches users"), ("ul", deployment)]
    counts = review.counts
    replaced = review.replacements
    out += [
        ("h2", "At a glance"),
        (
            "table",
            (
                ["adds", "modifies", "removes", "replacements (True / Conditional)", "dynamic"],
                [
                    [
                        str(counts.get("Add", 0)),
                        str(counts.get("Modify", 0)),
                        str(counts.get("Remove", 0)),
                        f"{sum(c.replacement == 'True' for c in replaced)} / "
                        f"{sum(c.replacement == 'Conditional' for c in replaced)}",
                        str(sum(c.dynamic for c in review.changes)),
                    ]
                ],
            ),
        ),
    ]
    if review.removals or replaced:
        items = [f"**REMOVE** `{c.logical_id}` ({_what(c)})" for c in review.removals]
        for change in replaced:
            how = "REPLACE" if change.replacement == "True" else "MAY REPLACE"
            items.append(f"**{how}** `{change.logical_id}` ({_what(change)})")
        out += [("h2", "⚠ Removals and replacements"), ("ul", items)]
    if review.flagged:
        items = [
            f"{flag}: " + ", ".join(f"{c.action} `{c.logical_id}`" for c in changes)
            for flag, changes in review.flagged.items()
        ]
        out += [("h2", "⚠ Security-sensitive changes"), ("ul", items)]
    if review.parameter_changes:
        rows = [
            [f"`{n}`", f"`{o}`" if o is not None else "(new)", f"`{v}`" if v is not None else "(removed)"]
            for n, o, v in review.parameter_changes
        ]
        out += [("h2", "Parameters"), ("table", (["parameter", "old", "new"], rows))]
    per_type: dict[str, Counter] = {}
    for change in review.changes:
        per_type.setdefault(change.resource_type, Counter())[change.action] += 1
    type_rows = [
        [
            t,
            str(c.get("Add", 0)),
            str(c.get("Modify", 0)),
            str(c.get("Remove", 0)),
            ", ".join(f"{n} {a}" for a, n in sorted(c.items()) if a not in ("Add", "Modify", "Remove"))
            or "0",
        ]
        for t, c in sorted(per_type.items())
    ]
    title = f"All {_plural(len(review.changes), 'change')}"
    if review.pages > 1:
        title += f" (from {review.pages} pages)"
    out += [
        ("h2", "Per resource type"),
        ("table", (["resource type", "add", "modify", "remove", "other"], type_rows)),
        ("h2", title),
        (
            "table",
            (
                ["action", "resource", "type", "attention", "what changes"],
                [_change_row(c) for c in _ordered(review.changes)],
            ),
        ),
    ]
    return out


def _md_cell(value: str) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown(review: Review) -> str:
    lines: list[str] = []
    for kind, payload in blocks(review):
        if kind == "h1":
            lines.append(f"# {payload}")
        elif kind == "h2":
            lines.append(f"## {payload}")
        elif kind == "p":
            lines.append(payload)
        elif kind in ("ul", "plain"):
            lines += [f"- {item}" for item in payload]
        elif kind == "table":
            header, rows = payload
            lines.append("| " + " | ".join(header) + " |")
            lines.append("| " + " | ".join("---" for _ in header) + " |")
            lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


INLINE = (
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)"), r'<a href="\2">\1</a>'),
)


def _html_inline(text: str) -> str:
    result = html.escape(str(text), quote=True)
    for pattern, replacement in INLINE:
        result = pattern.sub(replacement, result)
    return result.replace("&lt;br&gt;", "<br>")


def html_report(review: Review) -> str:
    """The same report as a standalone page (opens in the S3 console or a browser)."""
    body: list[str] = []
    for kind, payload in blocks(review):
        if kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{_html_inline(payload)}</{kind}>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{_html_inline(i)}</li>" for i in payload) + "</ul>")
        elif kind == "plain":
            body.append("<ul>" + "".join(f"<li>{html.escape(i, quote=True)}</li>" for i in payload) + "</ul>")
        elif kind == "table":
            header, rows = payload
            head = "".join(f"<th>{_html_inline(h)}</th>" for h in header)
            cells = "".join(
                "<tr>" + "".join(f"<td>{_html_inline(v)}</td>" for v in row) + "</tr>" for row in rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
    title = html.escape(f"Change set review — {review.environment}")
    style = (
        "body{font-family:sans-serif;max-width:72rem;margin:auto}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}table{border-collapse:collapse}"
    )
    return (
        f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{style}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


# What DescribeChangeSet answers about the change set itself rather than the changes: its
# names, ids, times, state and paging. Two change sets that differ only in these make the
# same changes.
CHANGE_SET_ENVELOPE = frozenset(
    {
        "ChangeSetId", "ChangeSetName", "CreationTime", "Description", "ExecutionStatus", "NextToken",
        "NotificationARNs", "ParentChangeSetId", "RootChangeSetId", "StackId", "StackName", "Status",
        "StatusReason", "Tags",
    }
)  # fmt: skip


def _without_envelope(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_envelope(v) for k, v in value.items() if k not in CHANGE_SET_ENVELOPE}
    if isinstance(value, list):
        return [_without_envelope(v) for v in value]
    return value


def template_digest(template: Optional[dict[str, Any]]) -> str:
    """The SHA-256 of the template a change set deploys, from its GetTemplate response
    (`TemplateBody`: the text of a YAML template; the CLI hands a JSON one over parsed, so it
    is hashed in a canonical form). Empty when no template was given."""
    if not template or "TemplateBody" not in template:
        return ""
    body = template["TemplateBody"]
    text = body if isinstance(body, str) else json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _identity_material(pages: list[dict[str, Any]], template: Optional[dict[str, Any]]) -> dict[str, Any]:
    first = pages[0] if pages else {}
    parameters = sorted(
        (p.get("ParameterKey", ""), str(p.get("ResolvedValue", p.get("ParameterValue", ""))))
        for p in first.get("Parameters") or []
    )
    return {
        "template": template_digest(template),
        "parameters": parameters,
        "capabilities": sorted(first.get("Capabilities") or []),
    }


def release_identity(pages: list[dict[str, Any]], template: Optional[dict[str, Any]]) -> str:
    """What a change set brings the stack to, whatever it starts from: the template (its
    digest), the parameters and the capabilities. Two change sets with one identity deploy the
    same release; a rollback's change set has the identity of the release it returns to."""
    return hashlib.sha256(
        json.dumps(_identity_material(pages, template), sort_keys=True).encode()
    ).hexdigest()


def fingerprint(pages: list[dict[str, Any]], template: Optional[dict[str, Any]] = None) -> str:
    """What makes two change sets the same change: what they bring the stack to (the
    template, the parameters they set, the capabilities they take) and every change they make
    with its property values (describe-change-set --include-property-values), on every page
    and in any order, whatever their names, ids, times and status; a nested stack's change
    set id is left out as well."""
    changes = sorted(
        json.dumps(_without_envelope(change), sort_keys=True)
        for page in pages
        for change in page.get("Changes") or []
    )
    material = {**_identity_material(pages, template), "changes": changes}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def parameter_value(pages: list[dict[str, Any]], name: str) -> str:
    """The value a change set gives one parameter ("" when it sets none)."""
    first = pages[0] if pages else {}
    return _parameters(first.get("Parameters")).get(name, "")


def exports(review: Review) -> dict[str, str]:
    """Short values for CodeBuild exported variables (read by the manual approval)."""
    image = next((p for p in review.parameter_changes if p[0] == review.image_parameter), None)
    new_image = review.new_parameters.get(review.image_parameter, "")
    return {
        "REVIEW_SUMMARY": summary_line(review, review.summary_limit),
        "CHANGE_COUNT": str(len(review.changes)),
        # Outside a wave, the change set's own count.
        "WAVE_CHANGE_COUNT": str(len(review.changes) + sum(review.wave_changes_before)),
        "REPLACEMENT_COUNT": str(len(review.replacements)),
        "REMOVAL_COUNT": str(len(review.removals)),
        "IMAGE_TAG": image[2] if image and image[2] else new_image,
        # The approval links here; without the ids it falls back to the report.
        "CHANGE_SET_URL": review.console_url or review.report_url or "",
        "REPORT_URL": review.report_url or review.console_url or "",
        "FINGERPRINT": review.fingerprint,
        # The execution that planned and reviewed this release (a release stage running with
        # another execution's variables is a rollback to it).
        "PLAN_EXECUTION_ID": review.execution_id or "",
        "IMAGE_DIGEST": review.image_digest,
    }


def write_outputs(review: Review, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.md").write_text(markdown(review), encoding="utf-8")
    (out_dir / "report.html").write_text(html_report(review), encoding="utf-8")
    (out_dir / "summary.txt").write_text(summary_line(review, review.summary_limit) + "\n", encoding="utf-8")
    (out_dir / "exports.sh").write_text(
        "".join(f"export {k}={shlex.quote(v)}\n" for k, v in exports(review).items()), encoding="utf-8"
    )


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Render a CloudFormation change set for its approver.")
    parser.add_argument("pages", nargs="+", type=Path, help="DescribeChangeSet JSON, one file per page")
    parser.add_argument("--print-fingerprint", action="store_true", help="print the fingerprint only")
    parser.add_argument("--print-parameter", metavar="NAME", help="print one parameter's value only")
    parser.add_argument("--template", type=Path, help="the change set's GetTemplate JSON")
    parser.add_argument("--digest-parameter", help="the template parameter holding the image digest")
    parser.add_argument("--registry-digest", help="the digest the image tag names in the registry now")
    parser.add_argument("--environment")
    parser.add_argument("--out-dir", type=Path)
    parser.add_argument("--execution-id", help="the pipeline execution that reviews this change set")
    parser.add_argument("--stack-json", type=Path, help="DescribeStacks JSON (old parameter values)")
    parser.add_argument("--image-parameter", default="ApplicationImageTag")
    parser.add_argument("--commit")
    parser.add_argument("--report-url")
    parser.add_argument(
        "--check", action="append", default=[], metavar="NAME=RESULT", help="a check's result to show"
    )
    parser.add_argument("--summary-limit", type=int, default=SUMMARY_LIMIT, help="the summary line's length")
    parser.add_argument(
        "--wave-changes-before",
        metavar="COUNTS",
        help="the change counts of the wave's members reviewed before, separated by spaces",
    )
    parser.add_argument("--wave-members", type=int, help="how many members the wave has")
    args = parser.parse_args(argv)
    counts = (args.wave_changes_before or "").split()
    if (args.wave_changes_before is None) != (args.wave_members is None):
        parser.error("--wave-changes-before and --wave-members go together")
    # Exactly one count per other member, each of ASCII digits: an earlier member's CHANGE_COUNT
    # that is missing or no count would hide its change from the wave's approval condition.
    if args.wave_members is not None and (
        len(counts) != args.wave_members - 1 or not all(re.fullmatch(r"[0-9]+", count) for count in counts)
    ):
        parser.error(
            f"--wave-changes-before: {args.wave_changes_before!r} is not {args.wave_members - 1} change "
            "count(s), one per other member of the wave"
        )
    if args.summary_limit < 2:
        parser.error(f"--summary-limit: {args.summary_limit} leaves no room for a summary")
    try:
        pages = [json.loads(p.read_text(encoding="utf-8")) for p in args.pages]
        stack = None
        if args.stack_json and args.stack_json.is_file() and args.stack_json.stat().st_size:
            stack = json.loads(args.stack_json.read_text(encoding="utf-8"))
        template = json.loads(args.template.read_text(encoding="utf-8")) if args.template else None
    except (OSError, json.JSONDecodeError) as error:
        print(f"changeset_report: cannot read input: {error}", file=sys.stderr)
        return 2
    if args.print_parameter:
        print(parameter_value(pages, args.print_parameter))
        return 0
    if args.print_fingerprint:
        print(fingerprint(pages, template))
        return 0
    if not args.environment or not args.out_dir:
        parser.error("--environment and --out-dir are required to render a report")
    review = load_review(
        pages,
        environment=args.environment,
        stack=stack,
        image_parameter=args.image_parameter,
        commit=args.commit,
        report_url=args.report_url,
        execution_id=args.execution_id,
        template=template,
        digest_parameter=args.digest_parameter,
        registry_digest=args.registry_digest,
    )
    review.checks = {
        safe_check(name): safe_check(result)
        for name, result in (check.partition("=")[::2] for check in args.check)
    }
    review.summary_limit = args.summary_limit
    review.wave_changes_before = tuple(int(count) for count in counts)
    write_outputs(review, args.out_dir)
    print(summary_line(review, review.summary_limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
