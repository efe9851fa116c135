"""offline/progress.py: work that runs for minutes in other processes says, while it waits,
what is still to come; a tier never sits silent (issue 28: a line at least every 10 s)."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from offline.progress import EVERY_SECONDS, run_saying, wait_saying


def test_a_line_comes_well_within_ten_seconds():
    assert EVERY_SECONDS <= 10 / 2


def test_it_says_what_is_still_to_come_until_everything_is_done():
    said: list[str] = []
    heard_twice = threading.Event()

    def say(line: str) -> None:
        said.append(line)
        if len(said) == 2:
            heard_twice.set()

    def slow() -> str:
        # Done only once the wait has been heard about twice; a silent wait leaves it unheard.
        return "prod report" if heard_twice.wait(30) else "nothing was said while waiting"

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {"dev": pool.submit(lambda: "dev report"), "prod": pool.submit(slow)}
        futures["dev"].result()
        results = wait_saying(futures, say, "preflight", every=0.01)
    assert results == {"dev": "dev report", "prod": "prod report"}
    assert said[0].startswith("preflight: 1 of 2 done, prod to go (")
    assert said[-1].startswith("preflight: 2 of 2 done (")
    assert all(line.startswith("preflight: ") and line.endswith(" s)") for line in said)


def test_one_job_is_named_and_its_failure_is_raised():
    said: list[str] = []

    def fail() -> None:
        raise RuntimeError("terraform init failed")

    with ThreadPoolExecutor(max_workers=1) as pool, pytest.raises(RuntimeError, match="init failed"):
        wait_saying({"dev": pool.submit(fail)}, said.append, "preflight (Terraform)", every=0.01)
    assert said[-1].startswith("preflight (Terraform) dev: done (")


def test_a_quiet_command_is_said_to_be_still_running_and_its_output_passed_on(tmp_path, capfd):
    """pip installing a large wheel prints nothing for a while: the Makefile's venv target runs
    it through `python -m offline.progress`."""
    heard = tmp_path / "heard"
    # Ends only once a line has said it is still running; a silent wait leaves it unheard.
    quiet = (
        "import os, sys, time\n"
        "print('Collecting pulumi-aws', flush=True)\n"
        f"for _ in range(3000):\n    if os.path.exists({str(heard)!r}): sys.exit(3)\n    time.sleep(0.01)\n"
        "sys.exit('nothing was said while waiting')\n"
    )
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        heard.touch()

    assert run_saying([sys.executable, "-c", quiet], say, every=0.05) == 3
    assert capfd.readouterr().out == "Collecting pulumi-aws\n"
    assert said and said[0].startswith(f"… still running: {sys.executable} -c import os, sys, time")
