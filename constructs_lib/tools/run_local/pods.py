"""The pods run-local starts a container of, named and labelled as their controllers would name
them, each with a UID as the API server gives one.

A pod's identity is what the downward API hands its containers (K1 of translate.py:
`metadata.name`, `metadata.namespace`, `metadata.uid`) and what the stand-in API server and
the EndpointSlice controller know of it (control_plane.py). Dynamo's kubernetes discovery
names its DynamoWorkerMetadata after the pod, owns it by the UID and reads its EndpointSlice
endpoint by both, so the three must agree: every one of them takes the pod from here.

Names follow the controllers' forms:

- a Deployment's pod: `<deployment>-<pod-template-hash>-<5 characters>` (the ReplicaSet's name,
  then a generated suffix). The hash is FNV-32a, written in the ReplicaSet controller's
  alphabet, of the template as synthesized, so a changed template gives different names, as in
  the cluster. Both parts are derived rather than random, so a run names its pods as the last
  run did (comparable logs); only the UID is new each run, as it is for every pod the API server
  creates;
- a StatefulSet's: `<statefulset>-<ordinal>`;
- a LeaderWorkerSet group's leader: `<set>-<group index>`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import groups
from .translate import PodIdentity

# What Kubernetes' rand.SafeEncodeString writes names with: no vowels (no words), no 0, 1, 3
# (no confusion with O, l, E).
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
TEMPLATE_HASH_LABEL = "pod-template-hash"


def fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString: each byte to a character of the safe alphabet."""
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in text.encode())


def template_hash(template: Mapping[str, Any]) -> str:
    """A pod-template-hash in the ReplicaSet controller's form (the decimal FNV-32a hash,
    safe-encoded), of the template's canonical JSON."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    return safe_encode(str(fnv32a(canonical)))


def generated_suffix(seed: str) -> str:
    """Five characters of the safe alphabet, as `generateName` appends, derived from `seed`."""
    value = fnv32a(seed.encode())
    chars = []
    for _ in range(5):
        value, index = divmod(value, len(SAFE_ALPHABET))
        chars.append(SAFE_ALPHABET[index])
    return "".join(chars)


@dataclass(frozen=True)
class LocalPod:
    """A pod as the API server and the kubelet know it."""

    identity: PodIdentity
    labels: dict[str, str]
    workload: str
    """`<Kind> <name>` of the workload that made it."""
    service_account: str = "default"
    """`spec.serviceAccountName` (the namespace's `default` when the template names none)."""
    automount_token: bool | None = None
    """`spec.automountServiceAccountToken`; None leaves it to the ServiceAccount."""
    spec: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The template's pod spec, as synthesized."""

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def namespace(self) -> str:
        return self.identity.namespace

    @property
    def uid(self) -> str:
        return self.identity.uid

    def manifest(self) -> dict[str, Any]:
        """The Pod object the API server holds (what owner references and targetRefs name)."""
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid,
                             "labels": dict(self.labels)},
                "spec": {**self.spec, "serviceAccountName": self.service_account,
                         "nodeName": "localhost"},
                "status": {"phase": "Running", "podIP": "127.0.0.1", "hostIP": "127.0.0.1"}}


def _template(workload: Mapping[str, Any]) -> dict[str, Any]:
    if workload["kind"] == groups.KIND:
        template: dict[str, Any] = groups.templates(dict(workload))[0]
        return template
    template = workload["spec"]["template"]
    return template


def pod_of(workload: Mapping[str, Any], index: int, uid: str | None = None) -> LocalPod:
    """Pod `index` of a Deployment or StatefulSet, or the leader of group `index` of a
    LeaderWorkerSet; `uid` defaults to a new random one."""
    kind, name = workload["kind"], workload["metadata"]["name"]
    namespace = workload["metadata"].get("namespace") or "default"
    template = _template(workload)
    labels = dict(template.get("metadata", {}).get("labels") or {})
    if kind == "Deployment":
        hashed = template_hash(template)
        pod_name = f"{name}-{hashed}-{generated_suffix(f'{name}-{hashed}/{index}')}"
        labels[TEMPLATE_HASH_LABEL] = hashed
    elif kind == "StatefulSet":
        pod_name = f"{name}-{index}"
        labels["statefulset.kubernetes.io/pod-name"] = pod_name
        labels["apps.kubernetes.io/pod-index"] = str(index)
    elif kind == groups.KIND:
        pod_name = f"{name}-{index}"
        labels.update({"leaderworkerset.sigs.k8s.io/name": name,
                       "leaderworkerset.sigs.k8s.io/group-index": str(index),
                       "leaderworkerset.sigs.k8s.io/worker-index": "0"})
    else:
        raise ValueError(f"no pods of a {kind}")
    spec = dict(template.get("spec") or {})
    automount = spec.get("automountServiceAccountToken")
    return LocalPod(
        identity=PodIdentity(pod_name, namespace, uid or str(uuid.uuid4())), labels=labels,
        workload=f"{kind} {name}", service_account=spec.get("serviceAccountName") or "default",
        automount_token=None if automount is None else bool(automount), spec=spec)
