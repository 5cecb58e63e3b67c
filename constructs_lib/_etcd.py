"""etcd as a StatefulSet with a client Service and a headless Service for its members."""

from __future__ import annotations

from typing import Any

from ._k8s import Manifest, metadata
from .model.environment import EtcdSettings
from .model.naming import DependencyNames

CLIENT_PORT = 2379
PEER_PORT = 2380
DATA_DIR = "/var/lib/etcd"


def labels(release: str) -> dict[str, str]:
    # The seed's bitnami subchart selected its pods with these; a StatefulSet's selector cannot
    # change, so keeping them lets `kubectl apply` take over a Helm-installed etcd.
    return {
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/name": "etcd",
        "app.kubernetes.io/component": "etcd",
    }


def manifests(release: str, namespace: str, settings: EtcdSettings) -> list[Manifest]:
    names = DependencyNames(release)
    name, headless = names.etcd, names.etcd_headless
    selector = labels(release)
    object_labels = {**selector, "app.kubernetes.io/managed-by": "dynamo-cdk8s"}
    peer_domain = f"{headless}.{namespace}.svc.cluster.local"
    members = ",".join(
        f"{name}-{i}=http://{name}-{i}.{peer_domain}:{PEER_PORT}" for i in range(settings.replicas)
    )
    ports = [
        {"name": "client", "port": CLIENT_PORT, "targetPort": "client"},
        {"name": "peer", "port": PEER_PORT, "targetPort": "peer"},
    ]
    container: dict[str, Any] = {
        "name": "etcd",
        "image": settings.image.reference,
        "imagePullPolicy": settings.image.pull_policy,
        "command": ["etcd"],
        "args": [
            "--name=$(POD_NAME)",
            f"--data-dir={DATA_DIR}/data",
            f"--listen-client-urls=http://0.0.0.0:{CLIENT_PORT}",
            f"--advertise-client-urls=http://$(POD_NAME).{peer_domain}:{CLIENT_PORT},"
            f"http://{name}.{namespace}.svc.cluster.local:{CLIENT_PORT}",
            f"--listen-peer-urls=http://0.0.0.0:{PEER_PORT}",
            f"--initial-advertise-peer-urls=http://$(POD_NAME).{peer_domain}:{PEER_PORT}",
            f"--initial-cluster={members}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token={name}",
        ],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "ports": [
            {"name": "client", "containerPort": CLIENT_PORT, "protocol": "TCP"},
            {"name": "peer", "containerPort": PEER_PORT, "protocol": "TCP"},
        ],
        "resources": _resources(settings),
        "volumeMounts": [{"name": "data", "mountPath": DATA_DIR}],
    }
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": settings.storage_size}},
    }
    if settings.storage_class:
        claim_spec["storageClassName"] = settings.storage_class
    return [
        {
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
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(name, namespace, object_labels),
            "spec": {"type": "ClusterIP", "ports": ports, "selector": selector},
        },
        {
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
                    "spec": {"containers": [container]},
                },
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": claim_spec}],
            },
        },
    ]


def _resources(settings: EtcdSettings) -> dict[str, Any]:
    resources = {}
    if requests := settings.resources.requests.render():
        resources["requests"] = requests
    if limits := settings.resources.limits.render():
        resources["limits"] = limits
    return resources
