"""Prometheus text exposition, parsed just enough to check which series a process exports, and
PromQL selectors matched against them (exact `label="value"` matchers only, as metrics.py
writes them)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+\S+")
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}")


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def _labels(text: str) -> dict[str, str]:
    return {name: _unescape(value) for name, value in _LABEL.findall(text or "")}


@dataclass
class Exposition:
    """The series of one scrape: (name, labels) per sample line, and each family's TYPE."""

    samples: list[tuple[str, dict[str, str]]]
    types: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Exposition:
        samples: list[tuple[str, dict[str, str]]] = []
        types: dict[str, str] = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(maxsplit=3)
                types[name] = kind.strip()
            elif line and not line.startswith("#"):
                match = _SAMPLE.match(line)
                if match:
                    samples.append((match.group(1), _labels(match.group(3))))
        return cls(samples, types)

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}

    def label_names(self, series: str) -> set[str]:
        return {label for name, labels in self.samples if name == series for label in labels}

    def matches(self, series: str, matchers: Mapping[str, str]) -> bool:
        return any(name == series and all(labels.get(k) == v for k, v in matchers.items())
                   for name, labels in self.samples)


def selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """Every `series{label="value", ...}` of a PromQL expression."""
    return [(name, _labels(body)) for name, body in _SELECTOR.findall(expr)]


def unmatched(exprs: Iterable[str], scrapes: Iterable[Exposition],
              ignore: Collection[str]) -> list[str]:
    """Selectors of `exprs` that no series of `scrapes` satisfies, labels in `ignore` (those
    Prometheus adds when it scrapes) left out of the comparison."""
    scrapes = list(scrapes)
    missing: list[str] = []
    for expr in exprs:
        for series, matchers in selectors(expr):
            wanted = {k: v for k, v in matchers.items() if k not in ignore}
            if not any(scrape.matches(series, wanted) for scrape in scrapes):
                missing.append(f"{series}{wanted}")
    return missing
