"""Turns plain manifest dictionaries into cdk8s ApiObjects that remember what they emit.

Manifests are built as dictionaries and handed to cdk8s whole, in one JSON patch per top-level
field. That costs three calls into the jsii runtime per resource, where the typed L1 classes
cost one per nested struct plus runtime type checks, and it sidesteps cdk8s-plus-27's defaults
that are wrong for GPU pods (see README, "Why the constructs do not render through
cdk8s-plus-27").

Each object keeps the dictionary it was given (`KubeObject.manifest`), so that the placement
plan, the name checks and the rules read what the constructs emitted, without a second
derivation and without a round trip into jsii per field. Later changes go through
`KubeObject.patch`, which updates both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cdk8s import ApiObject, ApiObjectMetadata, JsonPatch
from constructs import Construct

Manifest = dict[str, Any]


def metadata(name: str, namespace: str | None = None, labels: Mapping[str, str] | None = None,
             annotations: Mapping[str, str] | None = None) -> Manifest:
    meta: Manifest = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


class KubeObject(ApiObject):
    """One Kubernetes object in the construct tree, exactly as `manifest` describes it.

    `manifest` is the object as it will be written, except for changes made through cdk8s
    escape hatches (`ApiObject.of(...).add_json_patch`), which this library does not see.
    """

    def __init__(self, scope: Construct, id: str, manifest: Manifest) -> None:
        meta = manifest["metadata"]
        super().__init__(
            scope,
            id,
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            metadata=ApiObjectMetadata(
                name=meta["name"],
                namespace=meta.get("namespace"),
                labels=meta.get("labels"),
                annotations=meta.get("annotations"),
            ),
        )
        self.manifest: Manifest = manifest
        """The object as emitted (read it, change it only through `patch`)."""
        for key, value in manifest.items():
            if key not in ("apiVersion", "kind", "metadata"):
                self.add_json_patch(JsonPatch.add(f"/{key}", value))

    @property
    def object_kind(self) -> str:
        """The object's kind, read in Python (ApiObject.kind asks the jsii runtime)."""
        return str(self.manifest["kind"])

    @property
    def object_name(self) -> str:
        """`metadata.name`, read in Python."""
        return str(self.manifest["metadata"]["name"])

    def patch(self, path: tuple[str | int, ...], value: Any) -> None:
        """Set the field at `path` (below the top level, e.g. ("spec", "replicas")) in the
        manifest and in the emitted object alike."""
        parent = self._parent(path)
        key = path[-1]
        if isinstance(parent, list) and key == len(parent):
            parent.append(value)
        else:
            parent[key] = value
        self.add_json_patch(JsonPatch.add(_pointer(path), value))

    def remove(self, path: tuple[str | int, ...]) -> None:
        """Remove the field at `path` from the manifest and the emitted object."""
        parent = self._parent(path)
        del parent[path[-1]]
        self.add_json_patch(JsonPatch.remove(_pointer(path)))

    def _parent(self, path: tuple[str | int, ...]) -> Any:
        if len(path) < 2:
            raise ValueError(f"patch below the top level of a manifest, not at {path!r}")
        node: Any = self.manifest
        for part in path[:-1]:
            node = node[part]
        return node


def _pointer(path: tuple[str | int, ...]) -> str:
    """RFC 6901: `~` and `/` inside keys are escaped (`nvidia.com/gpu` -> `nvidia.com~1gpu`)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def emit(scope: Construct, id: str, manifest: Manifest) -> KubeObject:
    """Add one Kubernetes object to the construct tree, exactly as `manifest` describes it."""
    return KubeObject(scope, id, manifest)
