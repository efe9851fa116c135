"""The program imports nothing that only development installs. `pulumi up` runs `__main__.py`
and components/ in a venv made from requirements.txt; a module there importing a package that
only requirements-dev.txt asks for (cfn-lint, moto, PyYAML, ...) fails on an adopter's machine,
perhaps only on the code path that imports it lazily.

Read from the source, not by importing it: an import inside a function runs only when its
function does, so every import statement counts wherever it is, and so does
`importlib.import_module` or `__import__` with a literal name.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = [ROOT / "__main__.py", *sorted((ROOT / "components").rglob("*.py"))]


def requirement_names(path: Path) -> set[str]:
    """The distributions a requirements file asks for, following `-r`, by canonical name."""
    names: set[str] = set()
    for line in path.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            names |= requirement_names(path.parent / line.split(maxsplit=1)[1])
        elif line.startswith("-"):
            # An option this reader does not follow (-c, -e, an index) would hide packages.
            raise ValueError(f"{path.name}: {line!r} is not read here; teach requirement_names")
        else:
            names.add(canonicalize_name(Requirement(line).name))
    return names


def dev_only_modules() -> dict[str, str]:
    """Top-level modules that only requirements-dev.txt's packages provide, with the package."""
    dev_only = requirement_names(ROOT / "requirements-dev.txt") - requirement_names(ROOT / "requirements.txt")
    for name in dev_only:
        # A package the venv lacks has no modules to forbid: the list would be silently short.
        importlib.metadata.distribution(name)
    modules = {}
    for module, distributions in importlib.metadata.packages_distributions().items():
        providers = {canonicalize_name(d) for d in distributions}
        if providers <= dev_only:
            modules[module] = sorted(providers)[0]
    return modules


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, top-level module) of every absolute import in a source file."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            function = node.func
            name = function.id if isinstance(function, ast.Name) else getattr(function, "attr", None)
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value.split(".")[0]))
    return found


@pytest.fixture(scope="module")
def forbidden() -> dict[str, str]:
    return dev_only_modules()


def test_the_dev_only_modules_are_those_of_requirements_dev_alone(forbidden):
    assert {
        "cfnlint",
        "moto",
        "yaml",
        "ruamel",
        "principalmapper",
        "pulumi_policy",
        "pytest",
    } <= forbidden.keys()
    assert forbidden["cfnlint"] == "cfn-lint"
    # What the program runs on is in requirements.txt too.
    assert not {"pulumi", "pulumi_aws", "pulumi_docker", "pydantic", "botocore", "docker"} & forbidden.keys()


def test_every_kind_of_import_is_read():
    source = (
        "import os.path\n"
        "from cfnlint.decode import cfn_yaml\n"
        "from . import sibling\n"
        "def later():\n"
        "    import moto\n"
        "    importlib.import_module('yaml.loader')\n"
        "    __import__('ruamel')\n"
        "    importlib.import_module(name)\n"
    )
    assert imported_modules(source) == [(1, "os"), (2, "cfnlint"), (5, "moto"), (6, "yaml"), (7, "ruamel")]


def test_the_program_imports_no_package_only_development_installs(forbidden):
    assert len(PRODUCT) > 20  # components/ found, its subpackages too
    # `make mutate` runs the tests on copies mutmut rewrote, with its own trampolines imported.
    written_by_mutmut = {"mutmut"} if os.environ.get("MUTANT_UNDER_TEST") else set()
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {module} ({forbidden[module]}, requirements-dev.txt only)"
        for path in PRODUCT
        for line, module in imported_modules(path.read_text())
        if module in forbidden and module not in written_by_mutmut
    ]
    assert offending == []
