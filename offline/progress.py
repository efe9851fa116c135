"""Progress of work that runs for minutes in other processes (Terraform, pip, a copy of the
repository's tiers): a line at least every few seconds saying what is still running, so that
a tier never looks hung. Used by `make preflight`, the provider tier's fixtures, and the
Makefile's venv target, which runs pip through it (standard library only: it runs before
anything is installed):

    python -m offline.progress COMMAND [ARG ...]   # COMMAND's output, and a line when it is quiet
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import TypeVar

T = TypeVar("T")
# A developer (or CI) should never wait longer than this for a line: ten seconds of silence
# is where a tier starts to look hung.
EVERY_SECONDS = 5.0


def wait_saying(
    futures: Mapping[str, Future[T]],
    say: Callable[[str], None],
    what: str,
    every: float = EVERY_SECONDS,
) -> dict[str, T]:
    """Each future's result, by name, once all are done; meanwhile a line through `say` each
    time one finishes and every `every` seconds: how many are done, which are still to come,
    and for how long it has been waiting."""
    started = time.monotonic()
    pending = set(futures.values())
    while pending:
        _, pending = wait(pending, timeout=every, return_when=FIRST_COMPLETED)
        seconds = f"({time.monotonic() - started:.0f} s)"
        if len(futures) == 1:
            (name,) = futures
            say(f"{what} {name}: {'still at work' if pending else 'done'} {seconds}")
            continue
        to_go = [name for name, future in futures.items() if future in pending]
        done = len(futures) - len(to_go)
        still = f", {', '.join(to_go)} to go" if to_go else ""
        say(f"{what}: {done} of {len(futures)} done{still} {seconds}")
    return {name: future.result() for name, future in futures.items()}


def run_saying(command: list[str], say: Callable[[str], None], every: float = EVERY_SECONDS) -> int:
    """Run `command`, its output passed on as it comes, and a line through `say` whenever it has
    printed nothing for `every` seconds (pip installing a large wheel, say). Its exit status."""
    last_output = time.monotonic()
    started = last_output
    line_open = False
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as running:  # noqa: S603
        assert running.stdout is not None
        stream = running.stdout

        def pass_on() -> None:
            nonlocal last_output, line_open
            for chunk in iter(lambda: stream.read1(4096), b""):
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
                last_output, line_open = time.monotonic(), not chunk.endswith(b"\n")

        reader = threading.Thread(target=pass_on, daemon=True)
        reader.start()
        while reader.is_alive():
            reader.join(timeout=every / 5)
            now = time.monotonic()
            if reader.is_alive() and now - last_output >= every:
                # On a line of its own, also after a line the command has not ended yet.
                opening = "\n" if line_open else ""
                say(f"{opening}… still running: {' '.join(command[:4])} ({now - started:.0f} s)")
                last_output, line_open = now, False
        return running.wait()


def main(argv: list[str] | None = None) -> int:
    command = sys.argv[1:] if argv is None else argv
    if not command:
        sys.exit("usage: python -m offline.progress COMMAND [ARG ...]")
    return run_saying(command, lambda line: print(line, flush=True))


if __name__ == "__main__":
    sys.exit(main())
