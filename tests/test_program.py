"""Smoke tests: the whole program under mocks with the product's dev and prod stack files
(tests/fixtures/stacks; the root ones are the adopter's, checked in tests/test_your_stacks.py)."""

from __future__ import annotations

import pytest

from offline.program import load_stack_config
from tests.conftest import FIXTURE_STACKS, only, run_stack, stage_names

STACKS = ["dev", "prod"]


@pytest.mark.parametrize("stack", STACKS)
def test_stack_declares_the_whole_delivery_system(stack):
    run = run_stack(stack)
    types = {r.type for r in run.mocks.resources}
    assert {
        "ecs-delivery:build_image:BuildImage",
        "ecs-delivery:build_project:BuildProject",
        "ecs-delivery:pipeline:DeliveryPipeline",
        "ecs-delivery:artifact_store:ArtifactStore",
        "aws:ecr/repository:Repository",
        "docker:index/image:Image",
        "aws:codebuild/project:Project",
        "aws:codepipeline/pipeline:Pipeline",
        "aws:s3/bucket:Bucket",
    } <= types
    # Every resource hangs under a component, the components under the stack.
    for resource in run.mocks.resources:
        if resource.custom:
            assert "::pulumi:pulumi:Stack::" not in resource.parent_urn, resource.name
    assert stage_names(run.mocks)[:2] == ["Source", "Build"]
    config_region = load_stack_config(stack, FIXTURE_STACKS).region
    assert run.outputs["pipeline_url"].startswith(f"https://{config_region}.console.aws.amazon.com/")


@pytest.mark.parametrize("stack", STACKS)
def test_stack_exports_what_an_engineer_needs_next(stack):
    run = run_stack(stack)
    outputs = run.outputs
    pipeline = only(run.mocks, "aws:codepipeline/pipeline:Pipeline")
    assert (
        outputs["pipeline_name"]
        == pipeline.state["name"]
        == f"todobackend{'-cd-dev' if stack == 'dev' else ''}-{stack}"
    )
    assert outputs["pipeline_url"].endswith(f"/pipelines/{outputs['pipeline_name']}/view?region=eu-west-1")
    build_repo = only(run.mocks, "aws:ecr/repository:Repository", "build-image-ecr-repository")
    assert outputs["build_image"].startswith(build_repo.state["repositoryUrl"] + "@sha256:")
    assert outputs["artifact_bucket"] == only(run.mocks, "aws:s3/bucket:Bucket").state["bucket"]
    app_repo = only(run.mocks, "aws:ecr/repository:Repository", "app-image-repository")
    assert outputs["app_repository_url"] == app_repo.state["repositoryUrl"]
    connection = only(run.mocks, "aws:codeconnections/connection:Connection")
    assert outputs["connection_arn"] == connection.state["arn"]
    assert outputs["connection_status"] == "PENDING"
    # The exact steps, with this stack's connection and pipeline filled in.
    steps = outputs["connection_next_step"]
    assert f"Connections > {connection.state['arn']} > 'Update pending connection'" in steps
    assert f"--connection-arn {connection.state['arn']} --query Connection.ConnectionStatus" in steps
    assert f"get-pipeline --region eu-west-1 --name {outputs['pipeline_name']} --query pipeline" in steps
    assert "update-pipeline --region eu-west-1 --pipeline file://pipeline.json" in steps
    assert f"start-pipeline-execution --region eu-west-1 --name {outputs['pipeline_name']}" in steps
    assert not run.secret_outputs


def test_prod_protects_stateful_resources_and_dev_tears_down_cleanly():
    prod, dev = run_stack("prod"), run_stack("dev")
    for run, protected in ((prod, True), (dev, False)):
        for repo in [r for r in run.mocks.resources if r.type == "aws:ecr/repository:Repository"]:
            assert repo.protect is protected
            assert repo.inputs["forceDelete"] is (not protected)
        bucket = only(run.mocks, "aws:s3/bucket:Bucket")
        assert bucket.protect is protected
        assert bucket.inputs["forceDestroy"] is (not protected)


def test_unknown_stack_file_is_named():
    from offline.program import StackFileError

    with pytest.raises(
        StackFileError,
        match=r"no stack file Pulumi.staging.yaml \(stacks here: cross-account, dev, four-environments, prod\)",
    ):
        load_stack_config("staging", FIXTURE_STACKS)
