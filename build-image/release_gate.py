#!/usr/bin/env python3
"""The release gate of a gated environment: what its release stage checks before a change set
is executed (`confirm`), and what it records once it has been (`record`).

Python standard library only: it is baked into the ecs-delivery build image and runs in the
environment's review project (confirm) and recorder project (record); AWS is asked through the
AWS CLI (`aws`, or $AWS_CLI), as the other scripts of the image do.

    release_gate.py confirm     # REVIEW_MODE=confirm: build-image/review-change-set runs it
    release_gate.py record      # build-image/record-release runs it

confirm lets the release's change set through in one of two cases, and refuses it otherwise:

  approved   It is exactly the change reviewed in this execution's plan: its fingerprint (the
             template it deploys, its parameters and capabilities, every change with its
             property values, on every page) equals the plan's FINGERPRINT, the plan is this
             execution's (PLAN_EXECUTION_ID), the image tag still names the digest that was
             reviewed, and the approval of this execution was answered by one of the
             environment's approvers (APPROVERS, APPROVER_GROUP's members).
  recorded   It deploys exactly a release this environment approved and executed before: the
             release record of the plan's execution exists and has the change set's identity
             (template, parameters, capabilities), the image is the recorded one (the pinned
             digest; without a pin, what the tag names), and the release is still kept: its mark
             still names that digest.
             This is a rollback (CodePipeline runs it with the variables of the execution it
             returns to) or a retry after the release had executed.

A plan variable that did not resolve (empty), a change set that failed, a tag that names
another image, an approver nobody named, a record that is missing or deploys something else,
and in either case a change set that deploys what it does not show (a nested stack, a stack
set: changeset_report.UNSHOWN_TYPES) or whose template cannot be read: each is refused, with
what to do. What was established is exported as RELEASE (JSON) for the
record (base64 JSON), and IMAGE_DIGEST.

record writes the release into the release record (partition key the environment, sort key
this execution) and marks the released image `<RELEASE_MARK_PREFIX><time>-<execution>`, then
takes off every mark of this environment but those of its newest KEEP_RELEASES recorded
releases (the record says which: a tag name says nothing, any build can push one): the
repository's lifecycle keeps every marked image (components/image_repository.py).

Assumptions (not documented by AWS; docs/security.md lists them): ListActionExecutions'
`updatedBy` of a manual approval is the ARN of whoever answered it, an STS assumed-role ARN
for a role session; an empty change set (FAILED, "didn't contain changes") still answers
GetTemplate.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import changeset_report

Aws = Callable[..., Any]


class Refused(Exception):
    """The release is not let through; the message says why and what to do."""


class AwsError(Exception):
    pass


def aws_cli(*args: str, profile: Optional[str] = None) -> Any:
    """One AWS CLI call, its JSON answer parsed (None when it prints nothing)."""
    command = [os.environ.get("AWS_CLI", "aws"), *args, "--output", "json"]
    if args[:1] == ("cloudformation",) and os.environ.get("STACK_REGION"):
        # The stack lives in another region than the pipeline's (environments[].region).
        command += ["--region", os.environ["STACK_REGION"]]
    if profile:
        command += ["--profile", profile]
    # The command is the AWS CLI with arguments this script composes; no shell.
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise AwsError(f"aws {' '.join(args[:2])}: {done.stderr.strip() or done.stdout.strip()}")
    return json.loads(done.stdout) if done.stdout.strip() else None


# -- who answered the approval --------------------------------------------------------------------
@dataclass(frozen=True)
class Principal:
    account: str
    kind: str  # role or user
    name: str


def principal(arn: str) -> Optional[Principal]:
    """The IAM principal an ARN names: a role (`role/<path>/<name>`, or a session of it,
    `sts::<account>:assumed-role/<name>/<session>`) or a user (`user/<path>/<name>`). IAM role
    and user names are unique in their account whatever their path (IAM user guide, "IAM
    identifiers"), so the name identifies them; an assumed-role ARN carries no path."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    service, account, resource = parts[2], parts[4], parts[5]
    kind, _, rest = resource.partition("/")
    if service == "sts" and kind == "assumed-role":
        return Principal(account, "role", rest.split("/", 1)[0])
    if service == "iam" and kind in ("role", "user") and rest:
        return Principal(account, kind, rest.rsplit("/", 1)[-1])
    return None


def approved_by_an_approver(updated_by: str, approvers: list[str], group_members: list[str]) -> bool:
    who = principal(updated_by)
    return who is not None and who in {principal(arn) for arn in [*approvers, *group_members]}


def approval_answer(aws: Aws, *, pipeline: str, execution: str, stage: str, action: str) -> tuple[str, str]:
    """(who, when) answered `stage/action` in `execution`: ListActionExecutions, every page."""
    details: list[dict[str, Any]] = []
    token = None
    while True:
        page = (
            aws(
                "codepipeline",
                "list-action-executions",
                "--pipeline-name",
                pipeline,
                "--filter",
                f"pipelineExecutionId={execution}",
                *(["--next-token", token] if token else []),
            )
            or {}
        )
        details += page.get("actionExecutionDetails") or []
        token = page.get("nextToken")
        if not token:
            break
    for detail in details:
        if (
            detail.get("pipelineExecutionId") == execution
            and detail.get("stageName") == stage
            and detail.get("actionName") == action
            and detail.get("status") == "Succeeded"
        ):
            return str(detail.get("updatedBy") or ""), str(detail.get("lastUpdateTime") or "")
    return "", ""


# -- the change set ---------------------------------------------------------------------------------
MAX_PAGES = 100


def change_set_pages(
    aws: Aws, *, stack: str, change_set: str, profile: Optional[str]
) -> list[dict[str, Any]]:
    """Every page of DescribeChangeSet, with the property values of every change."""
    pages: list[dict[str, Any]] = []
    token = None
    while len(pages) < MAX_PAGES:
        page = (
            aws(
                "cloudformation",
                "describe-change-set",
                "--stack-name",
                stack,
                "--change-set-name",
                change_set,
                "--include-property-values",
                *(["--next-token", token] if token else []),
                profile=profile,
            )
            or {}
        )
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            return pages
    raise Refused(f"{change_set} has more than {MAX_PAGES} pages of changes; nothing is executed")


def change_set_template(
    aws: Aws, *, stack: str, change_set: str, profile: Optional[str], empty: bool = False
) -> dict[str, Any]:
    """The template the change set deploys, as submitted (GetTemplate, stage Original). An
    empty change set (FAILED, no changes) may not answer: the stack already runs its template."""
    where = ["--stack-name", stack, "--change-set-name", change_set]
    try:
        return (
            aws("cloudformation", "get-template", *where, "--template-stage", "Original", profile=profile)
            or {}
        )
    except AwsError:
        if not empty:
            raise
    stack_only = ["--stack-name", stack, "--template-stage", "Original"]
    return aws("cloudformation", "get-template", *stack_only, profile=profile) or {}


def registry_digest(aws: Aws, *, repository: str, tag: str) -> str:
    """The digest the tag names in the repository now ("" when it names none)."""
    try:
        answer = aws(
            "ecr", "describe-images", "--repository-name", repository, "--image-ids", f"imageTag={tag}"
        )
    except AwsError as error:
        if "ImageNotFoundException" in str(error):
            return ""
        raise
    images = (answer or {}).get("imageDetails") or []
    return str(images[0].get("imageDigest") or "") if images else ""


def record_of(aws: Aws, *, table: str, environment: str, execution: str) -> Optional[dict[str, str]]:
    """The release record of `execution` in `environment`, if there is one."""
    key = {"environment": {"S": environment}, "executionId": {"S": execution}}
    answer = (
        aws("dynamodb", "get-item", "--table-name", table, "--key", json.dumps(key), "--consistent-read")
        or {}
    )
    item = answer.get("Item")
    if not item:
        return None
    return {name: value.get("S", "") for name, value in item.items()}


# -- confirm -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Confirmed:
    kind: str
    release: dict[str, str]


def confirm(env: dict[str, str], aws: Aws = aws_cli) -> Confirmed:
    environment = env["ENVIRONMENT"]
    change_set = env["CHANGE_SET_NAME"]
    expected = env.get("EXPECTED_FINGERPRINT", "")
    plan = env.get("PLAN_EXECUTION_ID", "")
    execution = env.get("PIPELINE_EXECUTION_ID", "")
    missing = [
        name
        for name, value in (
            ("EXPECTED_FINGERPRINT", expected),
            ("PLAN_EXECUTION_ID", plan),
            ("PIPELINE_EXECUTION_ID", execution),
        )
        if not value
    ]
    if missing:
        raise Refused(
            f"{', '.join(missing)} empty: the plan's variables did not reach this release, so there is "
            "nothing to compare it with; nothing is executed. Run the pipeline again."
        )
    profile = env.get("READ_PROFILE") or None
    pages = change_set_pages(aws, stack=env["STACK_NAME"], change_set=change_set, profile=profile)
    first = pages[0]
    if first.get("Status") == "FAILED" and not any(
        reason in (first.get("StatusReason") or "") for reason in changeset_report.NO_CHANGES_REASONS
    ):
        raise Refused(f"{change_set} FAILED: {first.get('StatusReason')}; nothing is executed")
    template = change_set_template(
        aws,
        stack=env["STACK_NAME"],
        change_set=change_set,
        profile=profile,
        empty=first.get("Status") == "FAILED",
    )
    refuse_what_it_does_not_show(change_set, pages, template)
    actual = changeset_report.fingerprint(pages, template)
    identity = changeset_report.release_identity(pages, template)
    tag = changeset_report.parameter_value(pages, env["IMAGE_PARAMETER"])
    digest_parameter = env.get("DIGEST_PARAMETER", "")
    pinned = changeset_report.parameter_value(pages, digest_parameter) if digest_parameter else ""
    if pinned and not changeset_report.IMAGE_DIGEST.fullmatch(pinned):
        raise Refused(
            f"{digest_parameter} is {pinned[:80]!r}, not an image digest (sha256:<64 hex>); nothing is "
            "executed"
        )
    current = registry_digest(aws, repository=env["IMAGE_REPOSITORY_NAME"], tag=tag) if tag else ""

    def image_is(expected_digest: str, what: str) -> str:
        """The digest released; refused unless the tag, and the template's pin, name `expected_digest`."""
        if not current:
            raise Refused(f"the image tag {tag!r} names no image in the registry; nothing is executed")
        deployed = pinned or current
        if pinned and current != pinned:
            raise Refused(
                f"the image tag {tag!r} now names {current}, not the {pinned} this release pins: the "
                "image behind the tag was replaced; nothing is executed"
            )
        if deployed != expected_digest:
            raise Refused(
                f"the image tag {tag!r} names {deployed}, not the {expected_digest or '(none)'} {what}: the "
                "image behind the tag was replaced; nothing is executed"
            )
        return deployed

    release = {
        "environment": environment,
        "releaseId": identity,
        "fingerprint": actual,
        "imageTag": tag,
        "planExecutionId": plan,
    }
    if actual == expected and plan == execution:
        digest = image_is(env.get("PLAN_IMAGE_DIGEST", ""), "that was reviewed and approved")
        who, when = approval_answer(
            aws,
            pipeline=env["PIPELINE_NAME"],
            execution=execution,
            stage=env["APPROVAL_STAGE"],
            action=env["APPROVAL_ACTION"],
        )
        if not who:
            raise Refused(
                f"no approval of {env['APPROVAL_STAGE']} answered in execution {execution}; "
                "nothing is executed"
            )
        members = group_members(aws, env.get("APPROVER_GROUP", ""))
        if not approved_by_an_approver(who, env.get("APPROVERS", "").split(), members):
            raise Refused(
                f"approved by {who}, who is not among the approvers of {environment} "
                f"(environments[].approvers, approverGroup); nothing is executed. Ask an approver to "
                "approve a new run."
            )
        return Confirmed(
            "approved",
            {**release, "kind": "approved", "imageDigest": digest, "approvedBy": who, "approvedAt": when},
        )
    recorded = record_of(aws, table=env["RECORD_TABLE"], environment=environment, execution=plan)
    if recorded is None:
        if plan != execution:
            raise Refused(
                f"this release runs with the plan of execution {plan} (a rollback returns to it), and no "
                f"release of {environment} was recorded for that execution; nothing is executed"
            )
        raise Refused(
            f"{change_set} (fingerprint {actual}) is not the change set reviewed and approved (fingerprint "
            f"{expected}) in execution {plan}, and no release of {environment} was recorded for that "
            "execution: the stack or what the template resolves to changed since the review; nothing is "
            "executed. Run the pipeline again to review it anew."
        )
    if recorded.get("releaseId") != identity:
        raise Refused(
            f"{change_set} would not deploy the release recorded for execution {plan} (release "
            f"{recorded.get('releaseId')}, this change set {identity}); nothing is executed"
        )
    recorded_digest = recorded.get("imageDigest", "")
    if pinned:
        # The template runs the image by the digest it pins (the release's identity holds it), so
        # the tag plays no part: the build, which may push any tag, must not be able to block a
        # rollback by moving an old commit's tag. The mark below proves the image is still there.
        if pinned != recorded_digest:
            raise Refused(
                f"this release pins {pinned}, not the {recorded_digest or '(none)'} recorded for execution "
                f"{plan}; nothing is executed"
            )
        digest = pinned
    else:
        digest = image_is(recorded_digest, f"recorded for execution {plan}")
    # Only a release still kept goes back out unreviewed: its mark (the recorder keeps those of
    # the newest KEEP_RELEASES records, the lifecycle keeps their images) still names its image.
    # An older one is not refused for age alone: its image may be expiring and it was approved
    # against a world long gone, so it takes a review again (`make redeploy`).
    mark = recorded.get("mark", "")
    marked = registry_digest(aws, repository=env["IMAGE_REPOSITORY_NAME"], tag=mark) if mark else ""
    if marked != digest:
        why = f"its mark {mark} no longer names {digest}" if mark else "it has no mark"
        if mark and not marked:
            why += ": the registry has no image by that mark"
        raise Refused(
            f"the release recorded for execution {plan} is no longer one of the releases {environment} "
            f"keeps ({why}); nothing is executed. Deploy it again through a review: make redeploy "
            "(docs/operations.md)"
        )
    return Confirmed(
        "recorded",
        {
            **release,
            "kind": "rollback" if plan != execution else "retry",
            "imageDigest": digest,
            "approvedBy": recorded.get("approvedBy", ""),
            "approvedAt": recorded.get("approvedAt", ""),
        },
    )


def refuse_what_it_does_not_show(
    change_set: str, pages: list[dict[str, Any]], template: dict[str, Any]
) -> None:
    """Refused when the change set deploys what it does not show (a nested stack, a stack set,
    a provisioned product: changeset_report.UNSHOWN_TYPES), whether approved, a rollback or a
    retry: neither an approver nor the fingerprint saw what those deploy. Without the template
    nothing can be told, so that is refused too."""
    if "TemplateBody" not in template:
        raise Refused(
            f"the template {change_set} deploys could not be read (GetTemplate gave no TemplateBody); "
            "nothing is executed"
        )
    unshown = changeset_report.unshown_resources(pages, template)
    if unshown:
        names = "; ".join(f"{u.logical_id} ({u.resource_type}): {u.why}" for u in unshown)
        raise Refused(
            f"{change_set} deploys what it does not show: {names}. Nothing is executed: no approver, and "
            "no check of this change set, saw what those deploy. Put their resources into the template "
            "itself (inline the nested stack), or deploy them with a stack of their own outside this "
            "gated environment; make check-template names them (E9108)"
        )


def group_members(aws: Aws, group: str) -> list[str]:
    """The ARNs of the users in the approver group now (every page of GetGroup)."""
    if not group:
        return []
    members: list[str] = []
    marker = None
    while True:
        page = aws("iam", "get-group", "--group-name", group, *(["--marker", marker] if marker else [])) or {}
        members += [user.get("Arn", "") for user in page.get("Users") or []]
        marker = page.get("Marker") if page.get("IsTruncated") else None
        if not marker:
            return members


def write_exports(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items()), encoding="utf-8")


# -- what the confirm hands the record --------------------------------------------------------------
# CodePipeline resolves `#{Release-<env>.RELEASE}` inside the record action's EnvironmentVariables,
# itself a JSON text: a value with quotes would break it (assumed: the variable's value is put
# in as text, unescaped; the "Variables reference" page describes no escaping). Base64 holds
# no quote, backslash or newline.
def encode_release(release: dict[str, str]) -> str:
    return base64.b64encode(json.dumps(release, sort_keys=True, separators=(",", ":")).encode()).decode()


def decode_release(text: str) -> dict[str, Any]:
    """The release `encode_release` wrote (ValueError for anything else)."""
    try:
        release = json.loads(base64.b64decode(text, validate=True))
    except (binascii.Error, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(str(error)) from None
    if not isinstance(release, dict):
        raise ValueError("not an object")
    return release


# -- record ------------------------------------------------------------------------------------------
def environment_records(aws: Aws, *, table: str, environment: str) -> list[dict[str, str]]:
    """Every release record of `environment` (every page of the Query, read consistently), as
    plain strings. `make redeploy` (offline/redeploy.py) reads them with this too."""
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = (
            aws(
                "dynamodb",
                "query",
                "--table-name",
                table,
                "--key-condition-expression",
                "environment = :environment",
                "--expression-attribute-values",
                json.dumps({":environment": {"S": environment}}),
                "--consistent-read",
                *(["--starting-token", token] if token else []),
            )
            or {}
        )
        items += page.get("Items") or []
        token = page.get("NextToken")
        if not token:
            break
    return [{name: value.get("S", "") for name, value in item.items()} for item in items]


def newest_marks(aws: Aws, *, table: str, environment: str, count: int) -> set[str]:
    """The marks of the environment's newest `count` recorded releases."""
    items = environment_records(aws, table=table, environment=environment)
    recorded = sorted(
        ((item.get("recordedAt", ""), item.get("mark", "")) for item in items),
        reverse=True,
    )
    return {mark for _, mark in recorded[:count] if mark}


def mark_time(env: dict[str, str]) -> str:
    """When the release was recorded, sortable (UTC): the build's start (CodeBuild's
    CODEBUILD_START_TIME, milliseconds since the epoch), or now."""
    start = env.get("CODEBUILD_START_TIME", "")
    moment = (
        datetime.datetime.fromtimestamp(int(start) / 1000, tz=datetime.UTC)
        if start.isdigit()
        else datetime.datetime.now(tz=datetime.UTC)
    )
    return moment.strftime("%Y%m%dT%H%M%SZ")


def record(env: dict[str, str], aws: Aws = aws_cli) -> dict[str, str]:
    text = env.get("RELEASE", "")
    try:
        release = decode_release(text)
    except ValueError:
        release = None
    if not isinstance(release, dict) or not release.get("releaseId") or not release.get("imageDigest"):
        raise Refused(
            f"RELEASE is not a confirmed release ({text[:80]!r}): the confirmation's variables did "
            "not resolve"
        )
    execution = env["PIPELINE_EXECUTION_ID"]
    when = mark_time(env)
    mark = f"{env['RELEASE_MARK_PREFIX']}{when}-{execution[:8]}"
    item = {
        **{k: str(v) for k, v in release.items()},
        "environment": env["ENVIRONMENT"],
        "executionId": execution,
        "recordedAt": when,
        "appCommit": env.get("APP_COMMIT", ""),
        "infraCommit": env.get("INFRA_COMMIT", ""),
        "mark": mark,
    }
    # The mark first, then the record: a record whose mark is missing would refuse its retry.
    repository = env["IMAGE_REPOSITORY_NAME"]
    digest = release["imageDigest"]
    found = (
        aws("ecr", "batch-get-image", "--repository-name", repository, "--image-ids", f"imageDigest={digest}")
        or {}
    )
    images = found.get("images") or []
    if not images:
        raise Refused(f"the released image {digest} is not in {repository}; it cannot be kept")
    try:
        aws(
            "ecr",
            "put-image",
            "--repository-name",
            repository,
            "--image-tag",
            mark,
            "--image-digest",
            digest,
            "--image-manifest",
            images[0]["imageManifest"],
            *(
                ["--image-manifest-media-type", images[0]["imageManifestMediaType"]]
                if images[0].get("imageManifestMediaType")
                else []
            ),
        )
    except AwsError as error:
        # ECR API reference, PutImage: ImageAlreadyExistsException, this image has the tag
        # already (a retry of this action); ImageTagAlreadyExistsException, an immutable
        # repository has the tag on another image: someone pushed the mark's name first (a build
        # may push any tag). Then the release is not kept and a rollback to it would be refused:
        # say so now. (A mutable repository moves the tag to this image.)
        if not any(
            name in str(error) for name in ("ImageAlreadyExistsException", "ImageTagAlreadyExistsException")
        ):
            raise
        if registry_digest(aws, repository=repository, tag=mark) != digest:
            raise Refused(
                f"the mark {mark} names another image than the released {digest} (pushed by someone "
                "else first); the release is not recorded. Look at who pushed it."
            ) from None
    aws(
        "dynamodb",
        "put-item",
        "--table-name",
        env["RECORD_TABLE"],
        "--item",
        json.dumps({k: {"S": v} for k, v in item.items() if v}),
    )
    listed = aws("ecr", "list-images", "--repository-name", repository, "--filter", "tagStatus=TAGGED") or {}
    marks = {
        i["imageTag"]
        for i in listed.get("imageIds") or []
        if str(i.get("imageTag", "")).startswith(env["RELEASE_MARK_PREFIX"])
    }
    # The marks to keep are the record's, not the newest-looking tag names: a build may push any
    # tag, a `release-...` one too, and must not push a real mark out by naming its own newer.
    kept = newest_marks(
        aws, table=env["RECORD_TABLE"], environment=env["ENVIRONMENT"], count=int(env["KEEP_RELEASES"])
    )
    stale = sorted(marks - kept)
    if stale:
        # Taking a mark off leaves the image its other tags; the lifecycle may then expire it.
        aws(
            "ecr",
            "batch-delete-image",
            "--repository-name",
            repository,
            "--image-ids",
            *(f"imageTag={t}" for t in stale),
        )
    return {**item, "unmarked": " ".join(stale)}


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in (["confirm"], ["record"]):
        print("usage: release_gate.py confirm|record", file=sys.stderr)
        return 2
    env = dict(os.environ)
    try:
        if argv == ["confirm"]:
            confirmed = confirm(env)
            release = confirmed.release
            write_exports(
                Path(env.get("EXPORTS_FILE", "report/exports.sh")),
                {
                    "RELEASE": encode_release(release),
                    "IMAGE_DIGEST": release["imageDigest"],
                },
            )
            print(
                f"release_gate: {env['CHANGE_SET_NAME']} confirmed ({release['kind']}): release "
                f"{release['releaseId']}, image {release['imageTag']} {release['imageDigest']}, approved by "
                f"{release['approvedBy'] or '?'}"
            )
        else:
            item = record(env)
            print(
                f"release_gate: recorded {item['environment']} release {item['releaseId']} of execution "
                f"{item['executionId']}; image {item['imageDigest']} marked {item['mark']}"
                + (f"; marks taken off: {item['unmarked']}" if item["unmarked"] else "")
            )
    except Refused as refusal:
        print(f"release_gate: {refusal}", file=sys.stderr)
        return 1
    except AwsError as error:
        outcome = "nothing is executed" if argv == ["confirm"] else "the release is not recorded"
        print(f"release_gate: {error}; {outcome}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
