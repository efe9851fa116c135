"""The regions fixture (environments in three regions, docs/regions.md) through the pipeline-run
simulator: a region changes where an action runs, not what a run costs or where it leaves each
environment. Expected numbers worked out from the stage shapes (docs/operations.md): three ungated
environments and one gated one (a plan and a release change set, one review, one approval)."""

from __future__ import annotations

import pytest

from tests.conftest import run_stack
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
