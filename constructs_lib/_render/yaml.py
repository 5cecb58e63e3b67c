"""YAML text for files that ship inside ConfigMaps, formatted the way people write them."""

from __future__ import annotations

from typing import Any

import yaml

# libyaml's emitter, where PyYAML was built with it, is several times faster.
_Base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_Base):  # type: ignore[misc, valid-type]
    pass


def _list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    # Short lists of scalars (`common-configs: [model, block-size]`) read better inline.
    flow = all(isinstance(item, (str, int, float, bool)) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _list)


def dump(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     width=1000)
