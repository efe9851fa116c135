"""`make synth STACK=<stack>`: the delivery system a stack declares, without AWS.

Runs `__main__.py` under the same recording mocks the tests use, with the stack's real
`Pulumi.<stack>.yaml`, and writes `build/synth/<stack>/resources.json` (every resource:
type, logical name, parent, inputs with secrets masked, mocked outputs) and
`pipeline.md` (the rendered review). No network, no credentials, no Pulumi CLI.

    python -m offline.synth prod [--out build/synth]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from pathlib import Path
from typing import Any

import pulumi

from offline.mocks import mask
from offline.program import PROJECT_DIR, ProgramRun, StackFileError, load_stack_config, run_program
from offline.render import PIPELINE, render_markdown, stage_account


def plain_numbers(value: Any) -> Any:
    """The engine hands numbers over as floats; write whole ones as integers. A file the
    program ships (a Lambda function's code) is written as the file's path in the project."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": {name: plain_numbers(asset) for name, asset in value.assets.items()}}
    if isinstance(value, pulumi.FileAsset):
        return {"file": os.path.relpath(value.path, PROJECT_DIR)}
    if isinstance(value, dict):
        return {k: plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_numbers(v) for v in value]
    return value


def resource_records(run: ProgramRun) -> list[dict[str, Any]]:
    """The run's resources in declaration order, as written to resources.json."""
    urns = {r.urn: r for r in run.mocks.resources}
    records = []
    for resource in run.mocks.resources:
        parent = urns.get(resource.parent_urn)
        records.append(
            {
                "type": resource.type,
                "name": resource.name,
                "parent": f"{parent.type}::{parent.name}" if parent else None,
                "protect": resource.protect,
                "inputs": plain_numbers(resource.masked_inputs),
                "outputs": plain_numbers(
                    mask({k: v for k, v in resource.state.items() if k not in resource.raw_inputs})
                ),
            }
        )
    return records


def synth(
    stack: str, out_dir: Path, stacks_dir: Path = PROJECT_DIR
) -> tuple[Path, list[dict[str, Any]], dict[str, Any]]:
    target = out_dir / stack
    # A failed synth must not leave the previous run's review for a reviewer to read.
    for stale in ("resources.json", "pipeline.md"):
        (target / stale).unlink(missing_ok=True)
    run = run_program(load_stack_config(stack, stacks_dir), stack=stack, symbolic=True)
    records = resource_records(run)
    outputs = {k: ("[secret]" if k in run.secret_outputs else v) for k, v in run.outputs.items()}
    target.mkdir(parents=True, exist_ok=True)
    (target / "resources.json").write_text(
        json.dumps({"stack": stack, "resources": records, "outputs": outputs}, indent=2, ensure_ascii=False)
        + "\n"
    )
    (target / "pipeline.md").write_text(render_markdown(stack, records, outputs))
    return target, records, outputs


def _relative(path: Path) -> Path:
    """`path` as the user would type it from here, when it lies below the working directory."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def summary(stack: str, target: Path, records: list[dict[str, Any]]) -> str:
    custom = [r for r in records if not r["type"].startswith("ecs-delivery:")]
    lines = [f"stack {stack}: {len(custom)} resources in {len(records) - len(custom)} components"]
    for pipeline in (r for r in records if r["type"] == PIPELINE):
        for stage in pipeline["inputs"].get("stages", []):
            by_order: dict[int, list[str]] = {}
            for action in stage["actions"]:
                by_order.setdefault(int(action.get("runOrder", 1)), []).append(action["name"])
            # Actions sharing a run order run in parallel.
            actions = " → ".join(" + ".join(names) for _, names in sorted(by_order.items()))
            account = stage_account(stage)
            where = f" (account {account})" if account else ""
            lines.append(f"  {stage['name']}{where}: {actions}")
    shown = _relative(target)
    lines.append(f"wrote {shown / 'resources.json'}")
    lines.append(f"wrote {shown / 'pipeline.md'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.synth", description=__doc__.splitlines()[0])
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "build" / "synth", help="output folder")
    parser.add_argument(
        "--stacks-dir", type=Path, default=PROJECT_DIR, help="folder holding Pulumi.<stack>.yaml"
    )
    args = parser.parse_args(argv)
    try:
        target, records, _ = synth(args.stack, args.out, args.stacks_dir)
    except (StackFileError, pulumi.RunError) as error:
        print(f"synth {args.stack}: {error}", file=sys.stderr)
        return 2
    print(summary(args.stack, target, records))
    return 0


if __name__ == "__main__":
    # A synth is one short process: at Python's default thresholds the cycle collector ran full
    # collections over the SDK's modules as they loaded, and the interpreter's teardown collected
    # and freed every module again, about a third of a synth's CPU together (dev/bench.py
    # measures it). Its memory stays the same either way (little cyclic garbage).
    gc.set_threshold(20_000)
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
