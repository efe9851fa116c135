"""CrossGuard rules for a stack built by ecs-delivery.

Each rule reads the resource properties the engine sees (camelCase, as declared). Values
not yet known in a preview (an image digest before the build, say) are not judged: the
rule reports only what it can see, and `pulumi up` sees them all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Optional

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

PROJECT = "aws:codebuild/project:Project"
PIPELINE = "aws:codepipeline/pipeline:Pipeline"
REPOSITORY = "aws:ecr/repository:Repository"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
POLICY_DOCUMENT_TYPES = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
MANAGED_POLICY = "aws:iam/policy:Policy"
# How the program marks a managed policy that is only ever a permissions boundary (a
# ceiling, where NotAction is the normal form), never a grant.
BOUNDARY_TAG = ("ecs-delivery:use", "permissions-boundary")

ECR_DIGEST_IMAGE = re.compile(
    r"(?P<repository>\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/[a-z0-9._/-]+)@sha256:[0-9a-f]{64}"
)


def _known(value: Any) -> bool:
    # In a preview, reading an unknown value raises inside pulumi_policy's proxy and the
    # policy is skipped for that resource; what arrives here is known, possibly empty.
    return isinstance(value, str) and value != ""


# -- privileged CodeBuild only on a digest-pinned image from this stack's ECR ---------
def privileged_builds_use_pinned_images(args: StackValidationArgs, report: ReportViolation) -> None:
    own_repositories = {r.props.get("name") for r in args.resources if r.resource_type == REPOSITORY}
    for resource in args.resources:
        if resource.resource_type != PROJECT:
            continue
        environment = resource.props.get("environment") or {}
        if not environment.get("privilegedMode"):
            continue
        image = environment.get("image")
        if not _known(image):
            continue
        match = ECR_DIGEST_IMAGE.fullmatch(image)
        if not match:
            report(
                f"privileged CodeBuild project runs {image!r}: privileged builds must run an ECR image "
                "pinned by digest (<account>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:<digest>)",
                resource.urn,
            )
        elif match.group("repository").split("/", 1)[1] not in own_repositories:
            report(
                f"privileged CodeBuild project runs an image from {match.group('repository')!r}, "
                "which is not an ECR repository of this stack",
                resource.urn,
            )


# -- encrypted artifact store ----------------------------------------------------------
def artifact_store_is_encrypted(args: StackValidationArgs, report: ReportViolation) -> None:
    encrypted = {}
    for resource in args.resources:
        if resource.resource_type == BUCKET_ENCRYPTION:
            for rule in resource.props.get("rules") or []:
                algorithm = (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
                if algorithm in ("AES256", "aws:kms", "aws:kms:dsse"):
                    encrypted[resource.props.get("bucket")] = algorithm
    for resource in args.resources:
        if resource.resource_type != PIPELINE:
            continue
        for store in resource.props.get("artifactStores") or []:
            location = store.get("location")
            if not _known(location):
                continue
            if location not in encrypted and not store.get("encryptionKey"):
                report(
                    f"artifact store {location!r} has no default encryption "
                    "(declare a BucketServerSideEncryptionConfiguration or an encryption key)",
                    resource.urn,
                )


# -- every change set is approved before it is executed --------------------------------
def _change_set_key(configuration: Mapping[str, Any]) -> tuple[Any, Any]:
    return configuration.get("StackName"), configuration.get("ChangeSetName")


def _change_set_executions(
    actions: list[Mapping[str, Any]],
) -> Iterator[tuple[Mapping[str, Any], tuple[Any, Any], list[Mapping[str, Any]]]]:
    """Each CHANGE_SET_EXECUTE action of a stage, with its (stack, change set) and the
    CHANGE_SET_REPLACE actions of the stage that create that change set."""
    for execute in actions:
        configuration = execute.get("configuration") or {}
        if configuration.get("ActionMode") != "CHANGE_SET_EXECUTE":
            continue
        key = _change_set_key(configuration)
        creates = [
            a
            for a in actions
            if (a.get("configuration") or {}).get("ActionMode") == "CHANGE_SET_REPLACE"
            and _change_set_key(a.get("configuration") or {}) == key
        ]
        yield execute, key, creates


def _environment_variables(action: Mapping[str, Any]) -> dict[str, str]:
    """A CodeBuild action's EnvironmentVariables (a JSON list of {name, value}), by name."""
    raw = (action.get("configuration") or {}).get("EnvironmentVariables")
    try:
        variables = json.loads(raw) if isinstance(raw, str) else []
    except json.JSONDecodeError:
        return {}
    return {
        str(v.get("name")): str(v.get("value"))
        for v in variables if isinstance(v, Mapping)
    }  # fmt: skip


FINGERPRINT_REFERENCE = re.compile(r"#\{([A-Za-z0-9@_-]+)\.FINGERPRINT\}")


def _confirmed_after_an_approval(
    stages: list[Mapping[str, Any]], stage_index: int, after: int, before: int
) -> bool:
    """Whether, between run orders `after` and `before` of stage `stage_index`, an action
    confirms the change set against a reviewed one (REVIEW_MODE=confirm, its
    EXPECTED_FINGERPRINT the FINGERPRINT of a review in an earlier stage) that a manual
    approval follows, in that review's stage or a later one, before this stage."""
    for confirm in stages[stage_index].get("actions") or []:
        if not after < confirm.get("runOrder", 1) < before:
            continue
        variables = _environment_variables(confirm)
        reference = FINGERPRINT_REFERENCE.fullmatch(variables.get("EXPECTED_FINGERPRINT", ""))
        if variables.get("REVIEW_MODE") != "confirm" or reference is None:
            continue
        for review_index in range(stage_index):
            reviews = [
                a
                for a in stages[review_index].get("actions") or []
                if a.get("namespace") == reference.group(1)
            ]
            if not reviews:
                continue
            reviewed_at = min(a.get("runOrder", 1) for a in reviews)
            for approval_index in range(review_index, stage_index):
                if any(
                    a.get("category") == "Approval"
                    and a.get("provider") == "Manual"
                    and (approval_index > review_index or a.get("runOrder", 1) > reviewed_at)
                    for a in stages[approval_index].get("actions") or []
                ):
                    return True
    return False


def approval_between_change_set_and_execute(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A change set is executed only when a person approved it: a manual approval between its
    creation and its execution in the same stage, or, when the approval is in a stage of its
    own (so that a rejection ends the run instead of rolling the stage back), a confirmation
    between creation and execution that the change set is the one reviewed before that
    approval (build-image/review-change-set, REVIEW_MODE=confirm)."""
    if args.resource_type != PIPELINE:
        return
    stages = list(args.props.get("stages") or [])
    for index, stage in enumerate(stages):
        actions = stage.get("actions") or []
        for execute, key, creates in _change_set_executions(actions):
            if not creates:
                report(
                    f"stage {stage.get('name')!r}: {execute.get('name')} executes a change set "
                    "that no action creates"
                )
                continue
            executed_at = execute.get("runOrder", 1)
            # What runs is the change set of the last create before the execute: a create
            # after the approval replaces the approved change set. Actions of one run order
            # run in parallel (CodePipeline user guide, "Action declaration": runOrder, 1-999,
            # the same value for actions that run in parallel), so only an approval or a
            # confirm strictly between the create and the execute counts. With no create
            # before the execute, nothing can be between.
            created_at = max(
                (a.get("runOrder", 1) for a in creates if a.get("runOrder", 1) <= executed_at),
                default=executed_at,
            )
            approved = any(
                a.get("category") == "Approval"
                and a.get("provider") == "Manual"
                and created_at < a.get("runOrder", 1) < executed_at
                for a in actions
            ) or _confirmed_after_an_approval(stages, index, created_at, executed_at)
            if not approved:
                report(
                    f"stage {stage.get('name')!r}: change set {key[1]!r} on stack {key[0]!r} is executed "
                    "without a manual approval between its creation and its execution, nor confirmed "
                    "there to be the change set a person approved in an earlier stage"
                )


# -- a stage that rolls back or retries can run its actions again ------------------------
def _runs_again(stage: Mapping[str, Any]) -> Optional[str]:
    """How the stage runs its actions again, if it does: a rollback (on failure or on
    success) runs every action with the last good execution's artifacts; a retry runs
    every action or only the failed ones with the same artifacts."""
    failure = stage.get("onFailure") or {}
    success_result = ((stage.get("onSuccess") or {}).get("condition") or {}).get("result")
    if failure.get("result") == "ROLLBACK" or success_result == "ROLLBACK":
        return "ROLLBACK"
    if failure.get("result") == "RETRY":
        return "RETRY " + ((failure.get("retryConfiguration") or {}).get("retryMode") or "FAILED_ACTIONS")
    return None


def executed_change_sets_are_recreated_where_they_run_again(
    args: ResourceValidationArgs, report: ReportViolation
) -> None:
    if args.resource_type != PIPELINE:
        return
    for stage in args.props.get("stages") or []:
        how = _runs_again(stage)
        if how is None:
            continue
        for execute, key, creates in _change_set_executions(stage.get("actions") or []):
            recreated = how != "RETRY FAILED_ACTIONS" and any(
                a.get("runOrder", 1) < execute.get("runOrder", 1) for a in creates
            )
            if not recreated:
                report(
                    f"stage {stage.get('name')!r} runs again ({how}), but {execute.get('name')} would "
                    f"execute change set {key[1]!r} again without creating it first in the same run: "
                    "an executed change set is consumed"
                )


# -- no wildcard IAM actions -------------------------------------------------------------
def _statements(document: Any) -> Iterable[Mapping[str, Any]]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []
    statements = (document or {}).get("Statement", [])
    return [statements] if isinstance(statements, dict) else statements


def _is_boundary(resource_type: str, props: Mapping[str, Any]) -> bool:
    key, value = BOUNDARY_TAG
    return resource_type == MANAGED_POLICY and (props.get("tags") or {}).get(key) == value


def no_wildcard_iam_actions(args: ResourceValidationArgs, report: ReportViolation) -> None:
    key = POLICY_DOCUMENT_TYPES.get(args.resource_type)
    if key is None or not _known(args.props.get(key)):
        return
    if _is_boundary(args.resource_type, args.props):
        return  # a ceiling, checked by permission_boundaries_stay_ceilings
    for statement in _statements(args.props.get(key)):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            report(f"statement {statement.get('Sid', '?')!r} allows NotAction (everything but a list)")
        actions = statement.get("Action", [])
        for action in [actions] if isinstance(actions, str) else actions:
            if action == "*" or action.endswith(":*"):
                report(f"statement {statement.get('Sid', '?')!r} allows the wildcard action {action!r}")


# -- a boundary is a ceiling: never granted, never admitting IAM ---------------------------
def permission_boundaries_stay_ceilings(args: StackValidationArgs, report: ReportViolation) -> None:
    boundaries = {}
    for resource in args.resources:
        if not _is_boundary(resource.resource_type, resource.props):
            continue
        boundaries[resource.props.get("arn")] = resource
        for statement in _statements(resource.props.get("policy")):
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement:
                excluded = statement["NotAction"]
                admits_iam = "iam:*" not in ([excluded] if isinstance(excluded, str) else excluded)
            else:
                actions = statement.get("Action", [])
                actions = [actions] if isinstance(actions, str) else actions
                iam_actions = {a for a in actions if a.lower().startswith("iam:") or a == "*"}
                # Passing a role to a named service is the one IAM action a bounded role
                # may keep: it grants the receiving service, not the role, anything.
                passes_to_named_services = "iam:PassedToService" in (
                    (statement.get("Condition") or {}).get("StringEquals") or {}
                )
                admits_iam = bool(iam_actions - {"iam:PassRole"}) or (
                    "iam:PassRole" in iam_actions and not passes_to_named_services
                )
            if admits_iam:
                report(
                    f"permissions boundary statement {statement.get('Sid', '?')!r} admits IAM actions: "
                    "a role it bounds could create an unbounded role",
                    resource.urn,
                )
    for resource in args.resources:
        if resource.resource_type != ATTACHMENT:
            continue
        arn = resource.props.get("policyArn")
        if _known(arn) and arn in boundaries:
            report(f"permissions boundary {arn!r} is attached to a role as a permission policy", resource.urn)


# -- ECR scan on push ------------------------------------------------------------------------
def ecr_scans_on_push(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != REPOSITORY:
        return
    if not (args.props.get("imageScanningConfiguration") or {}).get("scanOnPush"):
        report(f"ECR repository {args.props.get('name')!r} does not scan images on push")


def _resource_policy(name: str, description: str, validate: Callable) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=EnforcementLevel.MANDATORY
    )


def _stack_policy(name: str, description: str, validate: Callable) -> StackValidationPolicy:
    return StackValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=EnforcementLevel.MANDATORY
    )


POLICIES = [
    _stack_policy(
        "privileged-codebuild-pinned-image",
        "Privileged CodeBuild projects run only an image pinned by digest from this stack's ECR.",
        privileged_builds_use_pinned_images,
    ),
    _stack_policy(
        "encrypted-artifact-store",
        "Every pipeline artifact store is encrypted at rest.",
        artifact_store_is_encrypted,
    ),
    _resource_policy(
        "approval-before-change-set-execution",
        "Every executed change set is approved by a person between its creation and its execution, or "
        "confirmed there to be the one a person approved in an earlier stage.",
        approval_between_change_set_and_execute,
    ),
    _resource_policy(
        "change-sets-recreated-where-stages-run-again",
        "A stage that rolls back or retries creates its change set again before executing it.",
        executed_change_sets_are_recreated_where_they_run_again,
    ),
    _resource_policy(
        "no-wildcard-iam-actions",
        "IAM policies name their actions: no '*', no 'service:*', no NotAction.",
        no_wildcard_iam_actions,
    ),
    _stack_policy(
        "permission-boundaries-stay-ceilings",
        "Permissions boundaries exclude every IAM action and are never attached as permission policies.",
        permission_boundaries_stay_ceilings,
    ),
    _resource_policy(
        "ecr-scan-on-push",
        "ECR repositories scan images on push.",
        ecr_scans_on_push,
    ),
]
