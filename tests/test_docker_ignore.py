"""components/docker_ignore.py: the build context's `.dockerignore` matching is the Docker SDK's
own (tests/test_build_image.py holds its rules), loaded without the SDK's API client, which a
synth would otherwise import for nothing."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

from components.docker_ignore import exclude_paths

ROOT = Path(__file__).resolve().parent.parent


def test_the_matcher_is_the_docker_sdks_own():
    sdk = importlib.util.find_spec("docker")
    folder = Path(next(iter(sdk.submodule_search_locations)))
    assert Path(inspect.getsourcefile(exclude_paths)) == folder / "utils" / "build.py"


def test_it_loads_without_the_docker_sdks_client():
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, components.docker_ignore; print(sorted({m.split('.')[0] for m in sys.modules}))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "'docker'" not in loaded and "'requests'" not in loaded and "'urllib3'" not in loaded, loaded
