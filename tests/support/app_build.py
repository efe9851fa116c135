"""The example application's build as CodeBuild runs it (tests/support/buildspec.py): its
buildspec, Makefile and the build image's `start-dockerd`, `image-digest` and
`image-published`, against stub `dockerd`, `docker`, `docker-compose`, `stat` and `aws` that
record every call in order and answer as the real commands would for this build.

The stub registry holds STUB_PUBLISHED (images, comma-separated) and what this build pushes;
it serves each image under the digest `registry_digest` derives from its name, or the one
STUB_DIGESTS (a JSON object, image -> digest; "" for an answer without one) gives it.
STUB_REGISTRY=down: it cannot be reached; =down-after-push: it cannot be reached once this
build has pushed.

tests/test_app_buildspec.py checks the order and arguments of every call; the pipeline-run
simulator (tests/support/pipeline_run.py) runs the same build for each Build action, with the
registry it keeps.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tests.support.buildspec import BuildResult, run_buildspec, stub_environment

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "app-repo"
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"

# One stub for every command: record argv (and whether a password came on stdin), then
# behave as the real command would for this build, failing where STUB_FAIL says.
STUB = r"""#!/usr/bin/env python3
import hashlib, json, os, sys
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
call = {"cmd": name, "args": args}
if name == "dockerd":
    cgroup = os.environ.get("DOCKERD_CGROUP_ROOT", "")
    call["cgroup_nested"] = os.path.exists(os.path.join(cgroup, "init", "cgroup.procs"))
if "--password-stdin" in args:
    call["password_on_stdin"] = bool(sys.stdin.read().strip())
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(call) + "\n")
line = " ".join([name, *args])
for prefix in filter(None, os.environ.get("STUB_FAIL", "").split(";")):
    if line.startswith(prefix):
        sys.exit(f"stub: {line} fails")
state = os.environ["STUB_STATE"]
if name == "dockerd":
    if os.environ.get("STUB_DOCKERD") == "broken":
        print("failed to start daemon: Error initializing network controller: iptables: Permission denied")
        sys.exit(1)
    if os.environ.get("STUB_DOCKERD") == "hangs":
        import time
        time.sleep(4)
        sys.exit(0)
    open(os.path.join(state, "dockerd.up"), "w").close()
    # A daemon keeps running: start-dockerd treats a dockerd that has exited as dead.
    import time
    time.sleep(3)
elif name == "docker" and args[:1] == ["info"]:
    if not os.path.exists(os.path.join(state, "dockerd.up")):
        sys.exit("Cannot connect to the Docker daemon at unix:///var/run/docker.sock")
    if "{{.Driver}}" in args:
        print(os.environ.get("STUB_DRIVER", "overlayfs"))
    elif any("DriverStatus" in a for a in args):
        print(os.environ.get("STUB_DRIVER_TYPE", "io.containerd.snapshotter.v1"))
elif name == "docker" and args[:1] == ["push"]:
    with open(os.path.join(state, "pushed"), "a") as pushed:
        pushed.write(args[1] + "\n")
elif name == "docker" and args[:3] == ["buildx", "imagetools", "inspect"]:
    image = args[3]
    pushed_file = os.path.join(state, "pushed")
    pushed = open(pushed_file).read().split() if os.path.exists(pushed_file) else []
    registry = os.environ.get("STUB_REGISTRY")
    if registry == "down" or (registry == "down-after-push" and pushed):
        sys.exit(f"ERROR: failed to do request: Head https://{image.split('/')[0]}/v2/: dial tcp: i/o timeout")
    if image not in os.environ.get("STUB_PUBLISHED", "").split(",") + pushed:
        sys.exit(f"ERROR: {image}: not found")
    digests = json.loads(os.environ.get("STUB_DIGESTS") or "{}")
    # registry_digest(image), below.
    digest = digests.get(image, "sha256:" + hashlib.sha256(image.encode()).hexdigest())
    # As buildx prints an index: its name, media type and digest, then its manifests.
    print(f"Name:      {image}")
    print("MediaType: application/vnd.oci.image.index.v1+json")
    if digest:
        print(f"Digest:    {digest}")
    print("")
    print("Manifests:")
    print(f"  Name:      {image.rsplit(':', 1)[0]}@sha256:{hashlib.sha256(b'amd64' + image.encode()).hexdigest()}")
    print("  MediaType: application/vnd.oci.image.manifest.v1+json")
    print("  Platform:  linux/amd64")
elif name == "stat":
    print(os.environ.get("STUB_FILESYSTEM", "ext2/ext3"))
elif name == "aws" and args[:2] == ["ecr", "get-login-password"]:
    print("eyJwYXlsb2FkIjoiZWNyIn0=")
"""


@dataclass(frozen=True)
class AppBuild:
    result: BuildResult
    calls: list[dict]
    """Every stubbed command as it ran: {"cmd", "args", ...}."""

    @property
    def pushed(self) -> list[str]:
        """The images `docker push` sent to the registry."""
        return [c["args"][1] for c in self.calls if c["cmd"] == "docker" and c["args"][:1] == ["push"]]


def host_environment(tmp_path: Path) -> dict[str, str]:
    """Where this build's stub daemon keeps its files, on a cgroup v1 host (as these machines
    are: no cgroup.controllers file)."""
    return {
        "DOCKERD_LOG": str(tmp_path / "dockerd.log"),
        "DOCKERD_TIMEOUT": "3",
        "DOCKERD_DATA_ROOT": str(tmp_path / "docker"),
        "DOCKERD_CGROUP_ROOT": str(tmp_path / "no-cgroup2"),
    }


def project_environment() -> dict[str, str]:
    """What the build project, the pipeline action and CodeBuild set for one build."""
    return {
        "AWS_REGION": "eu-west-1",
        "CODEBUILD_BUILD_NUMBER": "17",
        "CODEBUILD_RESOLVED_SOURCE_VERSION": "0000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "APP_COMMIT": "8c1d2aa4f0e5b6c7d8e9f00112233445566778899",
        "ECR_REGISTRY": REGISTRY,
        "IMAGE_REPOSITORY_URI": f"{REGISTRY}/todobackend",
        "BUILD_CACHE_REPOSITORY_URI": f"{REGISTRY}/todobackend/build-cache",
        "VERSION_KEY": "Version",
        "DIGEST_KEY": "Digest",
    }


def registry_digest(image: str) -> str:
    """The digest the stub registry serves for `image` unless STUB_DIGESTS says otherwise:
    derived from its name, so that one image has one digest across builds and runs."""
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


def run_app_build(
    tmp_path: Path,
    settings: Mapping[str, Optional[str]],
    *,
    buildspec: Optional[str] = None,
    makefile: Optional[str] = None,
    project: Optional[Mapping[str, str]] = None,
) -> AppBuild:
    """One fresh build in `tmp_path`: `project` (default: `project_environment()`) with
    `settings` applied (None removes a variable); the example's buildspec and Makefile unless
    others are given."""
    bin_dir, source, state = tmp_path / "bin", tmp_path / "src", tmp_path / "state"
    for folder in (bin_dir, source, state):
        shutil.rmtree(folder, ignore_errors=True)  # a fresh build each time
        folder.mkdir(parents=True)
    (tmp_path / "calls.log").unlink(missing_ok=True)
    for name in ("dockerd", "docker", "docker-compose", "stat", "aws"):
        (bin_dir / name).write_text(STUB)
        (bin_dir / name).chmod(0o755)
    for script in ("start-dockerd", "image-digest", "image-published"):
        shutil.copy(ROOT / "build-image" / script, bin_dir / script)
    (source / "Makefile").write_text(makefile if makefile is not None else (APP / "Makefile").read_text())
    environment = {
        "STUB_LOG": str(tmp_path / "calls.log"),
        "STUB_STATE": str(state),
        **host_environment(tmp_path),
        **(project_environment() if project is None else project),
    }
    environment.update({k: v for k, v in settings.items() if v is not None})
    for key in [k for k, v in settings.items() if v is None]:
        environment.pop(key, None)
    result = run_buildspec(
        buildspec if buildspec is not None else (APP / "buildspec.yml").read_text(),
        source_dir=source,
        environment=stub_environment(bin_dir, environment),
        state_dir=tmp_path / "runner",
    )
    log = tmp_path / "calls.log"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return AppBuild(result, calls)
