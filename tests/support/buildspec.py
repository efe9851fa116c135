"""Run a buildspec as CodeBuild does, for tests: the example app buildspec and the
change-set review's inline buildspec run here against stub commands.

What CodeBuild documents, and this runner follows:

- phases run in order `install`, `pre_build`, `build`, `post_build`; in a phase the
  commands run in order until one fails, then the phase's `finally` commands run;
- buildspec 0.2 keeps one shell for the whole build: variables set and the directory
  changed by one command are seen by the next (here each command runs in its own `bash`
  that restores the state the previous one saved, so a command that calls `exit` fails
  its phase instead of ending the build's shell);
- a failure in `install` or `pre_build` ends the build: `build` and `post_build` are
  skipped and no artifact is uploaded; a failure in `build` still runs `post_build`, with
  `CODEBUILD_BUILD_SUCCEEDING=0` (1 otherwise); UPLOAD_ARTIFACTS is attempted even when
  `build` failed ("Build phase transitions", CodeBuild user guide);
- `artifacts.files` are glob patterns, relative to `base-directory` when given; no
  variable expansion (AWS documents none); no matching file fails the upload;
- `env.variables` are set before the first phase, `env.exported-variables` are read from
  the shell after the last one.

Keys this runner does not model (`on-failure`, `run-as`, reports, secondary artifacts,
parameter-store and secrets-manager values, ...) are refused, never silently ignored.

Where the commands run is the `shell`: this machine (`LocalShell`, against stub commands), or
a running container (`ContainerShell`: the build image itself, as CodeBuild runs it). A
container must see `source_dir` and `state_dir` at the same paths as this machine.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol, Union

import yaml

PHASES = ("install", "pre_build", "build", "post_build")
SUPPORTED = {
    "": {"version", "env", "phases", "artifacts"},
    "env": {"shell", "variables", "exported-variables"},
    "phase": {"commands", "finally"},
    "artifacts": {"files", "base-directory", "discard-paths"},
}

# Saves every variable the command's shell defined (bash's own and read-only ones aside)
# and the working directory, whatever way the command ended.
_SAVE_STATE = r"""
__cb_save() {
  local __cb_rc=$? __cb_v __cb_d
  {
    for __cb_v in $(compgen -v); do
      case " $__CB_BASELINE " in *" $__cb_v "*) continue ;; esac
      # CodeBuild sets CODEBUILD_BUILD_SUCCEEDING itself, phase by phase.
      case "$__cb_v" in __cb_*|__CB_*|CODEBUILD_BUILD_SUCCEEDING) continue ;; esac
      __cb_d=$(declare -p "$__cb_v" 2>/dev/null) || continue
      [[ $__cb_d =~ ^declare\ -[a-zA-Z]*r ]] && continue
      printf '%s\n' "$__cb_d"
    done
    printf 'cd %q\n' "$PWD"
  } > "$__CB_STATE"
  exit "$__cb_rc"
}
trap __cb_save EXIT
[ -f "$__CB_STATE" ] && source "$__CB_STATE"
"""


class UnsupportedBuildspec(ValueError):
    """The buildspec uses something this runner does not model."""


@dataclass(frozen=True)
class CommandRun:
    """One buildspec command as it ran: where, how it ended, how long it took, what it printed."""

    phase: str
    command: str
    returncode: int
    seconds: float
    output: str


@dataclass
class BuildResult:
    phases: dict[str, str]
    """SUCCEEDED, FAILED, SKIPPED or absent (phase not in the buildspec)."""
    upload: str
    """SUCCEEDED, FAILED or SKIPPED."""
    exported: dict[str, str]
    artifacts: dict[str, Path] = field(default_factory=dict)
    """Uploaded artifact path → file."""
    output: str = ""
    commands: list[CommandRun] = field(default_factory=list)

    def run_of(self, command: str) -> CommandRun:
        """The one run of `command` (exactly as the buildspec writes it)."""
        (found,) = [run for run in self.commands if run.command == command]
        return found

    @property
    def succeeded(self) -> bool:
        return "FAILED" not in self.phases.values() and self.upload != "FAILED"


def _check_supported(buildspec: Mapping[str, Any]) -> None:
    def check(where: str, keys: Sequence[str], allowed: set[str]) -> None:
        unknown = sorted(set(keys) - allowed)
        if unknown:
            raise UnsupportedBuildspec(f"{where or 'buildspec'}: {unknown} not modelled by this runner")

    check("", list(buildspec), SUPPORTED[""])
    if str(buildspec.get("version")) != "0.2":
        raise UnsupportedBuildspec("only buildspec version 0.2 is modelled")
    check("env", list(buildspec.get("env") or {}), SUPPORTED["env"])
    if (buildspec.get("env") or {}).get("shell", "bash") != "bash":
        raise UnsupportedBuildspec("env.shell: only bash is modelled")
    for name, phase in (buildspec.get("phases") or {}).items():
        if name not in PHASES:
            raise UnsupportedBuildspec(f"phases.{name}: not a CodeBuild phase")
        check(f"phases.{name}", list(phase or {}), SUPPORTED["phase"])
    check("artifacts", list(buildspec.get("artifacts") or {}), SUPPORTED["artifacts"])


class Shell(Protocol):
    """Where a buildspec's commands run. Their output is one stream, stderr merged into stdout
    in the order it was written, as CodeBuild's build log shows it."""

    bash: str

    def run(
        self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: Optional[float]
    ) -> subprocess.CompletedProcess: ...


@dataclass(frozen=True)
class LocalShell:
    """This machine, with exactly the environment given (nothing inherited)."""

    bash: str = field(default_factory=lambda: shutil.which("bash") or "")

    def run(self, argv, *, cwd, env, timeout):
        if not self.bash:
            raise UnsupportedBuildspec("bash is not on this machine")
        return subprocess.run(  # noqa: S603 - the buildspec under test, in a sandbox folder
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
            timeout=timeout,
        )


@dataclass(frozen=True)
class ContainerShell:
    """A running container, entered with `docker exec`: the container's own environment plus
    exactly the variables given, in `cwd` (a path the container shares with this machine)."""

    container: str
    docker: Sequence[str] = ("docker",)
    bash: str = "/bin/bash"

    def run(self, argv, *, cwd, env, timeout):
        variables = [f"--env={name}={value}" for name, value in env.items()]
        command = [*self.docker, "exec", f"--workdir={cwd}", *variables, self.container, *argv]
        return subprocess.run(  # noqa: S603 - docker with the buildspec under test
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, timeout=timeout
        )


def _bash_baseline(shell: Shell, cwd: Path) -> str:
    """Names of the variables bash defines by itself (never saved between commands)."""
    listed = shell.run([shell.bash, "--noprofile", "--norc", "-c", "compgen -v"], cwd=cwd, env={}, timeout=30)
    if listed.returncode != 0:
        raise UnsupportedBuildspec(f"cannot start bash: {listed.stdout.strip()}")
    return " ".join(listed.stdout.split())


def run_buildspec(
    buildspec: Union[str, Mapping[str, Any]],
    *,
    source_dir: Path,
    environment: Mapping[str, str],
    state_dir: Path,
    timeout_seconds: int = 120,
    shell: Optional[Shell] = None,
) -> BuildResult:
    """Run `buildspec` (YAML text or parsed) in `source_dir` with `environment` (CodeBuild's
    and the project's variables; PATH included), each command in `shell` (this machine by
    default)."""
    spec = yaml.safe_load(buildspec) if isinstance(buildspec, str) else dict(buildspec)
    _check_supported(spec)
    shell = shell or LocalShell()
    bash = shell.bash
    state_dir.mkdir(parents=True, exist_ok=True)
    state = state_dir / "shell-state.sh"
    state.unlink(missing_ok=True)
    env_section = spec.get("env") or {}
    base_env = {
        **environment,
        **{k: str(v) for k, v in (env_section.get("variables") or {}).items()},
        "__CB_STATE": str(state),
        "__CB_BASELINE": _bash_baseline(shell, source_dir),
    }
    output: list[str] = []
    commands: list[CommandRun] = []

    def run(phase: str, command: str, succeeding: bool) -> bool:
        env = {**base_env, "CODEBUILD_BUILD_SUCCEEDING": "1" if succeeding else "0"}
        started = time.monotonic()
        result = shell.run(
            [bash, "--noprofile", "--norc", "-c", _SAVE_STATE + command],
            cwd=source_dir,
            env=env,
            timeout=timeout_seconds,
        )
        printed = result.stdout
        commands.append(CommandRun(phase, command, result.returncode, time.monotonic() - started, printed))
        output.append(f"$ {command}\n{printed}")
        return result.returncode == 0

    phases: dict[str, str] = {}
    succeeding = True
    ended = False
    for name in PHASES:
        phase = (spec.get("phases") or {}).get(name)
        if phase is None:
            continue
        if ended:
            phases[name] = "SKIPPED"
            continue
        ok = True
        for command in phase.get("commands") or []:
            if not run(name, command, succeeding):
                ok = False
                break
        for command in phase.get("finally") or []:
            ok = run(name, command, succeeding) and ok
        phases[name] = "SUCCEEDED" if ok else "FAILED"
        if not ok:
            succeeding = False
            if name in ("install", "pre_build"):
                ended = True

    exported: dict[str, str] = {}
    names = env_section.get("exported-variables") or []
    if names:
        printer = "{ " + "; ".join(f'printf "%s=%s\\0" {n} "${{{n}}}"' for n in names) + "; } 2>/dev/null"
        result = shell.run(
            [bash, "--noprofile", "--norc", "-c", _SAVE_STATE + printer],
            cwd=source_dir,
            env={**base_env, "CODEBUILD_BUILD_SUCCEEDING": "1" if succeeding else "0"},
            timeout=timeout_seconds,
        )
        exported = dict(item.split("=", 1) for item in result.stdout.split("\0") if item)

    artifacts: dict[str, Path] = {}
    upload = "SKIPPED"
    if not ended and spec.get("artifacts"):
        section = spec["artifacts"]
        base = source_dir / section.get("base-directory", ".")
        for pattern in section.get("files") or []:
            for match in sorted(glob.glob(str(pattern), root_dir=base, recursive=True)):
                path = base / match
                if path.is_file():
                    key = path.name if section.get("discard-paths") in (True, "yes") else match
                    artifacts[key] = path
        upload = "SUCCEEDED" if artifacts else "FAILED"
        if not artifacts:
            output.append(f"UPLOAD_ARTIFACTS: no matching artifact paths found for {section.get('files')}")
    return BuildResult(phases, upload, exported, artifacts, "\n".join(output), commands)


def stub_environment(bin_dir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """A minimal environment with `bin_dir` first on PATH (stubs shadow real commands), and
    in it a `python3` that is the interpreter running the tests, for the stubs'
    `#!/usr/bin/env python3`. The `python3` found further down PATH may be a version manager's
    shim: pyenv's runs a dozen shell processes before Python starts, about 0.1 s of CPU a call,
    which was most of `make unit`'s CPU (a release-gate test calls `aws` dozens of times)."""
    interpreter = bin_dir / "python3"
    interpreter.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    interpreter.chmod(0o755)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(bin_dir.parent),
        **extra,
    }
