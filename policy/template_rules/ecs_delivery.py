"""cfn-lint rules for the template contract of ecs-delivery: what an environment's template
must do for the pipeline to deploy it with its deploy role.

Run them where the template lives (the infrastructure repository), as cfn-lint custom rules:

    cfn-lint --append-rules <ecs-delivery>/policy/template_rules stack.yml

or from ecs-delivery, with the parameter names of a stack's config:
`make check-template TEMPLATE=stack.yml [STACK=prod]`. Each finding says how to fix the
template. Self-contained (cfn-lint is all it needs); tests/test_template_contract.py keeps its
constants equal to the deploy role's policy and the boundary (components/cloudformation.py).
"""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

# The parameters the pipeline sets on every deploy (ParameterOverrides), by the config key that
# renames each, with its default; CloudFormation refuses a value for a parameter the template
# does not declare. cfn-lint's --configure-rule takes each by its key.
PIPELINE_PARAMETERS = {
    "image_tag_parameter": "ApplicationImageTag",
    # Empty (`imageDigestParameter: ''` in the stack file): the pipeline sets no digest.
    "image_digest_parameter": "ApplicationImageDigest",
    "image_repository_parameter": "ApplicationImageRepository",
    "image_registry_parameter": "ApplicationImageRegistry",
    "permissions_boundary_parameter": "PermissionsBoundaryArn",
}
BOUNDARY_PARAMETER = PIPELINE_PARAMETERS["permissions_boundary_parameter"]
# ROLE_PATH, BOUNDARY_EXCLUDED_ACTIONS and STACK_ROLE_SERVICES are copies of what
# components/cloudformation.py declares (stack_role_path, BOUNDARY_EXCLUDED_ACTIONS,
# STACK_ROLE_SERVICES): cfn-lint loads this file by its path (`--append-rules`), usually in the
# infrastructure repository, where only cfn-lint is installed and ecs-delivery's components/
# (and the pulumi and pydantic they import) are not. tests/test_template_contract.py
# (test_the_rules_assume_what_the_deploy_role_and_the_boundary_are) keeps them equal.
# The path every role of the stack lives under (the deploy role writes and passes only these).
ROLE_PATH = "/${AWS::StackName}/"
# What the boundary of the stack's roles excludes (iam:PassRole of the stack's own roles aside).
BOUNDARY_EXCLUDED_ACTIONS = (
    "account:*",
    "cloudformation:*",
    "codebuild:*",
    "codeconnections:*",
    "codepipeline:*",
    "codestar-connections:*",
    "iam:*",
    "organizations:*",
    "sts:AssumeRole*",
)
# The services the deploy role may hand the stack's roles to (iam:PassedToService).
STACK_ROLE_SERVICES = (
    "application-autoscaling.amazonaws.com",
    "autoscaling.amazonaws.com",
    "ec2.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "ecs.amazonaws.com",
    "events.amazonaws.com",
    "lambda.amazonaws.com",
    "monitoring.rds.amazonaws.com",
)
# IAM resources the deploy role cannot create, and what to do instead.
NOT_CREATABLE = {
    "AWS::IAM::User": "give the application a role instead of an IAM user",
    "AWS::IAM::Group": "give the application a role instead of an IAM group",
    "AWS::IAM::UserToGroupAddition": "give the application a role instead of IAM users and groups",
    "AWS::IAM::AccessKey": "give the application a role: its credentials come with it, no access key",
    "AWS::IAM::ManagedPolicy": "put its statements in the role's Policies (an inline policy)",
    "AWS::IAM::InstanceProfile": (
        "run the service on Fargate, or create the instance profile outside the pipeline and pass its "
        "name in as a parameter"
    ),
    "AWS::IAM::OIDCProvider": "create it outside the pipeline, once per account",
    "AWS::IAM::SAMLProvider": "create it outside the pipeline, once per account",
    "AWS::IAM::ServerCertificate": "use an ACM certificate (AWS::CertificateManager::Certificate)",
    "AWS::IAM::VirtualMFADevice": "create it outside the pipeline",
}

# Resources that deploy another template, which the change set an approver reviews does not
# show (a nested stack's, a stack set's, a Service Catalog product's): a gated environment's
# release refuses a change set that has one (build-image/changeset_report.py, UNSHOWN_TYPES,
# where the AWS pages are cited; tests/test_template_contract.py keeps the two lists equal),
# and what to do instead. Not a module (`…::MODULE`): the change set lists the resources it
# resolves into.
NOT_SHOWN_BY_A_CHANGE_SET = {
    "AWS::CloudFormation::Stack": (
        "a nested stack's template (TemplateURL) and its changes are not in the change set; put its "
        "resources into this template"
    ),
    "AWS::CloudFormation::StackSet": (
        "the stacks a stack set deploys, and their changes, are not in the change set; deploy the stack "
        "set with a stack of its own, outside the gated environment"
    ),
    "AWS::ServiceCatalog::CloudFormationProvisionedProduct": (
        "the stack a Service Catalog product launches is not in the change set; put its resources into "
        "this template, or provision it outside the gated environment"
    ),
    "AWS::Serverless::Application": (
        "a SAM nested application is deployed as a nested stack, whose template is not in the change "
        "set; put its resources into this template"
    ),
}


class PipelineParameters(CloudFormationLintRule):
    id = "E9101"
    shortdesc = "The template declares every parameter the pipeline sets"
    description = (
        "ecs-delivery sets the image tag and digest, repository and registry and the permissions boundary "
        "on every deploy; CloudFormation refuses values for undeclared parameters."
    )
    source_url = "https://github.com/ecs-delivery/ecs-delivery/blob/main/docs/template-contract.md"
    tags = ("ecs-delivery", "parameters")

    def __init__(self) -> None:
        super().__init__()
        self.config_definition = {
            key: {"default": default, "type": "string"} for key, default in PIPELINE_PARAMETERS.items()
        }
        self.configure()

    def match(self, cfn: Any) -> list[RuleMatch]:
        declared = set((cfn.template.get("Parameters") or {}).keys())
        found = []
        for key in PIPELINE_PARAMETERS:
            name = self.config[key]
            if not name or name in declared:
                continue
            message = (
                f"declare the parameter {name} (Type: String): the pipeline sets it on every deploy, and "
                "CloudFormation refuses a value for a parameter the template does not declare"
            )
            if key == "image_digest_parameter":
                pinned = _pinned_image(
                    self.config["image_registry_parameter"], self.config["image_repository_parameter"], name
                )
                message += (
                    f"; then pin the image by it (Image: !Sub '{pinned}'), or, until the template is moved, "
                    "set imageDigestParameter: '' in the stack file (releases are then checked by the tag "
                    "alone)"
                )
            found.append(RuleMatch(["Parameters"], message))
        return found


def _pinned_image(registry: str, repository: str, digest: str) -> str:
    return f"${{{registry}}}/${{{repository}}}@${{{digest}}}"


def _references(value: Any, parameter: str) -> bool:
    """Whether a property value names a parameter (`Ref`, or `${Parameter}` in `Fn::Sub`)."""
    if isinstance(value, dict):
        if value.get("Ref") == parameter:
            return True
        sub = value.get("Fn::Sub")
        text = sub if isinstance(sub, str) else (sub[0] if isinstance(sub, list) and sub else None)
        if isinstance(text, str) and f"${{{parameter}}}" in text:
            return True
        return any(_references(inner, parameter) for inner in value.values())
    if isinstance(value, list):
        return any(_references(inner, parameter) for inner in value)
    return False


class ImagesPinnedByDigest(CloudFormationLintRule):
    id = "W9107"
    shortdesc = "Containers run the image by its digest"
    # ECS resolves a tag to a digest when a service deployment starts and keeps that digest for
    # its tasks (ECS developer guide, "Container image resolution"; ECS API reference,
    # ContainerImage): after the review, each deployment anew, and not at all for a task run
    # outside a service or with versionConsistency disabled.
    description = (
        "A task definition that names the image by its tag runs whatever the tag names when ECS "
        "resolves it (each new deployment, each task run outside a service), after the review; pinned "
        "by the digest the pipeline passes, it runs exactly the image that was reviewed."
    )
    source_url = PipelineParameters.source_url
    tags = ("ecs-delivery", "images")

    def __init__(self) -> None:
        super().__init__()
        self.config_definition = {
            key: {"default": PIPELINE_PARAMETERS[key], "type": "string"}
            for key in (
                "image_tag_parameter",
                "image_digest_parameter",
                "image_registry_parameter",
                "image_repository_parameter",
            )
        }
        self.configure()

    def match(self, cfn: Any) -> list[RuleMatch]:
        tag, digest = self.config["image_tag_parameter"], self.config["image_digest_parameter"]
        if not digest:
            return []
        pinned = _pinned_image(
            self.config["image_registry_parameter"], self.config["image_repository_parameter"], digest
        )
        found = []
        for name, resource in (cfn.template.get("Resources") or {}).items():
            if not isinstance(resource, dict) or resource.get("Type") != "AWS::ECS::TaskDefinition":
                continue
            containers = (resource.get("Properties") or {}).get("ContainerDefinitions") or []
            for index, container in enumerate(containers if isinstance(containers, list) else []):
                image = (container or {}).get("Image")
                if _references(image, tag) and not _references(image, digest):
                    found.append(
                        RuleMatch(
                            ["Resources", name, "Properties", "ContainerDefinitions", index, "Image"],
                            f"{name}: pin the image by its digest: Image: !Sub '{pinned}' (by the tag, each "
                            "new deployment runs whatever the tag names then)",
                        )
                    )
        return found


def _roles(cfn: Any) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in (cfn.template.get("Resources") or {}).items()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::IAM::Role"
    }


class RolesUnderTheStackPath(CloudFormationLintRule):
    id = "E9102"
    shortdesc = "Every role of the stack lives under /<stack name>/"
    description = "The deploy role creates, changes and passes only roles under its stack's IAM path."
    source_url = PipelineParameters.source_url
    tags = ("ecs-delivery", "iam")

    def match(self, cfn: Any) -> list[RuleMatch]:
        found = []
        for name, role in _roles(cfn).items():
            path = (role.get("Properties") or {}).get("Path")
            if path not in ({"Fn::Sub": ROLE_PATH}, {"Fn::Sub": [ROLE_PATH, {}]}):
                found.append(
                    RuleMatch(
                        ["Resources", name, "Properties"],
                        f"{name}: set Path: !Sub '{ROLE_PATH}': the deploy role creates and passes only "
                        "roles under its stack's path",
                    )
                )
        return found


class RolesCarryTheBoundary(CloudFormationLintRule):
    id = "E9103"
    shortdesc = "Every role of the stack carries the environment's permissions boundary"
    description = (
        "The deploy role creates a role, or gives it policies, only with the boundary the pipeline passes."
    )
    source_url = PipelineParameters.source_url
    tags = ("ecs-delivery", "iam")

    def __init__(self) -> None:
        super().__init__()
        self.config_definition = {"boundary_parameter": {"default": BOUNDARY_PARAMETER, "type": "string"}}
        self.configure()

    def match(self, cfn: Any) -> list[RuleMatch]:
        parameter = self.config["boundary_parameter"]
        return [
            RuleMatch(
                ["Resources", name, "Properties"],
                f"{name}: set PermissionsBoundary: !Ref {parameter}: the deploy role creates a role only "
                "with the environment's permissions boundary",
            )
            for name, role in _roles(cfn).items()
            if (role.get("Properties") or {}).get("PermissionsBoundary") != {"Ref": parameter}
        ]


class NoIamTheDeployRoleCannotCreate(CloudFormationLintRule):
    id = "E9104"
    shortdesc = "No IAM resource the deploy role cannot create"
    description = (
        "Users, groups, access keys, managed policies and instance profiles are outside the deploy role."
    )
    source_url = PipelineParameters.source_url
    tags = ("ecs-delivery", "iam")

    def match(self, cfn: Any) -> list[RuleMatch]:
        found = []
        for name, resource in (cfn.template.get("Resources") or {}).items():
            kind = resource.get("Type") if isinstance(resource, dict) else None
            if kind in NOT_CREATABLE:
                found.append(
                    RuleMatch(
                        ["Resources", name, "Type"],
                        f"{name}: the deploy role cannot create an {kind}: {NOT_CREATABLE[kind]}",
                    )
                )
            elif kind in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy"):
                properties = resource.get("Properties") or {}
                if properties.get("Users") or properties.get("Groups"):
                    found.append(
                        RuleMatch(
                            ["Resources", name, "Properties"],
                            f"{name}: attach it to the stack's roles only: the deploy role writes no "
                            "policy of an IAM user or group",
                        )
                    )
        return found


def _excluded(action: str) -> bool:
    action = action.lower()
    if action == "iam:passrole":
        return False  # the boundary lets the stack's roles pass each other to its services
    for excluded in BOUNDARY_EXCLUDED_ACTIONS:
        excluded = excluded.lower()
        if excluded.endswith("*") and (action.startswith(excluded[:-1]) or action == "*"):
            return True
    return False


class RolePoliciesWithinTheBoundary(CloudFormationLintRule):
    id = "W9105"
    shortdesc = "A role's policies grant nothing its boundary removes"
    description = "Allowing an action the boundary excludes has no effect; the role will be denied it."
    source_url = PipelineParameters.source_url
    tags = ("ecs-delivery", "iam")

    def match(self, cfn: Any) -> list[RuleMatch]:
        found = []
        for name, role in _roles(cfn).items():
            policies_at = ["Resources", name, "Properties", "Policies"]
            for p_index, policy in enumerate((role.get("Properties") or {}).get("Policies") or []):
                statements = ((policy or {}).get("PolicyDocument") or {}).get("Statement") or []
                for s_index, statement in enumerate(
                    statements if isinstance(statements, list) else [statements]
                ):
                    if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                        continue
                    actions = statement.get("Action") or []
                    for action in actions if isinstance(actions, list) else [actions]:
                        if isinstance(action, str) and _excluded(action):
                            found.append(
                                RuleMatch(
                                    [*policies_at, p_index, "PolicyDocument", "Statement", s_index, "Action"],
                                    f"{name}: remove {action}: the permissions boundary of the stack's roles "
                                    "excludes it, so the role is denied it whatever its policies say",
                                )
                            )
        return found


class RolesForServicesTheDeployRoleCanPassTo(CloudFormationLintRule):
    id = "W9106"
    shortdesc = "Roles are for services the deploy role can hand them to"
    description = "The deploy role passes the stack's roles only to the services an ECS application runs on."
    source_url = PipelineParameters.source_url
    tags = ("ecs-delivery", "iam")

    def match(self, cfn: Any) -> list[RuleMatch]:
        found = []
        for name, role in _roles(cfn).items():
            trust = (role.get("Properties") or {}).get("AssumeRolePolicyDocument") or {}
            statements = trust.get("Statement") or []
            for statement in statements if isinstance(statements, list) else [statements]:
                services = ((statement or {}).get("Principal") or {}).get("Service") or []
                for service in services if isinstance(services, list) else [services]:
                    if isinstance(service, str) and service not in STACK_ROLE_SERVICES:
                        found.append(
                            RuleMatch(
                                ["Resources", name, "Properties", "AssumeRolePolicyDocument"],
                                f"{name}: the deploy role hands the stack's roles only to "
                                f"{', '.join(STACK_ROLE_SERVICES)}; a role for {service} cannot be passed "
                                "to it (ask for the service to be added to the deploy role's policy)",
                            )
                        )
        return found


class NothingTheChangeSetCannotShow(CloudFormationLintRule):
    id = "E9108"
    shortdesc = "No resource that deploys what the change set does not show"
    description = (
        "Nested stacks, stack sets and Service Catalog products deploy another template, which the change "
        "set an approver reviews does not show; a gated environment's release refuses them."
    )
    source_url = PipelineParameters.source_url
    tags = ("ecs-delivery", "review")

    def match(self, cfn: Any) -> list[RuleMatch]:
        found = []
        for name, resource in (cfn.template.get("Resources") or {}).items():
            kind = resource.get("Type") if isinstance(resource, dict) else None
            if kind in NOT_SHOWN_BY_A_CHANGE_SET:
                found.append(
                    RuleMatch(
                        ["Resources", name, "Type"],
                        f"{name}: a gated environment's release refuses a change set with an {kind}, "
                        f"since no approver can see what it deploys: {NOT_SHOWN_BY_A_CHANGE_SET[kind]}",
                    )
                )
        return found


# -- progressive delivery: the ECS service's deployment strategy ----------------------------------
# The parameters an environment's `deployment` passes (components/config.py,
# DEPLOYMENT_PARAMETER_NAMES; tests/test_template_contract.py keeps the two equal), by what each
# strategy needs. Rolling passes the strategy and the alarms; blue/green adds the bake time;
# canary and linear add their steps; `testPaths` adds the lifecycle hook.
STRATEGY_PARAMETER = "DeploymentStrategy"
ALARMS_PARAMETER = "DeploymentAlarmNames"
BAKE_PARAMETER = "DeploymentBakeMinutes"
CANARY_PARAMETERS = ("CanaryPercent", "CanaryBakeMinutes")
LINEAR_PARAMETERS = ("LinearStepPercent", "LinearStepBakeMinutes")
HOOK_PARAMETERS = ("TestHookFunctionArn", "TestHookRoleArn")
STRATEGY_PARAMETERS = {
    "ROLLING": (STRATEGY_PARAMETER, ALARMS_PARAMETER),
    "BLUE_GREEN": (STRATEGY_PARAMETER, ALARMS_PARAMETER, BAKE_PARAMETER),
    "CANARY": (STRATEGY_PARAMETER, ALARMS_PARAMETER, BAKE_PARAMETER, *CANARY_PARAMETERS),
    "LINEAR": (STRATEGY_PARAMETER, ALARMS_PARAMETER, BAKE_PARAMETER, *LINEAR_PARAMETERS),
}
DEPLOYMENT_PARAMETERS = (
    STRATEGY_PARAMETER,
    BAKE_PARAMETER,
    ALARMS_PARAMETER,
    *CANARY_PARAMETERS,
    *LINEAR_PARAMETERS,
    *HOOK_PARAMETERS,
)
# Where each parameter must reach in the service's DeploymentConfiguration (AWS::ECS::Service
# registry schema), for the strategy to take effect rather than be ignored.
DEPLOYMENT_WIRING = {
    STRATEGY_PARAMETER: ("Strategy",),
    BAKE_PARAMETER: ("BakeTimeInMinutes",),
    ALARMS_PARAMETER: ("Alarms", "AlarmNames"),
    "CanaryPercent": ("CanaryConfiguration", "CanaryPercent"),
    "CanaryBakeMinutes": ("CanaryConfiguration", "CanaryBakeTimeInMinutes"),
    "LinearStepPercent": ("LinearConfiguration", "StepPercent"),
    "LinearStepBakeMinutes": ("LinearConfiguration", "StepBakeTimeInMinutes"),
    "TestHookFunctionArn": ("LifecycleHooks", "HookTargetArn"),
    "TestHookRoleArn": ("LifecycleHooks", "RoleArn"),
}
# What ECS blue/green, canary and linear deployments need of the service's load balancer
# (AWS, "Required resources for Amazon ECS blue/green deployments"; the registry schema's
# LoadBalancer AdvancedConfiguration): the alternate target group, the production and test
# listener rules, and the ECS infrastructure role for load balancers.
ADVANCED_LOAD_BALANCER_KEYS = (
    "AlternateTargetGroupArn",
    "ProductionListenerRule",
    "TestListenerRule",
    "RoleArn",
)


def _unwrap_conditions(value: Any) -> list[Any]:
    """The values a property can take: both branches of an `Fn::If`, recursively."""
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        branches = value["Fn::If"]
        if isinstance(branches, list) and len(branches) == 3:
            return [*_unwrap_conditions(branches[1]), *_unwrap_conditions(branches[2])]
    return [value]


def _values_at(value: Any, path: tuple[str, ...]) -> list[Any]:
    """Every value at a key path, through `Fn::If` branches and list items."""
    found: list[Any] = []
    for candidate in _unwrap_conditions(value):
        if isinstance(candidate, list):
            for item in candidate:
                found.extend(_values_at(item, path))
        elif not path:
            found.append(candidate)
        elif isinstance(candidate, dict) and path[0] in candidate:
            found.extend(_values_at(candidate[path[0]], path[1:]))
    return found


def _services(cfn: Any) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in (cfn.template.get("Resources") or {}).items()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::ECS::Service"
    }


class DeploymentParameters(CloudFormationLintRule):
    id = "E9109"
    shortdesc = "The template declares the deployment parameters its environments pass"
    description = (
        "An environment's deployment (strategy, bake times, steps, alarms, lifecycle-hook test) reaches "
        "the template as parameters; CloudFormation refuses values for undeclared ones."
    )
    source_url = PipelineParameters.source_url
    tags = ("ecs-delivery", "deployment")

    def __init__(self) -> None:
        super().__init__()
        # The ECS strategies the stack's environments use (`make check-template STACK=`), separated
        # by "/" (cfn-lint splits a rule's settings at ","); empty: with DeploymentStrategy declared,
        # every strategy.
        self.config_definition = {
            "strategies": {"default": "", "type": "string"},
            "test_hook": {"default": False, "type": "boolean"},
        }
        self.configure()

    def match(self, cfn: Any) -> list[RuleMatch]:
        declared = set((cfn.template.get("Parameters") or {}).keys())
        strategies = [s for s in str(self.config["strategies"]).split("/") if s]
        test_hook = bool(self.config["test_hook"])
        if not strategies and STRATEGY_PARAMETER in declared:
            strategies, test_hook = list(STRATEGY_PARAMETERS), True
        needed: dict[str, str] = {}
        for strategy in strategies:
            for parameter in STRATEGY_PARAMETERS.get(strategy, ()):
                needed.setdefault(parameter, strategy)
        if test_hook:
            for parameter in HOOK_PARAMETERS:
                needed.setdefault(parameter, "the lifecycle-hook test (testPaths)")
        return [
            RuleMatch(
                ["Parameters"],
                f"declare the parameter {parameter} and use it in the ECS service's DeploymentConfiguration "
                f"({'.'.join(DEPLOYMENT_WIRING[parameter])}): the pipeline sets it for {why} "
                '(docs/template-contract.md, "Deployment strategies")',
            )
            for parameter, why in needed.items()
            if parameter not in declared
        ]


class DeploymentParametersReachTheService(CloudFormationLintRule):
    id = "E9110"
    shortdesc = "Each deployment parameter the template declares reaches its ECS service"
    description = (
        "A declared but unused deployment parameter means the environment's strategy, alarms or test is "
        "silently not applied; blue/green, canary and linear also need the load balancer's alternate "
        "target group, listener rules and infrastructure role."
    )
    source_url = PipelineParameters.source_url
    tags = ("ecs-delivery", "deployment")

    def match(self, cfn: Any) -> list[RuleMatch]:
        declared = set((cfn.template.get("Parameters") or {}).keys()) & set(DEPLOYMENT_PARAMETERS)
        if not declared:
            return []
        services = _services(cfn)
        found = []
        if not services:
            return [
                RuleMatch(["Parameters"], "declare the AWS::ECS::Service the deployment parameters configure")
            ]
        for name, service in services.items():
            properties = service.get("Properties") or {}
            configuration = properties.get("DeploymentConfiguration")
            for parameter in sorted(declared):
                path = DEPLOYMENT_WIRING[parameter]
                if not any(_references(value, parameter) for value in _values_at(configuration, path)):
                    found.append(
                        RuleMatch(
                            ["Resources", name, "Properties"],
                            f"{name}: set DeploymentConfiguration.{'.'.join(path)} from !Ref {parameter}, "
                            "or the environment's deployment is not applied",
                        )
                    )
            if STRATEGY_PARAMETER in declared:
                advanced = _values_at(properties.get("LoadBalancers"), ("AdvancedConfiguration",))
                for key in ADVANCED_LOAD_BALANCER_KEYS:
                    if not any(_values_at(value, (key,)) for value in advanced):
                        found.append(
                            RuleMatch(
                                ["Resources", name, "Properties"],
                                f"{name}: give its load balancer an AdvancedConfiguration with {key} "
                                "(for BLUE_GREEN, CANARY and LINEAR: the alternate target group, the "
                                "production and test listener rules, the ECS infrastructure role for load "
                                "balancers)",
                            )
                        )
        return found


class GatedServicesRollBackByThemselves(CloudFormationLintRule):
    id = "W9111"
    shortdesc = "A gated environment's ECS services roll back by themselves"
    description = (
        "Without deployment alarms or the deployment circuit breaker, an ECS deployment that goes wrong is "
        "left to the pipeline's verify, after all traffic has moved."
    )
    source_url = PipelineParameters.source_url
    tags = ("ecs-delivery", "deployment")

    def match(self, cfn: Any) -> list[RuleMatch]:
        found = []
        for name, service in _services(cfn).items():
            configuration = (service.get("Properties") or {}).get("DeploymentConfiguration")
            alarms = [v for v in _values_at(configuration, ("Alarms",)) if isinstance(v, dict)]
            breakers = [
                v for v in _values_at(configuration, ("DeploymentCircuitBreaker",)) if isinstance(v, dict)
            ]
            rolls_back = any(v.get("Rollback") is not False for v in [*alarms, *breakers])
            if not rolls_back:
                found.append(
                    RuleMatch(
                        ["Resources", name, "Properties"],
                        f"{name}: give DeploymentConfiguration Alarms (AlarmNames: !Ref {ALARMS_PARAMETER}, "
                        "Rollback: true) or a DeploymentCircuitBreaker with Rollback: true, so that a "
                        "release that goes wrong is rolled back by ECS, before the pipeline's verify",
                    )
                )
        return found


# The lifecycle stage at which the test listener points at the new revision and production
# still at the current one (AWS, "Lifecycle hooks for Amazon ECS service deployments").
TEST_STAGE = "POST_TEST_TRAFFIC_SHIFT"
PROGRESSIVE_STRATEGIES = ("BLUE_GREEN", "CANARY", "LINEAR")
HOOK_FUNCTION_PARAMETER, HOOK_ROLE_PARAMETER = HOOK_PARAMETERS


def condition_holds(
    expression: Any, conditions: dict[str, Any], parameters: dict[str, str], seen: tuple[str, ...] = ()
) -> bool | None:
    """A template condition's value with these parameter values (Fn::Equals, Fn::And, Fn::Or,
    Fn::Not, Condition), or None when it depends on anything else. The change-set review
    (build-image/changeset_report.py, `condition_holds`) evaluates the same way; each file
    stands alone where it runs (cfn-lint's rules folder, the tools image), hence the copy."""
    if not isinstance(expression, dict) or len(expression) != 1:
        return None
    ((function, arguments),) = expression.items()
    if function == "Condition" and isinstance(arguments, str) and arguments in conditions:
        if arguments in seen:
            return None
        return condition_holds(conditions[arguments], conditions, parameters, (*seen, arguments))
    if not isinstance(arguments, list):
        return None
    if function == "Fn::Equals" and len(arguments) == 2:
        left, right = (_condition_operand(a, parameters) for a in arguments)
        return None if left is None or right is None else left == right
    values = [condition_holds(a, conditions, parameters, seen) for a in arguments]
    if None in values or not values:
        return None
    if function == "Fn::Not" and len(values) == 1:
        return not values[0]
    if function == "Fn::And":
        return all(values)
    if function == "Fn::Or":
        return any(values)
    return None


def _condition_operand(value: Any, parameters: dict[str, str]) -> str | None:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, dict) and list(value) == ["Ref"] and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    # `!Join [delimiter, !Ref List]`: a CommaDelimitedList parameter (DeploymentAlarmNames) is
    # passed as one comma-separated string; joined, its items stand with the delimiter between.
    joined = value.get("Fn::Join") if isinstance(value, dict) and list(value) == ["Fn::Join"] else None
    if (
        isinstance(joined, list)
        and len(joined) == 2
        and isinstance(joined[0], str)
        and isinstance(joined[1], dict)
        and list(joined[1]) == ["Ref"]
        and joined[1]["Ref"] in parameters
    ):
        return joined[0].join(parameters[joined[1]["Ref"]].split(","))
    return None


def _hook_condition_follows_the_parameters(name: str, conditions: dict[str, Any]) -> bool:
    """The one conditional hook the contract allows: a condition on the strategy and the hook
    parameters alone (any other reference makes it unknowable here), true whenever the strategy
    is progressive and both hook ARNs are set: then the hook runs exactly when the pipeline
    passes one."""
    for strategy in PROGRESSIVE_STRATEGIES:
        parameters = {
            STRATEGY_PARAMETER: strategy,
            HOOK_FUNCTION_PARAMETER: "arn:aws:lambda:eu-west-1:123456789012:function:hook",
            HOOK_ROLE_PARAMETER: "arn:aws:iam::123456789012:role/hook",
        }
        if condition_holds({"Condition": name}, conditions, parameters) is not True:
            return False
    return True


class DeploymentPlainlyFromTheParameters(CloudFormationLintRule):
    id = "E9112"
    shortdesc = "The ECS service takes its strategy and its test hook plainly from the parameters"
    description = (
        "The change-set review tells the approver the strategy and the test the parameters pass; it can "
        "only vouch for them when the service takes them as they are, not through a function of its own."
    )
    source_url = PipelineParameters.source_url
    tags = ("ecs-delivery", "deployment")

    def match(self, cfn: Any) -> list[RuleMatch]:
        declared = set((cfn.template.get("Parameters") or {}).keys())
        conditions = cfn.template.get("Conditions") or {}
        why = "the change-set review can only vouch for what the template plainly takes from the parameters"
        found = []
        for name, service in _services(cfn).items():
            configuration = (service.get("Properties") or {}).get("DeploymentConfiguration")
            configuration = configuration if isinstance(configuration, dict) else {}
            path = ["Resources", name, "Properties", "DeploymentConfiguration"]
            if STRATEGY_PARAMETER in declared and configuration.get("Strategy") != {
                "Ref": STRATEGY_PARAMETER
            }:
                found.append(
                    RuleMatch(
                        [*path, "Strategy"],
                        f"{name}: set DeploymentConfiguration.Strategy to exactly !Ref {STRATEGY_PARAMETER}, "
                        f"not a literal, an Fn::If or another function of it: {why}",
                    )
                )
            if HOOK_FUNCTION_PARAMETER in declared and not self._hook_is_plain(
                configuration.get("LifecycleHooks"), conditions
            ):
                found.append(
                    RuleMatch(
                        [*path, "LifecycleHooks"],
                        f"{name}: give DeploymentConfiguration.LifecycleHooks an entry with HookTargetArn "
                        f"exactly !Ref {HOOK_FUNCTION_PARAMETER} and LifecycleStages [{TEST_STAGE}], as a "
                        "list or as !If [condition, [hooks], !Ref AWS::NoValue] whose condition uses only "
                        f"{STRATEGY_PARAMETER}, {HOOK_FUNCTION_PARAMETER} and {HOOK_ROLE_PARAMETER} and "
                        f"holds whenever the strategy is not ROLLING and both are set: {why}",
                    )
                )
        return found

    @staticmethod
    def _hook_is_plain(value: Any, conditions: dict[str, Any]) -> bool:
        branches = value.get("Fn::If") if isinstance(value, dict) and len(value) == 1 else None
        if (
            isinstance(branches, list)
            and len(branches) == 3
            and isinstance(branches[0], str)
            and branches[2] == {"Ref": "AWS::NoValue"}
            and _hook_condition_follows_the_parameters(branches[0], conditions)
        ):
            value = branches[1]
        return isinstance(value, list) and any(
            isinstance(entry, dict)
            and entry.get("HookTargetArn") == {"Ref": HOOK_FUNCTION_PARAMETER}
            and isinstance(entry.get("LifecycleStages"), list)
            and TEST_STAGE in entry["LifecycleStages"]
            for entry in value
        )
