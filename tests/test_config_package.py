"""The config package's shape: the names `components.config` offers its importers, the order its
modules import each other in, and where the provider keys come from."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic.alias_generators import to_camel

import components.config
from components.config import provider_config_keys
from components.config.reading import _config_keys_in

PACKAGE = Path(components.config.__file__).parent


def test_every_name_importers_use_is_offered_by_the_package():
    # What components/, offline/, policy/, dev/, tests/ and __main__.py import from
    # components.config (grep "from components.config import"), before the split.
    used = {
        "ConfigError",
        "DEPLOYMENT_PARAMETER_NAMES",
        "DeliveryConfig",
        "EnvironmentConfig",
        "NAMESPACE",
        "PLAN_CHANGE_SET_SUFFIX",
        "RELEASE_CHANGE_SET_SUFFIX",
        "RESERVED_ROLE_PATH",
        "SECRET_PLACEHOLDER",
        "VERIFY_PROJECT_VARIABLES",
        "config_from_stack",
        "current_secret_keys",
        "current_stack_config",
        "linear_steps",
        "load_config",
        "provider_config_keys",
        "raw_config_from_pulumi",
    }
    assert used <= set(components.config.__all__)
    assert all(hasattr(components.config, name) for name in components.config.__all__)


def package_imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    return {
        node.module.removeprefix("components.config.")
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("components.config")
    }


def test_each_module_imports_only_the_ones_before_it():
    # schedules -> schema -> messages -> reading: no cycle, and the schema needs no error text.
    assert {module: package_imports(module) for module in ("schedules", "schema", "messages", "reading")} == {
        "schedules": set(),
        "schema": {"schedules"},
        "messages": {"schema"},
        "reading": {"schema", "messages"},
    }


def imports_of_the_program(module: str) -> dict[str, str]:
    """The program's modules outside the package a config module imports, each with when: while
    the module loads ("loading"), only for type checkers ("type checking"), or when one of its
    functions runs ("in a function")."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: dict[str, str] = {}

    def visit(node: ast.AST, when: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            when = "in a function"
        elif isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            when = "type checking"
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Call) and ast.unparse(node.func) == "importlib.import_module":
            argument = node.args[0]
            names = [argument.value] if isinstance(getattr(argument, "value", None), str) else []
        for name in names:
            if name.startswith("components.") and not name.startswith("components.config"):
                found[name] = when
        for child in ast.iter_child_nodes(node):
            visit(child, when)

    visit(tree, "loading")
    return found


def test_the_package_imports_the_units_only_when_asked_for_the_assembled_model():
    # The registry (components.units) assembles the environments' model from the units, and every
    # unit imports this package: the package reaches the registry only once it is loaded, when a
    # caller needs the assembled model (load_config, `components.config.DeliveryConfig`).
    modules = ("schedules", "schema", "messages", "reading", "__init__")
    assert {module: imports_of_the_program(module) for module in modules} == {
        "schedules": {},
        # The lifecycle hook's function name, checked against the stack name's length.
        "schema": {"components.units": "type checking", "components.lifecycle_hook": "in a function"},
        "messages": {},
        "reading": {"components.units": "in a function"},
        "__init__": {"components.units": "in a function"},
    }


def test_importing_the_package_loads_none_of_the_program():
    script = (
        "import sys; import components.config; from components.config import load_config, NAMESPACE; "
        "print(sorted(m for m in sys.modules if m.startswith('components.') and not "
        "m.startswith('components.config')))"
    )
    loaded = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=PACKAGE.parent.parent
    ).stdout
    assert loaded.strip() == "[]"


@pytest.mark.parametrize(("namespace", "package"), [("aws", "pulumi_aws"), ("docker", "pulumi_docker")])
def test_the_provider_keys_are_the_arguments_of_its_provider(namespace, package):
    # Another view of the same SDK: the provider resource's arguments, in the config's camelCase
    # (Pulumi generates both from the provider's schema).
    provider_args = __import__(package).ProviderArgs
    arguments = set(inspect.signature(provider_args.__init__).parameters) - {"self", "__self__"}
    assert provider_config_keys(namespace) == {to_camel(argument) for argument in arguments}


def test_the_provider_keys_are_read_without_running_the_sdks():
    # Nothing of the SDK runs, so none of its globals is swapped while it is asked.
    script = (
        "import sys; from components.config import provider_config_keys; "
        "provider_config_keys('aws'); provider_config_keys('docker'); "
        "print(sorted(m for m in sys.modules if m.startswith(('pulumi_aws', 'pulumi_docker'))))"
    )
    loaded = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE.parent.parent,
    ).stdout
    assert loaded.strip() == "[]"


GENERATED = """
import builtins as _builtins
import types

__config__ = pulumi.Config('example')


class _ExportableConfig(types.ModuleType):
    @_builtins.property
    def region(self) -> Optional[str]:
        return __config__.get('region') or _utilities.get_env('EXAMPLE_REGION')

    @_builtins.property
    def skip_checks(self) -> Optional[bool]:
        return __config__.get_bool('skipChecks')

    @property
    def retries(self) -> Optional[int]:
        return __config__.get_int('maxRetries')
"""


def test_the_keys_are_those_the_generated_accessors_read():
    assert _config_keys_in(GENERATED) == {"region", "skipChecks", "maxRetries"}


def test_an_accessor_whose_key_is_not_written_out_is_refused():
    computed = (
        GENERATED
        + """
    @_builtins.property
    def token(self) -> Optional[str]:
        return __config__.get(_prefix + 'Token')
"""
    )
    with pytest.raises(RuntimeError, match=r"^the config accessor 'token' reads no key written as"):
        _config_keys_in(computed)
    with pytest.raises(RuntimeError, match=r"^no config accessors"):
        _config_keys_in("__config__ = pulumi.Config('example')\n")
