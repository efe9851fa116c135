"""The stack config contract: defaults, and one readable message per problem."""

from __future__ import annotations

import copy
import json

import pulumi
import pytest

from components.config import ConfigError, load_config, raw_config_from_pulumi
from offline.mocks import RecordingMocks
from tests.conftest import BOOK_CONFIG, MINIMAL_RAW, config_with, run_config

MINIMAL = MINIMAL_RAW


def problems_for(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(raw)
    return caught.value.problems


def with_changes(path: list, value=None, delete: bool = False) -> dict:
    raw = copy.deepcopy(MINIMAL)
    target = raw
    for part in path[:-1]:
        target = target[part]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw


def test_defaults_fill_everything_not_given():
    config = load_config(MINIMAL)
    assert config.application.branch == "main"
    assert config.application.image_repository is None
    assert config.infrastructure.branch == "main"
    assert config.infrastructure.template_path == "stack.yml"
    assert config.connection_arn is None
    assert config.build_image_repository_name == "todobackend/codebuild"
    assert config.build.compute_type == "BUILD_GENERAL1_SMALL"
    assert config.build.timeout_minutes == 60
    assert config.build.buildspec == "buildspec.yml"
    assert (config.build.version_file, config.build.version_key) == ("version.json", "Version")
    assert config.image_tag_parameter == "ApplicationImageTag"
    env = config.environments[0]
    assert (env.template_configuration, env.parameters, env.approval) == (None, {}, False)
    assert config.protect_stateful_resources is True
    assert config.deploy_role.managed_policy_arns is None


def test_pulumi_json_strings_are_decoded_and_other_namespaces_ignored():
    raw = raw_config_from_pulumi(
        {
            "aws:region": "eu-west-1",
            "ecs-delivery:application": json.dumps(MINIMAL["application"]),
            "ecs-delivery:infrastructure": json.dumps(MINIMAL["infrastructure"]),
            "ecs-delivery:environments": json.dumps(MINIMAL["environments"]),
            "ecs-delivery:imageTagParameter": "ImageTag",
            "ecs-delivery:protectStatefulResources": "false",
        }
    )
    config = load_config(raw)
    assert config.image_tag_parameter == "ImageTag"
    assert config.protect_stateful_resources is False


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["environments", 0, "approvel"], True, "ecs-delivery:environments[0].approvel: unknown key"),
        (["application", "nmae"], "x", "ecs-delivery:application.nmae: unknown key"),
        (["colour"], "blue", "ecs-delivery:colour: unknown key"),
        (
            ["build"],
            {"timeoutMinutes": "soon"},
            "ecs-delivery:build.timeoutMinutes: 'soon' is not allowed: a whole number, unquoted (a YAML integer)",
        ),
        (
            ["build"],
            {"timeoutMinutes": 4},
            "ecs-delivery:build.timeoutMinutes: 4 is not allowed: a whole number from 5 to 2160",
        ),
        (
            ["build"],
            {"timeoutMinutes": 2161},
            "ecs-delivery:build.timeoutMinutes: 2161 is not allowed: a whole number from 5 to 2160",
        ),
        (
            ["build"],
            {"computeType": "BUILD_GENERAL1_HUGE"},
            "ecs-delivery:build.computeType: 'BUILD_GENERAL1_HUGE' is not allowed: one of BUILD_GENERAL1_SMALL, "
            "BUILD_GENERAL1_MEDIUM, BUILD_GENERAL1_LARGE, BUILD_GENERAL1_XLARGE, BUILD_GENERAL1_2XLARGE "
            "(did you mean 'BUILD_GENERAL1_LARGE'?)",
        ),
        (
            ["build"],
            {"logRetentionDays": 10},
            "ecs-delivery:build.logRetentionDays: 10 is not allowed: one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, "
            "180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653",
        ),
        (
            ["build"],
            {"buildspec": "../buildspec.yml"},
            "ecs-delivery:build.buildspec: '../buildspec.yml' is not allowed",
        ),
        (
            ["application", "name"],
            "TodoBackend",
            "ecs-delivery:application.name: 'TodoBackend' is not allowed: lowercase",
        ),
        (
            ["application", "repository"],
            "todobackend",
            "ecs-delivery:application.repository: 'todobackend' is not allowed: a GitHub repository as 'owner/name'",
        ),
        (
            ["application", "branch"],
            "feature..x",
            "ecs-delivery:application.branch: 'feature..x' is not allowed: a Git branch name",
        ),
        (
            ["application", "imageRepository"],
            "Bad Repo",
            "ecs-delivery:application.imageRepository: 'Bad Repo' is not allowed: an ECR repository name",
        ),
        (
            ["infrastructure", "templatePath"],
            "/stack.yml",
            "ecs-delivery:infrastructure.templatePath: '/stack.yml' is not allowed",
        ),
        (
            ["connectionArn"],
            "arn:aws:s3:::bucket",
            "ecs-delivery:connectionArn: 'arn:aws:s3:::bucket' is not allowed: the ARN of a CodeConnections connection",
        ),
        (
            ["environments", 0, "stackName"],
            "1stack",
            "ecs-delivery:environments[0].stackName: '1stack' is not allowed: a CloudFormation stack name",
        ),
        (
            ["environments", 0, "approval"],
            "perhaps",
            "ecs-delivery:environments[0].approval: 'perhaps' is not allowed: true or false, unquoted "
            "(a YAML boolean)",
        ),
        (
            ["environments", 0, "parameters"],
            {"Bad-Name": "x"},
            "ecs-delivery:environments[0].parameters.Bad-Name: 'Bad-Name' is not allowed",
        ),
        (["environments"], [], "ecs-delivery:environments: an empty list is not allowed: 1 to 47 items"),
        (
            ["executionMode"],
            "PARALLEL",
            "ecs-delivery:executionMode: 'PARALLEL' is not allowed: parallel runs would deploy the same "
            "stacks and change sets at once; use SUPERSEDED or QUEUED",
        ),
        (
            ["deployRole"],
            {"managedPolicyArns": ["AdministratorAccess"]},
            "ecs-delivery:deployRole.managedPolicyArns[0]: 'AdministratorAccess' is not allowed: an IAM managed policy ARN",
        ),
        (
            ["artifacts"],
            {"kmsKeyArn": "alias/mine"},
            "ecs-delivery:artifacts.kmsKeyArn: 'alias/mine' is not allowed: a KMS key ARN",
        ),
        (
            # IAM cannot name a key by alias, so an alias ARN would deny every artifact access.
            ["artifacts"],
            {"kmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:alias/pipeline-artifacts"},
            "ecs-delivery:artifacts.kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:alias/pipeline-artifacts' "
            "is not allowed: a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>); "
            "IAM policies cannot name a key by alias",
        ),
        (
            ["ecr"],
            {"maxImageCount": 0},
            "ecs-delivery:ecr.maxImageCount: 0 is not allowed: a whole number from 1 to 10000",
        ),
    ],
)
def test_each_broken_rule_names_its_full_key(path, value, expected):
    problems = problems_for(with_changes(path, value))
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems[0]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (["application", "name"], "ecs-delivery:application.name: required"),
        (["infrastructure"], "ecs-delivery:infrastructure: required"),
        (["environments", 0, "stackName"], "ecs-delivery:environments[0].stackName: required"),
    ],
)
def test_missing_required_keys_are_named(path, expected):
    assert problems_for(with_changes(path, delete=True)) == [expected]


def test_unknown_key_message_lists_what_is_allowed():
    (problem,) = problems_for(with_changes(["environments", 0, "approvel"], True))
    assert problem == (
        "ecs-delivery:environments[0].approvel: unknown key (did you mean 'approval'?) "
        "(allowed: account, alarms, approval, approverGroup, approvers, bakeMinutes, deployment, deploymentWindow, driftCheck, name, onFailure, parameters, region, "
        "stackName, templateConfiguration, verify, wave)"
    )


def test_every_problem_is_reported_at_once():
    raw = copy.deepcopy(MINIMAL)
    raw["application"]["name"] = "UPPER"
    raw["build"] = {"timeoutMinutes": 1}
    raw["environments"].append({"name": "prod", "stackName": "todobackend-prod", "approvel": True})
    problems = problems_for(raw)
    assert [p.split(":")[1] for p in problems] == [
        "application.name",
        "build.timeoutMinutes",
        "environments[1].approvel",
    ]


def test_cross_field_rules_name_the_offending_environment():
    raw = copy.deepcopy(MINIMAL)
    raw["environments"] = [
        {"name": "dev", "stackName": "app", "parameters": {"ApplicationImageTag": "latest"}},
        {"name": "dev", "stackName": "app"},
    ]
    assert problems_for(raw) == [
        "ecs-delivery:environments[0].parameters.ApplicationImageTag: set by the pipeline "
        "(imageTagParameter); remove it",
        "ecs-delivery:environments[1].name: 'dev' is already used by environments[0]; names must be unique",
        "ecs-delivery:environments[1].stackName: 'app' is already deployed by environments[0]; "
        "stacks must be unique",
    ]


def test_invalid_json_in_a_structured_value_is_named():
    with pytest.raises(ConfigError) as caught:
        raw_config_from_pulumi({"aws:region": "eu-west-1", "ecs-delivery:application": "{name: todobackend"})
    assert caught.value.problems[0].startswith("ecs-delivery:application: not valid JSON")


def test_connection_arn_accepts_both_connection_services():
    for service in ("codestar-connections", "codeconnections"):
        arn = f"arn:aws:{service}:eu-west-1:123456789012:connection/0a1b2c3d-1111-2222-3333-444455556666"
        assert load_config({**MINIMAL, "connectionArn": arn}).connection_arn == arn


def test_a_bad_stack_config_declares_nothing_and_reads_as_a_run_error():
    bad = config_with(environments=[{"name": "dev", "stackName": "todobackend-dev", "approvel": True}])
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError) as caught:
        run_config(bad, mocks=mocks)
    assert "ecs-delivery:environments[0].approvel: unknown key" in str(caught.value)
    assert mocks.resources == []
    assert mocks.invokes == []


def test_the_book_config_is_valid():
    raw = raw_config_from_pulumi(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in BOOK_CONFIG.items()}
    )
    config = load_config(raw)
    assert [e.approval for e in config.environments] == [False, True]


def test_kms_key_arns_are_accepted_in_both_forms():
    for key in ("1234abcd-12ab-34cd-56ef-1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ab"):
        arn = f"arn:aws:kms:eu-west-1:123456789012:key/{key}"
        assert load_config({**MINIMAL, "artifacts": {"kmsKeyArn": arn}}).artifacts.kms_key_arn == arn


def test_every_parameter_the_pipeline_sets_is_reserved():
    raw = copy.deepcopy(MINIMAL)
    raw["environments"][0]["parameters"] = {"ApplicationImageRepository": "x", "PermissionsBoundaryArn": "y"}
    assert problems_for(raw) == [
        "ecs-delivery:environments[0].parameters.ApplicationImageRepository: set by the pipeline "
        "(imageRepositoryParameter); remove it",
        "ecs-delivery:environments[0].parameters.PermissionsBoundaryArn: set by the pipeline "
        "(permissionsBoundaryParameter); remove it",
    ]
    assert problems_for({**MINIMAL, "imageRepositoryParameter": "ApplicationImageTag"}) == [
        "ecs-delivery:imageRepositoryParameter: 'ApplicationImageTag' is already imageTagParameter; "
        "each pipeline-set parameter needs its own name"
    ]


def test_a_repository_the_stack_does_not_own_is_refused_with_a_gated_environment():
    # The stack puts a policy on its own repository that refuses every push but the build's,
    # and a lifecycle that keeps the released images; a looked-up repository has neither.
    raw = copy.deepcopy(MINIMAL)
    raw["application"]["imageRepository"] = "team/todo"
    assert load_config(raw).application.image_repository == "team/todo"
    raw["environments"].append(
        {"name": "production", "stackName": "todobackend-prod", "approval": True,
         "approvers": ["arn:aws:iam::123456789012:role/release-managers"]}
    )  # fmt: skip
    raw["notifications"] = {"emails": ["platform-team@example.com"]}
    problems = problems_for(raw)
    assert len(problems) == 1 and problems[0].startswith(
        "ecs-delivery:application.imageRepository: with a gated environment the stack must own"
    ), problems
    assert problems[0].endswith("remove this key")


def test_application_tags_are_immutable_with_a_gated_environment():
    raw = copy.deepcopy(MINIMAL)
    assert load_config(raw).application_tags_immutable is False
    raw["environments"].append(
        {"name": "production", "stackName": "todobackend-prod", "approval": True,
         "approvers": ["arn:aws:iam::123456789012:role/release-managers"]}
    )  # fmt: skip
    raw["notifications"] = {"emails": ["platform-team@example.com"]}
    assert load_config(raw).application_tags_immutable is True
    raw["ecr"] = {"immutableTags": False}
    (problem,) = problems_for(raw)
    assert problem.startswith("ecs-delivery:ecr.immutableTags: false with a gated environment")
    assert problem.endswith("remove this key or set it to true")


# AWS limits, written out: IAM role names 64 characters, Pulumi's auto-name suffix 8
# ("-" and 7 random characters), change-set names 128, CodeConnections names 32,
# pipeline names 100, notification rule names 64.
def test_an_environment_name_that_would_overflow_its_role_names_is_refused():
    # A gated environment's recovery role, and in another account its role there, are the
    # longest: `recover-<env>-role-<7>` and `<env>-recover-role-<7>`.
    longest_role_prefix = "recover-" + "e" * 43 + "-role"
    assert len(longest_role_prefix) + 8 == 64
    raw = copy.deepcopy(MINIMAL)
    raw["environments"][0]["name"] = "e" * 43
    load_config(raw)
    raw["environments"][0]["name"] = "e" * 44
    (problem,) = problems_for(raw)
    assert problem.startswith(
        "ecs-delivery:environments[0].name: '" + "e" * 44 + "' is 44 characters; at most 43"
    )
    assert "IAM allows 64" in problem


def test_a_change_set_name_over_128_characters_is_refused():
    raw = copy.deepcopy(MINIMAL)
    raw["notifications"] = {"emails": ["platform-team@example.com"]}
    raw["environments"][0].update(
        stackName="s" * 119, approval=True, approvers=["arn:aws:iam::123456789012:role/release-managers"]
    )
    load_config(raw)  # "<119>-pipeline" is 128
    raw["environments"][0]["stackName"] = "s" * 120
    (problem,) = problems_for(raw)
    assert problem == (
        f"ecs-delivery:environments[0].stackName: the change set '{'s' * 120}-pipeline' would be 129 "
        "characters; CloudFormation allows 128"
    )
    raw["environments"][0].update(approval=False, approvers=[])  # no change set, no limit
    load_config(raw)


def test_names_built_from_the_stack_name_must_fit_aws_limits():
    raw = copy.deepcopy(MINIMAL)
    raw["application"]["name"] = "a" * 27
    load_config(raw, stack="prod")  # connection "<27>-prod" is 32
    (problem,) = problems_for_stack({**raw, "application": {**raw["application"], "name": "a" * 28}}, "prod")
    assert problem == (
        f"ecs-delivery:application.name: with stack 'prod' the GitHub connection is named '{'a' * 28}-prod' "
        "(33 characters); AWS allows 32: shorten application.name or set connectionArn to an existing connection"
    )
    arn = "arn:aws:codeconnections:eu-west-1:123456789012:connection/0a1b2c3d-1111-2222-3333-444455556666"
    named = {**raw, "application": {**raw["application"], "name": "a" * 50}, "connectionArn": arn}
    load_config(named, stack="prod")  # no connection created: 55-character prefix is fine
    problems = problems_for_stack({**named, "application": {**raw["application"], "name": "a" * 60}}, "prod")
    assert problems == [
        f"ecs-delivery:application.name: with stack 'prod' the notification rule is named "
        f"'{'a' * 60}-prod-events' (72 characters); AWS allows 64: shorten application.name"
    ]
    # Without a stack (tests, tools) the names are not checked.
    load_config({**named, "application": {**raw["application"], "name": "a" * 60}})


def problems_for_stack(raw: dict, stack: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(raw, stack=stack)
    return caught.value.problems


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (
            {"architecture": "aarch64"},
            "ecs-delivery:build.architecture: 'aarch64' is not allowed: one of x86_64, arm64 (did you mean 'arm64'?)",
        ),
        (
            {"cacheModes": ["LOCAL_LAYER_CACHE"]},
            "ecs-delivery:build.cacheModes[0]: 'LOCAL_LAYER_CACHE' is not allowed: one of LOCAL_DOCKER_LAYER_CACHE, "
            "LOCAL_SOURCE_CACHE, LOCAL_CUSTOM_CACHE (did you mean 'LOCAL_DOCKER_LAYER_CACHE'?)",
        ),
        (
            {"cacheModes": ["LOCAL_SOURCE_CACHE", "LOCAL_SOURCE_CACHE"]},
            "ecs-delivery:build.cacheModes: ['LOCAL_SOURCE_CACHE', 'LOCAL_SOURCE_CACHE'] lists a mode twice",
        ),
        (
            # ECR pull-through cache reads credentials only from secrets named ecr-pullthroughcache/...
            {
                "dockerHub": {
                    "credentialsSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dockerhub-AbCdEf"
                }
            },
            "ecs-delivery:build.dockerHub.credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:dockerhub-AbCdEf' is not allowed: the ARN of a Secrets Manager secret whose name starts with 'ecr-pullthroughcache/'",
        ),
        (
            {
                "dockerHub": {
                    "credentialsSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/hub-AbCdEf",
                    "cachePrefix": "x" * 31,
                }
            },
            "ecs-delivery:build.dockerHub.cachePrefix: '"
            + "x" * 31
            + "' is not allowed: an ECR repository prefix",
        ),
        ({"dockerHub": {"login": True}}, "ecs-delivery:build.dockerHub.credentialsSecretArn: required"),
    ],
)
def test_build_options_are_validated_naming_the_key(build, expected):
    (problem,) = problems_for({**MINIMAL, "build": build})
    assert problem.startswith(expected), problem


def test_every_key_of_every_namespace_is_known_or_an_error():
    values = {
        "aws:region": "eu-west-1",
        "aws:profile": "platform",  # a key the AWS provider reads: fine
        "pulumi:tags": '{"team": "platform"}',  # the engine's own: fine
        "ecs-delivry:artifacts": '{"expireAfterDays": 7}',
        "aws:regoin": "eu-west-2",
        "docker:hots": "unix:///var/run/docker.sock",
    }
    with pytest.raises(ConfigError) as caught:
        raw_config_from_pulumi(values)
    assert caught.value.problems == [
        "aws:regoin: not a configuration key of the aws provider (did you mean aws:region?)",
        "docker:hots: not a configuration key of the docker provider (did you mean docker:host?)",
        "ecs-delivry:artifacts: unknown namespace 'ecs-delivry' (allowed: ecs-delivery, aws, docker, pulumi)",
    ]


def test_the_region_must_be_set_in_the_stack():
    with pytest.raises(ConfigError) as caught:
        raw_config_from_pulumi({"ecs-delivery:imageTagParameter": "Tag"})
    assert caught.value.problems == [
        "aws:region: required: the region this stack deploys to (pulumi config set aws:region <region>)"
    ]


def test_provider_keys_come_from_the_installed_sdks():
    from components.config import provider_config_keys

    # A few the providers document; the lists are read from pulumi_aws / pulumi_docker.
    assert {
        "region",
        "profile",
        "assumeRoles",
        "defaultTags",
        "skipCredentialsValidation",
    } <= provider_config_keys("aws")
    assert {"host", "registryAuth"} <= provider_config_keys("docker")
    assert "regoin" not in provider_config_keys("aws")


def test_snake_case_keys_are_unknown_not_half_accepted():
    problems = problems_for({**MINIMAL, "build": {"timeout_minutes": 30}})
    assert problems == [
        "ecs-delivery:build.timeout_minutes: unknown key (did you mean 'timeoutMinutes'?) (allowed: architecture, buildspec, cacheModes, computeType, digestKey, "
        "dockerHub, logRetentionDays, registryCache, smallStepsCompute, timeoutMinutes, versionFile, versionKey)"
    ]


@pytest.mark.parametrize(
    "address",
    ["platform-team", "a@b", "team@@example.com", "team @example.com", "team@example.com.", "[secret]"],
)
def test_what_is_not_an_email_address_is_refused(address):
    (problem,) = problems_for({**MINIMAL, "notifications": {"emails": [address]}})
    assert problem.startswith(
        f"ecs-delivery:notifications.emails[0]: {address!r} is not allowed: an email address"
    )


def test_a_secret_address_is_accepted_only_when_the_key_is_secret():
    raw = {**MINIMAL, "notifications": {"emails": ["[secret]", "ops@example.com"]}}
    config = load_config(raw, secret_keys=frozenset({"ecs-delivery:notifications"}))
    assert config.notifications.emails == ["[secret]", "ops@example.com"]
    with pytest.raises(ConfigError) as caught:
        load_config(raw, secret_keys=frozenset({"ecs-delivery:application", "ecs-delivery:notifications"}))
    assert caught.value.problems[0].startswith("ecs-delivery:application: stored as a secret, but it names")


def test_an_unknown_key_deep_in_a_section_lists_that_sections_keys():
    (problem,) = problems_for(
        {**MINIMAL, "build": {"dockerHub": {"credentialsSecretArn": SECRET_ARN, "loggin": True}}}
    )
    assert problem == (
        "ecs-delivery:build.dockerHub.loggin: unknown key (did you mean 'login'?) "
        "(allowed: cachePrefix, createRule, credentialsSecretArn, login, pullThroughCache)"
    )


SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/hub-AbCdEf"


def test_the_error_reads_as_one_block_with_a_line_per_problem():
    error = ConfigError(["ecs-delivery:a: first", "ecs-delivery:b: second"])
    assert str(error) == "invalid stack configuration:\n  - ecs-delivery:a: first\n  - ecs-delivery:b: second"


def test_a_template_path_cannot_name_an_artifact_itself():
    (problem,) = problems_for(
        with_changes(["infrastructure", "templatePath"], "InfrastructureSource::stack.yml")
    )
    assert problem == (
        "ecs-delivery:infrastructure.templatePath: 'InfrastructureSource::stack.yml' is not allowed: "
        "a relative path inside the repository (no leading '/', no '..', no '::')"
    )


def test_every_namespace_problem_is_reported_in_order_with_hints_only_where_one_fits():
    values = {
        "aws:region": "eu-west-1",
        "ecs-delivery:imageTagParameter": "Tag",
        "aws:zzzzzzzz": "x",
        "ecs-delivry:a": "x",
        "zeta:b": "x",
    }
    with pytest.raises(ConfigError) as caught:
        raw_config_from_pulumi(values)
    assert caught.value.problems == [
        "aws:zzzzzzzz: not a configuration key of the aws provider",
        "ecs-delivry:a: unknown namespace 'ecs-delivry' (allowed: ecs-delivery, aws, docker, pulumi)",
        "zeta:b: unknown namespace 'zeta' (allowed: ecs-delivery, aws, docker, pulumi)",
    ]


def test_plain_strings_are_not_json_and_every_bad_json_value_is_named():
    raw = raw_config_from_pulumi({"aws:region": "eu-west-1", "ecs-delivery:imageTagParameter": "XTag"})
    assert raw == {"imageTagParameter": "XTag"}
    with pytest.raises(ConfigError) as caught:
        raw_config_from_pulumi(
            {"aws:region": "eu-west-1", "ecs-delivery:build": "{bad", "ecs-delivery:ecr": "[bad"}
        )
    assert [p.split(":")[1] for p in caught.value.problems] == ["build", "ecr"]


def test_an_email_address_may_be_254_characters_and_no_more():
    local = "a" * 64
    domain = ".".join(["d" * 63, "d" * 63, "d" * (254 - 64 - 1 - 63 - 63 - 2 - 4)]) + ".com"
    address = f"{local}@{domain}"
    assert len(address) == 254
    load_config({**MINIMAL, "notifications": {"emails": [address]}})
    (problem,) = problems_for({**MINIMAL, "notifications": {"emails": ["a" + address]}})
    assert "is not allowed: an email address" in problem


def test_a_secret_key_is_refused_with_the_reason():
    with pytest.raises(ConfigError) as caught:
        load_config(MINIMAL, secret_keys=frozenset({"ecs-delivery:connectionArn", "aws:region"}))
    assert caught.value.problems == [
        "ecs-delivery:connectionArn: stored as a secret, but it names a resource or a setting that plans, "
        "the console and the stack outputs show anyway; set it in plain text (pulumi config set without --secret)"
    ]


def test_a_pipeline_name_over_100_characters_is_refused():
    raw = copy.deepcopy(MINIMAL)
    raw["application"]["name"] = "a" * 60
    arn = "arn:aws:codeconnections:eu-west-1:123456789012:connection/0a1b2c3d-1111-2222-3333-444455556666"
    problems = problems_for_stack({**raw, "connectionArn": arn}, "s" * 40)
    assert problems[0] == (
        f"ecs-delivery:application.name: with stack '{'s' * 40}' the pipeline is named '{'a' * 60}-{'s' * 40}' "
        "(101 characters); AWS allows 100: shorten application.name"
    )


def test_the_pattern_validators_check_and_explain():
    from components.config.schema import _matches

    check = _matches(r"a+", "one or more a").func
    assert check("aaa") == "aaa"
    with pytest.raises(ValueError, match=r"^'ab' is not allowed: one or more a$"):
        check("ab")


def gated_by_one_release_manager(count: int) -> dict:
    raw = copy.deepcopy(MINIMAL_RAW)
    raw["environments"] = [
        {
            "name": f"customer-{index:02d}",
            "stackName": f"shop-customer-{index:02d}",
            "approval": True,
            "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
        }
        for index in range(count)
    ]
    raw["notifications"] = {"emails": ["platform-team@example.com"]}
    return raw


def test_one_approver_of_more_environments_than_iam_attaches_policies_to_is_refused():
    # IAM User Guide, "IAM and AWS STS quotas": 10 managed policies per role by default; each gated
    # environment attaches its own approver policy to each of its approvers.
    assert len(load_config(gated_by_one_release_manager(10)).environments) == 10
    assert problems_for(gated_by_one_release_manager(11)) == [
        "ecs-delivery:environments[10].approvers: 'arn:aws:iam::123456789012:role/release-managers' "
        "approves 11 environments, and each attaches its own approver policy to it; IAM attaches at "
        "most 10 managed policies to a role or user (fewer if it has policies of its own): name it on at "
        "most 10; on the others set approverGroup: true without approvers and add users to the group each "
        "creates (a role cannot join a group)"
    ]
