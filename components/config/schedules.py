"""The deployment window's schedule: its Quartz cron, as CodePipeline's DeploymentWindow rule
reads it, and its IANA time zone.

Each check names the field of the cron that is wrong and what that field takes, so that the
stack file's error says what to write; `components/config/schema.py` declares the
`deploymentWindow` keys with them.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from typing import Optional

# CodePipeline's DeploymentWindow rule (rule-reference-DeploymentWindow): a Quartz-style cron
# of 6 required fields and an optional year. AWS's table: the values each field takes and its
# special characters (seconds takes only '*'); '?' in day-of-month or day-of-week ("no specific
# value"), 'L' (last), 'W' (nearest weekday) and '#' (nth weekday of the month).
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    specials: str = ",-*/"

    @property
    def allowed(self) -> str:
        names = f" or {self.names[0]}-{self.names[-1]}" if self.names else ""
        return f"{self.low}-{self.high}{names}"


_CRON_FIELDS = (
    _CronField("seconds", 0, 0, specials="*"),
    _CronField("minutes", 0, 59),
    _CronField("hours", 0, 23),
    _CronField("day-of-month", 1, 31, specials=",-*?/LW"),
    _CronField("month", 1, 12, MONTHS),
    _CronField("day-of-week", 1, 7, WEEKDAYS, specials=",-*?/L#"),
    _CronField("year", 1970, 2199),
)


def _cron_value(field: _CronField, text: str) -> Optional[str]:
    """None when `text` is one value of the field, else what is wrong with it."""
    if text.isdigit():
        return None if field.low <= int(text) <= field.high else f"{text} is outside {field.allowed}"
    if field.names and text.upper() in field.names:
        return None
    kind = {"month": "a month", "day-of-week": "a day of the week"}.get(field.name, "a number")
    return f"{text!r} is not {kind} ({field.allowed})"


def _cron_element(field: _CronField, text: str) -> Optional[str]:
    """What is wrong with one comma-separated element of a field, if anything."""
    for char in sorted(set(re.sub(r"[A-Za-z0-9]", "", text))):
        if char not in field.specials:
            return f"{char!r} is not allowed in {field.name} (it takes {' '.join(field.specials)})"
    if field.name == "day-of-month":
        if re.fullmatch(r"L(-\d+)?|LW", text):
            offset = text[2:] if text.startswith("L-") else ""
            return None if not offset or 1 <= int(offset) <= 30 else f"'L-{offset}': the offset is 1-30"
        if text.endswith("W"):
            return _cron_value(field, text[:-1])
    if field.name == "day-of-week":
        if text == "L":
            return None
        if text.endswith("L"):
            return _cron_value(field, text[:-1])
        if "#" in text:
            day, _, nth = text.partition("#")
            return _cron_value(field, day) or (
                None if nth in ("1", "2", "3", "4", "5") else f"'#{nth}': the week of the month is 1-5"
            )
    base, slash, step = text.partition("/")
    if slash and not (step.isdigit() and 1 <= int(step) <= field.high):
        return f"the step '/{step}' is not a number from 1 to {field.high}"
    if base == "*":
        return None
    first, dash, last = base.partition("-")
    return _cron_value(field, first) or (_cron_value(field, last) if dash else None)


def deployment_window_cron(value: str) -> str:
    fields = value.split()
    if len(fields) not in (6, 7):
        raise ValueError(
            f"{value!r} is not allowed: {len(fields)} fields; a DeploymentWindow cron has 6 "
            "(seconds minutes hours day-of-month month day-of-week) and an optional year"
        )
    problems = []
    # The optional year has no field when absent: zip stops at the shorter.
    for text, field in zip(fields, _CRON_FIELDS, strict=False):
        if field.name == "seconds":
            if text != "*":
                problems.append(f"its seconds field {text!r} takes only '*'")
            continue
        if text == "?":
            if "?" not in field.specials:
                problems.append(f"its {field.name} field takes no '?' (only day-of-month and day-of-week do)")
            continue
        for element in text.split(","):
            wrong = _cron_element(field, element)
            if wrong:
                problems.append(f"its {field.name} field {text!r}: {wrong}")
                break
    if not problems and "?" not in (fields[3], fields[5]):
        problems.append(
            "one of day-of-month and day-of-week must be '?' (Quartz cron, e.g. '* * 9-16 ? * MON-THU')"
        )
    if problems:
        raise ValueError(f"{value!r} is not allowed: " + "; ".join(problems))
    return value


@functools.cache
def _time_zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def iana_time_zone(value: str) -> str:
    if value not in _time_zones():
        close = difflib.get_close_matches(value, sorted(_time_zones()), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"{value!r} is not allowed: an IANA time zone such as 'Europe/London' or 'UTC'{hint}"
        )
    return value


deployment_window_cron.allowed = (
    "a Quartz cron of 6 fields and an optional year, as CodePipeline's DeploymentWindow rule reads it"
)
iana_time_zone.allowed = "an IANA time zone (e.g. Europe/London)"
