"""NATS with JetStream as a StatefulSet, its configuration file and its Services, a
NetworkPolicy, and with more than one server a PodDisruptionBudget."""

from __future__ import annotations

from typing import Any

from ..model.base import quantity_value
from ..model.environment import NatsSettings
from ..model.naming import MANAGED_BY, DependencyNames
from . import dependency_pods as _dependency_pods
from .dependency_pods import Clients
from .k8s import Manifest, metadata

CLIENT_PORT = 4222
CLUSTER_PORT = 6222
MONITOR_PORT = 8222
CONFIG_DIR = "/etc/nats-config"


def labels(release: str) -> dict[str, str]:
    # The seed's NATS subchart selected its pods with these (see _etcd.labels for why they stay).
    return {
        "app.kubernetes.io/component": "nats",
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/name": "nats",
    }


def config_file(release: str, namespace: str, settings: NatsSettings) -> str:
    """nats.conf; `$SERVER_NAME` is expanded by nats-server from the pod's environment."""
    names = DependencyNames(release)
    name = names.nats
    lines = [
        f"port: {CLIENT_PORT}",
        f"http_port: {MONITOR_PORT}",
        "server_name: $SERVER_NAME",
        'lame_duck_duration: "30s"',
        'lame_duck_grace_period: "10s"',
    ]
    jetstream = settings.jetstream
    if jetstream.enabled:
        lines.append("jetstream {")
        if jetstream.file_store_enabled:
            lines.append(f'  store_dir: "{jetstream.file_store_dir}"')
            lines.append(f"  max_file_store: {jetstream.file_store_size}")
        else:
            lines.append("  max_file_store: 0")
        lines.append(f"  max_memory_store: {jetstream.memory_store_size}")
        lines.append("}")
    if settings.replicas > 1:
        routes = ", ".join(
            f"nats://{name}-{i}.{names.nats_headless}.{namespace}.svc.cluster.local:{CLUSTER_PORT}"
            for i in range(settings.replicas)
        )
        lines += ["cluster {", f"  name: {name}", f"  port: {CLUSTER_PORT}",
                  f"  routes: [{routes}]", "}"]
    return "\n".join(lines) + "\n"


def manifests(release: str, namespace: str, settings: NatsSettings,
              clients: Clients) -> dict[str, Manifest]:
    """NATS's objects by their role: Config, HeadlessService, Service, StatefulSet, and when
    called for, NetworkPolicy and DisruptionBudget."""
    names = DependencyNames(release)
    name, headless = names.nats, names.nats_headless
    selector = labels(release)
    object_labels = {**selector, **MANAGED_BY}
    store = settings.jetstream.enabled and settings.jetstream.file_store_enabled
    store_claim = names.nats_store_claim
    client_port = {"name": "nats", "port": CLIENT_PORT, "targetPort": "nats", "appProtocol": "tcp"}
    headless_ports = [
        client_port,
        {"name": "monitor", "port": MONITOR_PORT, "targetPort": "monitor", "appProtocol": "http"},
    ]
    container_ports = [
        {"name": "nats", "containerPort": CLIENT_PORT, "protocol": "TCP"},
        {"name": "monitor", "containerPort": MONITOR_PORT, "protocol": "TCP"},
    ]
    if settings.replicas > 1:
        headless_ports.append({"name": "cluster", "port": CLUSTER_PORT, "targetPort": "cluster",
                               "appProtocol": "tcp"})
        container_ports.append({"name": "cluster", "containerPort": CLUSTER_PORT,
                                "protocol": "TCP"})
    mounts = [{"name": "config", "mountPath": CONFIG_DIR}]
    if store:
        mounts.append({"name": store_claim, "mountPath": settings.jetstream.file_store_dir})
    container: dict[str, Any] = {
        "name": "nats",
        "image": settings.image.reference,
        "imagePullPolicy": settings.image.pull_policy,
        "command": ["nats-server"],
        "args": ["--config", f"{CONFIG_DIR}/nats.conf"],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "SERVER_NAME", "value": "$(POD_NAME)"},
            *_go_memory_limit(settings),
        ],
        "ports": container_ports,
        "volumeMounts": mounts,
    }
    if settings.probes:
        container.update(
            startupProbe=_probe("/healthz", period=10, failures=90),
            livenessProbe=_probe("/healthz?js-enabled-only=true", period=30, failures=3),
            readinessProbe=_probe("/healthz?js-server-only=true", period=10, failures=3),
        )
    if resources := _dependency_pods.resources(settings.resources):
        container["resources"] = resources
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "enableServiceLinks": False,
        "volumes": [{"name": "config", "configMap": {"name": names.nats_config_map}}],
    }
    _dependency_pods.harden_pod(pod_spec, selector, settings.replicas, settings)
    statefulset_spec: dict[str, Any] = {
        "replicas": settings.replicas,
        "selector": {"matchLabels": selector},
        "serviceName": headless,
        "podManagementPolicy": "Parallel",
        "template": {"metadata": {"labels": object_labels}, "spec": pod_spec},
    }
    if store and not settings.jetstream.file_store_pvc:
        statefulset_spec["template"]["spec"]["volumes"].append(
            {"name": store_claim, "emptyDir": {}})
    elif store:
        claim_spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": settings.jetstream.file_store_size}},
        }
        if settings.storage_class:
            claim_spec["storageClassName"] = settings.storage_class
        statefulset_spec["volumeClaimTemplates"] = [
            {"metadata": {"name": store_claim}, "spec": claim_spec}
        ]
        # The stream outlives the StatefulSet: deleting or scaling down must not lose it.
        statefulset_spec["persistentVolumeClaimRetentionPolicy"] = {
            "whenDeleted": "Retain", "whenScaled": "Retain"}
    optional = {
        "NetworkPolicy": network_policy(release, namespace, settings, clients),
        "DisruptionBudget": _dependency_pods.disruption_budget(
            name, namespace, object_labels, selector, settings.replicas, settings),
    }
    return {
        "Config": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(names.nats_config_map, namespace, object_labels),
            "data": {"nats.conf": config_file(release, namespace, settings)},
        },
        "HeadlessService": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(headless, namespace, object_labels),
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "ports": headless_ports,
                "selector": selector,
            },
        },
        "Service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(name, namespace, object_labels),
            "spec": {"ports": [client_port], "selector": selector},
        },
        "StatefulSet": {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": metadata(name, namespace, object_labels),
            "spec": statefulset_spec,
        },
        **{role: m for role, m in optional.items() if m is not None},
    }


def network_policy(release: str, namespace: str, settings: NatsSettings,
                   clients: Clients) -> Manifest | None:
    """Who may reach NATS: the clients on the client port, members on every port."""
    selector = labels(release)
    peer_ports = [MONITOR_PORT] + ([CLUSTER_PORT] if settings.replicas > 1 else [])
    return _dependency_pods.network_policy(
        DependencyNames(release).nats, namespace, {**selector, **MANAGED_BY}, selector, clients,
        client_ports=[CLIENT_PORT], peer_ports=peer_ports)


def _go_memory_limit(settings: NatsSettings) -> list[dict[str, str]]:
    """GOMEMLIMIT at 90% of the memory limit: nats-server's Go runtime then collects garbage
    before the kernel kills it for crossing the limit."""
    limit = settings.resources.limits.memory
    if limit is None:
        return []
    return [{"name": "GOMEMLIMIT", "value": f"{int(quantity_value(limit) * 0.9) // 2**20}MiB"}]


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "monitor"},
        "initialDelaySeconds": 10,
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
        "successThreshold": 1,
    }
