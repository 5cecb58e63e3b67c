"""The rules the constructs enforce: what no single prop can check on its own.

A rule reads constructs (their props and the objects they emitted) and yields Findings: the
prop that is wrong, as the user wrote it, and a message that starts with the value received
and says what is allowed. Where a prop was written is a construct's `Locator`: by default the
prop path of a hand-composed construct (`resources.gpus`, reported by cdk8s under the
construct's path), or, for a chart composed from an environment file, the field of the file
(`frontend.resources.gpus`).

Each construct that owns rules checks them when the app is synthesized (a cdk8s validation:
`app.synth()` then fails before anything is written, listing every problem with its construct
path). A `DynamoChart` checks them as it is built, and raises `RuleViolations` with the file's
field names, so that an environment file is refused with the same rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from enum import IntEnum
from typing import Any


class Stage(IntEnum):
    """Rules run in stages, each on the sound base the earlier ones leave: rules about pods
    would only restate a bad name in other words, and placing pods whose GPU counts disagree
    would repeat those mistakes."""

    SETTING = 1
    """A value that is wrong on its own terms or against a sibling prop: names, ports,
    dependencies."""
    POD = 2
    """What a pod runs: GPU arithmetic, parallelism, what prefill and decode must share."""
    PLACEMENT = 3
    """Whether the pods fit the declared node pool."""


@dataclass(frozen=True)
class Finding:
    field: str
    """Where the wrong value is written: a prop path, or a field of the environment file."""
    message: str
    """The value received, then what is wrong and what is allowed."""
    rule: str = ""
    """The rule that found it."""
    stage: Stage = Stage.SETTING
    subject: Any = dataclass_field(default=None, compare=False, repr=False)
    """The construct the finding is about (None when it is about a file's structure)."""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class RuleViolations(ValueError):
    """Every problem the rules found; each is reported on a line of its own."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings = list(findings)
        super().__init__("\n".join(str(f) for f in self.findings))


FieldNames = Callable[[str], str]
"""Maps a prop path (`config.VllmWorker.model`) to the name the user wrote it under."""


class Locator:
    """How the props of one construct are named to the person who set them.

    `field(prop)` names a prop of the construct a finding is about (cdk8s prints the construct
    path before it); `cite(prop)` names a prop of this construct inside the message of a
    finding about another construct, so it carries the construct path too.
    """

    def __init__(self, path: Callable[[], str], names: FieldNames | None = None,
                 values: Callable[[str], object] | None = None) -> None:
        self._path = path
        self._names = names
        self._values = values

    @property
    def in_file(self) -> bool:
        """The construct was composed from an environment file, whose fields `field` names."""
        return self._names is not None

    def field(self, prop: str) -> str:
        return self._names(prop) if self._names else prop

    def cite(self, prop: str) -> str:
        return self._names(prop) if self._names else f"{self._path()} {prop}"

    def value(self, prop: str, default: object) -> object:
        """The value as the user wrote it, where the construct's prop is derived from it
        (a chart's `full_name` is written as `release`)."""
        return self._values(prop) if self._values else default


def staged(findings: Iterable[Finding]) -> list[Finding]:
    """The findings of the earliest stage that has any."""
    found = list(findings)
    if not found:
        return []
    first = min(f.stage for f in found)
    return [f for f in found if f.stage == first]


def tagged(rule: Callable[..., Iterable[Finding]], stage: Stage,
           findings: Iterable[Finding]) -> list[Finding]:
    return [replace(f, rule=rule.__name__, stage=stage) for f in findings]


__all__ = ["FieldNames", "Finding", "Locator", "RuleViolations", "Stage", "staged", "tagged"]
