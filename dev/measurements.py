"""`dev/measurements.json`: what `make bench` and `make bench-container` measured, every
sample kept, with when and on what machine. The docs quote these numbers next to a
`<!-- measured: <key> -->` marker, and `dev.docs_check` holds each quote to its record."""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

FILE = Path(__file__).resolve().parent / "measurements.json"


@dataclass(frozen=True)
class Measurement:
    command: str
    """What was measured, as a developer would run it."""
    unit: str
    """`s` or `MB`."""
    samples: list[float]
    measured: str
    """The day of the run (ISO date)."""
    cores: int
    load: list[float]
    """The machine's 1-, 5- and 15-minute load averages when it was recorded: a number taken
    on a busy machine says so."""

    @classmethod
    def now(cls, command: str, samples: list[float], unit: str) -> Measurement:
        return cls(
            command=command,
            unit=unit,
            samples=[round(s, 2) for s in samples],
            measured=datetime.date.today().isoformat(),
            cores=os.cpu_count() or 0,
            load=[round(x, 2) for x in os.getloadavg()],
        )


def load(path: Path = FILE) -> dict[str, Measurement]:
    if not path.is_file():
        return {}
    return {key: Measurement(**value) for key, value in json.loads(path.read_text()).items()}


def record(new: dict[str, Measurement], path: Path = FILE) -> None:
    """Replace the named measurements, keep the others (each bench writes its own)."""
    merged = {**load(path), **new}
    text = json.dumps({key: asdict(merged[key]) for key in sorted(merged)}, indent=2)
    path.write_text(text + "\n")
