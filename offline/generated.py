"""A generated block inside a hand-written document: the text between a begin and an end
marker line, read (to compare with what would be generated) or replaced. Used by the
configuration reference (offline/config_reference.py) and the scenario table
(tests/scenarios/table.py)."""

from __future__ import annotations

from pathlib import Path


def read_block(document: Path, begin: str, end: str) -> str:
    text = document.read_text()
    return text.split(begin, 1)[1].split(end, 1)[0].strip("\n") + "\n"


def write_block(document: Path, begin: str, end: str, block: str) -> None:
    text = document.read_text()
    before, rest = text.split(begin, 1)
    _, after = rest.split(end, 1)
    document.write_text(f"{before}{begin}\n{block}{end}{after}")
