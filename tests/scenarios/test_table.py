"""docs/operations.md's scenario table is the simulator's, not a copy that drifts."""

from __future__ import annotations

from tests.conftest import run_stack
from tests.scenarios import table


def test_the_documented_table_is_what_the_simulator_says():
    assert table.current() == table.render(run_stack(table.STACK).mocks), (
        "docs/operations.md is out of date: run `venv/bin/python -m tests.scenarios.table --write`"
    )
