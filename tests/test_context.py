"""One shared context: the values every component of the delivery system shares (issue 26: "account,
region, partition, key, log retention, architecture, name prefix") are given once, in
`DeliveryContext`, not repeated in each component's Args."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from components.context import DeliveryContext

COMPONENTS = Path(__file__).resolve().parent.parent / "components"

# The shared values, as the issue lists them, by the field names the Args classes used for them.
SHARED = {
    "name_prefix",
    "account_id",
    "pipeline_account_id",
    "region",
    "partition",
    "kms_key_arn",
    "artifact_key_arn",
    "log_retention_days",
    "architecture",
}

# What the context holds: the issue's list, by the names the components use.
CONTEXT_FIELDS = {
    "name_prefix",
    "account_id",
    "region",
    "partition",
    "kms_key_arn",
    "log_retention_days",
    "architecture",
}

# Where a field of that name means something else than the context's value, and why.
NOT_THE_CONTEXT = {
    ("context.py", "DeliveryContext"): CONTEXT_FIELDS,
    # Declares the key the context carries: it cannot take a context holding its own output.
    ("artifact_key.py", "ArtifactKeyArgs"): {"name_prefix", "account_id"},
    # The pipeline's store takes the key; the other regions' stores have none (SSE-S3).
    ("artifact_store.py", "ArtifactStoreArgs"): {"kms_key_arn"},
    # Its `context` is Docker's build context; the platform is all it needs of the system.
    ("build_image.py", "BuildImageArgs"): {"architecture"},
    # The environment's account, which may be another than the pipeline's.
    ("deploy_role.py", "DeployRoleArgs"): {"account_id"},
    # Declared in the stack's account and region, through the environment's provider.
    ("lifecycle_hook.py", "LifecycleHookArgs"): {"name_prefix", "log_retention_days"},
    # The stack's region (`environments[].region`) and an action's.
    ("cloudformation.py", "StackAddress"): {"region"},
    ("spec.py", "ActionSpec"): {"region"},
}


def dataclass_fields() -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for path in sorted(COMPONENTS.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.ClassDef):
                continue
            if not any(
                (isinstance(d, ast.Call) and getattr(d.func, "id", "") == "dataclass")
                or getattr(d, "id", "") == "dataclass"
                for d in node.decorator_list
            ):
                continue
            names = {
                s.target.id
                for s in node.body
                if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
            }
            if names & SHARED:
                found[(str(path.relative_to(COMPONENTS)), node.name)] = names & SHARED
    return found


def test_the_context_holds_what_the_issue_lists():
    assert {f.name for f in dataclasses.fields(DeliveryContext)} == CONTEXT_FIELDS


def test_no_args_class_repeats_a_value_of_the_context():
    assert dataclass_fields() == NOT_THE_CONTEXT


def test_the_components_that_took_them_now_take_the_context():
    found = {name for (_, name), fields in dataclass_fields().items()}
    for args in (
        "BuildProjectArgs",
        "CodeBuildRunnerArgs",
        "SmallProject",
        "UnitContext",
        "EnvironmentDeliveryArgs",
        "CrossAccountAccessArgs",
        "DeliveryPipelineArgs",
        "ApproversArgs",
        "NotificationsArgs",
        "ReleaseRecordArgs",
        "ChangeSetReviewArgs",
        "StackRecoveryArgs",
        "ReleaseRecorderArgs",
        "VerifyProjectArgs",
        "DriftCheckArgs",
    ):
        assert args not in found
