"""Which regions the delivery system acts in: the pipeline's (`aws:region`) and each other one an
environment's stack lives in (`environments[].region`). CodePipeline needs an artifact store in
every one of them (AWS, "Add a cross-Region action in CodePipeline"); docs/regions.md."""

from __future__ import annotations

import functools
import json
from importlib.resources import files

import pulumi
import pulumi_aws as aws

from components.config import NAMESPACE, DeliveryConfig
from components.config.reading import stack_provider_settings


def in_pipeline_region(config: DeliveryConfig, pipeline_region: str) -> DeliveryConfig:
    """The config with `region` cleared where it names the pipeline's own region: such an
    environment is declared and deployed exactly as one without it (no action region, no store)."""
    if not any(env.region == pipeline_region for env in config.environments):
        return config
    return config.model_copy(
        update={
            "environments": [
                env.model_copy(update={"region": None}) if env.region == pipeline_region else env
                for env in config.environments
            ]
        }
    )


def other_regions(config: DeliveryConfig) -> list[str]:
    """Every region besides the pipeline's that an environment's stack lives in, each once, in
    order (after `in_pipeline_region`)."""
    return sorted({env.region for env in config.environments if env.region})


@functools.cache
def _partitions() -> dict[str, str]:
    """Region → partition, from the installed botocore's endpoint data (as `known_regions`)."""
    document = json.loads((files("botocore") / "data" / "partitions.json").read_text())
    return {
        region: partition["id"] for partition in document["partitions"] for region in partition["regions"]
    }


def partition_of(region: str) -> str:
    """The partition of a region `known_regions` accepts (`aws`, `aws-cn`, `aws-us-gov`, ...)."""
    return _partitions()[region]


def partition_problems(config: DeliveryConfig, pipeline_region: str) -> list[str]:
    """A pipeline acts within its own partition: its roles and ARNs name it (`arn:aws:`,
    `arn:aws-cn:`), and no role of one partition is known in another."""
    own = _partitions().get(pipeline_region)
    return [
        f"{NAMESPACE}:environments[{index}].region: {env.region!r} is in the {_partitions().get(env.region)} "
        f"partition, the pipeline's region {pipeline_region!r} in {own}; a pipeline deploys within "
        "its own partition"
        for index, env in enumerate(config.environments)
        if env.region and _partitions().get(env.region) != own
    ]


def regional_provider(
    name: str, region: str, *, account_id: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None
) -> aws.Provider:
    """A provider for `region` that acts as the stack's own does: the stack's `aws:` settings
    (credentials, profile, roles to assume, default tags, …; an explicit provider reads none of
    them by itself), and, unless the stack names its own, only in the pipeline's account."""
    settings = stack_provider_settings("aws")
    settings.setdefault("allowed_account_ids", pulumi.Output.from_input(account_id).apply(lambda a: [a]))
    return aws.Provider(name, region=region, **settings, opts=opts)
