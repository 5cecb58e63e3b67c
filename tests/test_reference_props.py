"""Field docs of a props dataclass, read from its source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from constructs_lib.tools.reference.props import REQUIRED, FieldDoc, dataclass_bases, own_fields


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
