"""The CodeBuild project: privileged, pinned image, settings from config."""

from __future__ import annotations

import json

import pytest

from tests.conftest import BOOK_CONFIG, all_of, config_with, only, run_config, run_stack, shared_scope


@pytest.fixture(scope=shared_scope)
def book():
    return run_config(BOOK_CONFIG, stack="book")


def test_project_runs_the_pinned_build_image_privileged(book):
    project = only(book.mocks, "aws:codebuild/project:Project", "build-project").inputs
    environment = project["environment"]
    assert environment["privilegedMode"] is True
    assert environment["type"] == "LINUX_CONTAINER"
    assert environment["imagePullCredentialsType"] == "SERVICE_ROLE"
    image = only(book.mocks, "docker:index/image:Image", "build-image-image").state["repoDigest"]
    assert environment["image"] == image
    assert "@sha256:" in image and ":" not in image.split("/")[-1].split("@")[0]


def test_project_takes_source_and_artifacts_from_the_pipeline(book):
    project = only(book.mocks, "aws:codebuild/project:Project", "build-project").inputs
    assert project["source"] == {"type": "CODEPIPELINE", "buildspec": "buildspec.yml"}
    assert project["artifacts"] == {"type": "CODEPIPELINE"}
    assert project["name"] == "todobackend-book-build"
    role = only(book.mocks, "aws:iam/role:Role", "build-role")
    assert project["serviceRole"] == role.state["arn"]
    # The console says what the project and its role are for.
    assert project["description"] == "Test, build and publish todobackend; writes version.json"
    assert role.inputs["description"] == "CodeBuild: test, build and publish the application image"


def test_project_defaults(book):
    project = only(book.mocks, "aws:codebuild/project:Project", "build-project").inputs
    assert project["environment"]["computeType"] == "BUILD_GENERAL1_SMALL"
    assert project["buildTimeout"] == 60


def test_project_settings_come_from_config():
    run = run_config(
        config_with(
            build={
                "computeType": "BUILD_GENERAL1_LARGE",
                "timeoutMinutes": 90,
                "buildspec": "ci/buildspec.yml",
                "logRetentionDays": 14,
                "versionFile": "out/version.json",
                "versionKey": "Tag",
            }
        )
    )
    project = only(run.mocks, "aws:codebuild/project:Project", "build-project").inputs
    assert project["environment"]["computeType"] == "BUILD_GENERAL1_LARGE"
    assert project["buildTimeout"] == 90
    assert project["source"]["buildspec"] == "ci/buildspec.yml"
    assert only(run.mocks, "aws:cloudwatch/logGroup:LogGroup", "build-logs").inputs["retentionInDays"] == 14
    # The environments' small projects (reviews, recoveries, smoke tests) keep their logs as long.
    retention = {
        g.name: g.inputs["retentionInDays"] for g in all_of(run.mocks, "aws:cloudwatch/logGroup:LogGroup")
    }
    assert {"review-production-logs", "recover-production-logs"} <= set(retention)
    assert set(retention.values()) == {14}
    variables = {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]}
    assert (variables["VERSION_FILE"], variables["VERSION_KEY"]) == ("out/version.json", "Tag")


def test_project_logs_to_its_own_group_with_retention(book):
    project = only(book.mocks, "aws:codebuild/project:Project", "build-project").inputs
    group = only(book.mocks, "aws:cloudwatch/logGroup:LogGroup", "build-logs")
    assert group.inputs["name"] == "/aws/codebuild/todobackend-book-build"
    assert group.inputs["retentionInDays"] == 30
    assert project["logsConfig"]["cloudwatchLogs"] == {"status": "ENABLED", "groupName": group.inputs["name"]}


def test_build_gets_what_codebuild_does_not_provide(book):
    project = only(book.mocks, "aws:codebuild/project:Project", "build-project").inputs
    variables = {v["name"]: (v["value"], v["type"]) for v in project["environment"]["environmentVariables"]}
    app_repo = only(book.mocks, "aws:ecr/repository:Repository", "app-image-repository").state
    assert variables["AWS_ACCOUNT_ID"] == ("123456789012", "PLAINTEXT")
    assert variables["AWS_REGION"] == ("us-east-1", "PLAINTEXT")
    # The AWS CLI and botocore read AWS_DEFAULT_REGION, the other SDKs AWS_REGION: both.
    assert variables["AWS_DEFAULT_REGION"] == ("us-east-1", "PLAINTEXT")
    assert variables["IMAGE_REPOSITORY_URI"] == (app_repo["repositoryUrl"], "PLAINTEXT")
    assert variables["IMAGE_REPOSITORY_NAME"] == ("todobackend", "PLAINTEXT")
    assert variables["ECR_REGISTRY"] == ("123456789012.dkr.ecr.us-east-1.amazonaws.com", "PLAINTEXT")
    assert variables["APP_NAME"] == ("todobackend", "PLAINTEXT")


def test_a_repository_name_with_a_namespace_keeps_it_and_the_registry_is_the_host():
    from components.build_project import build_environment_variables

    variables = build_environment_variables(
        application_name="todobackend",
        account_id="123456789012",
        region="eu-west-1",
        repository_url="123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/todobackend",
        version_file="version.json",
        version_key="Version",
    )
    values = {v["name"]: v["value"] for v in variables}
    assert values["ECR_REGISTRY"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert values["IMAGE_REPOSITORY_NAME"] == "team/todobackend"


def test_prod_build_uses_its_committed_settings():
    project = only(run_stack("prod").mocks, "aws:codebuild/project:Project", "build-project").inputs
    assert project["environment"]["computeType"] == "BUILD_GENERAL1_MEDIUM"


def build_statements(mocks) -> dict[str, dict]:
    policy = only(mocks, "aws:iam/rolePolicy:RolePolicy", "build-policy").inputs["policy"]
    return {statement["Sid"]: statement for statement in json.loads(policy)["Statement"]}


SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf"


def test_builds_start_warm_with_codebuilds_local_caches(book):
    project = only(book.mocks, "aws:codebuild/project:Project", "build-project").inputs
    # The Docker layer cache (it needs privileged mode), by default.
    assert project["cache"] == {"type": "LOCAL", "modes": ["LOCAL_DOCKER_LAYER_CACHE"]}
    # Lambda compute takes no cache setting (AWS-CDK refuses one there): none declared.
    review = only(book.mocks, "aws:codebuild/project:Project", "review-production-project").inputs
    assert "cache" not in review
    none = run_config(config_with(build={"cacheModes": []}))
    assert only(none.mocks, "aws:codebuild/project:Project", "build-project").inputs["cache"] == {
        "type": "NO_CACHE"
    }


def test_the_build_gets_a_registry_cache_repository_it_may_read_and_write(book):
    project = only(book.mocks, "aws:codebuild/project:Project", "build-project").inputs
    variables = {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]}
    cache = only(book.mocks, "aws:ecr/repository:Repository", "build-cache-repository")
    assert cache.inputs["name"] == "todobackend/build-cache"
    assert variables["BUILD_CACHE_REPOSITORY_URI"] == cache.state["repositoryUrl"]
    off = run_config(config_with(build={"registryCache": False}))
    assert [r.name for r in off.mocks.resources if r.name.startswith("build-cache")] == []
    variables = {
        v["name"]
        for v in only(off.mocks, "aws:codebuild/project:Project", "build-project").inputs["environment"][
            "environmentVariables"
        ]
    }
    assert "BUILD_CACHE_REPOSITORY_URI" not in variables
    assert "BuildCache" not in build_statements(off.mocks)


def test_arm64_runs_every_project_on_arm_hosts_with_arm_images():
    run = run_config(config_with(build={"architecture": "arm64", "computeType": "BUILD_GENERAL1_LARGE"}))
    environment_types = {
        project: only(run.mocks, "aws:codebuild/project:Project", project).inputs["environment"]["type"]
        for project in ("build-project", "review-production-project")
    }
    assert environment_types == {
        "build-project": "ARM_CONTAINER",
        "review-production-project": "ARM_LAMBDA_CONTAINER",
    }
    for image in ("build-image-image", "tools-image-image"):
        assert only(run.mocks, "docker:index/image:Image", image).inputs["build"]["platform"] == "linux/arm64"


def test_docker_hub_through_an_ecr_pull_through_cache():
    run = run_config(config_with(build={"dockerHub": {"credentialsSecretArn": SECRET}}))
    (rule,) = [
        r for r in run.mocks.resources if r.type == "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
    ]
    assert rule.inputs == {
        "ecrRepositoryPrefix": "docker-hub",
        "upstreamRegistryUrl": "registry-1.docker.io",
        "credentialArn": SECRET,
    }
    project = only(run.mocks, "aws:codebuild/project:Project", "build-project").inputs
    variables = {v["name"]: (v["value"], v["type"]) for v in project["environment"]["environmentVariables"]}
    assert variables["DOCKER_HUB_MIRROR"] == (
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub",
        "PLAINTEXT",
    )
    assert "DOCKERHUB_TOKEN" not in variables
    statements = build_statements(run.mocks)
    # ECR user guide: pulling through a cache rule creates the repository and imports the
    # image on first pull, with the puller's permissions.
    assert statements["PullThroughDockerHub"] == {
        "Sid": "PullThroughDockerHub",
        "Effect": "Allow",
        "Action": [
            "ecr:BatchCheckLayerAvailability",
            "ecr:BatchGetImage",
            "ecr:BatchImportUpstreamImage",
            "ecr:CreateRepository",
            "ecr:GetDownloadUrlForLayer",
        ],
        "Resource": ["arn:aws:ecr:us-east-1:123456789012:repository/docker-hub/*"],
    }
    assert "ReadDockerHubCredentials" not in statements


def test_docker_hub_login_reads_the_secret_through_codebuild_and_nothing_else():
    run = run_config(
        config_with(
            build={"dockerHub": {"credentialsSecretArn": SECRET, "pullThroughCache": False, "login": True}}
        )
    )
    assert [
        r for r in run.mocks.resources if r.type == "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
    ] == []
    project = only(run.mocks, "aws:codebuild/project:Project", "build-project").inputs
    variables = {v["name"]: (v["value"], v["type"]) for v in project["environment"]["environmentVariables"]}
    # The secret's JSON keys, resolved by CodeBuild at build start: never in the project.
    assert variables["DOCKERHUB_USERNAME"] == (f"{SECRET}:username", "SECRETS_MANAGER")
    assert variables["DOCKERHUB_TOKEN"] == (f"{SECRET}:accessToken", "SECRETS_MANAGER")
    assert "DOCKER_HUB_MIRROR" not in variables
    statements = build_statements(run.mocks)
    assert statements["ReadDockerHubCredentials"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert statements["ReadDockerHubCredentials"]["Resource"] == [SECRET]
    assert "PullThroughDockerHub" not in statements


def test_a_second_stack_can_reuse_an_existing_rule():
    run = run_config(
        config_with(
            build={"dockerHub": {"credentialsSecretArn": SECRET, "createRule": False, "cachePrefix": "hub"}}
        )
    )
    assert [
        r for r in run.mocks.resources if r.type == "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
    ] == []
    project = only(run.mocks, "aws:codebuild/project:Project", "build-project").inputs
    variables = {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]}
    assert variables["DOCKER_HUB_MIRROR"].endswith(".amazonaws.com/hub")
