"""The etcd and NATS subcharts' values (the keys this project translates) -> dependencies."""

from __future__ import annotations

from .merge import Path
from .reader import MISSING, Reader
from .resources import convert_resources


def convert_dependencies(r: Reader) -> None:
    etcd: Path = ("etcd",)
    field = "dependencies.etcd"
    r.mapping(etcd)
    enabled = r.flag((*etcd, "enable"), False)
    r.put(f"{field}.enabled", (*etcd, "enable"), enabled)
    _override(r, f"{field}.endpoints_override", "etcdEndpointsOverride")
    r.put(f"{field}.replicas", (*etcd, "replicaCount"),
          r.integer((*etcd, "replicaCount"), MISSING))
    r.put(f"{field}.storage_size", (*etcd, "persistence", "size"),
          r.get((*etcd, "persistence", "size"), MISSING))
    # As in the bitnami chart, empty resources leave etcd's default sizing in place.
    if r.get((*etcd, "resources"), None):
        r.put(f"{field}.resources", (*etcd, "resources"), {})
        convert_resources(r, f"{field}.resources", (*etcd, "resources"), gpus=False)
    if r.flag((*etcd, "auth", "rbac", "create"), False):
        r.problem((*etcd, "auth", "rbac", "create"), (
            "true is not supported: this project's etcd has no password authentication, as the "
            "seed's had none (it set false); allowed: false (client certificates: "
            "dependencies.etcd.tls, with Dynamo 1.x)"))
    for probe in ("readinessProbe", "livenessProbe"):
        if r.flag((*etcd, probe, "enabled"), False):
            r.warn((*etcd, probe, "enabled"), (
                "is ignored: this project's etcd always has startup, readiness and liveness "
                "probes (dependencies.etcd.probes turns them off)"))

    nats: Path = ("nats",)
    field = "dependencies.nats"
    r.mapping(nats)
    enabled = r.flag((*nats, "enable"), False)
    r.put(f"{field}.enabled", (*nats, "enable"), enabled)
    _override(r, f"{field}.server_override", "natsServerOverride")
    jetstream: Path = (*nats, "config", "jetstream")
    store: Path = (*jetstream, "fileStore")
    field = f"{field}.jetstream"
    r.put(f"{field}.enabled", (*jetstream, "enabled"),
          r.flag((*jetstream, "enabled"), False))
    r.put(f"{field}.file_store_enabled", (*store, "enabled"),
          r.flag((*store, "enabled"), False))
    r.put(f"{field}.file_store_dir", (*store, "dir"), r.text((*store, "dir")))
    r.put(f"{field}.file_store_pvc", (*store, "pvc", "enabled"),
          r.flag((*store, "pvc", "enabled"), False))
    r.put(f"{field}.file_store_size", (*store, "pvc", "size"),
          r.get((*store, "pvc", "size"), MISSING))


def _override(r: Reader, field: str, key: str) -> None:
    # A disabled dependency without an override is refused by the model's rules, which name
    # the override by this key.
    r.key_of(field, (key,))
    override = r.text((key,), "")
    if override not in ("", None, MISSING):
        r.put(field, (key,), override)
