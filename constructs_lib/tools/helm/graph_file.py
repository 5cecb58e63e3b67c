"""Reads a seed graph file (`graphs."single.py"`) back into the chain of components it links.

The seed ships graphs as Python: imports of the image's components and one
`Frontend.link(Processor).link(...)` statement, which `dynamo serve graphs.<file>:Frontend`
follows. This project generates that file from a list of components, so only files of that
shape can be converted; anything else (other statements, other modules) is refused rather than
guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...model.serve_config import Component

_IMPORT = re.compile(r"^from\s+([A-Za-z_][\w.]*)\s+import\s+(\w+(?:\s*,\s*\w+)*)$")
_CHAIN = re.compile(r"^(\w+)((?:\s*\.\s*link\s*\(\s*\w+\s*\))*)$")
_LINK = re.compile(r"link\s*\(\s*(\w+)\s*\)")
_SHAPE = ("`from components.<module> import <Component>` lines and one "
          "`Frontend.link(<Component>)...` chain")


class GraphFileError(ValueError):
    """The file is not of the shape this project can regenerate."""


@dataclass(frozen=True)
class Graph:
    chain: list[Component]
    unused_imports: list[str]
    """Components imported but never linked; the generated file leaves them out."""


def parse(text: str) -> Graph:
    imports: dict[str, str] = {}
    chains: list[tuple[int, list[str]]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if match := _IMPORT.match(line):
            for name in re.split(r"\s*,\s*", match.group(2)):
                imports[name] = match.group(1)
        elif match := _CHAIN.match(line):
            chains.append((number, [match.group(1), *_LINK.findall(match.group(2))]))
        else:
            raise GraphFileError(f"line {number}: {line!r} cannot be converted; a graph file may "
                                 f"hold only {_SHAPE}")
    if len(chains) != 1:
        found = "no chain" if not chains else f"{len(chains)} chains (lines " + ", ".join(
            str(n) for n, _ in chains) + ")"
        raise GraphFileError(f"has {found}; a graph file may hold only {_SHAPE}")
    names = chains[0][1]
    if names[0] != Component.FRONTEND.value:
        raise GraphFileError(f"the chain starts at {names[0]}, but the seed serves "
                             "graphs.<file>:Frontend, so it must start at Frontend")
    known = {c.value: c for c in Component}
    chain: list[Component] = []
    for name in names:
        if name not in known:
            raise GraphFileError(f"links {name}, which is not one of the image's components "
                                 f"({', '.join(known)})")
        component = known[name]
        if name not in imports:
            raise GraphFileError(f"links {name} but never imports it "
                                 f"(from {component.module} import {name})")
        if imports[name] != component.module:
            raise GraphFileError(f"imports {name} from {imports[name]}, but the image's {name} "
                                 f"is in {component.module}")
        if component in chain:
            raise GraphFileError(f"links {name} twice")
        chain.append(component)
    unused = sorted(name for name in imports if name not in names)
    return Graph(chain, unused)
