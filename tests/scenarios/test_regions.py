"""The regions fixture (environments in three regions, docs/regions.md) through the pipeline-run
simulator: a region changes where an action runs, not what a run costs or where it leaves each
environment. Expected numbers worked out from the stage shapes (docs/operations.md): three ungated
environments and one gated one (a plan and a release change set, one review, one approval)."""

from __future__ import annotations

import pytest

from offline.program import PROJECT_NAME
from offline.stack_file import read_stack_file
from tests.conftest import FIXTURE_STACKS, run_config, run_stack
from tests.scenarios.scenarios import Result, play, tag

OK = ("STANDARD", "Succeeded")
ENVIRONMENTS = ("dev", "qa", "staging", "production")


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (
            "first release",
            Result(1, 2, 1, 1, (OK,), {e: ("CREATE_COMPLETE", f"{tag(1)} v1") for e in ENVIRONMENTS}),
        ),
        (
            "app change",
            Result(1, 2, 1, 1, (OK,), {e: ("UPDATE_COMPLETE", f"{tag(2)} v1") for e in ENVIRONMENTS}),
        ),
    ],
)
def test_environments_in_other_regions_release_as_any_other(scenario, expected):
    assert play(run_stack("regions").mocks, scenario) == expected


def wave_across_regions():
    """The waves fixture with its wave's prod-us member in us-east-1 (the pipeline in eu-west-1):
    its alarms go (the config refuses them with a region)."""
    document = read_stack_file(
        "Pulumi.waves.yaml", (FIXTURE_STACKS / "Pulumi.waves.yaml").read_text(), PROJECT_NAME
    )
    config = document["config"]
    for env in config["ecs-delivery:environments"]:
        if env["name"] == "prod-us":
            env["region"] = "us-east-1"
            del env["alarms"], env["bakeMinutes"]
    return run_config(config, stack="waves-regions")


def test_a_wave_across_regions_plans_approves_and_releases_as_one():
    mocks = wave_across_regions().mocks
    (pipeline,) = [r for r in mocks.resources if r.type == "aws:codepipeline/pipeline:Pipeline"]
    regions = {
        (stage["name"], action["name"]): action["region"]
        for stage in pipeline.inputs["stages"]
        for action in stage["actions"]
        if action.get("region")
    }
    assert regions == {
        ("production-plan", "prod-us-CreateChangeSet"): "us-east-1",
        ("production", "prod-us-CreateChangeSet"): "us-east-1",
        ("production", "prod-us-ExecuteChangeSet"): "us-east-1",
    }
    assert [store["region"] for store in pipeline.inputs["artifactStores"]] == ["eu-west-1", "us-east-1"]
    # As the waves fixture's own first release (tests/scenarios/test_waves.py): two change sets
    # per member, a review per member, one approval for the wave.
    assert play(mocks, "first release") == Result(
        1,
        4,
        2,
        1,
        (OK,),
        {e: ("CREATE_COMPLETE", f"{tag(1)} v1") for e in ("dev", "prod-eu", "prod-us")},
    )
