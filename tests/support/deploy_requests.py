"""What CloudFormation will ask of an environment's deploy role for a given template: every
call its resource handlers make, with the resource and the condition keys IAM would see. The
handler permissions come from the CloudFormation registry schemas that cfn-lint ships (a
development dependency, requirements-dev.txt), which is why this lives with the tests: the
permission proofs (tests/test_permissions.py) evaluate these requests against the deploy role
and the boundary that components/cloudformation.py declares; `pulumi up` needs none of it.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import cfnlint
from cfnlint.decode import cfn_yaml

from components.iam_policies import Request

HANDLERS = ("create", "read", "update", "delete")

# Handler permissions a deploy role is *meant* to be refused, each with the reason. They
# are left out of the sufficiency requests and asserted as denied by the isolation tests.
REFUSED_BY_DESIGN = {
    ("AWS::IAM::Role", "iam:DeleteRolePermissionsBoundary"): (
        "called by the Role update handler only to remove a boundary, which no stack may do"
    ),
}

# The service a role is handed to when a resource of this type names it (`iam:PassedToService`
# values from each service's documentation of its role parameters).
PASSED_TO_SERVICE = {
    "AWS::ECS::TaskDefinition": "ecs-tasks.amazonaws.com",
    "AWS::ECS::Service": "ecs.amazonaws.com",
    "AWS::Lambda::Function": "lambda.amazonaws.com",
    "AWS::ApplicationAutoScaling::ScalableTarget": "application-autoscaling.amazonaws.com",
    "AWS::RDS::DBInstance": "monitoring.rds.amazonaws.com",
    "AWS::Events::Rule": "events.amazonaws.com",
    "AWS::AutoScaling::LaunchConfiguration": "ec2.amazonaws.com",
    "AWS::EC2::LaunchTemplate": "ec2.amazonaws.com",
}

# CloudFormation invokes a custom resource's function with the stack's service role.
CUSTOM_RESOURCE_TYPES = ("AWS::CloudFormation::CustomResource",)


@functools.cache
def _registry_schemas() -> dict[str, str]:
    """Registry schema files by type name (cfn-lint names its files by hash)."""
    folder = os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas", "resources")
    paths = {}
    for path in glob.glob(os.path.join(folder, "*.json")):
        with open(path) as handle:
            type_name = json.load(handle).get("typeName")
        if type_name:
            paths[type_name] = path
    return paths


def handler_permissions(type_name: str, handlers: Sequence[str] = HANDLERS) -> list[str]:
    """The IAM permissions CloudFormation's handlers of a resource type call, as the
    CloudFormation registry schema lists them."""
    path = _registry_schemas().get(type_name)
    if path is None:
        raise KeyError(f"no CloudFormation registry schema for {type_name!r}")
    with open(path) as handle:
        schema = json.load(handle)
    permissions: list[str] = []
    for handler in handlers:
        for permission in (schema.get("handlers") or {}).get(handler, {}).get("permissions", []):
            if permission not in permissions:
                permissions.append(permission)
    return permissions


def load_template(text: str) -> dict[str, Any]:
    """A CloudFormation template, YAML short forms (`!Sub`, `!GetAtt`) decoded."""
    return cfn_yaml.loads(text)


# `${Name}` or `${Name.Attribute}` in an `Fn::Sub` string; `${!Literal}` and the `AWS::`
# pseudo parameters name no resource (CloudFormation's Fn::Sub reference).
_SUB_REFERENCE = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[^}]*)?\}")


def _referenced_resources(value: Any) -> set[str]:
    """Logical ids a property value points at (`Ref`, `Fn::GetAtt`, `${X}` in `Fn::Sub`)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                # A string, or [string, {Name: value}]: the names the mapping defines are its own.
                text, own = (inner, {}) if isinstance(inner, str) else (inner[0], inner[1])
                found |= set(_SUB_REFERENCE.findall(text)) - set(own)
                found |= _referenced_resources(own)
            else:
                found |= _referenced_resources(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _referenced_resources(inner)
    return found


_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/.+")


@dataclass(frozen=True)
class StackRole:
    logical_id: str
    arn: str
    boundary: Optional[str]


def _resolve(value: Any, *, stack_name: str, parameters: Mapping[str, str]) -> Optional[str]:
    """The few value forms a role's Path and PermissionsBoundary take in a template."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return parameters.get(value["Ref"])
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"].replace("${AWS::StackName}", stack_name)
    return None


def stack_roles(
    template: Mapping[str, Any],
    *,
    stack_name: str,
    partition: str,
    account_id: str,
    parameters: Mapping[str, str],
) -> dict[str, StackRole]:
    """The roles a template creates, with the ARNs CloudFormation would give them
    (`<stack>-<LogicalId>-<suffix>` under the declared path) and their boundaries."""
    roles = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        properties = resource.get("Properties", {})
        path = _resolve(properties.get("Path", "/"), stack_name=stack_name, parameters=parameters) or "/"
        name = _resolve(properties.get("RoleName"), stack_name=stack_name, parameters=parameters)
        name = name or f"{stack_name}-{logical_id}-1A2B3C4D5E6F"
        boundary = properties.get("PermissionsBoundary")
        roles[logical_id] = StackRole(
            logical_id,
            f"arn:{partition}:iam::{account_id}:role{path}{name}",
            _resolve(boundary, stack_name=stack_name, parameters=parameters) if boundary else None,
        )
    return roles


def deploy_requests(
    template: Mapping[str, Any],
    *,
    stack_name: str,
    partition: str,
    region: str,
    account_id: str,
    parameters: Mapping[str, str],
) -> list[Request]:
    """Every call CloudFormation's handlers make with the deploy role to create, read,
    update and delete the template's resources, with the resource and context keys IAM
    would see."""
    roles = stack_roles(
        template, stack_name=stack_name, partition=partition, account_id=account_id, parameters=parameters
    )
    requests: list[Request] = []
    for logical_id, resource in template.get("Resources", {}).items():
        type_name = resource["Type"]
        why = f"{logical_id} ({type_name})"
        if type_name in CUSTOM_RESOURCE_TYPES or type_name.startswith("Custom::"):
            token = _referenced_resources(resource.get("Properties", {}).get("ServiceToken"))
            for function in sorted(token):
                name = f"{stack_name}-{function}-1A2B3C4D5E6F"
                arn = f"arn:{partition}:lambda:{region}:{account_id}:function:{name}"
                requests.append(Request("lambda:InvokeFunction", arn, {}, why))
            continue
        referenced = sorted(_referenced_resources(resource.get("Properties", {})))
        passed_roles = [roles[r] for r in referenced if r in roles]
        # A role the pipeline hands the template as a parameter (the lifecycle-hook invoke role,
        # `TestHookRoleArn`) is passed by the resource that names it, too.
        passed_roles += [
            StackRole(r, parameters[r], None)
            for r in referenced
            if r not in roles and _ROLE_ARN.fullmatch(str(parameters.get(r, "")))
        ]
        for permission in handler_permissions(type_name):
            if (type_name, permission) in REFUSED_BY_DESIGN:
                continue
            service, _, action = permission.partition(":")
            if service != "iam":
                arn = f"arn:{partition}:{service}:{region}:{account_id}:{stack_name}-{logical_id}"
                requests.append(Request(permission, arn, {}, why))
            elif type_name == "AWS::IAM::Role":
                role = roles[logical_id]
                context = {"iam:PermissionsBoundary": role.boundary} if role.boundary else {}
                requests.append(Request(permission, role.arn, context, why))
            elif action == "PassRole":
                # Only the roles the template hands to this resource are passed.
                for role in passed_roles:
                    context = {"iam:PassedToService": PASSED_TO_SERVICE[type_name]}
                    requests.append(Request(permission, role.arn, context, why))
            elif action == "CreateServiceLinkedRole":
                arn = f"arn:{partition}:iam::{account_id}:role/aws-service-role/*"
                requests.append(Request(permission, arn, {}, why))
            elif action.startswith("List"):
                requests.append(Request(permission, "*", {}, why))
            else:
                for role in passed_roles:
                    requests.append(Request(permission, role.arn, {}, why))
    return requests
