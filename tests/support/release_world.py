"""A small world for running the review, confirm and record projects' real buildspecs here
(or inside the build image): the files the stub `aws` (tests/support/aws_stubs.py, REVIEW_AWS)
answers from, and helpers to set them up and read what happened.

Used by tests/test_change_set_review.py and tests/test_release_gate.py (here, against this
checkout's scripts) and tests/container/test_release_gate_in_image.py (in the build image);
the pipeline-run simulator keeps a world of its own (tests/support/pipeline_run.py) and writes
the same files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Optional

import yaml

from tests.support.aws_stubs import REVIEW_AWS
from tests.support.buildspec import BuildResult, ContainerShell, run_buildspec, stub_environment
from tests.support.containers import SYSTEM_PATH

ROOT = Path(__file__).resolve().parents[2]
RENDERER = ROOT / "build-image" / "changeset_report.py"
GATE = ROOT / "build-image" / "release_gate.py"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
STACK_FIXTURE = ROOT / "tests" / "fixtures" / "changesets" / "stack.json"


def digest_of(manifest: str) -> str:
    """A registry names a manifest by the SHA-256 of its bytes (OCI image spec, "Digests")."""
    return "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


def manifest_for(name: str) -> str:
    return json.dumps(
        {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [], "annotations": {"n": name}}
    )


class GateWorld:
    """The stub AWS of one run: change-set pages, templates, registry, approvals, records."""

    def __init__(self, root: Path):
        self.root = root
        for folder in ("bin", "pages", "s3", "records", "work"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        (root / "bin" / "aws").write_text(REVIEW_AWS)
        (root / "bin" / "aws").chmod(0o755)
        for script in ("review-change-set", "record-release"):
            shutil.copy(ROOT / "build-image" / script, root / "bin" / script)
        self.registry_file = root / "registry.json"
        self.registry_file.write_text(json.dumps({"images": []}))
        self.actions_file = root / "actions.json"
        self.actions_file.write_text(json.dumps({"actionExecutionDetails": []}))
        self.group_file = root / "group.json"
        self.group_file.write_text(json.dumps({"Users": [], "IsTruncated": False}))
        self.template_file = root / "template.json"
        self.stack_template_file = root / "stack-template.json"
        self.log = root / "aws.log"

    # -- what AWS holds --
    def serve_pages(self, pages: list[dict[str, Any]]) -> None:
        for old in (self.root / "pages").iterdir():
            old.unlink()
        # Each page is served under the token that asks for it: the first without one.
        token = "page-1"
        for page in pages:
            (self.root / "pages" / f"{token}.json").write_text(json.dumps(page))
            token = page.get("NextToken", "")

    def serve_template(self, body: Any, *, stack_too: bool = False) -> None:
        self.template_file.write_text(json.dumps({"TemplateBody": body, "StagesAvailable": ["Original"]}))
        if stack_too:
            self.stack_template_file.write_text(self.template_file.read_text())

    def push(self, name: str, *tags: str) -> str:
        """An image whose manifest is `name`'s, under `tags` (taken from any image that had them)."""
        manifest = manifest_for(name)
        digest = digest_of(manifest)
        document = json.loads(self.registry_file.read_text())
        for image in document["images"]:
            image["tags"] = [t for t in image["tags"] if t not in tags]
        found = [i for i in document["images"] if i["digest"] == digest]
        if found:
            found[0]["tags"] += list(tags)
        else:
            document["images"].append(
                {"digest": digest, "tags": list(tags), "manifest": manifest, "mediaType": INDEX_MEDIA_TYPE}
            )
        self.registry_file.write_text(json.dumps(document))
        return digest

    def immutable_tags(self) -> None:
        """The repository refuses to move a tag (ECR tag immutability)."""
        document = json.loads(self.registry_file.read_text())
        document["immutable"] = True
        self.registry_file.write_text(json.dumps(document))

    def tag(self, digest: str, *tags: str) -> None:
        """Put `tags` on the image `digest` (taken from any image that had them), as put-image does."""
        document = json.loads(self.registry_file.read_text())
        for image in document["images"]:
            image["tags"] = [t for t in image["tags"] if t not in tags]
        (image,) = [i for i in document["images"] if i["digest"] == digest]
        image["tags"] += list(tags)
        self.registry_file.write_text(json.dumps(document))

    def images(self) -> dict[str, list[str]]:
        """Digest → its tags, as the registry holds them now."""
        return {i["digest"]: i["tags"] for i in json.loads(self.registry_file.read_text())["images"]}

    def approve(self, *, execution: str, stage: str, by: str, action: str = "Approve") -> None:
        self.actions_file.write_text(
            json.dumps(
                {
                    "actionExecutionDetails": [
                        {
                            "pipelineExecutionId": execution,
                            "stageName": stage,
                            "actionName": action,
                            "status": "Succeeded",
                            "updatedBy": by,
                            "lastUpdateTime": "2026-12-06T10:00:00+00:00",
                        }
                    ]
                }
            )
        )

    def group(self, *user_arns: str) -> None:
        self.group_file.write_text(
            json.dumps({"Users": [{"Arn": arn} for arn in user_arns], "IsTruncated": False})
        )

    def records(self) -> dict[tuple[str, str], dict[str, str]]:
        found = {}
        for path in (self.root / "records").glob("*.json"):
            item = {k: v["S"] for k, v in json.loads(path.read_text()).items()}
            found[(item["environment"], item["executionId"])] = item
        return found

    def put_record(self, item: dict[str, str]) -> None:
        path = self.root / "records" / f"{item['environment']}__{item['executionId']}.json"
        path.write_text(json.dumps({k: {"S": v} for k, v in item.items()}))

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    # -- running a project --
    def environment(self, variables: dict[str, str]) -> dict[str, str]:
        return stub_environment(
            self.root / "bin",
            {
                "AWS_REGION": "eu-west-1",
                "STUB_LOG": str(self.log),
                "STUB_STACK": str(STACK_FIXTURE),
                "STUB_PAGES": str(self.root / "pages"),
                "STUB_S3": str(self.root / "s3"),
                "STUB_TEMPLATE": str(self.template_file),
                "STUB_STACK_TEMPLATE": str(self.stack_template_file),
                "STUB_REGISTRY": str(self.registry_file),
                "STUB_ACTIONS": str(self.actions_file),
                "STUB_GROUP": str(self.group_file),
                "STUB_RECORDS": str(self.root / "records"),
                "CHANGESET_RENDERER": str(RENDERER),
                "RELEASE_GATE": str(GATE),
                "PYTHON": sys.executable,
                **variables,
            },
        )

    def image_environment(self, variables: dict[str, str]) -> dict[str, str]:
        """The same world seen from inside the build image, by a container that mounts `root`
        at the same path: the image's own review-change-set, record-release, renderer, gate and
        python3 (the variables that point the scripts at this checkout's copies are left out),
        and only `aws` stubbed. The stub gets a folder of its own: bin/ also holds this
        checkout's scripts, which would shadow the image's. Every file the stub reads is under
        `root` (this checkout is not in the container)."""
        stub_only = self.root / "image-bin"
        stub_only.mkdir(exist_ok=True)
        shutil.copy(self.root / "bin" / "aws", stub_only / "aws")
        shutil.copy(STACK_FIXTURE, self.root / "stack.json")
        environment = self.environment(variables)
        for name in ("CHANGESET_RENDERER", "RELEASE_GATE", "PYTHON"):
            del environment[name]
        return {
            **environment,
            # The image's PATH (Debian's default; the Dockerfile sets none) finds its scripts
            # in /usr/local/bin and python3 in /usr/bin.
            "PATH": f"{stub_only}:{SYSTEM_PATH}",
            "STUB_STACK": str(self.root / "stack.json"),
        }

    def run(
        self,
        project: dict[str, Any],
        variables: dict[str, str],
        state: Optional[str] = None,
        *,
        image: Optional[ContainerShell] = None,
    ) -> BuildResult:
        """A declared CodeBuild project's inline buildspec, with its variables and `variables`:
        here, or in `image`, a running build-image container that mounts `root` at the same path
        (`image_environment`)."""
        declared = {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]}
        variables = {**declared, **variables}
        return run_buildspec(
            yaml.safe_load(project["source"]["buildspec"]),
            source_dir=self.root / "work",
            environment=self.image_environment(variables) if image else self.environment(variables),
            state_dir=self.root / (state or "runner"),
            shell=image,
        )
