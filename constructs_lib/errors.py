"""Input errors that the command line reports as one line per problem, with exit code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where, what was received, and what is allowed."""

    source: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.field}" if self.field else self.source
        return one_line(f"{where}: {self.message}")


class ConfigError(Exception):
    """Raised with every problem found in one or more input files, never only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class KeyMistakes(ValueError):
    """Raised by a validator about keys of the mapping it validates, so that each mistake is
    reported at its own key (`section.key: message`) instead of once for the whole mapping."""

    def __init__(self, mistakes: dict[str, str]) -> None:
        self.mistakes = dict(mistakes)
        super().__init__("; ".join(f"{key!r}: {message}" for key, message in mistakes.items()))


def did_you_mean(key: str, known: Iterable[str], cutoff: float = 0.75) -> str | None:
    """The known key that `key` most likely misspells (or miscapitalizes), if any."""
    known = list(known)
    close = difflib.get_close_matches(key, known, n=1, cutoff=cutoff)
    return close[0] if close else next((k for k in known if k.lower() == key.lower()), None)


MAX_SHOWN = 80
"""Longest rendering of a received value in a message."""
MAX_LINE = 1000
"""Longest problem line; the middle of a longer one is left out."""


def show(value: Any) -> str:
    """Render a received value the way the user would have written it in YAML, on one line and
    at most MAX_SHOWN characters long."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        shown = value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN - 3]
        if value == "" or value.strip() != value or not shown.isprintable():
            shown = repr(shown)
        return shown if len(value) <= MAX_SHOWN else shown + "..."
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 3] + "..."


def one_line(text: str) -> str:
    """`text` as one printable line of at most MAX_LINE characters: line breaks and other
    control characters escaped (a terminal would start a new line, or act on them), and the
    middle of a very long line left out."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(text) > MAX_LINE:
        head, tail = MAX_LINE * 2 // 3, MAX_LINE // 3 - 40
        text = (f"{text[:head]} ...({len(text) - head - tail} characters left out)... "
                f"{text[-tail:]}")
    return text


def quoted(value: Any) -> str:
    """`repr(value)`, shortened to about MAX_SHOWN characters: for messages that quote a
    value."""
    if isinstance(value, str):
        return repr(value) if len(value) <= MAX_SHOWN else repr(value[:MAX_SHOWN - 3]) + "..."
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 3] + "..."
