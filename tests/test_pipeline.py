"""The CodePipeline, action for action, as the program declares it from config alone."""

from __future__ import annotations

import json

import pytest

from tests.conftest import (
    action_of,
    actions_of,
    all_of,
    config_with,
    only,
    pipeline_inputs,
    run_config,
    run_stack,
    shared_scope,
    stage_names,
)

BOOK_ENVIRONMENTS = [
    {"name": "dev", "stackName": "todobackend-dev", "templateConfiguration": "dev.json"},
    {
        "name": "production",
        "stackName": "todobackend-prod",
        "templateConfiguration": "prod.json",
        "approval": True,
        "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
    },
]
THREE_ENVIRONMENTS = [
    {"name": "dev", "stackName": "shop-dev", "parameters": {"DesiredCount": "1"}},
    {
        "name": "staging",
        "stackName": "shop-staging",
        "templateConfiguration": "staging.json",
        "approval": True,
        "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
    },
    {
        "name": "production",
        "stackName": "shop-prod",
        "templateConfiguration": "prod.json",
        "approval": True,
        "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
    },
]


@pytest.fixture(scope=shared_scope)
def book():
    return run_config(config_with(environments=BOOK_ENVIRONMENTS), stack="book").mocks


@pytest.fixture(scope=shared_scope)
def three():
    return run_config(
        config_with(
            application={"name": "shop", "repository": "acme/shop", "branch": "main"},
            infrastructure={
                "repository": "acme/shop-infra",
                "branch": "release",
                "templatePath": "cfn/app.yml",
            },
            build={"versionFile": "build/version.json", "versionKey": "Tag"},
            imageTagParameter="ImageTag",
            environments=THREE_ENVIRONMENTS,
        ),
        stack="three",
    ).mocks


def deploy_role_arn(mocks, environment: str) -> str:
    return only(mocks, "aws:iam/role:Role", f"deploy-{environment}-role").state["arn"]


def boundary_arn(mocks, environment: str) -> str:
    arn = only(mocks, "aws:iam/policy:Policy", f"deploy-{environment}-boundary").state["arn"]
    assert arn.startswith("arn:aws:iam::123456789012:policy/ecs-delivery/deploy-")
    return arn


def test_pipeline_is_v2_with_an_s3_artifact_store(book):
    pipeline = pipeline_inputs(book)
    assert pipeline["pipelineType"] == "V2"
    bucket = only(book, "aws:s3/bucket:Bucket").state["bucket"]
    assert pipeline["artifactStores"] == [{"location": bucket, "type": "S3"}]
    assert pipeline["roleArn"] == only(book, "aws:iam/role:Role", "delivery-role").state["arn"]


def test_execution_mode_comes_from_config(book):
    assert pipeline_inputs(book)["executionMode"] == "SUPERSEDED"
    queued = run_config(config_with(executionMode="QUEUED")).mocks
    assert pipeline_inputs(queued)["executionMode"] == "QUEUED"


def test_book_pipeline_stages_in_order(book):
    # A gated environment plans (change set + review) in a stage of its own, is approved in
    # another, and released in a third.
    assert stage_names(book) == [
        "Source", "Build", "dev", "production-plan", "production-approval", "production",
    ]  # fmt: skip


def test_book_source_stage_reads_both_repositories_through_the_connection(book):
    connection_arn = only(book, "aws:codeconnections/connection:Connection").state["arn"]
    app, infra = actions_of(book, "Source")
    for action, repository, artifact in (
        (app, "docker-in-aws/todobackend", "ApplicationSource"),
        (infra, "docker-in-aws/todobackend-aws", "InfrastructureSource"),
    ):
        assert (action["category"], action["owner"], action["provider"], action["version"]) == (
            "Source",
            "AWS",
            "CodeStarSourceConnection",
            "1",
        )
        assert action["configuration"] == {
            "ConnectionArn": connection_arn,
            "FullRepositoryId": repository,
            "BranchName": "master",
            "OutputArtifactFormat": "CODE_ZIP",
        }
        assert action["outputArtifacts"] == [artifact]
        assert "inputArtifacts" not in action


def test_book_build_stage_runs_the_codebuild_project(book):
    (build,) = actions_of(book, "Build")
    project = only(book, "aws:codebuild/project:Project", "build-project").state["name"]
    assert (build["category"], build["provider"]) == ("Build", "CodeBuild")
    assert build["configuration"] == {
        "ProjectName": project,
        # The commit comes from the application source action's own variable.
        "EnvironmentVariables": '[{"name":"APP_COMMIT","value":"#{AppSource.CommitId}"}]',
    }
    assert build["inputArtifacts"] == ["ApplicationSource"]
    assert build["outputArtifacts"] == ["ApplicationVersion"]


def test_book_dev_stage_deploys_directly(book):
    (deploy,) = actions_of(book, "dev")
    assert (deploy["category"], deploy["provider"], deploy["runOrder"]) == ("Deploy", "CloudFormation", 1)
    assert deploy["configuration"] == {
        # CREATE_UPDATE, except that a stack in a failed state is deleted and created again.
        "ActionMode": "REPLACE_ON_FAILURE",
        "StackName": "todobackend-dev",
        "TemplatePath": "InfrastructureSource::stack.yml",
        "TemplateConfiguration": "InfrastructureSource::dev.json",
        "ParameterOverrides": json.dumps(
            {
                "ApplicationImageTag": {"Fn::GetParam": ["ApplicationVersion", "version.json", "Version"]},
                # The digest the build published under that tag: the template pins the image by it.
                "ApplicationImageDigest": {"Fn::GetParam": ["ApplicationVersion", "version.json", "Digest"]},
                # The repository the build pushed the image to (the stack creates it, named
                # after the application), and the dev environment's boundary.
                "ApplicationImageRepository": "todobackend",
                # Its registry, in the pipeline's account.
                "ApplicationImageRegistry": "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                "PermissionsBoundaryArn": boundary_arn(book, "dev"),
            },
            separators=(",", ":"),
        ),
        "Capabilities": "CAPABILITY_NAMED_IAM",
        "RoleArn": deploy_role_arn(book, "dev"),
    }
    assert deploy["inputArtifacts"] == ["InfrastructureSource", "ApplicationVersion"]


def test_book_production_plans_then_is_approved_then_releases(book):
    recover, plan, review = actions_of(book, "production-plan")
    (approve,) = actions_of(book, "production-approval")
    create, confirm, execute, record = actions_of(book, "production")
    assert [(a["name"], a["runOrder"]) for a in (recover, plan, review)] == [
        ("RecoverStack", 1), ("CreateChangeSet", 2), ("ReviewChangeSet", 3),
    ]  # fmt: skip
    assert [(a["name"], a["runOrder"]) for a in (create, confirm, execute, record)] == [
        ("CreateChangeSet", 1), ("ConfirmChangeSet", 2), ("ExecuteChangeSet", 3), ("RecordRelease", 4),
    ]  # fmt: skip
    # The plan's change set is reviewed and approved; the release creates its own from the
    # same artifacts, confirms it against the plan's, and executes that one.
    assert plan["configuration"]["ChangeSetName"] == "todobackend-prod-plan"
    assert create["configuration"]["ChangeSetName"] == "todobackend-prod-pipeline"
    assert execute["configuration"]["ChangeSetName"] == "todobackend-prod-pipeline"
    for change_set in (plan, create):
        configuration = change_set["configuration"]
        assert configuration["ActionMode"] == "CHANGE_SET_REPLACE"
        assert configuration["StackName"] == "todobackend-prod"
        assert configuration["TemplateConfiguration"] == "InfrastructureSource::prod.json"
        assert configuration["RoleArn"] == deploy_role_arn(book, "production")
        assert configuration["Capabilities"] == "CAPABILITY_NAMED_IAM"
        assert json.loads(configuration["ParameterOverrides"]) == {
            "ApplicationImageTag": {"Fn::GetParam": ["ApplicationVersion", "version.json", "Version"]},
            "ApplicationImageDigest": {"Fn::GetParam": ["ApplicationVersion", "version.json", "Digest"]},
            "ApplicationImageRepository": "todobackend",
            "ApplicationImageRegistry": "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "PermissionsBoundaryArn": boundary_arn(book, "production"),
        }
        assert change_set["inputArtifacts"] == ["InfrastructureSource", "ApplicationVersion"]
    # Same artifacts, same template settings: only the name differs.
    assert {k: v for k, v in plan["configuration"].items() if k != "ChangeSetName"} == {
        k: v for k, v in create["configuration"].items() if k != "ChangeSetName"
    }
    assert execute["configuration"] == {
        "ActionMode": "CHANGE_SET_EXECUTE",
        "StackName": "todobackend-prod",
        "ChangeSetName": "todobackend-prod-pipeline",
    }
    assert deploy_role_arn(book, "production") != deploy_role_arn(book, "dev")
    assert (approve["category"], approve["owner"], approve["provider"]) == ("Approval", "AWS", "Manual")
    assert "todobackend-prod" in approve["configuration"]["CustomData"]
    assert "inputArtifacts" not in execute


def test_the_recovery_and_the_confirm_run_their_own_projects(book):
    recover = action_of(book, "production-plan", "RecoverStack")
    project = only(book, "aws:codebuild/project:Project", "recover-production-project").state["name"]
    assert project == "todobackend-book-recover-production"
    assert (recover["category"], recover["provider"]) == ("Build", "CodeBuild")
    # In the pipeline's own account the project's role reaches the stack itself.
    assert recover["configuration"] == {"ProjectName": project}
    assert recover["inputArtifacts"] == ["InfrastructureSource"]
    confirm = action_of(book, "production", "ConfirmChangeSet")
    review = only(book, "aws:codebuild/project:Project", "review-production-project").state["name"]
    assert (confirm["category"], confirm["provider"]) == ("Test", "CodeBuild")
    assert confirm["configuration"]["ProjectName"] == review
    assert json.loads(confirm["configuration"]["EnvironmentVariables"]) == [
        {"name": "REVIEW_MODE", "value": "confirm"},
        {"name": "CHANGE_SET_NAME", "value": "todobackend-prod-pipeline"},
        {"name": "EXPECTED_FINGERPRINT", "value": "#{Plan-production.FINGERPRINT}"},
        {"name": "PLAN_EXECUTION_ID", "value": "#{Plan-production.PLAN_EXECUTION_ID}"},
        {"name": "PLAN_IMAGE_DIGEST", "value": "#{Plan-production.IMAGE_DIGEST}"},
        {"name": "PIPELINE_EXECUTION_ID", "value": "#{codepipeline.PipelineExecutionId}"},
    ]
    # What it established, for the record.
    assert confirm["namespace"] == "Release-production"


def test_pushes_to_either_branch_start_the_pipeline(book):
    assert pipeline_inputs(book)["triggers"] == [
        {
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {
                "sourceActionName": name,
                "pushes": [{"branches": {"includes": ["master"]}}],
            },
        }
        for name in ("Application", "Infrastructure")
    ]


def test_three_environments_follow_config_order_and_gating(three):
    assert stage_names(three) == [
        "Source", "Build", "dev",
        "staging-plan", "staging-approval", "staging",
        "production-plan", "production-approval", "production",
    ]  # fmt: skip
    assert [a["name"] for a in actions_of(three, "dev")] == ["Deploy"]
    for stage, stack in (("staging", "shop-staging"), ("production", "shop-prod")):
        plan = actions_of(three, f"{stage}-plan")
        assert [(a["name"], a["runOrder"]) for a in plan] == [
            ("RecoverStack", 1), ("CreateChangeSet", 2), ("ReviewChangeSet", 3),
        ]  # fmt: skip
        assert plan[1]["configuration"]["StackName"] == stack
        assert [a["name"] for a in actions_of(three, f"{stage}-approval")] == ["Approve"]
        actions = actions_of(three, stage)
        assert [(a["name"], a["runOrder"]) for a in actions] == [
            ("CreateChangeSet", 1), ("ConfirmChangeSet", 2), ("ExecuteChangeSet", 3), ("RecordRelease", 4),
        ]  # fmt: skip
        assert actions[0]["configuration"]["StackName"] == stack


def test_three_environments_carry_their_own_settings(three):
    dev = action_of(three, "dev", "Deploy")["configuration"]
    assert dev["TemplatePath"] == "InfrastructureSource::cfn/app.yml"
    assert "TemplateConfiguration" not in dev
    assert json.loads(dev["ParameterOverrides"]) == {
        "ImageTag": {"Fn::GetParam": ["ApplicationVersion", "build/version.json", "Tag"]},
        "ApplicationImageDigest": {"Fn::GetParam": ["ApplicationVersion", "build/version.json", "Digest"]},
        "ApplicationImageRepository": "shop",
        "ApplicationImageRegistry": "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "PermissionsBoundaryArn": boundary_arn(three, "dev"),
        "DesiredCount": "1",
    }
    staging = action_of(three, "staging", "CreateChangeSet")["configuration"]
    assert staging["TemplateConfiguration"] == "InfrastructureSource::staging.json"
    infra = action_of(three, "Source", "Infrastructure")["configuration"]
    assert (infra["FullRepositoryId"], infra["BranchName"]) == ("acme/shop-infra", "release")
    triggers = {t["gitConfiguration"]["sourceActionName"]: t for t in pipeline_inputs(three)["triggers"]}
    assert triggers["Infrastructure"]["gitConfiguration"]["pushes"] == [
        {"branches": {"includes": ["release"]}}
    ]
    assert triggers["Application"]["gitConfiguration"]["pushes"] == [{"branches": {"includes": ["main"]}}]


def test_prod_stack_is_the_full_delivery_pipeline():
    mocks = run_stack("prod").mocks
    assert stage_names(mocks) == [
        "Source", "Build", "dev", "production-plan", "production-approval", "production",
    ]  # fmt: skip
    assert [a["name"] for a in actions_of(mocks, "dev")] == ["Deploy", "Verify"]
    assert [a["name"] for a in actions_of(mocks, "production")] == [
        "CreateChangeSet",
        "ConfirmChangeSet",
        "ExecuteChangeSet",
        "RecordRelease",
        "Verify",
    ]


def test_dev_stack_is_one_ungated_environment():
    mocks = run_stack("dev").mocks
    assert stage_names(mocks) == ["Source", "Build", "sandbox"]
    (deploy,) = actions_of(mocks, "sandbox")
    assert deploy["configuration"]["ActionMode"] == "REPLACE_ON_FAILURE"
    assert deploy["configuration"]["StackName"] == "todobackend-cd-sandbox"


def test_a_given_connection_is_used_and_none_is_created():
    arn = (
        "arn:aws:codestar-connections:us-east-1:123456789012:connection/0a1b2c3d-1111-2222-3333-444455556666"
    )
    run = run_config(config_with(connectionArn=arn))
    assert all_of(run.mocks, "aws:codeconnections/connection:Connection") == []
    for action in actions_of(run.mocks, "Source"):
        assert action["configuration"]["ConnectionArn"] == arn
    assert "connection_next_step" not in run.outputs
    assert run.outputs["connection_arn"] == arn


def test_an_existing_application_repository_is_looked_up_not_created():
    # Only without a gated environment: a repository the stack does not own has no policy of
    # its own to keep anyone else's push out (tests/test_config.py has the refusal).
    run = run_config(
        config_with(
            application={
                "name": "todobackend",
                "repository": "docker-in-aws/todobackend",
                "imageRepository": "team/todo",
            },
            environments=[
                {"name": "dev", "stackName": "todobackend-dev", "templateConfiguration": "dev.json"}
            ],
            notifications={},
        )
    )
    repositories = [r.inputs["name"] for r in all_of(run.mocks, "aws:ecr/repository:Repository")]
    assert sorted(repositories) == ["todobackend/build-cache", "todobackend/codebuild"]
    # The environments deploy the image from the repository the build pushed it to.
    overrides = json.loads(action_of(run.mocks, "dev", "Deploy")["configuration"]["ParameterOverrides"])
    assert overrides["ApplicationImageRepository"] == "team/todo"
    assert ("aws:ecr/getRepository:getRepository", {"name": "team/todo"}) in [
        (token, {k: v for k, v in args.items() if k == "name"}) for token, args in run.mocks.invokes
    ]
    assert run.outputs["app_repository_url"].endswith("/team/todo")


def test_parameters_with_dollar_signs_and_hyphenated_environments_reach_cloudformation_intact():
    run = run_config(
        config_with(
            environments=[
                {
                    "name": "pre-prod",
                    "stackName": "todobackend-pre",
                    "parameters": {"Banner": "costs $5 ${NotARef}"},
                },
                {
                    "name": "prod-eu",
                    "stackName": "todobackend-prod",
                    "approval": True,
                    "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
                },
            ]
        )
    )
    deploy = action_of(run.mocks, "pre-prod", "Deploy")["configuration"]
    assert json.loads(deploy["ParameterOverrides"])["Banner"] == "costs $5 ${NotARef}"
    assert deploy["RoleArn"] == deploy_role_arn(run.mocks, "pre-prod")
    assert json.loads(deploy["ParameterOverrides"])["PermissionsBoundaryArn"] == boundary_arn(
        run.mocks, "pre-prod"
    )
    review = action_of(run.mocks, "prod-eu-plan", "ReviewChangeSet")["configuration"]
    assert review["ProjectName"] == "todobackend-test-review-prod-eu"


def test_a_template_by_tag_gets_no_digest_when_the_stack_sets_none():
    """imageDigestParameter: '' (a template not moved to the digest yet): the pipeline passes the
    tag as before, and no digest the template would refuse to receive."""
    mocks = run_config(config_with(imageDigestParameter="")).mocks
    for stage, action in (("dev", "Deploy"), ("production", "CreateChangeSet")):
        overrides = json.loads(action_of(mocks, stage, action)["configuration"]["ParameterOverrides"])
        assert "ApplicationImageDigest" not in overrides
        assert overrides["ApplicationImageTag"] == {
            "Fn::GetParam": ["ApplicationVersion", "version.json", "Version"]
        }
    review = only(mocks, "aws:codebuild/project:Project", "review-production-project").inputs
    assert "DIGEST_PARAMETER" not in {v["name"] for v in review["environment"]["environmentVariables"]}
