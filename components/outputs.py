"""Joining Outputs by name (house style: never by position)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi


def by_name(values: Mapping[str, pulumi.Input[Any]]) -> pulumi.Output[dict[str, Any]]:
    """`pulumi.Output.all(**values)`, also when `values` is empty (`Output.all()` with no
    arguments resolves to a list, not a mapping)."""
    return pulumi.Output.all(**values) if values else pulumi.Output.from_input({})
