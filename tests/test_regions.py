"""Environments in other regions (`environments[].region`, docs/regions.md), on the regions
fixture: what the config refuses, where each action runs, the artifact stores CodePipeline needs,
and the regional ARNs of every role that reaches a stack. The permission and store proofs
(tests/test_permissions.py, tests/test_store_protection.py) run on the same fixture."""

from __future__ import annotations

import copy
import json
import os
import stat
import subprocess
import sys

import pulumi
import pytest

from components import regions
from components.config import ConfigError, load_config
from offline.mocks import RecordingMocks
from tests.conftest import BOOK_CONFIG, MINIMAL_RAW, PROJECT_DIR, only, run_config, run_stack
from tests.support.permissions import Request, declared_roles

REGIONS = "regions"
ACCOUNT = "123456789012"
PIPELINE = "aws:codepipeline/pipeline:Pipeline"


def problems_for(environments: list[dict], **top) -> list[str]:
    raw = copy.deepcopy(MINIMAL_RAW)
    raw["environments"] = environments
    raw.update(top)
    with pytest.raises(ConfigError) as caught:
        load_config(raw)
    return caught.value.problems


# -- config ------------------------------------------------------------------------------------
def test_a_region_the_sdk_does_not_know_is_refused_naming_the_key():
    assert problems_for([{"name": "dev", "stackName": "s", "region": "eu-westt-1"}]) == [
        "ecs-delivery:environments[0].region: 'eu-westt-1' is not allowed: a region the installed "
        "AWS SDK knows (e.g. eu-west-1)"
    ]


def test_region_with_account_or_alarms_is_refused_in_one_round():
    problems = problems_for(
        [
            {"name": "dev", "stackName": "a", "region": "eu-west-1", "account": "210987654321"},
            {"name": "qa", "stackName": "b", "region": "eu-west-1", "alarms": ["x"], "bakeMinutes": 5},
        ],
        targetAccounts={"210987654321": {"roleArn": "arn:aws:iam::210987654321:role/bootstrap"}},
    )
    assert [p.split(":", 2)[1].split(" ")[0] for p in problems] == [
        "environments[0].region",
        "environments[1].alarms",
    ]
    assert "not yet for an environment in another account" in problems[0]
    assert "not yet with region" in problems[1]


def test_a_configured_artifact_key_of_another_region_is_refused():
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    problems = problems_for(
        [{"name": "dev", "stackName": "a"}, {"name": "eu", "stackName": "b", "region": "eu-west-1"}],
        artifacts={"kmsKeyArn": key},
    )
    assert problems == [
        "ecs-delivery:environments[1].region: 'eu-west-1' is not the region of artifacts.kmsKeyArn "
        "(us-east-1); a KMS key serves one region and the artifact store there would need its own; "
        "remove artifacts.kmsKeyArn (the stores then use SSE-S3) or the region (docs/regions.md)"
    ]


def test_a_region_of_another_partition_stops_the_program_before_anything_is_declared():
    config = copy.deepcopy(BOOK_CONFIG)
    config["ecs-delivery:environments"][0]["region"] = "cn-north-1"
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError) as caught:
        run_config(config, mocks=mocks)
    assert (
        "ecs-delivery:environments[0].region: 'cn-north-1' is in the aws-cn partition, the pipeline's "
        "region 'us-east-1' in aws" in str(caught.value)
    )
    assert mocks.resources == []


def test_naming_the_pipelines_region_is_naming_none():
    config = load_config(
        {**MINIMAL_RAW, "environments": [{"name": "dev", "stackName": "a", "region": "us-east-1"}]}
    )
    assert regions.in_pipeline_region(config, "us-east-1").environments[0].region is None
    assert regions.in_pipeline_region(config, "eu-west-1").environments[0].region == "us-east-1"
    assert regions.other_regions(regions.in_pipeline_region(config, "us-east-1")) == []


# -- the pipeline --------------------------------------------------------------------------------
def pipeline(mocks):
    return only(mocks, PIPELINE).inputs


def test_cloudformation_actions_run_in_their_stacks_region_and_the_rest_in_the_pipelines():
    regions_by_action = {
        (stage["name"], action["name"]): action.get("region")
        for stage in pipeline(run_stack(REGIONS).mocks)["stages"]
        for action in stage["actions"]
    }
    assert {key: value for key, value in regions_by_action.items() if value} == {
        ("staging", "Deploy"): "us-west-2",
        ("production-plan", "CreateChangeSet"): "eu-west-1",
        ("production", "CreateChangeSet"): "eu-west-1",
        ("production", "ExecuteChangeSet"): "eu-west-1",
    }


def test_one_artifact_store_per_region_the_pipeline_acts_in_its_own_included():
    mocks = run_stack(REGIONS).mocks
    stores = pipeline(mocks)["artifactStores"]
    buckets = {r.name: r.state["bucket"] for r in mocks.resources if r.type == "aws:s3/bucket:Bucket"}
    # AWS, "Add a cross-Region action in CodePipeline": one store per Region, each naming it.
    assert stores == [
        {"location": buckets["artifacts-bucket"], "type": "S3", "region": "us-east-1"},
        {"location": buckets["artifacts-eu-west-1-bucket"], "type": "S3", "region": "eu-west-1"},
        {"location": buckets["artifacts-us-west-2-bucket"], "type": "S3", "region": "us-west-2"},
    ]
    action_regions = {
        action.get("region") or "us-east-1"
        for stage in pipeline(mocks)["stages"]
        for action in stage["actions"]
    }
    assert action_regions == {store["region"] for store in stores}


def test_a_single_region_pipeline_keeps_its_one_store_without_a_region():
    stores = pipeline(run_stack("prod").mocks)["artifactStores"]
    assert len(stores) == 1
    assert "region" not in stores[0]


def test_each_other_regions_store_is_declared_there_encrypted_and_versioned():
    mocks = run_stack(REGIONS).mocks
    providers = {r.name: r for r in mocks.resources if r.type == "pulumi:providers:aws"}
    for region in ("eu-west-1", "us-west-2"):
        assert providers[f"region-{region}"].inputs["region"] == region
        for typ in (
            "aws:s3/bucket:Bucket",
            "aws:s3/bucketPolicy:BucketPolicy",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "aws:s3/bucketVersioning:BucketVersioning",
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        ):
            resource = next(
                r for r in mocks.resources if r.type == typ and r.name.startswith(f"artifacts-{region}-")
            )
            assert resource.provider.startswith(providers[f"region-{region}"].urn), (region, typ)
        encryption = next(r for r in mocks.resources if r.name == f"artifacts-{region}-encryption").inputs[
            "rules"
        ][0]["applyServerSideEncryptionByDefault"]
        assert encryption == {"sseAlgorithm": "AES256"}


def test_the_lifecycle_hook_lives_in_its_environments_region_and_the_deploy_role_is_global():
    mocks = run_stack(REGIONS).mocks
    provider = only(mocks, "pulumi:providers:aws", "region-staging")
    assert provider.inputs["region"] == "us-west-2"
    function = only(mocks, "aws:lambda/function:Function", "hook-staging-function")
    assert function.provider.startswith(provider.urn)
    assert function.state["arn"].startswith("arn:aws:lambda:us-west-2:")
    assert only(mocks, "aws:iam/role:Role", "deploy-staging-role").provider == ""


# -- the roles that reach a stack ------------------------------------------------------------
def stack(region: str, name: str) -> str:
    return f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{name}/0f1e2d3c-aaaa"


def test_the_pipeline_role_drives_each_stack_in_its_region_only():
    pipeline_role = declared_roles(run_stack(REGIONS).mocks)["delivery-role"]
    for region, name in (
        ("us-east-1", "todobackend-dev"),
        ("us-east-1", "todobackend-qa"),
        ("us-west-2", "todobackend-staging"),
        ("eu-west-1", "todobackend-prod"),
    ):
        assert pipeline_role.allows(Request("cloudformation:CreateChangeSet", stack(region, name))), name
        for elsewhere in {"us-east-1", "us-west-2", "eu-west-1"} - {region}:
            assert not pipeline_role.allows(Request("cloudformation:UpdateStack", stack(elsewhere, name)))


@pytest.mark.parametrize(
    ("role", "action"),
    [
        ("review-production-role", "cloudformation:DescribeChangeSet"),
        ("recover-production-role", "cloudformation:DeleteStack"),
        ("drift-production-role", "cloudformation:DetectStackDrift"),
    ],
)
def test_the_small_projects_reach_the_stack_in_its_region_only(role, action):
    declared = declared_roles(run_stack(REGIONS).mocks)[role]
    assert declared.allows(Request(action, stack("eu-west-1", "todobackend-prod")))
    assert not declared.allows(Request(action, stack("us-east-1", "todobackend-prod")))


@pytest.mark.parametrize("project", ["review-production", "recover-production", "drift-production"])
def test_the_small_projects_run_in_the_pipelines_region_and_call_cloudformation_in_the_stacks(project):
    mocks = run_stack(REGIONS).mocks
    resource = only(mocks, "aws:codebuild/project:Project", f"{project}-project")
    assert resource.state["arn"].startswith("arn:aws:codebuild:us-east-1:")
    variables = {v["name"]: v["value"] for v in resource.inputs["environment"]["environmentVariables"]}
    assert variables["STACK_REGION"] == "eu-west-1"


def test_a_stack_in_the_pipelines_region_gets_no_stack_region():
    mocks = run_stack("four-environments").mocks
    for resource in mocks.resources:
        if resource.type == "aws:codebuild/project:Project":
            names = [v["name"] for v in resource.inputs["environment"].get("environmentVariables") or []]
            assert "STACK_REGION" not in names, resource.name


# -- the scripts ---------------------------------------------------------------------------------
@pytest.fixture
def recording_aws(tmp_path):
    """An `aws` that records its arguments, one call a line, and answers `{}`."""
    log = tmp_path / "calls"
    script = tmp_path / "aws"
    script.write_text(f'#!/bin/sh\necho "$*" >> {log}\necho "{{}}"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, log


def test_the_release_gate_sends_only_its_cloudformation_calls_to_the_stacks_region(
    recording_aws, monkeypatch
):
    script, log = recording_aws
    sys.path.insert(0, str(PROJECT_DIR / "build-image"))
    try:
        import release_gate
    finally:
        sys.path.pop(0)
    monkeypatch.setenv("AWS_CLI", str(script))
    monkeypatch.setenv("STACK_REGION", "eu-west-1")
    release_gate.aws_cli("cloudformation", "describe-stacks", "--stack-name", "s")
    release_gate.aws_cli("codepipeline", "get-pipeline-state", "--name", "p")
    assert log.read_text().splitlines() == [
        "cloudformation describe-stacks --stack-name s --output json --region eu-west-1",
        "codepipeline get-pipeline-state --name p --output json",
    ]


def test_recover_stack_calls_cloudformation_in_the_stacks_region(recording_aws, tmp_path):
    script, log = recording_aws
    env = {
        **os.environ,
        "PATH": f"{script.parent}:{os.environ['PATH']}",
        "STACK_NAME": "s",
        "STACK_REGION": "eu-west-1",
    }
    subprocess.run(  # noqa: S603 - the project's own script, against a recording aws
        ["bash", str(PROJECT_DIR / "build-image" / "recover-stack")],
        env=env,
        check=False,
        capture_output=True,
    )
    (call,) = log.read_text().splitlines()[:1]
    assert call.startswith("cloudformation describe-stacks --stack-name s")
    assert call.endswith("--region eu-west-1")


def test_check_drift_calls_cloudformation_in_the_stacks_region(recording_aws):
    script, log = recording_aws
    env = {
        **os.environ,
        "PATH": f"{script.parent}:{os.environ['PATH']}",
        "STACK_NAME": "s",
        "STACK_REGION": "eu-west-1",
        "DRIFT_MODE": "warn",
        "DRIFT_WAIT_SECONDS": "0",
        "DRIFT_POLL_SECONDS": "0",
    }
    subprocess.run(  # noqa: S603 - the project's own script, against a recording aws
        [sys.executable, str(PROJECT_DIR / "build-image" / "check-drift")],
        env=env,
        check=False,
        capture_output=True,
    )
    calls = log.read_text().splitlines()
    assert calls, "check-drift made no call"
    assert all(call.endswith("--region eu-west-1") for call in calls), calls


def test_a_regions_provider_acts_as_the_stacks_own_in_the_pipelines_account_only():
    """An explicit provider reads no stack config (pulumi/pulumi-aws#1307): each regional provider
    is handed the stack's `aws:` settings, so the same credentials, roles and tags apply there, and
    refuses any account but the pipeline's unless the stack names its own."""
    config = copy.deepcopy(BOOK_CONFIG)
    config["ecs-delivery:environments"][0]["region"] = "eu-west-1"
    config["aws:profile"] = "delivery"
    config["aws:assumeRoles"] = [{"roleArn": "arn:aws:iam::123456789012:role/deployer", "sessionName": "up"}]
    config["aws:defaultTags"] = {"tags": {"team": "platform"}}
    mocks = run_config(config, mocks=RecordingMocks()).mocks
    providers = [
        r for r in mocks.resources if r.type == "pulumi:providers:aws" and r.name.startswith("region-")
    ]
    assert sorted(r.name for r in providers) == ["region-dev", "region-eu-west-1"]
    for provider in providers:
        inputs = provider.inputs
        assert inputs["region"] == "eu-west-1"
        assert inputs["profile"] == "delivery"
        # As the stack wrote them: how the provider reads its own config.
        assert json.loads(inputs["assumeRoles"]) == [
            {"roleArn": "arn:aws:iam::123456789012:role/deployer", "sessionName": "up"}
        ]
        assert json.loads(inputs["defaultTags"]) == {"tags": {"team": "platform"}}
        assert json.loads(inputs["allowedAccountIds"]) == ["123456789012"]


def test_a_stacks_own_allowed_accounts_are_kept():
    config = copy.deepcopy(BOOK_CONFIG)
    config["ecs-delivery:environments"][0]["region"] = "eu-west-1"
    config["aws:allowedAccountIds"] = ["123456789012", "210987654321"]
    mocks = run_config(config, mocks=RecordingMocks()).mocks
    (store,) = [
        r for r in mocks.resources if r.type == "pulumi:providers:aws" and r.name == "region-eu-west-1"
    ]
    assert json.loads(store.inputs["allowedAccountIds"]) == ["123456789012", "210987654321"]
