"""The real AWS provider's validation (`make preflight`) accepts what every stack
declares, and rejects what it should: a value AWS refuses, an input it does not know.

Skipped, with the reason, where Terraform or the hashicorp/aws provider mirror is not on
the machine (the message says how to get them)."""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from offline import preflight
from tests.conftest import CROSS_ACCOUNT, FOUR_ENVIRONMENTS, WAVES, config_with, run_config, run_stack

try:
    preflight.find_terraform()
    preflight.find_provider_mirror()
    MISSING = None
except preflight.PreflightUnavailable as missing:
    MISSING = str(missing)

pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"preflight unavailable: {MISSING}")


# regions: the real provider accepts the per-region artifact stores and the actions' regions.
REGIONS = "regions"
STACKS = ["dev", "prod", FOUR_ENVIRONMENTS, CROSS_ACCOUNT, WAVES, REGIONS]


def region(run) -> str:
    pipeline = next(r for r in run.mocks.resources if r.type == "aws:codepipeline/pipeline:Pipeline")
    return pipeline.state["arn"].split(":")[3]


def _changed(resources, typ: str, change):
    """Copies of the records, with one resource's inputs changed."""
    changed = []
    for resource in resources:
        if resource.type == typ:
            inputs = copy.deepcopy(resource.inputs)
            change(inputs)
            resource = replace(resource, raw_inputs=inputs)
        changed.append(resource)
    return changed


def _refused_values(inputs):
    inputs["environment"]["computeType"] = "BUILD_GENERAL1_HUGE"
    inputs["buildTimeout"] = 3000  # CodeBuild allows 5-2160 minutes
    inputs["name"] = "p" * 256  # CodeBuild allows 255 (ProjectName: [A-Za-z0-9][A-Za-z0-9\-_]{1,254})


# The longest names the config lets through: `<application.name>-<stack>` at its 57
# characters (the notification rule `<prefix>-events` within 64), an environment name at its
# 43 (its role names within 64), a gated stack name at 119 (`<stack>-pipeline` within 128),
# with a review, a recovery and a smoke test, so each CodeBuild project and log group
# named after the environment is declared at its longest.
# The book's config, in an account that never had a notification rule.
FRESH_ACCOUNT_NOTIFICATIONS = {"createServiceLinkedRole": True, "emails": ["platform-team@example.com"]}
LONGEST_STACK = "longest"
LONGEST_NAMES = config_with(
    application={"name": "a" * (57 - len("-" + LONGEST_STACK)), "repository": "docker-in-aws/todobackend"},
    connectionArn="arn:aws:codeconnections:us-east-1:123456789012:connection/0a1b2c3d-1111-2222-3333-444455556666",
    environments=[
        {
            "name": "e" * 43,
            "stackName": "s" * 119,
            "approval": True,
            "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
            "approverGroup": True,
            "verify": {"command": "make smoke"},
        },
    ],
)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Every Terraform run of this module at once: they wait on subprocesses, not on
    Python, so four run in about the time of two."""
    out = tmp_path_factory.mktemp("preflight")
    runs = {stack: run_stack(stack) for stack in STACKS}
    jobs = {stack: (run.mocks.resources, region(run)) for stack, run in runs.items()}
    dev = runs["dev"]
    jobs["broken"] = (
        _changed(dev.mocks.resources, "aws:codebuild/project:Project", _refused_values),
        region(dev),
    )
    # The option for an account without CodeStar Notifications' service-linked role.
    fresh = run_config(config_with(notifications=FRESH_ACCOUNT_NOTIFICATIONS), stack="fresh")
    jobs["fresh-account"] = (fresh.mocks.resources, region(fresh))
    longest = run_config(LONGEST_NAMES, stack=LONGEST_STACK)
    jobs["longest-names"] = (longest.mocks.resources, region(longest))
    # The first run writes the shared schema file; the others read it.
    dev_resources, dev_region = jobs.pop("dev")
    first = preflight.check("dev", dev_resources, out / "dev", dev_region)
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {
            name: pool.submit(preflight.check, name, res, out / name, reg)
            for name, (res, reg) in jobs.items()
        }
        results = {name: future.result() for name, future in futures.items()}
    return {"dev": first, **results, "schema": next(out.glob("schema-*.json"))}


@pytest.mark.parametrize("stack", STACKS)
def test_the_provider_accepts_every_stack(stack, reports):
    report = reports[stack]
    assert report.ok, report.render()
    aws_resources = [r for r in run_stack(stack).mocks.resources if r.custom and r.type.startswith("aws:")]
    assert report.resources == report.planned == len(aws_resources)
    providers = [
        f"pulumi:providers:aws {r.name} (an explicit provider: assuming its role needs AWS; "
        "its resources are checked with the offline provider)"
        for r in run_stack(stack).mocks.resources
        if r.type == "pulumi:providers:aws" and r.inputs.get("assumeRoles")
    ]
    # Compared as a set: the order the two images are registered in differs from run to run.
    assert sorted(report.not_covered) == sorted(
        [
            *providers,
            "docker:index/image:Image build-image-image (not an AWS provider resource)",
            # The small projects' tools image: the fixtures whose small steps run on Lambda compute.
            *(
                ["docker:index/image:Image tools-image-image (not an AWS provider resource)"]
                if stack in ("prod", FOUR_ENVIRONMENTS, CROSS_ACCOUNT, WAVES, REGIONS)
                else []
            ),
        ]
    )
    # One per target account; another region's providers are Terraform's aliased providers.
    assert len(providers) == (1 if stack == CROSS_ACCOUNT else 0)


def test_what_another_regions_provider_declares_is_planned_in_that_region(reports):
    document = json.loads((reports["schema"].parent / REGIONS / "main.tf.json").read_text())
    regions = {p.get("alias"): p["region"] for p in document["provider"]["aws"]}
    assert regions == {
        None: "us-east-1",
        "region-eu-west-1": "eu-west-1",
        "region-us-west-2": "us-west-2",
        "region-staging": "us-west-2",
        "region-production": "eu-west-1",
    }
    resources = document["resource"]
    assert resources["aws_s3_bucket"]["artifacts-eu-west-1-bucket"]["provider"] == "aws.region-eu-west-1"
    assert resources["aws_s3_bucket"]["artifacts-us-west-2-bucket"]["provider"] == "aws.region-us-west-2"
    assert resources["aws_lambda_function"]["hook-staging-function"]["provider"] == "aws.region-staging"
    assert "provider" not in resources["aws_s3_bucket"]["artifacts-bucket"]
    assert "provider" not in resources["aws_iam_role"]["deploy-staging-role"]


def test_the_provider_accepts_the_service_linked_role_of_a_fresh_account(reports):
    report = reports["fresh-account"]
    assert report.ok, report.render()
    fresh = run_config(config_with(notifications=FRESH_ACCOUNT_NOTIFICATIONS), stack="fresh")
    aws_resources = [r for r in fresh.mocks.resources if r.custom and r.type.startswith("aws:")]
    assert "aws:iam/serviceLinkedRole:ServiceLinkedRole" in {r.type for r in aws_resources}
    assert report.resources == report.planned == len(aws_resources)


def test_a_value_aws_refuses_is_a_provider_error(reports):
    report = reports["broken"]
    assert not report.ok
    errors = " ".join(report.validate_errors + report.plan_errors)
    assert "BUILD_GENERAL1_HUGE" in errors
    assert "build_timeout" in errors
    assert "p" * 256 in errors


def test_the_longest_names_the_config_allows_are_names_aws_accepts(reports):
    report = reports["longest-names"]
    assert report.ok, report.render()
    longest = run_config(LONGEST_NAMES, stack=LONGEST_STACK)
    projects = [
        r.inputs["name"] for r in longest.mocks.resources if r.type == "aws:codebuild/project:Project"
    ]
    # The review's, the recovery's, the recorder's and the smoke test's projects carry the
    # environment's name, and so do the approvers' policy and group.
    assert sum("e" * 43 in name for name in projects) == 4
    named = [
        r.inputs["name"]
        for r in longest.mocks.resources
        if r.type in ("aws:iam/policy:Policy", "aws:iam/group:Group") and "e" * 43 in r.inputs.get("name", "")
    ]
    assert len(named) == 2, named
    assert (
        report.resources
        == report.planned
        == len([r for r in longest.mocks.resources if r.custom and r.type.startswith("aws:")])
    )


def test_an_input_the_provider_does_not_know_is_a_gap_not_a_silent_drop(reports):
    def unknown(inputs):
        inputs["retentionInDayz"] = 7

    resources = _changed(run_stack("dev").mocks.resources, "aws:cloudwatch/logGroup:LogGroup", unknown)
    translation = preflight.Translator(json.loads(reports["schema"].read_text())).translate(resources)
    assert translation.gaps == [
        "build-logs.retentionInDayz: not an input of aws_cloudwatch_log_group in the provider's schema"
    ]


def test_type_tokens_and_fields_translate_as_the_bridge_names_them():
    assert preflight.terraform_type("aws:codepipeline/pipeline:Pipeline") == "aws_codepipeline"
    assert preflight.terraform_type("aws:s3/bucketVersioning:BucketVersioning") == "aws_s3_bucket_versioning"
    assert preflight.terraform_type("aws:iam/rolePolicy:RolePolicy") == "aws_iam_role_policy"
    assert (
        preflight.terraform_type("aws:codestarnotifications/notificationRule:NotificationRule")
        == "aws_codestarnotifications_notification_rule"
    )
    assert preflight.escape("${AWS::Region} %{x}") == "$${AWS::Region} %%{x}"
