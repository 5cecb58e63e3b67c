"""`python -m constructs_lib schema` and `python -m constructs_lib docs`: write the generated
reference files, or with --check say whether the committed ones are fresh."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_STALE = 1
SCHEMA_PATH = "schema/environment.schema.json"
DOCS_PATH = "docs/api.md"


SCHEMA_DESCRIPTION = """\
Writes the JSON Schema of environment files, generated from the typed model. Each file in
environments/ names it in its first line (`# yaml-language-server: $schema=...`), so editors
with the YAML language server complete keys, show their documentation and mark mistakes.
"""
DOCS_DESCRIPTION = """\
Writes the API reference: every public construct with its props (type, default and docstring
of each field), and the environment file reference (every key with type, default and
description).
"""


def register(commands: Any) -> None:
    _add(commands, "schema", SCHEMA_PATH, _schema, SCHEMA_DESCRIPTION,
         summary="write the environment files' JSON Schema (editors)")
    _add(commands, "docs", DOCS_PATH, _docs, DOCS_DESCRIPTION,
         summary="write the API and environment file reference")


def _add(commands: Any, name: str, default: str, render: Callable[[], str], description: str,
         summary: str) -> None:
    parser = commands.add_parser(name, help=summary, description=description)
    parser.add_argument("--output", "-o", default=default,
                        help=f"the file to write (default: {default})")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the file differs from what would be written")
    parser.set_defaults(run=lambda args: _write(args, name, render))


def _schema() -> str:
    from . import schema

    return schema.render()


def _docs() -> str:
    # Imported here: the API reference imports the constructs, which start the jsii runtime.
    from . import api

    return api.render()


def _write(args: argparse.Namespace, name: str, render: Callable[[], str]) -> int:
    output = Path(args.output)
    text = render()
    if args.check:
        if not output.is_file() or output.read_text(encoding="utf-8") != text:
            print(f"{output} is stale: run `python -m constructs_lib {name}`", file=sys.stderr)
            return EXIT_STALE
        print(f"{output} is up to date")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"{name} -> {output}")
    return 0
