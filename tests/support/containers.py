"""Real Docker for the container tests and `make bench-container`: the build image built from
its own Dockerfile, run as CodeBuild runs it, with a nested daemon and a loopback registry
standing in for ECR. Only AWS's own calls are stubbed.

What these machines allow and need (checked on them; `shared/docs/containers.md`):

- Docker Hub cannot be reached, so the build image's base is a Debian trixie made here with
  `debootstrap` and passed as the Dockerfile's BASE_IMAGE; nothing else about the build differs.
- `docker run --privileged` fails (CAP_SYS_RESOURCE is outside the bounding set, and Docker
  ignores --cap-drop with --privileged). `PRIVILEGED` is the nearest equivalent that works,
  plus read-write /sys and cgroup mounts inside (`BuildHost.emulate_privileged`).
- The nested daemon's /var/lib/docker is a volume (the image declares it).
- The registry is Debian's docker-registry with htpasswd authentication, started in the build
  container's network namespace (`nsenter`), so that inside it the registry is
  127.0.0.1:5000: Docker allows plain HTTP for 127.0.0.0/8, and the nested daemon's own
  networks stay out of this machine's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from components.build_project import DockerHubAccess, build_environment_variables
from tests.support.buildspec import BuildResult, ContainerShell, run_buildspec

PROJECT_DIR = Path(__file__).resolve().parents[2]
BUILD_IMAGE_CONTEXT = PROJECT_DIR / "build-image"
APP_REPO = PROJECT_DIR / "examples" / "app-repo"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LABEL = "ecs-delivery-test"
DEBIAN_SUITE = "trixie"
DEBIAN_BASE_TAG = f"{LABEL}/debian:{DEBIAN_SUITE}"
REGISTRY = "127.0.0.1:5000"
# Where the loopback registry keeps Docker Hub's images, as an ECR pull-through cache rule's
# prefix does (`<registry>/docker-hub/library/<image>`).
DOCKER_HUB_PREFIX = "docker-hub"
HOW_TO_RUN = (
    "run the container tests as root on a Debian machine: `tests/container/prepare-host` installs "
    "docker.io, debootstrap and docker-registry and starts dockerd, then `make container`"
)

# `docker run --privileged`, as far as these machines allow it (see the module docstring).
PRIVILEGED = (
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt=seccomp=unconfined",
    "--security-opt=apparmor=unconfined",
    "--security-opt=systempaths=unconfined",
    "--device-cgroup-rule=a *:* rwm",
)
# What `--privileged` also does and the flags above cannot: /sys and the cgroup hierarchies
# writable (cgroup v1 on these machines: one mount per controller).
EMULATE_PRIVILEGED = (
    "mount -o remount,rw /sys && "
    'for d in /sys/fs/cgroup/*; do mount -o remount,bind,rw "$d" 2>/dev/null || :; done'
)


class DockerUnavailable(RuntimeError):
    """This machine cannot run the container tests; the message says why and how to."""


@dataclass(frozen=True)
class Docker:
    """A Docker client that can build with BuildKit, and the daemon it talks to."""

    argv: tuple[str, ...]
    env: Mapping[str, str]

    def __call__(
        self, *args: str, input: Optional[str | bytes] = None, check: bool = True, timeout: float = 900
    ) -> subprocess.CompletedProcess:
        text = not isinstance(input, bytes)
        result = subprocess.run(  # noqa: S603 - docker with arguments from the tests
            [*self.argv, *args],
            input=input,
            env={**os.environ, **self.env},
            capture_output=True,
            text=text,
            check=False,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def build(
        self,
        context: Path,
        tag: str,
        *,
        build_args: Mapping[str, str] = (),
        no_cache: bool = False,
        dockerfile: Optional[str] = None,
    ) -> str:
        """`docker build` with BuildKit; the plain progress output (which steps ran, which were
        CACHED). `dockerfile`: another Dockerfile in the context than `Dockerfile`."""
        args = ["build", "--progress=plain", f"--tag={tag}"]
        if dockerfile:
            args.append(f"--file={context / dockerfile}")
        args += [f"--build-arg={name}={value}" for name, value in dict(build_args).items()]
        if no_cache:
            args.append("--no-cache")
        result = self(*args, str(context))
        return result.stdout + result.stderr

    def image_exists(self, tag: str) -> bool:
        return self("image", "inspect", tag, check=False).returncode == 0

    def image_size(self, tag: str) -> int:
        return int(self("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


def _buildkit_client(candidate: str) -> Optional[Docker]:
    """`candidate` if it builds with BuildKit here: through the buildx plugin (newer clients),
    or built in with DOCKER_BUILDKIT=1 (clients before 23, e.g. Debian bookworm's docker.io)."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "Dockerfile").write_text("FROM scratch\nCOPY --chmod=0644 Dockerfile /probe\n")
        for env in ({}, {"DOCKER_BUILDKIT": "1"}):
            client = Docker((candidate,), env)
            try:
                probe = client("build", "--quiet", folder, check=False, timeout=120)
            except (OSError, subprocess.TimeoutExpired):
                return None
            if probe.returncode == 0:
                return client
    return None


def docker_client() -> Docker:
    """The first Docker client on this machine that reaches a daemon and builds with BuildKit."""
    candidates = dict.fromkeys(filter(None, [shutil.which("docker"), "/usr/bin/docker"]))
    reasons = []
    for candidate in candidates:
        if not Path(candidate).exists():
            continue
        info = subprocess.run(  # noqa: S603 - a docker client found on this machine
            [candidate, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, check=False
        )
        if info.returncode != 0:
            reasons.append(f"{candidate}: no daemon answers ({info.stderr.strip().splitlines()[-1:]})")
            continue
        client = _buildkit_client(candidate)
        if client:
            return client
        reasons.append(f"{candidate}: cannot build with BuildKit")
    raise DockerUnavailable(
        f"no usable Docker here ({'; '.join(reasons) or 'no docker client'}); {HOW_TO_RUN}"
    )


def require_tools(*names: str) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        raise DockerUnavailable(f"missing {', '.join(missing)}; {HOW_TO_RUN}")
    if os.geteuid() != 0:
        raise DockerUnavailable(f"not root (debootstrap and nsenter need it); {HOW_TO_RUN}")


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (the only registry of base images here)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        match = re.search(r"^URIs:\s*(\S+)", path.read_text(), re.MULTILINE)
        if match and "security" not in match.group(1):
            return match.group(1)
    return "http://deb.debian.org/debian"


def debian_base(docker: Docker, workdir: Path, *, reuse: bool = True) -> tuple[str, float]:
    """A minimal Debian trixie image made with debootstrap (Docker Hub's debian:trixie-slim is
    out of reach), with its own apt sources; reused when the daemon already has it."""
    if reuse and docker.image_exists(DEBIAN_BASE_TAG):
        return DEBIAN_BASE_TAG, 0.0
    require_tools("debootstrap")
    started = time.monotonic()
    root = workdir / f"debootstrap-{DEBIAN_SUITE}"
    shutil.rmtree(root, ignore_errors=True)
    mirror = debian_mirror()
    subprocess.run(  # noqa: S603 - debootstrap with fixed arguments
        ["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(root), mirror],
        check=True,
        capture_output=True,
    )
    security = mirror.rstrip("/").removesuffix("/debian") + "/debian-security"
    (root / "etc/apt/sources.list").write_text(
        f"deb {mirror} {DEBIAN_SUITE} main\n"
        f"deb {mirror} {DEBIAN_SUITE}-updates main\n"
        f"deb {security} {DEBIAN_SUITE}-security main\n"
    )
    archive = subprocess.run(  # noqa: S603
        ["tar", "-C", str(root), "-c", "."], check=True, capture_output=True
    ).stdout
    docker("import", "--change", 'CMD ["bash"]', "-", DEBIAN_BASE_TAG, input=archive)
    shutil.rmtree(root, ignore_errors=True)
    return DEBIAN_BASE_TAG, time.monotonic() - started


def build_image(docker: Docker, base: str, tag: str, *, no_cache: bool = False) -> tuple[str, float]:
    """The project's build-image/Dockerfile, with only its base replaced."""
    started = time.monotonic()
    output = docker.build(BUILD_IMAGE_CONTEXT, tag, build_args={"BASE_IMAGE": base}, no_cache=no_cache)
    return output, time.monotonic() - started


TOOLS_DOCKERFILE = "tools.Dockerfile"


def tools_image(docker: Docker, base: str, tag: str, *, no_cache: bool = False) -> tuple[str, float]:
    """The project's build-image/tools.Dockerfile (the small projects' image), with only its
    base replaced."""
    started = time.monotonic()
    output = docker.build(
        BUILD_IMAGE_CONTEXT,
        tag,
        build_args={"BASE_IMAGE": base},
        no_cache=no_cache,
        dockerfile=TOOLS_DOCKERFILE,
    )
    return output, time.monotonic() - started


def seed_image(docker: Docker, base: str, tag: str, dockerfile: str) -> None:
    """An image standing in for one of Docker Hub's, built here on the debootstrapped base."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "Dockerfile").write_text(dockerfile)
        docker.build(Path(folder), tag, build_args={"BASE_IMAGE": base})


# What the example application pulls from Docker Hub (its Dockerfile and docker-compose.yml):
# `library/debian:trixie-slim` is the debootstrapped base itself; `library/redis:8` is Debian's
# redis-server on it, run as the official image runs it (the compose file passes the command).
REDIS_SEED = """ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \\
    && rm -rf /var/lib/apt/lists/*
CMD ["redis-server"]
"""


@dataclass
class BuildHost:
    """The build image running as CodeBuild runs it: entrypoint replaced by a long-lived
    process (`--init` reaps the daemons it outlives), privileged as far as this machine
    allows, /var/lib/docker a volume, and `shared` mounted at the same path."""

    docker: Docker
    name: str
    volume: Optional[str]
    shared: Path

    @classmethod
    def start(
        cls,
        docker: Docker,
        image: str,
        shared: Path,
        *,
        privileged: bool = True,
        volume: bool = True,
        network_of: Optional[str] = None,
    ) -> BuildHost:
        """`network_of`: another container whose network this one shares (what it publishes on
        its loopback, this one reaches on its own)."""
        name = f"{LABEL}-{uuid.uuid4().hex[:8]}"
        volume_name = f"{name}-docker" if volume else None
        args = ["run", "--detach", "--init", f"--name={name}", f"--label={LABEL}=1"]
        if network_of:
            args.append(f"--network=container:{network_of}")
        if privileged:
            args += list(PRIVILEGED)
        if volume_name:
            args.append(f"--volume={volume_name}:/var/lib/docker")
        args += [f"--volume={shared}:{shared}", image, "sleep", "infinity"]
        docker(*args)
        host = cls(docker, name, volume_name, shared)
        if privileged:
            host.sh(EMULATE_PRIVILEGED)
        return host

    @property
    def shell(self) -> ContainerShell:
        """Where the buildspec runner runs commands: in this container."""
        return ContainerShell(self.name, docker=self.docker.argv)

    @property
    def pid(self) -> int:
        return int(self.docker("inspect", "--format", "{{.State.Pid}}", self.name).stdout)

    def sh(
        self,
        script: str,
        *,
        env: Mapping[str, str] = (),
        check: bool = True,
        input: Optional[str | bytes] = None,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess:
        variables = [f"--env={k}={v}" for k, v in dict(env).items()]
        interactive = ["--interactive"] if input is not None else []
        return self.docker(
            "exec", *interactive, *variables, self.name, "bash", "-c", script,
            input=input, check=check, timeout=timeout,
        )  # fmt: skip

    def start_dockerd(self, **env: str) -> subprocess.CompletedProcess:
        return self.sh("start-dockerd", env=env, check=False, timeout=120)

    def wipe_daemon(self) -> None:
        """Stop the nested daemon and delete everything it had (images, build cache,
        containers), as a fresh CodeBuild host would have nothing."""
        self.sh(
            'for p in /proc/[0-9]*; do [ "$(cat "$p/comm" 2>/dev/null)" = dockerd ] && pid=${p#/proc/}; done; '
            'if [ -n "${pid:-}" ]; then kill "$pid"; while [ -e "/proc/$pid" ]; do sleep 0.1; done; fi; '
            "rm -rf /var/lib/docker/* /var/run/docker.pid /var/run/docker.sock"
        )

    def load(self, *tags: str) -> None:
        """Hand images of this machine's daemon to the nested one."""
        save = subprocess.Popen(  # noqa: S603 - docker save of images the tests built
            [*self.docker.argv, "save", *tags], stdout=subprocess.PIPE, env={**os.environ, **self.docker.env}
        )
        load = subprocess.run(  # noqa: S603
            [*self.docker.argv, "exec", "--interactive", self.name, "docker", "load"],
            stdin=save.stdout,
            capture_output=True,
            env={**os.environ, **self.docker.env},
            check=False,
        )
        if save.wait() != 0 or load.returncode != 0:
            raise RuntimeError(f"docker load into {self.name} failed: {load.stderr.decode()}")

    def stop(self) -> None:
        self.docker("rm", "--force", "--volumes", self.name, check=False)
        if self.volume:
            self.docker("volume", "rm", "--force", self.volume, check=False)


# Every manifest media type a client accepts, so that the registry answers a tag with what it
# names (the index a push from the containerd store sends, or a single manifest) and that
# object's digest in Docker-Content-Digest (OCI distribution spec, "Pulling manifests"; the
# registry refuses an OCI index to a client that does not accept one).
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


@dataclass
class LoopbackRegistry:
    """Debian's docker-registry with htpasswd authentication (user `AWS`, as ECR's token is),
    listening on 127.0.0.1:5000 inside a build host's network namespace."""

    folder: Path
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    process: Optional[subprocess.Popen] = None

    def start(self, host: BuildHost) -> None:
        require_tools("docker-registry", "htpasswd", "nsenter")
        self.folder.mkdir(parents=True, exist_ok=True)
        htpasswd = subprocess.run(  # noqa: S603 - htpasswd from apache2-utils
            ["htpasswd", "-Bbn", "AWS", self.password], check=True, capture_output=True, text=True
        ).stdout
        (self.folder / "htpasswd").write_text(htpasswd)
        # Debian's packaged config points htpasswd's path at a directory: every login would
        # answer 400. This one is complete.
        config = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {
                "filesystem": {"rootdirectory": str(self.folder / "data")},
                "delete": {"enabled": True},
            },
            "http": {"addr": REGISTRY, "secret": secrets.token_hex(16)},
            "auth": {"htpasswd": {"realm": LABEL, "path": str(self.folder / "htpasswd")}},
        }
        (self.folder / "config.yml").write_text(json.dumps(config))
        log = (self.folder / "registry.log").open("w")
        self.process = subprocess.Popen(  # noqa: S603 - the registry, in the build host's network
            [
                "nsenter",
                "--target",
                str(host.pid),
                "--net",
                "docker-registry",
                "serve",
                str(self.folder / "config.yml"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(50):
            probe = host.sh(f"curl -s -o /dev/null -w '%{{http_code}}' http://{REGISTRY}/v2/", check=False)
            if probe.stdout.strip() == "401":
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"the loopback registry did not answer: {(self.folder / 'registry.log').read_text()}"
        )

    def served_digest(self, host: BuildHost, repository: str, tag: str) -> str:
        """The digest the registry itself serves for `repository:tag`, from its HTTP API
        (`HEAD /v2/<name>/manifests/<reference>`, header Docker-Content-Digest), not from any
        Docker client."""
        accept = " ".join(f"--header 'Accept: {media_type}'" for media_type in MANIFEST_MEDIA_TYPES)
        answer = host.sh(
            f'curl --silent --show-error --fail --head --user "AWS:$REGISTRY_PASSWORD" {accept} '
            f"http://{REGISTRY}/v2/{repository}/manifests/{tag}",
            env={"REGISTRY_PASSWORD": self.password},
        ).stdout
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in answer.splitlines())
            if value
        )
        return headers["docker-content-digest"]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)


def stub_aws(bin_dir: Path, *, ecr_password: str) -> Path:
    """The one stub of the application build: `aws`, whose only call there is
    `ecr get-login-password` (it prints the loopback registry's password). Any other call
    fails, loudly."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    stub = bin_dir / "aws"
    stub.write_text(
        "#!/bin/bash\n"
        "# Stands in for the AWS CLI in the container tests (tests/support/containers.py).\n"
        'case "$1 $2" in\n'
        f"  'ecr get-login-password') echo '{ecr_password}' ;;\n"
        '  *) echo "stub aws: unexpected call: aws $*" >&2; exit 2 ;;\n'
        "esac\n"
    )
    stub.chmod(0o755)
    return stub


# -- the example application's build, as the pipeline's Build action runs it -------------------


def app_build_environment(registry_password: str, stubs: Path) -> dict[str, str]:
    """What the CodeBuild project sets (components/build_project.py, the program's own
    function), pointed at the loopback registry, with `aws` stubbed."""
    variables = build_environment_variables(
        application_name="todobackend",
        account_id="123456789012",
        region="eu-west-1",
        repository_url=f"{REGISTRY}/todobackend",
        version_file="version.json",
        version_key="Version",
        cache_repository_url=f"{REGISTRY}/todobackend/build-cache",
        docker_hub=DockerHubAccess(secret_arn="unused", cache_prefix=DOCKER_HUB_PREFIX),
    )
    stub_aws(stubs, ecr_password=registry_password)
    return {**{v["name"]: v["value"] for v in variables}, "PATH": f"{stubs}:{SYSTEM_PATH}", "HOME": "/root"}


def checkout(shared: Path, name: str, change: str = "") -> Path:
    """A fresh copy of the example application repository, as CodeBuild hands it over;
    `change` is appended to the application's code (a new commit)."""
    source = shared / name
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(APP_REPO, source)
    if change:
        app = source / "todobackend.py"
        app.write_text(app.read_text() + f"\n# {change}\n")
    return source


def seed_docker_hub(host: BuildHost, registry: LoopbackRegistry, images: Mapping[str, str]) -> None:
    """Push local images into the registry under the pull-through cache's prefix, by their
    Docker Hub names (`library/redis:8` -> `<registry>/docker-hub/library/redis:8`), then
    leave the build host's daemon stopped and empty."""
    assert host.start_dockerd().returncode == 0
    host.load(*images.values())
    host.sh(f"docker login --username AWS --password-stdin {REGISTRY}", input=registry.password)
    for name, local in images.items():
        mirrored = f"{REGISTRY}/{DOCKER_HUB_PREFIX}/{name}"
        host.sh(f"docker tag {local} {mirrored} && docker push --quiet {mirrored}")
    host.wipe_daemon()


def run_app_buildspec(
    host: BuildHost,
    shared: Path,
    registry: LoopbackRegistry,
    *,
    run: str,
    commit: str,
    build_number: int,
    change: str = "",
    extra: Mapping[str, str] = (),
) -> BuildResult:
    """The example application's own buildspec.yml, in the build host, as CodeBuild runs it."""
    source = checkout(shared, f"src-{run}", change)
    environment = {
        **app_build_environment(registry.password, shared / "stubs"),
        # The Build action's variable (components/blueprint.py) and CodeBuild's own.
        "APP_COMMIT": commit,
        "AWS_REGION": "eu-west-1",
        "CODEBUILD_BUILD_NUMBER": str(build_number),
        "CODEBUILD_RESOLVED_SOURCE_VERSION": commit,
        "CODEBUILD_SRC_DIR": str(source),
        **dict(extra),
    }
    return run_buildspec(
        (source / "buildspec.yml").read_text(),
        source_dir=source,
        environment=environment,
        state_dir=shared / f"runner-{run}",
        timeout_seconds=900,
        shell=host.shell,
    )


def cached_steps(output: str) -> list[str]:
    """The BuildKit steps (`#N [stage i/n] INSTRUCTION`) a plain-progress log shows as CACHED."""
    names: dict[str, str] = {}
    cached = []
    for line in output.splitlines():
        step = re.match(r"#(\d+) (\[.+)$", line)
        if step:
            names.setdefault(step.group(1), step.group(2))
        done = re.match(r"#(\d+) CACHED$", line)
        if done and done.group(1) in names:
            cached.append(names[done.group(1)])
    return cached


# The example buildspec's build phase: one command, guarded by image-published.
BUILD_COMMAND_START = 'if [ "$APP_PUBLISHED" = 1 ]; then'


def build_phase(result: BuildResult) -> str:
    """What the build phase's one command printed (`make test && make release && make publish`)."""
    (command,) = [
        c for c in result.commands if c.phase == "build" and c.command.startswith(BUILD_COMMAND_START)
    ]
    return command.output


def make_target_output(result: BuildResult, target: str) -> str:
    """The part of the build phase's output that `make <target>` printed: from the recipe line
    make echoes for its build (`docker buildx build … --target <target> …`) to the next target's."""
    output = build_phase(result)
    starts = [i for i, line in enumerate(output.splitlines()) if line.startswith("docker buildx build ")]
    lines = output.splitlines()
    for index, start in enumerate(starts):
        if f"--target {target} " in lines[start]:
            end = starts[index + 1] if index + 1 < len(starts) else len(lines)
            return "\n".join(lines[start:end])
    raise AssertionError(f"no `make {target}` build in the build phase:\n{output}")


def leftovers(docker: Docker) -> Iterator[str]:
    """Containers a killed test run left behind."""
    listed = docker("ps", "--all", "--quiet", f"--filter=label={LABEL}=1", check=False)
    yield from listed.stdout.split()


def remove_leftovers(docker: Docker) -> None:
    for container in leftovers(docker):
        docker("rm", "--force", "--volumes", container, check=False)


def run_privileged_script(docker: Docker, image: str, script: str, **kwargs) -> subprocess.CompletedProcess:
    """A one-off command in a fresh build host."""
    with tempfile.TemporaryDirectory() as shared:
        host = BuildHost.start(docker, image, Path(shared), **kwargs)
        try:
            return host.sh(script, check=False)
        finally:
            host.stop()
