"""What every Dynamo pod gets, whichever Dynamo generation it runs: the wait for etcd and NATS,
least privilege, placement, and the debug switch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..workload import DynamoWorkloadProps
from . import wait_for_dependencies as _wait_for_dependencies
from .escape_hatches import restrict_container, restrict_pod
from .scheduling import place


def debug_env(props: DynamoWorkloadProps) -> list[dict[str, str]]:
    if not props.debug:
        return []
    return [{"name": "DYN_LOG", "value": "debug"}, {"name": "NCCL_DEBUG", "value": "INFO"}]


def restrict(container: dict[str, Any], props: DynamoWorkloadProps) -> None:
    """Least privilege for a container of a Dynamo image, which may need to run as root."""
    restrict_container(container, drop_all_capabilities=props.security.drop_all_capabilities)


def harden_pod(spec: dict[str, Any], props: DynamoWorkloadProps, *,
               dependency_env: list[dict[str, str]], selector: Mapping[str, str]) -> None:
    """Add the wait for etcd and NATS (reading the same endpoints as Dynamo, `dependency_env`;
    none when that is empty), the pod's security settings and its placement to a pod spec that
    has its containers."""
    if props.dependency_wait.enabled and dependency_env:
        init = _wait_for_dependencies.container(
            image=props.image.reference,
            pull_policy=props.image.pull_policy,
            env=dependency_env,
            timeout_seconds=props.dependency_wait.timeout_seconds,
        )
        # Listed before the containers, in the order they run.
        rest = list(spec.items())
        spec.clear()
        for key, value in rest:
            if key == "containers":
                spec["initContainers"] = [init]
            spec[key] = value
    restrict_pod(spec, seccomp_profile=props.security.seccomp_profile,
                 automount_service_account_token=props.security.automount_service_account_token)
    host_network = props.rdma is not None and props.rdma.host_network
    place(spec, props.placement, host_network=host_network,
          release_labels=props.release_labels, own_labels=selector)
