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
        return f"{where}: {self.message}"


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


def show(value: Any) -> str:
    """Render a received value the way the user would have written it in YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value) if value == "" or value.strip() != value else value
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
