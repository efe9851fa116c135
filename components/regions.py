"""Which regions the delivery system acts in: the pipeline's (`aws:region`) and each other one an
environment's stack lives in (`environments[].region`). CodePipeline needs an artifact store in
every one of them (AWS, "Add a cross-Region action in CodePipeline"); docs/regions.md."""

from __future__ import annotations

import functools
import json
from importlib.resources import files

from components.config import NAMESPACE, DeliveryConfig


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
