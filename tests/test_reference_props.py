"""Field docs of a props dataclass, read from its source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from constructs_lib.tools.reference.props import (
    REQUIRED,
    FieldDoc,
    MemberDoc,
    dataclass_bases,
    members,
    own_fields,
)


@dataclass(frozen=True, kw_only=True)
class _Base:
    name: str
    """The name."""


@dataclass(frozen=True, kw_only=True)
class _Props(_Base):
    KIND: ClassVar[str] = "x"
    """Not a field."""
    size: int = 3
    """How big. Default: 3."""
    tags: dict[str, str] = field(default_factory=dict)
    undocumented: bool = field(default=False)
    target: str


def test_own_fields_give_type_default_and_docstring_as_written() -> None:
    assert own_fields(_Props) == [
        FieldDoc("size", "int", "3", "How big. Default: 3."),
        FieldDoc("tags", "dict[str, str]", "{}", ""),
        FieldDoc("undocumented", "bool", "False", ""),
        FieldDoc("target", "str", REQUIRED, ""),
    ]
    assert own_fields(_Base) == [FieldDoc("name", "str", REQUIRED, "The name.")]
    assert dataclass_bases(_Props) == [_Base]


class _Construct:
    """A construct as the reference reads it."""

    service_name: str
    """The Service's name.

    Set in __init__; only the first paragraph is the summary."""
    _hidden: int
    """Private: not listed."""
    undocumented: int
    replicas: ClassVar[int] = 1
    """How many, for every instance."""

    def __init__(self) -> None:
        self.service_name = "s"

    @property
    def url(self) -> str:
        """Where it answers."""
        return f"http://{self.service_name}"

    @url.setter
    def url(self, value: str) -> None:
        raise AttributeError(value)

    def apply(self, target: dict[str, str]) -> None:
        """Changes `target` in place."""

    @staticmethod
    def parse(text: str) -> int:
        """A number."""
        return int(text)

    def _private(self) -> None:
        """Not listed."""


def test_members_are_the_documented_public_attributes_properties_and_methods_in_order() -> None:
    assert members(_Construct) == [
        MemberDoc("service_name", "str", "The Service's name."),
        MemberDoc("replicas", "ClassVar[int]", "How many, for every instance."),
        MemberDoc("url", "str", "Where it answers."),
        MemberDoc("apply()", "None", "Changes `target` in place."),
        MemberDoc("parse()", "int", "A number."),
    ]
