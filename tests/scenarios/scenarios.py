"""Day-two scenarios: what a pipeline does on its second, tenth and hundredth run.

Each scenario starts from a world (after a first release where it needs one), does one
thing a team does in its first weeks (push, re-run, reject, break a template, fire an alarm,
push outside the window, push twice), runs the declared pipeline through the simulator
(tests/support/pipeline_run.py) and reports what that step cost and where it left each
environment. tests/scenarios/test_day_two.py holds the expected results as literals;
`python -m tests.scenarios.table` writes the table of docs/operations.md from the same runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from tests.support.pipeline_run import InfraCommit, PipelineRun, Template, World


def app(number: int) -> str:
    """An application commit; its image tag is the first 12 characters (`0202…` for 2)."""
    return (f"{number:02x}" * 20)[:40]


def tag(number: int) -> str:
    return app(number)[:12]


@dataclass(frozen=True)
class Result:
    """What one scenario step cost and left behind."""

    image_builds: int
    change_sets: int
    reviews: int
    approvals: int
    runs: tuple[tuple[str, str], ...]
    """(STANDARD or ROLLBACK, final status) of each execution the step started."""
    environments: dict[str, tuple[Optional[str], Optional[str]]] = field(default_factory=dict)
    """Environment → (stack status, `<image tag> <template>`)."""


class Scenario:
    """A simulator over one stack's declared pipeline, with helpers for the steps."""

    def __init__(self, mocks):
        self.mocks = mocks
        self.world = World(app_head=app(1), infra_head=self.infra("1" * 40, Template("v1"), mocks))
        self.run = PipelineRun(mocks, self.world)
        self._mark = 0
        self._counts: Optional[tuple[int, int, int, int]] = None

    @staticmethod
    def infra(sha: str, template: Template, mocks) -> InfraCommit:
        """An infrastructure commit: its template, and every template configuration file the
        pipeline names (each sets the environment's name)."""
        files = {}
        (pipeline,) = [r for r in mocks.resources if r.type == "aws:codepipeline/pipeline:Pipeline"]
        for stage in pipeline.inputs["stages"]:
            for action in stage["actions"]:
                path = (action.get("configuration") or {}).get("TemplateConfiguration")
                if path:
                    files[path.split("::", 1)[1]] = {"Environment": stage["name"].split("-")[0]}
        return InfraCommit(sha, template, files)

    def stacks(self) -> dict[str, str]:
        return self.run.environment_stacks()

    def release(self, **push) -> None:
        self.run.push(**push, at=self.run.now)
        self.run.run()

    def mark(self) -> None:
        """Count from here on."""
        self._mark = len(self.run.executions)
        counts = self.run.counts
        self._counts = (counts.image_builds, counts.change_sets, counts.reviews, counts.approvals)

    def result(self) -> Result:
        counts = self.run.counts
        base = self._counts or (0, 0, 0, 0)
        now = (counts.image_builds, counts.change_sets, counts.reviews, counts.approvals)
        return Result(
            *(n - b for n, b in zip(now, base, strict=True)),
            runs=tuple((e.type, e.status) for e in self.run.executions[self._mark :]),
            environments=self.run.environments(),
        )


# -- the scenarios --------------------------------------------------------------------------
def first_release(s: Scenario) -> None:
    s.mark()
    s.release()


def app_change(s: Scenario) -> None:
    s.release()
    s.mark()
    s.release(app=app(2))


def infrastructure_only_change(s: Scenario) -> None:
    s.release()
    s.mark()
    s.release(infra=s.infra("2" * 40, Template("v2"), s.mocks))


def rerun_with_nothing_new(s: Scenario) -> None:
    s.release()
    s.mark()
    s.release()


def rejected_approval(s: Scenario) -> None:
    s.release()
    s.world.decide = lambda request: ("Rejected", 30)
    s.mark()
    s.release(app=app(2))


def failed_execute_then_rollback(s: Scenario) -> None:
    """The new template fails in the last environment's stack only (say, its production
    parameters); every earlier environment takes it."""
    s.release()
    last = list(s.stacks().values())[-1]
    s.mark()
    s.release(infra=s.infra("2" * 40, Template("v2", fails_in=frozenset({last})), s.mocks))


def failed_verify(s: Scenario) -> None:
    """The new version fails the smoke test in the last environment only."""
    s.release()
    last = list(s.stacks())[-1]
    s.world.smoke_passes = lambda environment, stack: (
        not (environment == last and (stack.version or "").startswith(tag(2)))
    )
    s.mark()
    s.release(app=app(2))


def alarm_during_bake(s: Scenario) -> None:
    """Every alarm goes off while the new version runs, wherever one is watched."""
    s.release()
    s.world.alarm_fires = lambda alarm, stack: stack is not None and (stack.version or "").startswith(tag(2))
    s.mark()
    s.release(app=app(2))


def push_outside_the_window(s: Scenario) -> None:
    s.release()
    s.world.window_open = lambda rule: False
    s.mark()
    s.release(app=app(2))


def two_pushes_in_quick_succession(s: Scenario) -> None:
    """The second push one minute after the first."""
    s.release()
    s.mark()
    start = s.run.now
    s.run.push(app=app(2), at=start)
    s.run.push(app=app(3), at=start + 1)
    s.run.run()


def failed_first_create_then_fixed(s: Scenario) -> None:
    """The first template fails in every stack (placeholder network ids): the first
    environment's create fails and the run stops there. The next commit fixes it."""
    broken = Template("v1", fails_in=frozenset(s.stacks().values()))
    s.world.infra_head = s.infra("1" * 40, broken, s.mocks)
    s.release()
    s.mark()
    s.release(infra=s.infra("2" * 40, Template("v2"), s.mocks))


def failed_first_create_in_the_last_environment_then_fixed(s: Scenario) -> None:
    """The first template fails only in the last environment's stack (its own parameters):
    every earlier environment is created, the last one's create fails and, with nothing to
    roll back to, stays failed. The next commit fixes it."""
    last = list(s.stacks().values())[-1]
    s.world.infra_head = s.infra("1" * 40, Template("v1", fails_in=frozenset({last})), s.mocks)
    s.release()
    s.mark()
    s.release(infra=s.infra("2" * 40, Template("v2"), s.mocks))


SCENARIOS: dict[str, Callable[[Scenario], None]] = {
    "first release": first_release,
    "app change": app_change,
    "infrastructure-only change": infrastructure_only_change,
    "re-run with nothing new": rerun_with_nothing_new,
    "rejected approval": rejected_approval,
    "failed execute, then rollback": failed_execute_then_rollback,
    "failed verify": failed_verify,
    "alarm during bake": alarm_during_bake,
    "push outside the window": push_outside_the_window,
    "two pushes in quick succession": two_pushes_in_quick_succession,
    "failed first create, then fixed": failed_first_create_then_fixed,
    "failed first create in the last environment, then fixed": failed_first_create_in_the_last_environment_then_fixed,
}


def play(mocks, name: str) -> Result:
    scenario = Scenario(mocks)
    try:
        SCENARIOS[name](scenario)
        return scenario.result()
    finally:
        scenario.run.close()
