"""Turns plain manifest dictionaries into cdk8s ApiObjects.

Manifests are built as dictionaries and handed to cdk8s whole, in one JSON patch per top-level
field. That costs three calls into the jsii runtime per resource, where the typed L1 classes
cost one per nested struct plus runtime type checks, and it sidesteps cdk8s-plus-27's defaults
that are wrong for GPU pods (see README, "Why not cdk8s-plus").
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


def emit(scope: Construct, id: str, manifest: Manifest) -> ApiObject:
    """Add one Kubernetes object to the construct tree, exactly as `manifest` describes it."""
    meta = manifest["metadata"]
    obj = ApiObject(
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
    for key, value in manifest.items():
        if key not in ("apiVersion", "kind", "metadata"):
            obj.add_json_patch(JsonPatch.add(f"/{key}", value))
    return obj
