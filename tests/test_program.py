"""Smoke tests: the whole program under mocks with the product's dev and prod stack files
(tests/fixtures/stacks; the root ones are the adopter's, checked in tests/test_your_stacks.py)."""

from __future__ import annotations

import pytest

from offline.program import load_stack_config
from tests.conftest import CROSS_ACCOUNT, FIXTURE_STACKS, all_of, only, run_stack, stage_names

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
    # The small projects' image, beside the build image's repository, whatever that is called;
    # none where no small project runs it (dev: no gated environment, no verify).
    tools_repos = [
        r
        for r in all_of(run.mocks, "aws:ecr/repository:Repository")
        if r.name == "tools-image-ecr-repository"
    ]
    if stack == "dev":
        assert (tools_repos, "tools_image" in outputs) == ([], False)
    else:
        (tools_repo,) = tools_repos
        assert tools_repo.inputs["name"] == build_repo.inputs["name"] + "-tools"
        assert outputs["tools_image"].startswith(tools_repo.state["repositoryUrl"] + "@sha256:")
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
        match=r"no stack file Pulumi.staging.yaml \(stacks here: cross-account, dev, four-environments, prod, "
        r"progressive, regions, two-in-one-account, waves\)",
    ):
        load_stack_config("staging", FIXTURE_STACKS)


# What each component promises its callers (`register_outputs`, the house style): the names
# are the component's public outputs, so `pulumi stack` and a parent see the same ones.
COMPONENT_OUTPUTS = {
    "ecs-delivery:artifact_key:ArtifactKey": {"key_arn"},
    "ecs-delivery:artifact_store:ArtifactStore": {"bucket_arn", "bucket_name"},
    "ecs-delivery:build_image:BuildImage": {"image_name", "image_ref", "repository_arn", "repository_url"},
    "ecs-delivery:build_project:BuildProject": {"log_group_name", "project_arn", "project_name", "role_arn"},
    "ecs-delivery:change_set_review:ChangeSetReview": {"project_arn", "project_name", "role_arn"},
    "ecs-delivery:codebuild_runner:CodeBuildRunner": {
        "log_group_name",
        "project_arn",
        "project_name",
        "role_arn",
    },
    "ecs-delivery:cross_account:CrossAccountAccess": {
        "action_role_arn",
        "recovery_role_arn",
        "review_reader_role_arn",
    },
    "ecs-delivery:deploy_role:DeployRole": {"boundary_policy_arn", "role_arn"},
    "ecs-delivery:environment:EnvironmentDelivery": {"boundary_policy_arn", "deploy_role_arn"},
    "ecs-delivery:image_repository:ImageRepository": {"repository_arn", "repository_name", "repository_url"},
    "ecs-delivery:notifications:Notifications": {"topic_arn"},
    "ecs-delivery:pipeline:DeliveryPipeline": {
        "connection_arn",
        "connection_status",
        "notification_topic_arn",
        "pipeline_arn",
        "pipeline_name",
        "pipeline_role_arn",
        "pipeline_url",
    },
    "ecs-delivery:stack_recovery:StackRecovery": {"project_arn", "project_name", "role_arn"},
    # With approverGroup also group_name and group_arn (no stack here has one).
    "ecs-delivery:approvers:Approvers": {"policy_arn"},
    "ecs-delivery:release_record:ReleaseRecord": {"table_arn", "table_name"},
    "ecs-delivery:release_recorder:ReleaseRecorder": {"project_arn", "project_name", "role_arn"},
    "ecs-delivery:verify_project:VerifyProject": {"project_arn", "project_name"},
    "ecs-delivery:lifecycle_hook:LifecycleHook": {"function_arn", "invoke_role_arn"},
}


# The resource type an output's noun names: `review_reader_role_arn` is a role's ARN.
OUTPUT_NOUN_TYPES = {
    "bucket": "aws:s3/bucket:Bucket",
    "connection": "aws:codeconnections/connection:Connection",
    "function": "aws:lambda/function:Function",
    "group": "aws:cloudwatch/logGroup:LogGroup",
    "image": "docker:index/image:Image",
    "key": "aws:kms/key:Key",
    "pipeline": "aws:codepipeline/pipeline:Pipeline",
    "policy": "aws:iam/policy:Policy",
    "project": "aws:codebuild/project:Project",
    "repository": "aws:ecr/repository:Repository",
    "role": "aws:iam/role:Role",
    "table": "aws:dynamodb/table:Table",
    "topic": "aws:sns/topic:Topic",
}

# The state fields an output's last word names.
OUTPUT_ATTRIBUTE_FIELDS = {
    "arn": ["arn"],
    "name": ["name", "bucket", "imageName"],
    "ref": ["repoDigest"],
    "status": ["connectionStatus"],
    "url": ["repositoryUrl"],
}


@pytest.mark.parametrize("stack", ["prod", CROSS_ACCOUNT])
def test_every_component_registers_the_outputs_it_exposes_with_its_resources_values(stack):
    run = run_stack(stack)
    components = [r for r in run.mocks.resources if not r.custom and r.type.startswith("ecs-delivery:")]
    assert {c.type for c in components} <= set(COMPONENT_OUTPUTS)
    for component in components:
        outputs = run.mocks.component_outputs.get(component.urn)
        assert outputs is not None, f"{component.name}: no register_outputs"
        assert set(outputs) == COMPONENT_OUTPUTS[component.type], component.name
        for key, value in outputs.items():
            if key == "pipeline_url":
                continue  # the console address, built from the pipeline's name and region
            # Each value is one of the component's own resources' (a name, an ARN), of the
            # type its key names: `project_arn` is its project's ARN, not its role's.
            noun, attribute = key.rsplit("_", 2)[-2:]
            own_values = {
                str(resource.state.get(field))
                for resource in _descendants(run.mocks.resources, component.urn)
                if resource.type == OUTPUT_NOUN_TYPES[noun]
                for field in OUTPUT_ATTRIBUTE_FIELDS[attribute]
            }
            assert str(value) in own_values, f"{component.name}.{key} = {value!r}"
            assert str(value).startswith("arn:") == key.endswith("_arn"), (
                f"{component.name}.{key} = {value!r}"
            )


def _descendants(resources, urn: str):
    children = [r for r in resources if r.parent_urn == urn]
    for child in children:
        yield child
        yield from _descendants(resources, child.urn)
