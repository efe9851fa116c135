"""Delivery units: each gate an environment can have, one module each (the seam:
`components/units/seam.py`; the recipe for a new one: docs/development.md, "A gate").

`GATES` is every gate unit, in the order their actions take a slot they share."""

from components.units import drift_check, verify

GATES = (drift_check, verify)
