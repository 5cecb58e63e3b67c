"""vLLM engine arguments for `python3 -m dynamo.vllm`, typed against the pinned runtime.

The flags and their types come from `data/vllm_engine_args.json`, which
`scripts/gen-vllm-engine-args.py` reads off the parsers of the pinned ai-dynamo and vLLM
wheels (a test keeps it current). A key is a flag without its leading `--`, in the runtime's
own spelling; a misspelt one is refused with the closest flag, and so is a flag the library
sets itself from another setting.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from pydantic import ConfigDict, RootModel, model_validator

from ..errors import KeyMistakes, did_you_mean, show

DYNAMO_VERSION = "1.6.1"
VLLM_VERSION = "0.31.0"

MANAGED: dict[str, str] = {
    "model": "model.path",
    "served-model-name": "model.served_name",
    "disaggregation-mode": "whether the pool is decode or prefill (and a prefill pool exists)",
    "kv-transfer-config": "kv_transfer",
    "kv-events-config": "kv_events",
    "namespace": "runtime.dynamo_namespace",
    "discovery-backend": "runtime.discovery",
    "request-plane": "runtime.request_plane",
    "event-plane": "runtime.event_plane",
    "nnodes": "the pool's GPUs and the node pool (multi-node workers)",
    "node-rank": "the pool's GPUs and the node pool (multi-node workers)",
    "master-addr": "the pool's GPUs and the node pool (multi-node workers)",
    "master-port": "the pool's GPUs and the node pool (multi-node workers)",
    "headless": "the pool's GPUs and the node pool (multi-node workers)",
}
"""Flags the library writes from other settings (the setting named here), so a pool's engine
arguments may not give them too."""


@cache
def flags() -> dict[str, dict[str, Any]]:
    """Every flag `dynamo.vllm` accepts (with aliases and `--no-` negations as entries of
    their own pointing at the flag), keyed without the leading dashes."""
    text = resources.files(__package__).joinpath("data/vllm_engine_args.json").read_text()
    table: dict[str, dict[str, Any]] = {}
    for flag, spec in json.loads(text)["flags"].items():
        table[flag.lstrip("-")] = spec
        for alias in spec.get("aliases", []):
            if alias.startswith("--"):
                table.setdefault(alias[2:], {**spec, "canonical": flag[2:]})
    return table


def _negations() -> dict[str, str]:
    return {negation[2:]: flag for flag, spec in flags().items()
            for negation in spec.get("negations", [])}


def _type_mistake(key: str, value: Any, spec: dict[str, Any]) -> str | None:
    kind = spec["type"]
    if kind in ("bool", "BooleanOptionalAction"):
        if not isinstance(value, bool):
            return f"{show(value)}: --{key} is a switch; give true or false"
        if kind == "bool" and value is False:
            return f"false: --{key} has no off form; leave it out instead"
        return None
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        # Sizes such as max-model-len also take suffixed strings (32K); the parser decides.
        if not ok and not (isinstance(value, str) and spec.get("format")):
            return f"{show(value)}: --{key} takes a whole number"
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{show(value)}: --{key} takes a number"
    elif kind == "str":
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            return f"{show(value)}: --{key} takes a string"
        choices = spec.get("choices")
        if choices and str(value) not in choices:
            return f"{show(value)}: --{key} is one of {', '.join(choices)}"
    elif kind == "list":
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in items):
            return f"{show(value)}: --{key} takes a value or a list of values"
    elif kind == "json":
        if isinstance(value, str):
            try:
                json.loads(value)
            except json.JSONDecodeError as err:
                return f"{show(value)}: --{key} takes JSON ({err.msg})"
        elif not isinstance(value, dict):
            return f"{show(value)}: --{key} takes a JSON object (a mapping)"
    return None


class VllmEngineArgs(RootModel[dict[str, Any]]):
    """vLLM engine arguments: `python3 -m dynamo.vllm` flags without the leading `--` (as
    vLLM spells them, e.g. tensor-parallel-size, enable-prefix-caching), each with its value:
    a number or string, true/false for a switch (false writes `--no-<flag>` where vLLM has
    one), a list for a flag that takes several values, a mapping for a JSON flag. Checked
    against the flags of ai-dynamo 1.6.1 with vLLM 0.31.0: a flag not listed among them, or one
    the library writes itself (the model, the role, the KV settings), is refused."""

    model_config = ConfigDict(frozen=True)

    root: dict[str, Any] = {}

    @model_validator(mode="after")
    def _known_flags(self) -> VllmEngineArgs:
        table = flags()
        negations = _negations()
        mistakes: dict[str, str] = {}
        for key, value in self.root.items():
            spec = table.get(key)
            managed = MANAGED.get(key) or MANAGED.get((spec or {}).get("canonical", ""))
            if managed:
                mistakes[key] = (f"{show(value)}: the library sets --{key} from {managed}; "
                                 "remove it")
            elif key in negations:
                positive = negations[key]
                mistakes[key] = (f"{show(value)}: write the switch as {positive}: false "
                                 f"(it renders --{key})")
            elif spec is None:
                close = did_you_mean(key, table, cutoff=0.8)
                hint = f"did you mean {close!r}?" if close else (
                    f"not a flag of dynamo.vllm {DYNAMO_VERSION} with vLLM {VLLM_VERSION}")
                mistakes[key] = f"unknown engine argument ({hint})"
            elif (wrong := _type_mistake(key, value, spec)) is not None:
                mistakes[key] = wrong
        if mistakes:
            raise KeyMistakes(mistakes)
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        # Editors complete and check the keys: every flag a pool may set, by name.
        schema: dict[str, Any] = handler(core_schema)
        allowed = sorted(key for key, spec in flags().items()
                         if key not in MANAGED and spec.get("canonical") not in MANAGED)
        schema["propertyNames"] = {"enum": allowed}
        return schema

    def get(self, key: str, default: Any = None) -> Any:
        return self.root.get(key, default)

    def merged(self, overrides: VllmEngineArgs) -> VllmEngineArgs:
        """These arguments with `overrides` on top (a pool's own over the shared ones)."""
        return VllmEngineArgs.model_construct({**self.root, **overrides.root})

    def arguments(self) -> list[str]:
        """The command-line arguments, in the order the keys were written."""
        table = flags()
        rendered: list[str] = []
        for key, value in self.root.items():
            spec = table[key]
            if spec["type"] in ("bool", "BooleanOptionalAction"):
                if value:
                    rendered.append(f"--{key}")
                else:
                    rendered.append(spec["negations"][0])
            elif spec["type"] == "list":
                items = value if isinstance(value, list) else [value]
                rendered += [f"--{key}", *(str(item) for item in items)]
            elif spec["type"] == "json" and not isinstance(value, str):
                rendered += [f"--{key}", json.dumps(value, separators=(",", ":"))]
            else:
                rendered += [f"--{key}", str(value)]
        return rendered
