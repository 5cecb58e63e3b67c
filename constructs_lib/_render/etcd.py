"""etcd as a StatefulSet with a client Service and a headless Service for its members, a
NetworkPolicy, and with more than one member a PodDisruptionBudget; optionally with mutual TLS
on the client and peer ports."""

from __future__ import annotations

from typing import Any

from ..model.environment import EtcdSettings
from ..model.naming import MANAGED_BY, DependencyNames
from . import dependency_pods as _dependency_pods
from .dependency_pods import Clients
from .k8s import Manifest, metadata

CLIENT_PORT = 2379
PEER_PORT = 2380
METRICS_PORT = 2381
DATA_DIR = "/var/lib/etcd"
TLS_DIR = "/etc/etcd/tls"
# Read-only for owner and group: the kubelet gives a Secret volume's files to the pod's fsGroup
# (the etcd user's group, see _dependency_pods.harden_pod), so etcd can read its key and no other
# user can.
TLS_FILE_MODE = 0o440


def labels(release: str) -> dict[str, str]:
    # The seed's bitnami subchart selected its pods with these; a StatefulSet's selector cannot
    # change, so keeping them lets `kubectl apply` take over a Helm-installed etcd.
    return {
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/name": "etcd",
        "app.kubernetes.io/component": "etcd",
    }


def manifests(release: str, namespace: str, settings: EtcdSettings,
              clients: Clients) -> dict[str, Manifest]:
    """etcd's objects by their role: HeadlessService, Service, StatefulSet, and when called
    for, NetworkPolicy and DisruptionBudget."""
    names = DependencyNames(release)
    name, headless = names.etcd, names.etcd_headless
    selector = labels(release)
    object_labels = {**selector, **MANAGED_BY}
    tls = settings.tls
    scheme = "https" if tls else "http"
    peer_domain = names.etcd_member_domain(namespace)
    members = ",".join(
        f"{name}-{i}={scheme}://{names.etcd_member(namespace, i)}:{PEER_PORT}"
        for i in range(settings.replicas)
    )
    ports = [
        {"name": "client", "port": CLIENT_PORT, "targetPort": "client"},
        {"name": "peer", "port": PEER_PORT, "targetPort": "peer"},
    ]
    container: dict[str, Any] = {
        "name": "etcd",
        "image": settings.image.reference,
        "imagePullPolicy": settings.image.pull_policy,
        # The whole invocation in `command`, as kubeadm writes its etcd pod: scanners that audit
        # etcd's TLS flags (checkov's CIS etcd checks) read only `command`.
        "command": [
            "etcd",
            "--name=$(POD_NAME)",
            f"--data-dir={DATA_DIR}/data",
            f"--listen-client-urls={scheme}://0.0.0.0:{CLIENT_PORT}",
            f"--advertise-client-urls={scheme}://$(POD_NAME).{peer_domain}:{CLIENT_PORT},"
            f"{scheme}://{names.etcd_service_fqdn(namespace)}:{CLIENT_PORT}",
            f"--listen-peer-urls={scheme}://0.0.0.0:{PEER_PORT}",
            f"--initial-advertise-peer-urls={scheme}://$(POD_NAME).{peer_domain}:{PEER_PORT}",
            f"--initial-cluster={members}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token={name}",
            "--auto-compaction-mode=periodic",
            f"--auto-compaction-retention={settings.auto_compaction_retention}",
            *(_tls_args() if tls else []),
        ],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "ports": [
            {"name": "client", "containerPort": CLIENT_PORT, "protocol": "TCP"},
            {"name": "peer", "containerPort": PEER_PORT, "protocol": "TCP"},
            *([{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}]
              if tls else []),
        ],
        "resources": _dependency_pods.resources(settings.resources),
        "volumeMounts": [
            {"name": "data", "mountPath": DATA_DIR},
            *([{"name": "tls", "mountPath": TLS_DIR, "readOnly": True}] if tls else []),
        ],
        **(_probes("metrics" if tls else "client") if settings.probes else {}),
    }
    pod_spec: dict[str, Any] = {"containers": [container], "enableServiceLinks": False}
    if tls:
        pod_spec["volumes"] = [{"name": "tls", "secret": {
            "secretName": tls.server_secret, "defaultMode": TLS_FILE_MODE}}]
    _dependency_pods.harden_pod(pod_spec, selector, settings.replicas, settings)
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": settings.storage_size}},
    }
    if settings.storage_class:
        claim_spec["storageClassName"] = settings.storage_class
    optional = {
        "NetworkPolicy": network_policy(release, namespace, clients),
        "DisruptionBudget": _dependency_pods.disruption_budget(
            name, namespace, object_labels, selector, settings.replicas, settings),
    }
    return {
        "HeadlessService": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(headless, namespace, object_labels),
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "None",
                # Members must find each other before any of them is ready.
                "publishNotReadyAddresses": True,
                "ports": ports,
                "selector": selector,
            },
        },
        "Service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(name, namespace, object_labels),
            "spec": {"type": "ClusterIP", "ports": ports, "selector": selector},
        },
        "StatefulSet": {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": metadata(name, namespace, object_labels),
            "spec": {
                "replicas": settings.replicas,
                "selector": {"matchLabels": selector},
                "serviceName": headless,
                "podManagementPolicy": "Parallel",
                "updateStrategy": {"type": "RollingUpdate"},
                "template": {
                    "metadata": {"labels": object_labels},
                    "spec": pod_spec,
                },
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": claim_spec}],
                # The data outlives the StatefulSet: deleting or scaling down must not lose it.
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain",
                                                         "whenScaled": "Retain"},
            },
        },
        **{role: m for role, m in optional.items() if m is not None},
    }


def network_policy(release: str, namespace: str, clients: Clients) -> Manifest | None:
    """Who may reach etcd: the clients on the client port, members on every port."""
    # The metrics port stays out of it: only the kubelet's probes need it, and traffic from a
    # pod's own node is always admitted; clients must not reach a listener that asks for no
    # certificate.
    selector = labels(release)
    return _dependency_pods.network_policy(
        DependencyNames(release).etcd, namespace, {**selector, **MANAGED_BY}, selector, clients,
        client_ports=[CLIENT_PORT], peer_ports=[PEER_PORT])


def _tls_args() -> list[str]:
    """One certificate serves clients and authenticates the member to its peers; both sides
    must present a certificate of the CA. /health moves to a plain-HTTP metrics listener,
    because the kubelet's probes cannot present one."""
    return [
        f"--cert-file={TLS_DIR}/tls.crt",
        f"--key-file={TLS_DIR}/tls.key",
        f"--trusted-ca-file={TLS_DIR}/ca.crt",
        "--client-cert-auth=true",
        f"--peer-cert-file={TLS_DIR}/tls.crt",
        f"--peer-key-file={TLS_DIR}/tls.key",
        f"--peer-trusted-ca-file={TLS_DIR}/ca.crt",
        "--peer-client-cert-auth=true",
        f"--listen-metrics-urls=http://0.0.0.0:{METRICS_PORT}",
    ]


def _probes(port: str) -> dict[str, Any]:
    """etcd serves /health on the client port, and with TLS (where the kubelet has no client
    certificate) on the metrics port, as kubeadm probes its etcd. Liveness reads from this member
    only (serializable) and ignores a full database (NOSPACE): restarting cures neither a lost
    quorum nor a full disk. Readiness asks for a committed read, so clients go to members of a
    healthy cluster."""
    local = {"httpGet": {"path": "/health?exclude=NOSPACE&serializable=true", "port": port}}
    cluster = {"httpGet": {"path": "/health", "port": port}}
    return {
        # Replaying a large write-ahead log after a crash takes minutes.
        "startupProbe": {**local, "periodSeconds": 10, "timeoutSeconds": 5,
                         "failureThreshold": 60},
        "readinessProbe": {**cluster, "periodSeconds": 10, "timeoutSeconds": 5,
                           "failureThreshold": 3},
        "livenessProbe": {**local, "periodSeconds": 30, "timeoutSeconds": 10,
                          "failureThreshold": 5},
    }
