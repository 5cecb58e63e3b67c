"""The values the seed chart reads, as a tree, so that a key it would silently ignore is caught.

Helm ignores keys no template reads; a misspelt `rdma.enabled` then quietly leaves RDMA at its
default. Here every key of a values file or `--set` must be one the seed chart (or one of its
etcd and NATS subcharts, for the keys this project translates) understands.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from ...errors import Problem
from .merge import Path
from .set_values import dotted


class _Leaf:
    """A value the converter reads and checks itself (scalar, list or map)."""


class _Open:
    """A map whose keys are the user's own: labels, annotations, graph file names, resources."""


LEAF = _Leaf()
OPEN = _Open()
Tree = Mapping[str, Any]

_IMAGE = {"repository": LEAF, "pullPolicy": LEAF, "tag": LEAF}
_RESOURCES = {"requests": OPEN, "limits": OPEN}
_METRICS = {
    "enable": LEAF,
    "port": LEAF,
    "image": _IMAGE,
    "serviceMonitor": {
        "namespace": LEAF, "apiVersion": LEAF, "enable": LEAF, "interval": LEAF,
        "honorLabels": LEAF, "additionalLabels": OPEN, "relabelings": LEAF,
    },
}
_POD = {"labels": OPEN, "annotations": OPEN, "resources": _RESOURCES, "metrics": _METRICS}

# Keys of the subcharts are only those this project translates into its own etcd and NATS.
SUBCHARTS = {
    "etcd": {
        "enable": LEAF,
        "replicaCount": LEAF,
        "auth": {"rbac": {"create": LEAF}},
        "readinessProbe": {"enabled": LEAF},
        "livenessProbe": {"enabled": LEAF},
        "persistence": {"size": LEAF},
        "resources": _RESOURCES,
    },
    "nats": {
        "enable": LEAF,
        "config": {"jetstream": {
            "enabled": LEAF,
            "fileStore": {"enabled": LEAF, "dir": LEAF, "pvc": {"enabled": LEAF, "size": LEAF}},
        }},
    },
}

TREE: Tree = {
    "image": _IMAGE,
    "imagePullSecrets": LEAF,
    "nameOverride": LEAF,
    "fullnameOverride": LEAF,
    "podAnnotations": OPEN,
    "podLabels": OPEN,
    "service": {"type": LEAF, "port": LEAF},
    "modelPVC": {"enable": LEAF, "name": LEAF, "mountPath": LEAF},
    "configs": LEAF,
    "prefillConfigs": LEAF,
    "graphs": OPEN,
    "rdma": {"enable": LEAF, "networkMode": LEAF, "hostNetwork": LEAF},
    "single": {"enable": LEAF, **_POD},
    "multinode": {
        "enable": LEAF,
        "replicas": LEAF,
        **_POD,
        "prefill": {"replicas": LEAF, "resources": _RESOURCES},
    },
    "natsServerOverride": LEAF,
    "etcdEndpointsOverride": LEAF,
    # Helm hands `global` to every subchart; this chart reads none of it.
    "global": {},
    **SUBCHARTS,
}


def unknown_in(values: Mapping[str, Any], source: str) -> list[Problem]:
    """Every key of one values file that the chart does not read."""
    problems: list[Problem] = []
    _walk(values, TREE, (), source, problems)
    return problems


def unknown_path(path: Path, source: str) -> Problem | None:
    """The problem with one `--set` path, if it leads somewhere the chart does not read."""
    node: Any = TREE
    for depth, part in enumerate(path):
        if not isinstance(node, Mapping):
            return None  # below a leaf or an open map: the converter checks the value
        if isinstance(part, int) or part not in node:
            return _unknown(path[: depth + 1], node, source)
        node = node[part]
    return None


def _walk(values: Mapping[str, Any], node: Tree, prefix: Path, source: str,
          problems: list[Problem]) -> None:
    for key, value in values.items():
        path = (*prefix, key)
        if key not in node:
            problems.append(_unknown(path, node, source))
        elif isinstance(node[key], Mapping) and isinstance(value, Mapping):
            _walk(value, node[key], path, source, problems)


def _unknown(path: Path, siblings: Tree, source: str) -> Problem:
    key = path[-1]
    parent = path[:-1]
    hint = ""
    if isinstance(key, str):
        close = difflib.get_close_matches(key, list(siblings), n=1, cutoff=0.75) or [
            s for s in siblings if s.lower() == key.lower()]
        if close:
            hint = f" (did you mean {dotted((*parent, close[0]))}?)"
    subchart = parent[0] if parent and parent[0] in SUBCHARTS else None
    if subchart:
        supported = ", ".join(leaf_paths(SUBCHARTS[subchart]))
        message = (f"not a key of the {subchart} subchart that this project translates{hint}; "
                   f"supported: {supported}")
    elif siblings:
        where = f"under {dotted(parent)}" if parent else "at the top level"
        message = f"unknown key{hint}; allowed {where}: {', '.join(sorted(siblings))}"
    else:
        message = f"unknown key: {dotted(parent)} takes no keys"
    return Problem(source, dotted(path), message)


def leaf_paths(node: Tree, prefix: str = "") -> list[str]:
    paths = []
    for key, child in node.items():
        name = f"{prefix}{key}"
        paths.extend(leaf_paths(child, f"{name}.") if isinstance(child, Mapping) else [name])
    return paths
