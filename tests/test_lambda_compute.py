"""The small projects on Lambda compute, within what AWS lists as its limits ("Run builds on
AWS Lambda compute", Limitations: no privileged mode, no cache, no build timeout of their own,
15 minutes at most; BUILD_LAMBDA_<size> compute types only for the Lambda environment types,
botocore's CodeBuild model). Only the application build stays on EC2 with the build image."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from components.codebuild_runner import CodeBuildRunner, CodeBuildRunnerArgs
from components.context import DeliveryContext
from tests.conftest import BOOK_CONFIG, all_of, config_with, declare, only, run_config, shared_scope

SMALL_KINDS = ("review", "recover", "record", "verify")


def book_with_verify(timeout_minutes: int) -> dict:
    environments = copy.deepcopy(BOOK_CONFIG["ecs-delivery:environments"])
    environments[1]["verify"] = {"timeoutMinutes": timeout_minutes}
    return config_with(environments=environments)


@pytest.fixture(scope=shared_scope)
def book():
    return run_config(book_with_verify(15)).mocks


def test_every_small_project_runs_the_tools_image_on_lambda_compute_and_the_build_alone_on_ec2(book):
    tools = only(book, "docker:index/image:Image", "tools-image-image").state["repoDigest"]
    build = only(book, "docker:index/image:Image", "build-image-image").state["repoDigest"]
    projects = {p.name: p.inputs for p in all_of(book, "aws:codebuild/project:Project")}
    small = {name: p for name, p in projects.items() if name.split("-", 1)[0] in SMALL_KINDS}
    assert sorted(small) == [
        "record-production-project",
        "recover-production-project",
        "review-production-project",
        "verify-production-project",
    ]
    for name, project in small.items():
        environment = project["environment"]
        assert environment["type"] == "LINUX_LAMBDA_CONTAINER", name
        assert environment["computeType"] == "BUILD_LAMBDA_2GB", name
        assert environment["privilegedMode"] is False, name
        assert environment["image"] == tools, name
        assert "buildTimeout" not in project and "queuedTimeout" not in project, name
        assert "cache" not in project, name
    (other,) = set(projects) - set(small)
    assert other == "build-project"
    assert projects[other]["environment"]["type"] == "LINUX_CONTAINER"
    assert projects[other]["environment"]["privilegedMode"] is True
    assert projects[other]["environment"]["image"] == build


def test_a_verify_longer_than_lambdas_15_minutes_stays_on_ec2_with_its_timeout():
    mocks = run_config(book_with_verify(16)).mocks
    project = only(mocks, "aws:codebuild/project:Project", "verify-production-project").inputs
    assert (project["environment"]["type"], project["environment"]["computeType"]) == (
        "LINUX_CONTAINER",
        "BUILD_GENERAL1_SMALL",
    )
    assert project["buildTimeout"] == 16
    # Still the tools image: nothing of the verify needs Docker.
    assert (
        project["environment"]["image"]
        == only(mocks, "docker:index/image:Image", "tools-image-image").state["repoDigest"]
    )
    variables = {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]}
    assert variables["VERIFY_TIMEOUT_MINUTES"] == "16"


def test_small_steps_compute_ec2_keeps_every_small_project_on_ec2_for_regions_without_lambda():
    config = book_with_verify(15)
    config["ecs-delivery:build"] = {**config.get("ecs-delivery:build", {}), "smallStepsCompute": "ec2"}
    mocks = run_config(config).mocks
    tools = only(mocks, "docker:index/image:Image", "tools-image-image").state["repoDigest"]
    small = {
        p.name: p.inputs
        for p in all_of(mocks, "aws:codebuild/project:Project")
        if p.name.split("-", 1)[0] in SMALL_KINDS
    }
    assert len(small) == 4
    for name, project in small.items():
        environment = project["environment"]
        assert (environment["type"], environment["computeType"]) == (
            "LINUX_CONTAINER",
            "BUILD_GENERAL1_SMALL",
        ), name
        assert environment["image"] == tools, name
        assert environment["privilegedMode"] is False, name
        # On EC2 a project takes its own timeout again (Lambda's builds stop at 15 minutes).
        assert project["buildTimeout"] > 0, name


def test_small_steps_compute_names_what_it_allows():
    config = config_with(build={"smallStepsCompute": "fargate"})
    with pytest.raises(
        Exception, match=r"ecs-delivery:build.smallStepsCompute: 'fargate' is not allowed: one of lambda, ec2"
    ):
        run_config(config)


LAMBDA = CodeBuildRunnerArgs(
    project_name="app-stack-review-production",
    description="d",
    role_description="r",
    buildspec="buildspec.yml",
    image="123456789012.dkr.ecr.us-east-1.amazonaws.com/app/codebuild-tools@sha256:" + "a" * 64,
    role_policy="{}",
    context=DeliveryContext(
        name_prefix="app-stack",
        account_id="123456789012",
        region="us-east-1",
        partition="aws",
        kms_key_arn=None,
        log_retention_days=30,
        architecture="x86_64",
    ),
    environment_variables=[],
    compute_type="BUILD_LAMBDA_2GB",
    environment_type="LINUX_LAMBDA_CONTAINER",
    timeout_minutes=None,
)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"privileged_mode": True}, "Lambda compute has no privileged mode"),
        ({"cache_modes": ("LOCAL_SOURCE_CACHE",)}, "Lambda compute has no cache"),
        (
            {"timeout_minutes": 10},
            "Lambda compute takes no build timeout (its builds stop at 15 minutes), not 10",
        ),
        (
            {"compute_type": "BUILD_GENERAL1_SMALL"},
            "Lambda compute needs a BUILD_LAMBDA_<size> compute type, not BUILD_GENERAL1_SMALL",
        ),
        (
            {"environment_type": "LINUX_CONTAINER", "timeout_minutes": 60},
            "compute type BUILD_LAMBDA_2GB needs a Lambda environment type, not LINUX_CONTAINER",
        ),
    ],
)
def test_what_lambda_compute_refuses_is_refused_before_anything_is_declared(mocks, change, problem):
    with pytest.raises(ValueError) as refused:
        declare(lambda: CodeBuildRunner("review-production", dataclasses.replace(LAMBDA, **change)))
    assert str(refused.value) == f"review-production: {problem}"
    assert mocks.resources == []


def test_every_problem_of_a_lambda_project_is_named_at_once(mocks):
    with pytest.raises(ValueError) as refused:
        declare(
            lambda: CodeBuildRunner(
                "review-production", dataclasses.replace(LAMBDA, privileged_mode=True, timeout_minutes=20)
            )
        )
    assert str(refused.value) == (
        "review-production: Lambda compute has no privileged mode; "
        "Lambda compute takes no build timeout (its builds stop at 15 minutes), not 20"
    )


def test_a_lambda_project_as_declared_is_accepted(mocks):
    declare(lambda: CodeBuildRunner("review-production", LAMBDA))
    project = only(mocks, "aws:codebuild/project:Project").inputs
    assert project["environment"]["type"] == "LINUX_LAMBDA_CONTAINER"
    assert "buildTimeout" not in project and "cache" not in project
