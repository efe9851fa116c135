"""The ecs-delivery policy pack: `pulumi preview --policy-pack policy`.

The rules live in `rules.py` (importable without starting the analyzer, so tests call
them directly); constructing the PolicyPack here serves them to the Pulumi engine.
"""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import POLICIES

PolicyPack(name="ecs-delivery", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
