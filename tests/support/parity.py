"""Parity between a `helm template` render of the seed chart and this project's output.

The rules (README, "Differences from the seed chart"):
- every resource the seed chart's own templates render exists here with the same kind, name
  and namespace, and every field the seed sets is present with the same value;
- labels only Helm adds (helm.sh/chart, app.kubernetes.io/managed-by, app.kubernetes.io/version)
  are ignored wherever labels or selectors appear;
- quantities compare by value (`8` equals `"8"`);
- YAML held in a ConfigMap compares as parsed data; graph files compare by their import lines and
  link statement (they are generated here, with sorted imports), and only the graph files a
  Deployment runs are expected (the seed also ships its default `single.py` in multi-node mode);
- the seed's lowercase `router:` config section (read by no component) is expected as `Router:`;
- lists of named items (containers, env, ports, volumes, mounts) match by name, others by position;
- for the etcd and NATS subcharts only what Dynamo relies on is compared: the client Services and
  ports, JetStream's file store size, etcd's storage size, replicas and resources.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

HELM_ONLY_LABELS = {"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version"}
_LABEL_MAPS = {"labels", "matchLabels", "selector"}


def load_render(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """The documents of a `helm template` output with the template each came from."""
    documents = []
    for chunk in re.split(r"(?m)^---\s*$", path.read_text()):
        source = re.search(r"(?m)^# Source: (\S+)", chunk)
        body = yaml.safe_load(chunk)
        if source and isinstance(body, dict):
            documents.append((source.group(1), body))
    return documents


def in_namespace(render: Iterable[tuple[str, dict[str, Any]]], namespace: str
                 ) -> list[tuple[str, dict[str, Any]]]:
    """A render made with `--namespace default`, as the chart would print it for `namespace`."""
    documents = []
    for source, doc in render:
        doc = rewrite_strings(doc, [(".default.svc", f".{namespace}.svc")])
        meta = doc.get("metadata", {})
        if meta.get("namespace") == "default":
            meta["namespace"] = namespace
        if doc["kind"] == "ServiceMonitor":
            doc["spec"]["namespaceSelector"]["matchNames"] = [namespace]
        documents.append((source, doc))
    return documents


def rewrite_strings(value: Any, renames: list[tuple[str, str]]) -> Any:
    """`value` with every (old, new) replaced in each string it holds, keys included."""
    if isinstance(value, dict):
        return {rewrite_strings(k, renames): rewrite_strings(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite_strings(v, renames) for v in value]
    if isinstance(value, str):
        for old, new in renames:
            value = value.replace(old, new)
    return value


def load_dir(path: Path) -> list[dict[str, Any]]:
    documents = []
    for file in sorted(path.glob("*.k8s.yaml")):
        documents.extend(d for d in yaml.safe_load_all(file.read_text()) if d)
    return documents


def _key(doc: dict[str, Any], default_namespace: str) -> tuple[str, str, str]:
    meta = doc.get("metadata", {})
    return doc["kind"], meta["name"], meta.get("namespace") or default_namespace


def differences(reference: Iterable[tuple[str, dict[str, Any]]], ours: list[dict[str, Any]],
                namespace: str) -> list[str]:
    """Everything in `reference` that `ours` does not reproduce, one line each."""
    index = {_key(doc, namespace): doc for doc in ours}
    problems: list[str] = []
    run_graphs = {f"{m}.py"
                  for m in re.findall(r"dynamo serve graphs\.(\w+):", yaml.safe_dump(ours))}
    subchart: list[dict[str, Any]] = []
    for source, doc in reference:
        if doc.get("metadata", {}).get("annotations", {}).get("helm.sh/hook"):
            continue
        if not source.startswith("dynamo/templates/"):
            subchart.append(doc)
            continue
        key = _key(doc, namespace)
        if key not in index:
            problems.append(f"missing {key[0]} {key[2]}/{key[1]}")
            continue
        if key[0] == "ConfigMap" and key[1].endswith("-graphs"):
            doc = {**doc, "data": {k: v for k, v in doc["data"].items() if k in run_graphs}}
        _compare(doc, index[key], f"{key[0]}/{key[1]}", problems, parent="")
    problems.extend(_dependency_differences(subchart, index, namespace))
    return problems


def _compare(expected: Any, actual: Any, path: str, problems: list[str], parent: str) -> None:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            problems.append(f"{path}: expected a mapping, got {actual!r}")
            return
        for key, value in expected.items():
            if parent in _LABEL_MAPS and key in HELM_ONLY_LABELS:
                continue
            if parent == "data" and isinstance(value, str):
                _compare_file(key, value, actual.get(key), f"{path}.{key}", problems)
                continue
            if key not in actual:
                if value in (None, {}, [], ""):
                    continue  # Helm prints empty blocks that Kubernetes drops as well
                problems.append(f"{path}.{key}: missing (seed has {value!r})")
                continue
            _compare(value, actual[key], f"{path}.{key}", problems, parent=key)
    elif isinstance(expected, list):
        if not isinstance(actual, list):
            problems.append(f"{path}: expected a list, got {actual!r}")
            return
        if all(isinstance(e, dict) and "name" in e for e in expected):
            named = {a.get("name"): a for a in actual if isinstance(a, dict)}
            for item in expected:
                if item["name"] not in named:
                    problems.append(f"{path}[{item['name']}]: missing")
                else:
                    _compare(item, named[item["name"]], f"{path}[{item['name']}]", problems, parent)
        elif len(actual) < len(expected):
            problems.append(f"{path}: expected {expected!r}, got {actual!r}")
        else:
            for i, item in enumerate(expected):
                _compare(item, actual[i], f"{path}[{i}]", problems, parent)
    elif not _same_scalar(expected, actual):
        problems.append(f"{path}: expected {expected!r}, got {actual!r}")


def _same_scalar(expected: Any, actual: Any) -> bool:
    if expected == actual and type(expected) is type(actual):
        return True
    if isinstance(expected, bool) or isinstance(actual, bool):
        return False
    if isinstance(expected, (int, float, str)) and isinstance(actual, (int, float, str)):
        return str(expected).strip() == str(actual).strip()
    return False


def _compare_file(name: str, expected: str, actual: Any, path: str, problems: list[str]) -> None:
    if not isinstance(actual, str):
        problems.append(f"{path}: missing")
    elif name.endswith(".py"):
        if _graph_statements(expected) != _graph_statements(actual):
            problems.append(f"{path}: graph differs:\n{expected}\n---\n{actual}")
    elif name.endswith((".yaml", ".yml")):
        wanted = yaml.safe_load(expected)
        if isinstance(wanted, dict) and "router" in wanted:
            wanted["Router"] = wanted.pop("router")  # the seed's defect, fixed here
        got = yaml.safe_load(actual)
        if wanted != got:
            problems.append(f"{path}: parsed YAML differs:\n{wanted!r}\n---\n{got!r}")
    elif expected != actual:
        problems.append(f"{path}: differs")


def _graph_statements(text: str) -> tuple[frozenset[str], tuple[str, ...]]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    imports = frozenset(line for line in lines if line.startswith(("from ", "import ")))
    return imports, tuple(line for line in lines if line not in imports)


def _dependency_differences(subchart: list[dict[str, Any]], ours: dict[tuple[str, str, str], Any],
                            namespace: str) -> list[str]:
    problems: list[str] = []
    for doc in subchart:
        kind, name, ns = _key(doc, namespace)
        if (kind == "Service" and not name.endswith("-headless")
                and name.endswith(("-etcd", "-nats"))):
            mine = ours.get((kind, name, ns))
            if mine is None:
                problems.append(f"missing Service {ns}/{name}")
                continue
            wanted = {p["port"] for p in doc["spec"]["ports"] if p["name"] in ("client", "nats")}
            have = {p["port"] for p in mine["spec"]["ports"]}
            if not wanted <= have:
                problems.append(
                    f"Service/{name}: ports {sorted(have)} lack {sorted(wanted - have)}")
        if kind == "StatefulSet":
            mine = ours.get((kind, name, ns))
            if mine is None:
                problems.append(f"missing StatefulSet {ns}/{name}")
                continue
            if doc["spec"].get("replicas") != mine["spec"].get("replicas"):
                problems.append(f"StatefulSet/{name}: replicas {mine['spec'].get('replicas')} "
                                f"!= {doc['spec'].get('replicas')}")
            if _claim_sizes(doc) != _claim_sizes(mine):
                problems.append(f"StatefulSet/{name}: storage "
                                f"{_claim_sizes(mine)} != {_claim_sizes(doc)}")
            if name.endswith("-etcd"):
                want = doc["spec"]["template"]["spec"]["containers"][0].get("resources", {})
                have = mine["spec"]["template"]["spec"]["containers"][0].get("resources", {})
                _compare(want, have, f"StatefulSet/{name}.resources", problems, parent="")
    return problems


def _claim_sizes(statefulset: dict[str, Any]) -> list[str]:
    return [str(t["spec"]["resources"]["requests"]["storage"])
            for t in statefulset["spec"].get("volumeClaimTemplates", [])]
