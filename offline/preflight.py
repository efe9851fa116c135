"""`make preflight`: the real AWS provider's input validation, offline, for every stack.

pulumi-aws is a bridge over the Terraform AWS provider, and `pulumi preview` runs that
provider's validation of every input (enums, lengths, ARN shapes, conflicting fields).
This runs the same validation without AWS and without the Pulumi CLI: the program runs
under the recording mocks, every `aws:` resource it declares is translated into Terraform
JSON, guided by the provider's own schema (`terraform providers schema -json`), and
`terraform validate` plus a credential-free `terraform plan -refresh=false` run on it.

A translation gap (an input the provider's schema does not know) is an error, never a
silent drop. Resources of other providers (the docker image) are listed as not covered.

    python -m offline.preflight [STACK ...] [--stacks-dir DIR] [--out build/preflight]

Exit status: 0 clean, 1 provider or translation errors, 3 Terraform or the provider
mirror is missing (the message says how to get them).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from offline.program import PROJECT_DIR, load_stack_config, run_program
from offline.progress import wait_saying

PROVIDER = "registry.terraform.io/hashicorp/aws"
# Where a filesystem mirror of hashicorp/aws may live (TF_AWS_PROVIDER_MIRROR first).
MIRROR_CANDIDATES = ("/opt/tf-plugins", "~/.terraform.d/plugins", "/usr/share/terraform/plugins")

# Pulumi type tokens whose Terraform name is not `aws_<module>_<snake name>`.
TYPE_OVERRIDES = {
    "aws:codepipeline/pipeline:Pipeline": "aws_codepipeline",
}
# Inputs Pulumi names differently from Terraform, beyond camelCase and list-block plurals.
FIELD_OVERRIDES = {
    ("aws_sns_topic_subscription", "topic"): "topic_arn",
    ("aws_lambda_function", "name"): "function_name",
}


class PreflightUnavailable(RuntimeError):
    """Terraform or the provider mirror is not on this machine."""


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def terraform_type(token: str) -> str:
    if token in TYPE_OVERRIDES:
        return TYPE_OVERRIDES[token]
    module_and_name = token.split(":")[1]
    module, name = module_and_name.split("/")
    return f"aws_{module}_{snake(name)}" if not snake(name).startswith(module) else f"aws_{snake(name)}"


def _singular(name: str) -> list[str]:
    candidates = []
    if name.endswith("ies"):
        candidates.append(name[:-3] + "y")
    if name.endswith("es"):
        candidates.append(name[:-2])
    if name.endswith("s"):
        candidates.append(name[:-1])
    return candidates


def escape(value: str) -> str:
    """Terraform JSON reads `${` and `%{` as template syntax; these are literal values."""
    return value.replace("${", "$${").replace("%{", "%%{")


@dataclass
class Translation:
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    gaps: list[str] = field(default_factory=list)
    not_covered: list[str] = field(default_factory=list)
    regions: dict[str, str] = field(default_factory=dict)
    """Per provider alias, its region: the providers of other regions, which Terraform's own
    aliased providers stand for (what is declared with one is planned in its region)."""


class Translator:
    """Recorded Pulumi inputs → Terraform JSON, field by field against the schema."""

    def __init__(self, schema: Mapping[str, Any], archives: Optional[Path] = None):
        self.schemas = schema["provider_schemas"][PROVIDER]["resource_schemas"]
        self.archives = archives
        """Where a Lambda function's code archive is written as the zip Terraform reads."""

    def _lambda_inputs(self, resource, local: str) -> dict[str, Any]:
        """A Lambda function as Terraform takes it: the code archive Pulumi zips itself becomes
        a zip file (`filename`), and the name Pulumi generates is given (`function_name` is
        required in Terraform)."""
        import pulumi

        inputs = dict(resource.inputs)
        inputs.setdefault("name", resource.state.get("name"))
        archive = resource.raw_inputs.get("code")
        if isinstance(archive, pulumi.AssetArchive) and self.archives is not None:
            self.archives.mkdir(parents=True, exist_ok=True)
            target = self.archives / f"{local}.zip"
            with zipfile.ZipFile(target, "w") as zipped:
                for name, asset in archive.assets.items():
                    zipped.write(asset.path, name)
            inputs.pop("code")
            inputs["filename"] = str(target)
        return inputs

    def _field(self, block: Mapping[str, Any], tf_type: str, key: str) -> Optional[tuple[str, str]]:
        """(terraform name, 'attribute' | 'block') for a Pulumi input key, or None."""
        attributes = block.get("attributes", {})
        blocks = block.get("block_types", {})
        override = FIELD_OVERRIDES.get((tf_type, key))
        candidates = [override] if override else [snake(key), *_singular(snake(key))]
        for candidate in candidates:
            if candidate in attributes:
                return candidate, "attribute"
            if candidate in blocks:
                return candidate, "block"
        return None

    def _value(self, value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            return escape(value)
        if isinstance(value, list):
            return [self._value(v) for v in value]
        if isinstance(value, dict):
            return {k: self._value(v) for k, v in value.items()}
        return value

    def _block(
        self, block: Mapping[str, Any], tf_type: str, inputs: Mapping[str, Any], where: str, gaps: list[str]
    ):
        body: dict[str, Any] = {}
        for key, value in inputs.items():
            if value is None or key.startswith("__"):
                continue
            found = self._field(block, tf_type, key)
            if found is None:
                gaps.append(f"{where}.{key}: not an input of {tf_type} in the provider's schema")
                continue
            name, kind = found
            if kind == "attribute":
                # Maps (tags, action configuration) keep their keys as written.
                body[name] = self._value(value)
                continue
            nested = block["block_types"][name]
            items = value if isinstance(value, list) else [value]
            body[name] = [
                self._block(nested["block"], tf_type, item, f"{where}.{key}[{i}]", gaps)
                for i, item in enumerate(items)
            ]
        return body

    def translate(self, resources) -> Translation:
        result = Translation()
        # A provider of another region (environments[].region) only names a region: Terraform's
        # aliased provider of that region checks what is declared with it.
        aliases: dict[str, str] = {}
        for resource in resources:
            if (
                resource.type == "pulumi:providers:aws"
                and resource.inputs.get("region")
                and not resource.inputs.get("assumeRoles")
            ):
                # Unique: two components may each name a provider alike (URNs tell them apart).
                alias = re.sub(r"[^A-Za-z0-9_-]", "_", resource.name)
                while alias in aliases.values():
                    alias += "_"
                aliases[resource.urn] = alias
        for resource in resources:
            if not resource.custom:
                continue
            if resource.urn in aliases:
                result.regions[aliases[resource.urn]] = resource.inputs["region"]
                continue
            if resource.type == "pulumi:providers:aws":
                # Configuring it assumes a role in another account, which needs AWS; what is
                # declared with it is validated here with the offline provider configuration.
                result.not_covered.append(
                    f"{resource.type} {resource.name} (an explicit provider: assuming its role needs AWS; "
                    "its resources are checked with the offline provider)"
                )
                continue
            if not resource.type.startswith("aws:"):
                result.not_covered.append(f"{resource.type} {resource.name} (not an AWS provider resource)")
                continue
            tf_type = terraform_type(resource.type)
            schema = self.schemas.get(tf_type)
            if schema is None:
                result.gaps.append(
                    f"{resource.name}: {resource.type} maps to {tf_type}, unknown to the provider"
                )
                continue
            local = re.sub(r"[^A-Za-z0-9_-]", "_", resource.name)
            lambda_function = tf_type == "aws_lambda_function"
            inputs = self._lambda_inputs(resource, local) if lambda_function else resource.inputs
            body = self._block(schema["block"], tf_type, inputs, resource.name, result.gaps)
            alias = aliases.get(resource.provider.rpartition("::")[0]) if resource.provider else None
            if alias:
                body["provider"] = f"aws.{alias}"
            result.resources.setdefault(tf_type, {})[local] = body
        return result


# -- Terraform --------------------------------------------------------------------------------
def find_provider_mirror() -> tuple[Path, str]:
    """(mirror root, provider version) of a filesystem mirror of hashicorp/aws."""
    roots = [os.environ.get("TF_AWS_PROVIDER_MIRROR", ""), *MIRROR_CANDIDATES]
    for root in filter(None, roots):
        root_path = Path(root).expanduser()
        binaries = sorted(glob.glob(str(root_path / PROVIDER / "*" / "*" / "terraform-provider-aws_*")))
        if binaries:
            version = Path(binaries[-1]).parent.parent.name
            return root_path, version
    raise PreflightUnavailable(
        "no filesystem mirror of hashicorp/aws found (looked in $TF_AWS_PROVIDER_MIRROR and "
        f"{', '.join(MIRROR_CANDIDATES)}): create one with `terraform providers mirror <dir>` on a "
        "machine with registry access and set TF_AWS_PROVIDER_MIRROR=<dir>"
    )


def find_terraform() -> str:
    terraform = shutil.which("terraform")
    if not terraform:
        raise PreflightUnavailable(
            "terraform is not on the PATH: install Terraform >= 1.5 (HashiCorp's releases or your "
            "package manager) to run the provider's validation offline"
        )
    return terraform


@dataclass
class Workspace:
    folder: Path
    terraform: str
    mirror: Path
    version: str
    region: str

    def __post_init__(self) -> None:
        # Terraform installs the provider from the mirror only: written once per workspace.
        config = self.folder / "cli.tfrc"
        config.write_text(
            "provider_installation {\n  filesystem_mirror {\n"
            f'    path    = "{self.mirror}"\n    include = ["{PROVIDER}"]\n  }}\n}}\n'
        )
        self.env = {
            **os.environ,
            "TF_CLI_CONFIG_FILE": str(config),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
        }

    def document(
        self, resources: Mapping[str, Any], regions: Optional[Mapping[str, str]] = None
    ) -> dict[str, Any]:
        offline = {
            # Fake keys: nothing here may reach AWS.
            "access_key": "AKIAOFFLINEPREFLIGHT",
            "secret_key": "offline-preflight",
            "skip_credentials_validation": True,
            "skip_requesting_account_id": True,
            "skip_metadata_api_check": True,
            "skip_region_validation": True,
        }
        providers: Any = {"region": self.region, **offline}
        if regions:
            providers = [
                providers,
                *({"alias": alias, "region": region, **offline} for alias, region in sorted(regions.items())),
            ]
        document: dict[str, Any] = {
            "terraform": {
                "required_providers": {"aws": {"source": "hashicorp/aws", "version": self.version}}
            },
            "provider": {"aws": providers},
        }
        if resources:
            document["resource"] = dict(resources)
        return document

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603 - terraform from the PATH, fixed arguments
            [self.terraform, *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )

    def init(self) -> None:
        result = self.run("init", "-input=false", "-no-color", "-backend=false")
        if result.returncode != 0:
            raise PreflightUnavailable(
                f"terraform init failed with the provider mirror {self.mirror}:\n{result.stderr}"
            )

    def schema(self) -> dict[str, Any]:
        result = self.run("providers", "schema", "-json")
        if result.returncode != 0:
            raise PreflightUnavailable(f"terraform providers schema failed:\n{result.stderr}")
        return json.loads(result.stdout)


def diagnostics(output: str) -> list[str]:
    """Each `Error:` block of Terraform's human output, first lines only."""
    errors = []
    for chunk in output.split("Error: ")[1:]:
        lines = [line.strip(" │╵╷") for line in chunk.splitlines()]
        errors.append(" ".join(line for line in lines[:6] if line).strip())
    return errors


@dataclass
class StackReport:
    stack: str
    resources: int
    not_covered: list[str]
    gaps: list[str]
    validate_errors: list[str]
    plan_errors: list[str]
    planned: int

    @property
    def ok(self) -> bool:
        return not (self.gaps or self.validate_errors or self.plan_errors)

    def render(self) -> str:
        lines = [
            f"stack {self.stack}: {self.resources} AWS resources translated, {self.planned} planned, "
            f"{len(self.gaps)} translation gaps, {len(self.validate_errors)} validate errors, "
            f"{len(self.plan_errors)} plan errors"
        ]
        lines += [f"  gap: {g}" for g in self.gaps]
        lines += [f"  validate: {e}" for e in self.validate_errors]
        lines += [f"  plan: {e}" for e in self.plan_errors]
        lines += [f"  not covered: {n}" for n in self.not_covered]
        return "\n".join(lines)


def check(stack: str, resources, folder: Path, region: str) -> StackReport:
    """Translate recorded resources and run the provider's validation and plan on them."""
    terraform = find_terraform()
    mirror, version = find_provider_mirror()
    folder.mkdir(parents=True, exist_ok=True)
    workspace = Workspace(folder, terraform, mirror, version, region)
    # A provider-only document first: init and the schema need no resources.
    (folder / "main.tf.json").write_text(json.dumps(workspace.document({}), indent=2))
    workspace.init()
    schema_file = folder.parent / f"schema-{version}.json"
    if not schema_file.is_file():
        schema_file.write_text(json.dumps(workspace.schema()))
    translator = Translator(json.loads(schema_file.read_text()), archives=folder / "archives")
    translation = translator.translate(resources)
    (folder / "main.tf.json").write_text(
        json.dumps(workspace.document(translation.resources, translation.regions), indent=2)
    )
    count = sum(len(v) for v in translation.resources.values())
    validate = workspace.run("validate", "-no-color")
    plan_errors: list[str] = []
    planned = 0
    if validate.returncode == 0:
        plan = workspace.run("plan", "-refresh=false", "-input=false", "-no-color", "-lock=false")
        plan_errors = diagnostics(plan.stdout + plan.stderr) if plan.returncode != 0 else []
        match = re.search(r"Plan: (\d+) to add", plan.stdout)
        planned = int(match.group(1)) if match else 0
        if plan.returncode == 0 and planned != count:
            plan_errors.append(f"planned {planned} resources, translated {count}")
    return StackReport(
        stack,
        count,
        translation.not_covered,
        translation.gaps,
        diagnostics(validate.stdout + validate.stderr) if validate.returncode != 0 else [],
        plan_errors,
        planned,
    )


def preflight_stack(
    stack: str, stacks_dir: Path, out: Path, say: Callable[[str], None] = print
) -> StackReport:
    """The program under mocks with the stack's file, then `check` on what it declared.
    Realistic mock values (ARNs, names), not symbolic ones: the provider validates them.
    Terraform takes a minute or more: `say` hears every few seconds that it is still at work."""
    find_terraform()
    find_provider_mirror()
    config = load_stack_config(stack, stacks_dir)
    run = run_program(config, stack=stack)
    # The program runs here (the Pulumi runtime wants this thread's event loop), Terraform in
    # a thread of its own, so that this one can say how long it has been waiting.
    with ThreadPoolExecutor(max_workers=1) as pool:
        checking = pool.submit(check, stack, run.mocks.resources, out / stack, config.region or "eu-west-1")
        return wait_saying({stack: checking}, say, "preflight (Terraform)")[stack]


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.preflight", description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="*", default=["dev", "prod"], help="stacks (Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--stacks-dir", type=Path, default=PROJECT_DIR, help="folder holding Pulumi.<stack>.yaml"
    )
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "build" / "preflight")
    args = parser.parse_args(argv)
    try:
        reports = [
            preflight_stack(stack, args.stacks_dir, args.out, lambda line: print(line, flush=True))
            for stack in args.stacks
        ]
    except PreflightUnavailable as missing:
        print(f"preflight not run: {missing}", file=sys.stderr)
        return 3
    for report in reports:
        print(report.render())
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
