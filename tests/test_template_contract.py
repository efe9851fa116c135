"""The template contract checker (`make check-template`: cfn-lint with policy/template_rules):
the example template meets it; a template in the book's shape fails with one line per problem,
each saying how to fix it; the stack's own parameter names are the ones asked for; and the
rules' copies of the deploy role's assumptions are the deploy role's."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from cfnlint.runner import main as cfn_lint_main

from components import cloudformation
from components.config import DEPLOYMENT_PARAMETER_NAMES, DeliveryConfig
from offline import check_template
from tests.conftest import FIXTURE_STACKS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "infra-repo" / "stack.yml"
BOOK_SHAPED = ROOT / "tests" / "fixtures" / "templates" / "book-shaped.yml"
# What `check_template.command` runs: cfn-lint's own entry point, whose `main` the tests call here.
CFN_LINT_ENTRY_POINT = "import sys; from cfnlint.runner import main; sys.exit(main())"

_spec = importlib.util.spec_from_file_location(
    "ecs_delivery_rules", ROOT / "policy" / "template_rules" / "ecs_delivery.py"
)
rules = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rules)


def lint(linter: list[str], *, in_a_fresh_process: bool = False) -> tuple[int, str]:
    """(exit status, stdout) of `check_template.command`'s cfn-lint run. In this process by
    default: the same entry point with the same arguments, without a fresh interpreter importing
    cfn-lint for every template (about 0.6 s of CPU a run, most of this module's)."""
    if in_a_fresh_process:
        done = subprocess.run(linter, capture_output=True, text=True, check=False)  # noqa: S603
        return done.returncode, done.stdout
    interpreter, flag, entry_point, *arguments = linter
    assert (interpreter, flag, entry_point) == (sys.executable, "-c", CFN_LINT_ENTRY_POINT)
    printed = io.StringIO()
    with (
        mock.patch.object(sys, "argv", ["cfn-lint", *arguments]),
        contextlib.redirect_stdout(printed),
        pytest.raises(SystemExit) as exited,
    ):
        cfn_lint_main()
    return exited.value.code or 0, printed.getvalue()


def check(
    template: Path, stack: str | None = None, *, in_a_fresh_process: bool = False
) -> tuple[int, list[str]]:
    """(exit status, findings as `line:rule:message`) of the checker, as `make check-template` runs it."""
    strategies, test_hook = check_template.deployment_contract(stack, FIXTURE_STACKS)
    status, printed = lint(
        check_template.command(
            template,
            check_template.contract_parameters(stack, FIXTURE_STACKS),
            gated=check_template.has_gated_environment(stack, FIXTURE_STACKS),
            strategies=strategies,
            test_hook=test_hook,
        ),
        in_a_fresh_process=in_a_fresh_process,
    )
    findings = []
    for line in printed.splitlines():
        _, row, _, _, _, rule, message = line.split(":", 6)
        findings.append(f"{row}:{rule}:{message}")
    return status, findings


def test_the_example_template_meets_the_contract():
    # Once as `make check-template` runs it, a fresh interpreter: the command line itself works.
    assert check(EXAMPLE, in_a_fresh_process=True) == (0, [])
    assert check(EXAMPLE, "prod") == (0, [])


def test_a_book_shaped_template_fails_with_a_line_per_problem_saying_how_to_fix_it():
    status, findings = check(BOOK_SHAPED)
    assert status != 0
    contract = [f for f in findings if f.split(":")[1].startswith(("E91", "W91"))]
    pipeline_sets = (
        "the pipeline sets it on every deploy, and CloudFormation refuses a value for a parameter the "
        "template does not declare"
    )
    assert contract == [
        f"6:E9101:declare the parameter ApplicationImageDigest (Type: String): {pipeline_sets}; then pin the "
        "image by it (Image: !Sub '${ApplicationImageRegistry}/${ApplicationImageRepository}@${ApplicationImageDigest}'), "
        "or, until the template is moved, set imageDigestParameter: '' in the stack file (releases are then "
        "checked by the tag alone)",
        f"6:E9101:declare the parameter ApplicationImageRepository (Type: String): {pipeline_sets}",
        f"6:E9101:declare the parameter ApplicationImageRegistry (Type: String): {pipeline_sets}",
        f"6:E9101:declare the parameter PermissionsBoundaryArn (Type: String): {pipeline_sets}",
        "14:E9102:ApplicationTaskRole: set Path: !Sub '/${AWS::StackName}/': the deploy role creates and passes "
        "only roles under its stack's path",
        "14:E9103:ApplicationTaskRole: set PermissionsBoundary: !Ref PermissionsBoundaryArn: the deploy role "
        "creates a role only with the environment's permissions boundary",
        "28:W9105:ApplicationTaskRole: remove iam:CreateUser: the permissions boundary of the stack's roles "
        "excludes it, so the role is denied it whatever its policies say",
        "34:E9102:ContainerInstanceRole: set Path: !Sub '/${AWS::StackName}/': the deploy role creates and passes "
        "only roles under its stack's path",
        "34:E9103:ContainerInstanceRole: set PermissionsBoundary: !Ref PermissionsBoundaryArn: the deploy role "
        "creates a role only with the environment's permissions boundary",
        "46:E9104:ContainerInstanceProfile: the deploy role cannot create an AWS::IAM::InstanceProfile: run the "
        "service on Fargate, or create the instance profile outside the pipeline and pass its name in as a "
        "parameter",
        "55:W9106:DeploymentRole: the deploy role hands the stack's roles only to application-autoscaling.amazonaws.com, "
        "autoscaling.amazonaws.com, ec2.amazonaws.com, ecs-tasks.amazonaws.com, ecs.amazonaws.com, "
        "events.amazonaws.com, lambda.amazonaws.com, monitoring.rds.amazonaws.com; a role for "
        "codedeploy.amazonaws.com cannot be passed to it (ask for the service to be added to the deploy "
        "role's policy)",
    ]
    # cfn-lint's own rules run too: the boundary the role refers to is not declared.
    assert any(f.startswith("54:E1020:'PermissionsBoundaryArn' is not one of") for f in findings)


def test_the_stack_s_own_parameter_names_are_asked_for(tmp_path):
    stack = (
        (FIXTURE_STACKS / "Pulumi.dev.yaml")
        .read_text()
        .replace(
            "config:\n",
            "config:\n  ecs-delivery:imageTagParameter: ImageTag\n  ecs-delivery:permissionsBoundaryParameter: Boundary\n",
            1,
        )
    )
    (tmp_path / "Pulumi.renamed.yaml").write_text(stack)
    parameters = check_template.contract_parameters("renamed", tmp_path)
    assert parameters["image_tag_parameter"] == "ImageTag"
    _, printed = lint(check_template.command(EXAMPLE, parameters))
    assert "E9101:declare the parameter ImageTag (Type: String)" in printed
    assert "E9101:declare the parameter Boundary (Type: String)" in printed
    assert "set PermissionsBoundary: !Ref Boundary" in printed


def test_the_defaults_are_the_config_s_defaults():
    fields = DeliveryConfig.model_fields
    assert {key: fields[key].default for key in rules.PIPELINE_PARAMETERS} == rules.PIPELINE_PARAMETERS


def test_the_rules_assume_what_the_deploy_role_and_the_boundary_are():
    assert rules.BOUNDARY_EXCLUDED_ACTIONS == cloudformation.BOUNDARY_EXCLUDED_ACTIONS
    assert rules.STACK_ROLE_SERVICES == cloudformation.STACK_ROLE_SERVICES
    assert rules.ROLE_PATH.replace("${AWS::StackName}", "app") == cloudformation.stack_role_path("app")


# Every kind of resource that deploys another template, which the change set an approver
# reviews does not show (AWS pages cited in build-image/changeset_report.py), and a module,
# which the change set does show (resolved into its resources).
NOT_SHOWN = """AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Queue:
    Type: AWS::SQS::Queue
  NetworkStack:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: https://infra-bucket.s3.amazonaws.com/network.yml
  Regions:
    Type: AWS::CloudFormation::StackSet
    Properties:
      PermissionModel: SELF_MANAGED
      StackSetName: regions
      TemplateURL: https://infra-bucket.s3.amazonaws.com/regional.yml
  Product:
    Type: AWS::ServiceCatalog::CloudFormationProvisionedProduct
    Properties:
      ProductName: network
      ProvisioningArtifactName: v1
  Bucket:
    Type: My::S3::SampleBucket::MODULE
"""


def test_what_a_change_set_cannot_show_is_an_error_saying_the_release_refuses_it(tmp_path):
    template = tmp_path / "nested.yml"
    template.write_text(NOT_SHOWN)
    status, findings = check(template)
    assert status != 0
    refuses = "a gated environment's release refuses a change set with an"
    assert [f for f in findings if ":E9108:" in f] == [
        f"6:E9108:NetworkStack: {refuses} AWS::CloudFormation::Stack, since no approver can see what it "
        "deploys: a nested stack's template (TemplateURL) and its changes are not in the change set; put its "
        "resources into this template",
        f"10:E9108:Regions: {refuses} AWS::CloudFormation::StackSet, since no approver can see what it "
        "deploys: the stacks a stack set deploys, and their changes, are not in the change set; deploy the "
        "stack set with a stack of its own, outside the gated environment",
        f"16:E9108:Product: {refuses} AWS::ServiceCatalog::CloudFormationProvisionedProduct, since no approver "
        "can see what it deploys: the stack a Service Catalog product launches is not in the change set; put "
        "its resources into this template, or provision it outside the gated environment",
    ]


def test_a_stack_without_a_gated_environment_may_nest_stacks(tmp_path):
    # Only a gated release refuses what its change set does not show; an ungated deploy is
    # unreviewed anyway. (Each fixture's environments, written out: dev has none gated.)
    template = tmp_path / "nested.yml"
    template.write_text(NOT_SHOWN)
    assert not [f for f in check(template, "dev")[1] if ":E9108:" in f]
    assert len([f for f in check(template, "prod")[1] if ":E9108:" in f]) == 3


def test_a_sam_nested_application_is_an_error_too(tmp_path):
    template = tmp_path / "sam.yml"
    template.write_text(
        'AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\nResources:\n'
        "  Sam:\n    Type: AWS::Serverless::Application\n    Properties:\n"
        "      Location: https://infra-bucket.s3.amazonaws.com/app.yml\n"
    )
    _, findings = check(template)
    assert [f.split(":", 3)[:3] for f in findings if ":E9108:" in f] == [["5", "E9108", "Sam"]]


def test_the_contract_refuses_what_the_release_gate_refuses():
    from tests.test_changeset_report import report

    assert set(rules.NOT_SHOWN_BY_A_CHANGE_SET) == set(report.UNSHOWN_TYPES)


def test_a_missing_template_is_named(capsys):
    assert check_template.main([str(ROOT / "nothing-here.yml")]) == 2
    assert "no template at" in capsys.readouterr().err


TAGGED_TASK = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  ApplicationImageTag: {Type: String}
  ApplicationImageDigest: {Type: String}
  ApplicationImageRepository: {Type: String}
  ApplicationImageRegistry: {Type: String}
  PermissionsBoundaryArn: {Type: String}
Resources:
  Task:
    Type: AWS::ECS::TaskDefinition
    Properties:
      ContainerDefinitions:
        - Name: app
          Image: !Sub ${ApplicationImageRegistry}/${ApplicationImageRepository}:${ApplicationImageTag}
          Environment:
            - {Name: DIGEST, Value: !Ref ApplicationImageDigest}
            - {Name: BOUNDARY, Value: !Ref PermissionsBoundaryArn}
"""


def test_a_container_run_by_its_tag_is_told_to_pin_the_digest(tmp_path):
    template = tmp_path / "tagged.yml"
    template.write_text(TAGGED_TASK)
    status, findings = check(template)
    assert [f for f in findings if ":W9107:" in f] == [
        "14:W9107:Task: pin the image by its digest: Image: !Sub "
        "'${ApplicationImageRegistry}/${ApplicationImageRepository}@${ApplicationImageDigest}' (by the tag, each "
        "new deployment runs whatever the tag names then)"
    ]
    assert status != 0
    pinned = tmp_path / "pinned.yml"
    pinned.write_text(
        TAGGED_TASK.replace(":${ApplicationImageTag}", "@${ApplicationImageDigest}").replace(
            "{Name: DIGEST, Value: !Ref ApplicationImageDigest}",
            "{Name: TAG, Value: !Ref ApplicationImageTag}",
        )
    )
    assert check(pinned) == (0, [])


def test_a_stack_that_sets_no_digest_asks_for_none(tmp_path):
    """imageDigestParameter: '' keeps an existing template by tag working: the pipeline sets no
    digest, so the template need not declare one and nothing asks to pin it."""
    stack = (
        (FIXTURE_STACKS / "Pulumi.dev.yaml")
        .read_text()
        .replace("config:\n", "config:\n  ecs-delivery:imageDigestParameter: ''\n", 1)
    )
    (tmp_path / "Pulumi.bytag.yaml").write_text(stack)
    parameters = check_template.contract_parameters("bytag", tmp_path)
    assert parameters["image_digest_parameter"] == ""
    template = tmp_path / "tagged.yml"
    template.write_text(
        TAGGED_TASK.replace("  ApplicationImageDigest: {Type: String}\n", "").replace(
            "            - {Name: DIGEST, Value: !Ref ApplicationImageDigest}\n", ""
        )
    )
    _, printed = lint(check_template.command(template, parameters))
    assert "E9101" not in printed and "W9107" not in printed, printed


# -- deployment strategies ------------------------------------------------------------------------

ROLLING_SERVICE = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  ApplicationImageTag: {Type: String}
  ApplicationImageDigest: {Type: String}
  ApplicationImageRepository: {Type: String}
  ApplicationImageRegistry: {Type: String}
  PermissionsBoundaryArn: {Type: String}
Resources:
  Service:
    Type: AWS::ECS::Service
    Properties:
      Cluster: cluster
      TaskDefinition: !Sub "${ApplicationImageTag}${ApplicationImageDigest}${ApplicationImageRepository}"
      DesiredCount: 1
      DeploymentConfiguration:
        MinimumHealthyPercent: 100
      Tags:
        - {Key: registry, Value: !Ref ApplicationImageRegistry}
        - {Key: boundary, Value: !Ref PermissionsBoundaryArn}
"""


def test_the_rules_pass_the_parameters_the_config_sets():
    assert rules.DEPLOYMENT_PARAMETERS == DEPLOYMENT_PARAMETER_NAMES
    assert set(rules.DEPLOYMENT_WIRING) == set(DEPLOYMENT_PARAMETER_NAMES)


def test_a_stack_with_a_canary_asks_its_template_for_the_canary_s_parameters(tmp_path):
    # The prod fixture: dev rolling, production canary with the lifecycle-hook test.
    template = tmp_path / "rolling.yml"
    template.write_text(ROLLING_SERVICE)
    assert check_template.deployment_contract("prod", FIXTURE_STACKS) == (["ROLLING", "CANARY"], True)
    status, findings = check(template, "prod")
    assert status != 0
    why = '(docs/template-contract.md, "Deployment strategies")'
    assert [f for f in findings if ":E9109:" in f] == [
        "2:E9109:declare the parameter DeploymentStrategy and use it in the ECS service's DeploymentConfiguration "
        f"(Strategy): the pipeline sets it for ROLLING {why}",
        "2:E9109:declare the parameter DeploymentAlarmNames and use it in the ECS service's DeploymentConfiguration "
        f"(Alarms.AlarmNames): the pipeline sets it for ROLLING {why}",
        "2:E9109:declare the parameter DeploymentBakeMinutes and use it in the ECS service's "
        f"DeploymentConfiguration (BakeTimeInMinutes): the pipeline sets it for CANARY {why}",
        "2:E9109:declare the parameter CanaryPercent and use it in the ECS service's DeploymentConfiguration "
        f"(CanaryConfiguration.CanaryPercent): the pipeline sets it for CANARY {why}",
        "2:E9109:declare the parameter CanaryBakeMinutes and use it in the ECS service's DeploymentConfiguration "
        f"(CanaryConfiguration.CanaryBakeTimeInMinutes): the pipeline sets it for CANARY {why}",
        "2:E9109:declare the parameter TestHookFunctionArn and use it in the ECS service's DeploymentConfiguration "
        f"(LifecycleHooks.HookTargetArn): the pipeline sets it for the lifecycle-hook test (testPaths) {why}",
        "2:E9109:declare the parameter TestHookRoleArn and use it in the ECS service's DeploymentConfiguration "
        f"(LifecycleHooks.RoleArn): the pipeline sets it for the lifecycle-hook test (testPaths) {why}",
    ]
    # A stack without a deployment asks for none of them.
    assert not [f for f in check(template, "dev")[1] if ":E9109:" in f]


def test_a_gated_stack_s_service_that_does_not_roll_back_by_itself_is_warned(tmp_path):
    template = tmp_path / "rolling.yml"
    template.write_text(ROLLING_SERVICE)
    warning = (
        "11:W9111:Service: give DeploymentConfiguration Alarms (AlarmNames: !Ref DeploymentAlarmNames, "
        "Rollback: true) or a DeploymentCircuitBreaker with Rollback: true, so that a release that goes wrong "
        "is rolled back by ECS, before the pipeline's verify"
    )
    assert [f for f in check(template, "prod")[1] if ":W9111:" in f] == [warning]
    # Ungated, a release is not reviewed either; the warning is for what a reviewer lets through.
    assert not [f for f in check(template, "dev")[1] if ":W9111:" in f]
    breaker = tmp_path / "breaker.yml"
    breaker.write_text(
        ROLLING_SERVICE.replace(
            "MinimumHealthyPercent: 100\n",
            "MinimumHealthyPercent: 100\n        DeploymentCircuitBreaker: {Enable: true, Rollback: true}\n",
        )
    )
    assert not [f for f in check(breaker, "prod")[1] if ":W9111:" in f]


def test_a_deployment_parameter_that_does_not_reach_the_service_is_an_error(tmp_path):
    text = EXAMPLE.read_text()
    unwired = text.replace("        Strategy: !Ref DeploymentStrategy\n", "", 1).replace(
        "              TestListenerRule: !Ref TestListenerRule\n", "", 1
    )
    assert unwired.count("DeploymentStrategy") == text.count("DeploymentStrategy") - 1
    template = tmp_path / "stack.yml"
    template.write_text(unwired)
    status, findings = check(template, "prod")
    assert status != 0
    assert [f.split(":", 2)[2] for f in findings if ":E9110:" in f] == [
        "ApplicationService: set DeploymentConfiguration.Strategy from !Ref DeploymentStrategy, or the "
        "environment's deployment is not applied",
        "ApplicationService: give its load balancer an AdvancedConfiguration with TestListenerRule (for "
        "BLUE_GREEN, CANARY and LINEAR: the alternate target group, the production and test listener rules, the "
        "ECS infrastructure role for load balancers)",
    ]


# -- E9112: the review can only vouch for what the template plainly takes (finding F2) -------------

PLAIN = "the change-set review can only vouch for what the template plainly takes from the parameters"
STRATEGY_NOT_PLAIN = (
    "ApplicationService: set DeploymentConfiguration.Strategy to exactly !Ref DeploymentStrategy, not a "
    f"literal, an Fn::If or another function of it: {PLAIN}"
)
HOOK_NOT_PLAIN = (
    "ApplicationService: give DeploymentConfiguration.LifecycleHooks an entry with HookTargetArn exactly "
    "!Ref TestHookFunctionArn and LifecycleStages [POST_TEST_TRAFFIC_SHIFT], as a list or as !If [condition, "
    "[hooks], !Ref AWS::NoValue] whose condition uses only DeploymentStrategy, TestHookFunctionArn and "
    f"TestHookRoleArn and holds whenever the strategy is not ROLLING and both are set: {PLAIN}"
)
NEVER_TRUE = ("\nConditions:\n", "\nConditions:\n  NeverTrue: !Equals [!Ref AWS::Region, mars-1]\n")


def _e9112(tmp_path: Path, *edits: tuple[str, str]) -> tuple[int, list[str]]:
    text = EXAMPLE.read_text()
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    template = tmp_path / "stack.yml"
    template.write_text(text)
    status, findings = check(template, "prod")
    return status, [f.split(":", 2)[2] for f in findings if ":E9112:" in f]


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        # The attacker's template (finding F2): both behind a condition that never holds.
        (
            [
                NEVER_TRUE,
                (
                    "Strategy: !Ref DeploymentStrategy",
                    "Strategy: !If [NeverTrue, !Ref DeploymentStrategy, ROLLING]",
                ),
                (
                    "LifecycleHooks: !If\n          - HasTestHook",
                    "LifecycleHooks: !If\n          - NeverTrue",
                ),
            ],
            [STRATEGY_NOT_PLAIN, HOOK_NOT_PLAIN],
        ),
        ([("Strategy: !Ref DeploymentStrategy", "Strategy: ROLLING")], [STRATEGY_NOT_PLAIN]),
        (
            [("Strategy: !Ref DeploymentStrategy", 'Strategy: !Join ["", [!Ref DeploymentStrategy]]')],
            [STRATEGY_NOT_PLAIN],
        ),
        # A condition on another parameter: production could differ from what the review evaluates here.
        (
            [("  HasTestHook: !And\n", "  HasTestHook: !And\n    - !Condition IsProduction\n")],
            [HOOK_NOT_PLAIN],
        ),
        (
            [
                (
                    "HookTargetArn: !Ref TestHookFunctionArn",
                    "HookTargetArn: !If [HasTestHook, !Ref TestHookFunctionArn, x]",
                )
            ],
            [HOOK_NOT_PLAIN],
        ),
        (
            [
                (
                    "LifecycleStages: [POST_TEST_TRAFFIC_SHIFT]",
                    "LifecycleStages: [POST_PRODUCTION_TRAFFIC_SHIFT]",
                )
            ],
            [HOOK_NOT_PLAIN],
        ),
        # The hook as a plain list is the other allowed shape.
        (
            [
                (
                    "LifecycleHooks: !If\n          - HasTestHook\n          - - HookTargetArn",
                    "LifecycleHooks:\n            - HookTargetArn",
                ),
                (
                    "              HookDetails:\n                testUrl: !Sub http://${LoadBalancer.DNSName}:8080\n          - !Ref AWS::NoValue\n",
                    "              HookDetails:\n                testUrl: !Sub http://${LoadBalancer.DNSName}:8080\n",
                ),
            ],
            [],
        ),
    ],
)
def test_a_strategy_or_hook_the_template_decides_itself_is_refused(tmp_path, edits, expected):
    status, findings = _e9112(tmp_path, *edits)
    assert findings == expected
    # cfn-lint's exit status is a bit mask (its README, "Exit Codes"): 2 for errors, 4 for warnings.
    assert bool(status & 2) == bool(expected)


def _review_module():
    name = "build-image.changeset_report"  # as tests/test_changeset_report.py names it
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "build-image" / "changeset_report.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.parametrize(
    "parameters",
    [
        {
            "DeploymentStrategy": "CANARY",
            "TestHookFunctionArn": "f",
            "TestHookRoleArn": "r",
            "Environment": "dev",
        },
        {
            "DeploymentStrategy": "ROLLING",
            "TestHookFunctionArn": "f",
            "TestHookRoleArn": "r",
            "Environment": "dev",
        },
        {"DeploymentStrategy": "LINEAR", "TestHookFunctionArn": "", "TestHookRoleArn": "r"},
        {"DeploymentStrategy": "BLUE_GREEN"},
    ],
)
def test_the_contract_and_the_review_evaluate_conditions_alike(parameters):
    # Two copies (each file stands alone where it runs): the contract allows a conditional hook
    # only when the review's evaluation of it is the truth, so they must not drift apart.
    conditions = {
        "IsProduction": {"Fn::Equals": [{"Ref": "Environment"}, "production"]},
        "IsRolling": {"Fn::Equals": [{"Ref": "DeploymentStrategy"}, "ROLLING"]},
        "IsProgressive": {"Fn::Not": [{"Condition": "IsRolling"}]},
        "HasTestHook": {
            "Fn::And": [
                {"Condition": "IsProgressive"},
                {"Fn::Not": [{"Fn::Equals": [{"Ref": "TestHookFunctionArn"}, ""]}]},
                {"Fn::Not": [{"Fn::Equals": [{"Ref": "TestHookRoleArn"}, ""]}]},
            ]
        },
        "Either": {"Fn::Or": [{"Condition": "IsProduction"}, {"Condition": "IsRolling"}]},
        "Loop": {"Condition": "Loop"},
        "Region": {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]},
    }
    review = _review_module()
    for name in conditions:
        expression = {"Condition": name}
        assert rules.condition_holds(expression, conditions, parameters) == review.condition_holds(
            expression, conditions, parameters
        ), name
    assert rules.condition_holds({"Condition": "Region"}, conditions, parameters) is None
