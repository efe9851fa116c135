"""The CodeBuild project: privileged, pinned image, settings from config."""

from __future__ import annotations

import pytest

from tests.conftest import BOOK_CONFIG, config_with, only, run_config, run_stack


@pytest.fixture(scope="module")
def book():
    return run_config(BOOK_CONFIG, stack="book")


def test_project_runs_the_pinned_build_image_privileged(book):
    project = only(book.mocks, "aws:codebuild/project:Project", "build-project").inputs
    environment = project["environment"]
    assert environment["privilegedMode"] is True
    assert environment["type"] == "LINUX_CONTAINER"
    assert environment["imagePullCredentialsType"] == "SERVICE_ROLE"
    image = only(book.mocks, "docker:index/image:Image").state["repoDigest"]
    assert environment["image"] == image
    assert "@sha256:" in image and ":" not in image.split("/")[-1].split("@")[0]


def test_project_takes_source_and_artifacts_from_the_pipeline(book):
    project = only(book.mocks, "aws:codebuild/project:Project", "build-project").inputs
    assert project["source"] == {"type": "CODEPIPELINE", "buildspec": "buildspec.yml"}
    assert project["artifacts"] == {"type": "CODEPIPELINE"}
    assert project["name"] == "todobackend-book-build"
    role = only(book.mocks, "aws:iam/role:Role", "build-role").state["arn"]
    assert project["serviceRole"] == role


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
    assert variables["IMAGE_REPOSITORY_URI"] == (app_repo["repositoryUrl"], "PLAINTEXT")
    assert variables["IMAGE_REPOSITORY_NAME"] == ("todobackend", "PLAINTEXT")
    assert variables["ECR_REGISTRY"] == ("123456789012.dkr.ecr.us-east-1.amazonaws.com", "PLAINTEXT")
    assert variables["APP_NAME"] == ("todobackend", "PLAINTEXT")


def test_prod_build_uses_its_committed_settings():
    project = only(run_stack("prod").mocks, "aws:codebuild/project:Project", "build-project").inputs
    assert project["environment"]["computeType"] == "BUILD_GENERAL1_MEDIUM"
