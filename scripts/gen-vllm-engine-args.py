"""Write constructs_lib/model/data/vllm_engine_args.json: every flag `python3 -m dynamo.vllm`
accepts in the pinned image (ai-dynamo 1.6.1 with vLLM 0.31.0), read off its real parser.

Run with the parsers venv (scripts/install-runtime-parsers.sh):
    .venv-parsers/bin/python scripts/gen-vllm-engine-args.py          # writes the file
    .venv-parsers/bin/python scripts/gen-vllm-engine-args.py --stdout # prints it (freshness test)

How: `dynamo.vllm.args.parse_args` builds one argparse parser that shows Dynamo's runtime and
vLLM-wrapper flags, vLLM's EngineArgs flags (group "vLLM Engine Options") and the router
advertisement flags; this script stops it at its first `parse_known_args` and describes every
action of that parser. Types: "bool" (store_true, no value), "BooleanOptionalAction" (no value;
`--no-<flag>` for false), "int", "float", "str", "json" (a JSON value; vLLM's config flags also
take `--<flag>.<key> <value>`), "list" (nargs + or *, `item_type` says of what).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parents[1] / "constructs_lib/model/data/vllm_engine_args.json"
WORKER_PARSER = "Dynamo vLLM worker configuration"
SOURCES = {  # argument group title (its start) -> where the flag comes from
    "Dynamo Runtime Options": "dynamo-runtime",
    "Dynamo vLLM Options": "dynamo-vllm",
    "vLLM Engine Options": "vllm",
    "Router Advertisement Options": "dynamo-router",
}
_DEPRECATED_HELP = re.compile(r"^\s*(\[?deprecated\b|--\S+ is deprecated)", re.IGNORECASE)
_ENV_IN_HELP = re.compile(r"env var: ([A-Z][A-Z0-9_]*)")
_HUMAN = "an integer, or with a suffix: k/m/g/t decimal (25.6k), K/M/G/T binary (32K)"


class _Stop(Exception):
    pass


def worker_parser() -> argparse.ArgumentParser:
    """The parser `python3 -m dynamo.vllm` builds, caught before it parses anything."""
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    from dynamo.vllm.args import parse_args

    caught: list[argparse.ArgumentParser] = []
    original = argparse.ArgumentParser.parse_known_args

    def catching(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        if self.description == WORKER_PARSER:
            caught.append(self)
            raise _Stop
        return original(self, *args, **kwargs)

    argparse.ArgumentParser.parse_known_args = catching  # type: ignore[method-assign]
    try:
        parse_args(["--model", "unused"])
    except _Stop:
        pass
    finally:
        argparse.ArgumentParser.parse_known_args = original  # type: ignore[method-assign]
    if not caught:
        raise SystemExit(f"dynamo.vllm built no parser described {WORKER_PARSER!r}")
    return caught[0]


def _inner(kind: Any) -> Any:
    """The conversion a vLLM type wrapper (optional_type, parse_type) applies."""
    name = getattr(kind, "__qualname__", "")
    if ("optional_type" in name or "parse_type" in name) and kind.__closure__:
        return _inner(kind.__closure__[0].cell_contents)
    return kind


def _value_type(action: argparse.Action) -> tuple[str, str | None]:
    """(type, format): the JSON type name, and a note where the value has a special form."""
    kind = _inner(action.type)
    name = getattr(kind, "__qualname__", getattr(kind, "__name__", ""))
    if kind is None or kind is str:
        return "str", None
    if kind is int:
        return "int", None
    if kind is float:
        return "float", None
    if name == "loads" or "parse_dataclass" in name:
        return "json", None
    if name == "union_dict_and_str":
        return "json", "a JSON object, or a plain string"
    if name == "human_readable_int":
        return "int", _HUMAN
    if name == "human_readable_int_or_auto":
        return "int", _HUMAN + "; or -1 / auto (auto-detect)"
    if name in ("nullable_int",):
        return "int", "or 'None' / empty for unset"
    if name in ("nullable_float",):
        return "float", "or 'None' / empty for unset"
    if action.choices is not None:
        return "str", None  # a lambda that normalizes a choice (case, aliases)
    if name == "_parse_structural_tag":
        return "json", "true/false, or a JSON object"
    if name == "_conditional_disagg_config_arg":
        return "json", None
    if action.dest == "device_ids":
        return "str", "comma-separated device ids or UUIDs"
    return "str", f"converted by {name}"


def describe(action: argparse.Action, source: str) -> dict[str, Any]:
    classes = [c.__name__ for c in type(action).__mro__]
    positive = [o for o in action.option_strings if not o.startswith("--no-")]
    entry: dict[str, Any] = {"source": source, "dest": action.dest}
    if "BooleanOptionalAction" in classes:
        entry |= {"type": "BooleanOptionalAction", "takes_value": False}
    elif "_StoreTrueAction" in classes or "_StoreFalseAction" in classes:
        entry |= {"type": "bool", "takes_value": False}
    else:
        value_type, form = _value_type(action)
        if action.nargs in ("+", "*") or (isinstance(action.nargs, int) and action.nargs > 1):
            entry |= {"type": "list", "item_type": value_type, "nargs": action.nargs}
        else:
            entry["type"] = value_type
        entry["takes_value"] = "optional" if action.nargs == "?" else True
        if form:
            entry["format"] = form
    if action.choices is not None:
        # sorted: some come from sets, whose order changes from run to run
        entry["choices"] = sorted((c if isinstance(c, (str, int, float)) else str(c)
                                   for c in action.choices), key=str)
    aliases = positive[1:]
    if aliases:
        entry["aliases"] = aliases
    negations = [o for o in action.option_strings if o.startswith("--no-")]
    if negations:
        entry["negations"] = negations
    env = _ENV_IN_HELP.search(action.help or "")
    if env:
        entry["env"] = env.group(1)
    if type(action).__name__.startswith("Deprecated") or _DEPRECATED_HELP.search(
            action.help or ""):
        entry["deprecated"] = True
    return entry


def derive() -> dict[str, Any]:
    parser = worker_parser()
    flags: dict[str, dict[str, Any]] = {}
    for group in parser._action_groups:
        source = next((s for title, s in SOURCES.items() if group.title.startswith(title)),
                      None)
        if source is None:
            continue  # argparse's own: --help, --version
        for action in group._group_actions:
            primary = next(o for o in action.option_strings if not o.startswith("--no-"))
            if primary in flags:
                raise SystemExit(f"{primary} is defined twice")
            flags[primary] = describe(action, source)
    return {
        "about": "Every flag `python3 -m dynamo.vllm` accepts, read off its parser by "
                 "scripts/gen-vllm-engine-args.py; do not edit by hand. source: vllm "
                 "(vLLM's EngineArgs), dynamo-runtime, dynamo-vllm, dynamo-router. vLLM's flags "
                 "also take underscores (--max_model_len) and --flag=value; the dynamo ones "
                 "take exact names only (argparse, allow_abbrev off). env: the variable that "
                 "sets the flag's default.",
        "ai-dynamo": metadata.version("ai-dynamo"),
        "vllm": metadata.version("vllm"),
        "flags": dict(sorted(flags.items())),
    }


def render() -> str:
    return json.dumps(derive(), indent=1, sort_keys=False) + "\n"


def main(argv: list[str]) -> None:
    text = render()
    if argv == ["--stdout"]:
        sys.stdout.write(text)
        return
    if argv:
        raise SystemExit(__doc__)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT} ({len(json.loads(text)['flags'])} flags)", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
