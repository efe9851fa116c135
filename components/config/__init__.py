"""The stack configuration: what `ecs-delivery:*` keys a stack file may hold, how the
program reads them, and how it says what is wrong with them. One module per job:

- `components/config/schedules.py`: the deployment window's cron and time zone;
- `components/config/schema.py`: the typed model (`DeliveryConfig`, its sections and
  environment variants), its field types and the rules across its keys;
- `components/config/messages.py`: each problem as one line naming the key and what it allows;
- `components/config/reading.py`: the stack config as Pulumi hands it over, the provider keys
  and regions the installed SDKs know, and `load_config` / `config_from_stack`.

Each module imports only those listed before it (tests/test_config_package.py). The names
below are the public names of the single module this package replaces, so that every
`from components.config import X` keeps working.

An environment's keys are not all here: each deploy target's variant and each gate's option
live in their unit, and the registry (`components/units/__init__.py`) assembles them into
`EnvironmentConfig` and rebuilds `DeliveryConfig` with it. Both are handed out by `__getattr__`
below, which imports the registry first, so that they are always the assembled models; and so
are the verify gate's names that lived here before it was a unit.
"""

from __future__ import annotations

import importlib
from typing import Any

from components.config.messages import (
    YAML11_BOOLEANS,
    ConfigError,
)
from components.config.reading import (
    ENGINE_NAMESPACE,
    PROVIDER_PACKAGES,
    config_from_stack,
    current_secret_keys,
    current_stack_config,
    known_regions,
    load_config,
    provider_config_keys,
    raw_config_from_pulumi,
)
from components.config.schedules import (
    MONTHS,
    WEEKDAYS,
)
from components.config.schema import (
    CHANGE_SET_NAME_MAX,
    CLOUDFORMATION_DEPLOYMENT_MINUTES_MAX,
    CONNECTION_NAME_MAX,
    DEPLOYMENT_PARAMETER_NAMES,
    DEPLOYMENT_STRATEGIES,
    ENVIRONMENT_ROLE_NAME_OVERHEAD,
    GATED_STAGES,
    IAM_ROLE_NAME_MAX,
    MAX_DEPLOYMENT_ALARMS,
    MAX_ENVIRONMENT_NAME,
    MAX_PIPELINE_STAGES,
    MAX_TEST_PATHS,
    NAMESPACE,
    NOTIFICATION_RULE_NAME_MAX,
    NOTIFICATION_RULE_SUFFIX,
    PIPELINE_NAME_MAX,
    PLAN_CHANGE_SET_SUFFIX,
    PULUMI_SUFFIX_LENGTH,
    RELEASE_CHANGE_SET_SUFFIX,
    REPAIRING,
    RESERVED_ROLE_PATH,
    SECRET_ALLOWED_KEYS,
    SECRET_PLACEHOLDER,
    STACK_NAME,
    AccountId,
    AlarmName,
    ApplicationConfig,
    ApproverArn,
    ArtifactsConfig,
    BranchName,
    BuildConfig,
    BuildImageConfig,
    CacheMode,
    CachePrefix,
    ComputeType,
    ConnectionArn,
    DeploymentAlarmName,
    DeploymentConfig,
    DeploymentWindowConfig,
    DeployRoleConfig,
    DockerHubConfig,
    EcrConfig,
    EcrRepositoryName,
    EmailAddress,
    EnvironmentGates,
    InfrastructureConfig,
    KmsKeyArn,
    LogRetentionDays,
    ManagedPolicyArn,
    NotificationsConfig,
    OnFailureConfig,
    ParameterName,
    ParameterValue,
    Percent,
    RelativePath,
    RepositoryId,
    ResourceName,
    RoleArn,
    SecretArn,
    Section,
    StackName,
    TargetAccountConfig,
    TestPath,
    linear_steps,
)

__all__ = [
    "BASH_VARIABLES",
    "CHANGE_SET_NAME_MAX",
    "CLOUDFORMATION_DEPLOYMENT_MINUTES_MAX",
    "CODEBUILD_VARIABLES",
    "CONNECTION_NAME_MAX",
    "DEPLOYMENT_PARAMETER_NAMES",
    "DEPLOYMENT_STRATEGIES",
    "ENGINE_NAMESPACE",
    "ENVIRONMENT_ROLE_NAME_OVERHEAD",
    "GATED_STAGES",
    "IAM_ROLE_NAME_MAX",
    "MAX_DEPLOYMENT_ALARMS",
    "MAX_ENVIRONMENT_NAME",
    "MAX_PIPELINE_STAGES",
    "MAX_TEST_PATHS",
    "MONTHS",
    "NAMESPACE",
    "NOTIFICATION_RULE_NAME_MAX",
    "NOTIFICATION_RULE_SUFFIX",
    "PIPELINE_NAME_MAX",
    "PLAN_CHANGE_SET_SUFFIX",
    "PROVIDER_PACKAGES",
    "PULUMI_SUFFIX_LENGTH",
    "RELEASE_CHANGE_SET_SUFFIX",
    "REPAIRING",
    "RESERVED_ROLE_PATH",
    "SECRET_ALLOWED_KEYS",
    "SECRET_PLACEHOLDER",
    "STACK_NAME",
    "VERIFY_PROJECT_VARIABLES",
    "WEEKDAYS",
    "YAML11_BOOLEANS",
    "AccountId",
    "AlarmName",
    "ApplicationConfig",
    "ApproverArn",
    "ArtifactsConfig",
    "BranchName",
    "BuildConfig",
    "BuildImageConfig",
    "CacheMode",
    "CachePrefix",
    "ComputeType",
    "ConfigError",
    "ConnectionArn",
    "DeliveryConfig",
    "DeployRoleConfig",
    "DeploymentAlarmName",
    "DeploymentConfig",
    "DeploymentWindowConfig",
    "DockerHubConfig",
    "EcrConfig",
    "EcrRepositoryName",
    "EmailAddress",
    "EnvironmentConfig",
    "EnvironmentGates",
    "InfrastructureConfig",
    "KmsKeyArn",
    "LogRetentionDays",
    "ManagedPolicyArn",
    "NotificationsConfig",
    "OnFailureConfig",
    "OutputName",
    "ParameterName",
    "ParameterValue",
    "Percent",
    "RelativePath",
    "RepositoryId",
    "ResourceName",
    "RoleArn",
    "SecretArn",
    "Section",
    "StackName",
    "TargetAccountConfig",
    "TestPath",
    "VerifyConfig",
    "config_from_stack",
    "current_secret_keys",
    "current_stack_config",
    "known_regions",
    "linear_steps",
    "load_config",
    "provider_config_keys",
    "raw_config_from_pulumi",
]

# Where the names that need the units live: the registry assembles the first two (it imports
# every unit, and every unit imports this package, so it is imported on first use, not here).
_FROM_UNITS = {
    "DeliveryConfig": "components.config.schema",
    "EnvironmentConfig": "components.units",
    "BASH_VARIABLES": "components.units.verify",
    "CODEBUILD_VARIABLES": "components.units.verify",
    "VERIFY_PROJECT_VARIABLES": "components.units.verify",
    "OutputName": "components.units.verify",
    "VerifyConfig": "components.units.verify",
}
__all__ += list(_FROM_UNITS)


def __getattr__(name: str) -> Any:
    module = _FROM_UNITS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    registry = importlib.import_module("components.units")
    if name == "EnvironmentConfig" and not hasattr(registry, name):
        # Asked for by a module the registry imports, before the registry could assemble it
        # (DeliveryConfig is the same object before and after its rebuild: handed out as it is).
        raise ImportError(
            "components.config.EnvironmentConfig is assembled by components.units, which is still "
            "importing the units: a module it imports may name it only in annotations (import it "
            "under TYPE_CHECKING)"
        )
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_FROM_UNITS})
