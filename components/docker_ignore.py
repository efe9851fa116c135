"""Docker's own `.dockerignore` matching: the Docker SDK for Python's `exclude_paths`
(`docker.utils.build`, its port of moby's pattern matcher), without the rest of the SDK.

Why not `from docker.utils.build import exclude_paths`: importing any module of the SDK runs
`docker/__init__.py` first, which imports the API client (requests, urllib3, the transports),
about 100 ms on every synth and every test run, for a matcher that needs only `re`, `os` and
three small modules of its own package. So those modules (`docker/utils/build.py` and
`utils/fnmatch.py`, `constants.py` with `version.py`) are loaded from the installed SDK, as they
are, under a private package name whose two `__init__` modules are not run. Nothing is
registered under the name `docker`: an `import docker` elsewhere gets the whole SDK as usual.
Why not another library: the gitignore matchers on PyPI (pathspec) follow git's rules, which
differ from Docker's (`*` at the top level, `**`, the Dockerfile always sent).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Callable
from pathlib import Path

_PRIVATE_NAME = "_ecs_delivery_docker_sdk"


def _package(name: str, folder: Path) -> types.ModuleType:
    """An empty package `name` whose submodules are the files of `folder`."""
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    return package


def _load_exclude_paths() -> Callable[..., set[str]]:
    if f"{_PRIVATE_NAME}.utils.build" not in sys.modules:
        # find_spec of a top-level package locates it without running its __init__.
        sdk = importlib.util.find_spec("docker")
        if sdk is None or not sdk.submodule_search_locations:
            raise ImportError("the Docker SDK for Python (`docker`, requirements.txt) is not installed")
        folder = Path(next(iter(sdk.submodule_search_locations)))
        _package(_PRIVATE_NAME, folder)
        _package(f"{_PRIVATE_NAME}.utils", folder / "utils")
    return importlib.import_module(f"{_PRIVATE_NAME}.utils.build").exclude_paths


exclude_paths = _load_exclude_paths()
"""`exclude_paths(root, patterns, dockerfile=None)`: the paths under `root` (relative, files
and folders) that Docker sends to the daemon with these `.dockerignore` patterns."""
