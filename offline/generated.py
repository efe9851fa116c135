"""A generated block inside a hand-written document: the text between a begin and an end
marker line, read (to compare with what would be generated) or replaced. Used by the
configuration reference (offline/config_reference.py) and the scenario table
(tests/scenarios/table.py), the release-time model and the deployment strategies' table
(tests/scenarios/release_time.py, tests/scenarios/progressive.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def read_block(document: Path, begin: str, end: str) -> str:
    text = document.read_text()
    return text.split(begin, 1)[1].split(end, 1)[0].strip("\n") + "\n"


def write_block(document: Path, begin: str, end: str, block: str) -> None:
    text = document.read_text()
    before, rest = text.split(begin, 1)
    _, after = rest.split(end, 1)
    document.write_text(f"{before}{begin}\n{block}{end}{after}")


def print_or_write(
    argv: list[str] | None, description: str, document: Path, begin: str, end: str, block: Callable[[], str]
) -> int:
    """A generated block's command: print the block, or with `--write` put it in its document."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--write", action="store_true", help=f"rewrite the block in {document.name}")
    args = parser.parse_args(argv)
    if args.write:
        write_block(document, begin, end, block())
    else:
        sys.stdout.write(block())
    return 0
