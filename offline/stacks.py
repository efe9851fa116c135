"""The stacks this checkout deploys: one per root `Pulumi.<stack>.yaml`, as a JSON list for a
workflow matrix (`.github/workflows/`), in the order they deploy: `dev` first and `prod` last
when they exist, the others by name between them.

    python3 -m offline.stacks            # ["dev", "staging", "prod"]

Standard library only: the workflows call it before any virtual environment exists.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
FIRST, LAST = "dev", "prod"


def stacks(project_dir: Path = PROJECT_DIR) -> list[str]:
    names = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
    return sorted(names, key=lambda name: (name != FIRST, name == LAST, name))


def main() -> int:
    sys.stdout.write(json.dumps(stacks()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
