"""`make redeploy STACK=<stack> ENVIRONMENT=<env>`: start a run that releases an environment's
last good release again, from its release record, when CodePipeline cannot roll back to it.

CodePipeline rolls a stage back only to an execution started in the current pipeline structure
version (AWS, "Configuring stage rollback"): after a `pulumi up` that changed the pipeline, the
first failed release has nothing to roll back to. The release record (components/release_record.py)
still says what each release was: its application and infrastructure commits. CodePipeline V2
starts a run with given source revisions (StartPipelineExecution, `sourceRevisions`), so this
command finds the newest release of the environment whose run succeeded, and starts a run with
its two commits. The run builds nothing new (the image of that commit is in the registry), and
the gated environment plans, asks its approvers and releases as for any run: the change back is
reviewed like any other.

Unlike the other commands here it needs AWS: credentials of the pipeline's account, the AWS CLI,
and the stack's outputs (`pulumi stack output pipeline_name`, `release_table`):

    python -m offline.redeploy --pipeline <name> --table <name> --environment production  # says what
    python -m offline.redeploy ... --execute                                # and does it
    python -m offline.redeploy ... --execution <id>                         # that release instead

Standard library only; the AWS CLI answers (`aws`, or $AWS_CLI).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

# The release gate's own reading of the record (standard library too; baked into the build image).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "build-image"))
import release_gate

# The release stage's source actions (components/blueprint.py names them).
APPLICATION_ACTION = "Application"
INFRASTRUCTURE_ACTION = "Infrastructure"


class RedeployError(Exception):
    pass


# The gate's own AWS CLI call (AWS_CLI, JSON out); its AwsError is this command's failure too.
aws = release_gate.aws_cli


@dataclass(frozen=True)
class Release:
    execution: str
    recorded_at: str
    kind: str
    image_tag: str
    image_digest: str
    app_commit: str
    infra_commit: str
    approved_by: str


def releases(table: str, environment: str) -> list[Release]:
    """The environment's recorded releases, newest first."""
    items = release_gate.environment_records(aws, table=table, environment=environment)
    found = []
    for value in items:
        found.append(
            Release(
                execution=value.get("executionId", ""),
                recorded_at=value.get("recordedAt", ""),
                kind=value.get("kind", ""),
                image_tag=value.get("imageTag", ""),
                image_digest=value.get("imageDigest", ""),
                app_commit=value.get("appCommit", ""),
                infra_commit=value.get("infraCommit", ""),
                approved_by=value.get("approvedBy", ""),
            )
        )
    return sorted(found, key=lambda r: (r.recorded_at, r.execution), reverse=True)


def run_status(pipeline: str, execution: str) -> str:
    where = ["--pipeline-name", pipeline, "--pipeline-execution-id", execution]
    answer = aws("codepipeline", "get-pipeline-execution", *where)
    return str(((answer or {}).get("pipelineExecution") or {}).get("status", ""))


def choose(pipeline: str, candidates: list[Release], execution: Optional[str]) -> Release:
    """The release named, or the newest whose run succeeded: its release was verified and
    watched through its bake, where it has them (a release recorded in a run that then failed is
    the one being undone). With several gated environments, a run can fail after this
    environment's stage; name the execution then."""
    if execution:
        named = [r for r in candidates if r.execution == execution]
        if not named:
            raise RedeployError(f"no release of execution {execution} is recorded")
        return named[0]
    for release in candidates:
        if run_status(pipeline, release.execution) == "Succeeded":
            return release
    raise RedeployError("no recorded release of this environment belongs to a run that succeeded")


def start_command(pipeline: str, release: Release) -> list[str]:
    if not (release.app_commit and release.infra_commit):
        raise RedeployError(f"the release of execution {release.execution} records no commits")
    return [
        "codepipeline",
        "start-pipeline-execution",
        "--name",
        pipeline,
        "--source-revisions",
        f"actionName={APPLICATION_ACTION},revisionType=COMMIT_ID,revisionValue={release.app_commit}",
        f"actionName={INFRASTRUCTURE_ACTION},revisionType=COMMIT_ID,revisionValue={release.infra_commit}",
    ]


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Release an environment's last good release again, from its release record."
    )
    parser.add_argument("--pipeline", required=True, help="the pipeline (stack output pipeline_name)")
    parser.add_argument("--table", required=True, help="the release record (stack output release_table)")
    parser.add_argument("--environment", required=True)
    parser.add_argument("--execution", help="redeploy the release of this execution instead")
    parser.add_argument("--execute", action="store_true", help="start the run (default: say what it would)")
    args = parser.parse_args(argv)
    try:
        recorded = releases(args.table, args.environment)
        if not recorded:
            raise RedeployError(f"no release of {args.environment} is recorded in {args.table}")
        release = choose(args.pipeline, recorded, args.execution)
        command = start_command(args.pipeline, release)
        print(
            f"redeploy: {args.environment}'s release of execution {release.execution} "
            f"({release.recorded_at}, image {release.image_tag} {release.image_digest}, approved by "
            f"{release.approved_by or '?'}): "
            f"application {release.app_commit}, infrastructure {release.infra_commit}"
        )
        if not args.execute:
            print("redeploy: would run: aws " + " ".join(command))
            print("redeploy: run again with --execute to start it; its approvers are asked as for any run")
            return 0
        started = aws(*command) or {}
        print(f"redeploy: started execution {started.get('pipelineExecutionId', '?')} of {args.pipeline}")
    except (RedeployError, release_gate.AwsError) as error:
        print(f"redeploy: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
