"""DynamoChart: one environment's whole deployment, composed from the public constructs."""

from __future__ import annotations

from typing import Any

from cdk8s import Chart
from constructs import Construct

from ._render import v01 as _v01
from ._render import v1 as _v1
from .decode_pool import DecodeWorkerPool, DecodeWorkerPoolProps
from .dependencies import DependencyStack, DependencyStackProps
from .frontend import METRICS_PORT_NAME, FrontendDeployment, FrontendDeploymentProps
from .model.environment import (
    Environment,
    FrontendSettings,
    Generation,
    Mode,
    PrefillSettings,
    Resources,
)
from .model.roles import decode_role, prefill_role, served_model_name
from .network_policy import DynamoNetworkPolicy, DynamoNetworkPolicyProps
from .pod_monitor import PodMonitor, PodMonitorProps
from .prefill_pool import PrefillWorkerPool, PrefillWorkerPoolProps
from .rdma import RdmaPolicy, RdmaPolicyProps


class DynamoChart(Chart):
    """Dependencies, the frontend and (in multi-node mode) the prefill pool of one environment.

    Construct ids are part of the output's identity; renaming one renames resources.
    """

    def __init__(self, scope: Construct, id: str, environment: Environment) -> None:
        super().__init__(scope, id, namespace=environment.namespace,
                         disable_resource_name_hashes=True)
        env = environment
        self.environment = env
        self.dependencies = DependencyStack(self, "Dependencies", DependencyStackProps(
            release=env.release,
            namespace=env.namespace,
            etcd=env.dependencies.etcd,
            nats=env.dependencies.nats,
            client_pod_labels={"app.kubernetes.io/instance": env.release,
                               "app.kubernetes.io/name": env.name},
            clients_use_host_network=env.rdma.enabled and env.rdma.host_network,
            network_policy=env.network_policy,
        ))
        self.rdma = None
        if env.rdma.enabled:
            self.rdma = RdmaPolicy(self, "Rdma", RdmaPolicyProps(
                network_mode=env.rdma.network_mode,
                host_network=env.rdma.host_network,
                nccl_ib_gid_index=env.rdma.nccl_ib_gid_index,
                nccl_ib_hca=env.rdma.nccl_ib_hca,
                nccl_socket_ifname=env.rdma.nccl_socket_ifname,
                gloo_socket_ifname=env.rdma.gloo_socket_ifname,
                vllm_worker_multiproc_method=env.rdma.vllm_worker_multiproc_method,
            ))
        # The props every Dynamo workload of the environment shares.
        shared: dict[str, Any] = dict(
            release=env.release,
            full_name=env.full_name,
            namespace=env.namespace,
            app_name=env.name,
            image=env.image,
            image_pull_secrets=tuple(env.image_pull_secrets),
            pod_labels=env.pod_labels,
            pod_annotations=env.pod_annotations,
            model_volume=env.model_volume,
            etcd_endpoints=self.dependencies.etcd_endpoints,
            nats_url=self.dependencies.nats_url,
            etcd_client_tls_secret=self.dependencies.etcd_client_tls_secret,
            rdma=self.rdma,
            shared_memory=env.shared_memory,
            resource_defaults=env.resource_defaults,
            placement=env.placement,
            security=env.security,
            dependency_wait=env.dependency_wait,
            debug=env.debug,
        )
        self.frontend = FrontendDeployment(self, "Frontend", FrontendDeploymentProps(
            **shared,
            mode=env.mode,
            config=env.frontend.config,
            graph=tuple(env.frontend.graph),
            replicas=env.frontend.replicas,
            resources=env.frontend.resources,
            service=env.service,
            metrics=env.frontend.metrics,
            generation=env.dynamo,
            v1=env.v1,
            **_pod_settings(env.frontend),
        ))
        self.decode: DecodeWorkerPool | None = None
        self.prefill: PrefillWorkerPool | None = None
        if env.dynamo is Generation.V1:
            self._compose_v1(shared)
        elif env.mode is Mode.MULTINODE and env.prefill is not None:
            self.prefill = PrefillWorkerPool(self, "Prefill", PrefillWorkerPoolProps(
                **shared,
                config=env.prefill.config,
                graphs_config_map_name=self.frontend.graphs_config_map_name,
                http_port=self.frontend.http_port,
                replicas=env.prefill.replicas,
                resources=env.prefill.resources,
                **_pod_settings(env.prefill),
            ))
        self.network_policy: DynamoNetworkPolicy | None = None
        if env.network_policy.enabled:
            scraped = env.frontend.metrics.enabled
            public_ports: list[int | str]
            if env.dynamo is Generation.V1:
                # Prometheus scrapes the 1.x frontend on its HTTP port, workers on their system
                # port.
                public_ports = [_v1.HTTP_PORT_NAME, *([_v1.SYSTEM_PORT_NAME] if scraped else [])]
            else:
                public_ports = [_v01.SERVE_PORT_NAME, *([METRICS_PORT_NAME] if scraped else [])]
            self.network_policy = DynamoNetworkPolicy(
                self, "NetworkPolicy", DynamoNetworkPolicyProps(
                    release=env.release,
                    name=(env.v1_names if env.dynamo is Generation.V1 else env.names
                          ).network_policy,
                    namespace=env.namespace,
                    app_name=env.name,
                    public_ports=public_ports,
                ))

    def _compose_v1(self, shared: dict[str, Any]) -> None:
        """Dynamo 1.x: every worker of the description becomes a pod of its own."""
        env = self.environment
        decode, prefill = decode_role(env), prefill_role(env)
        name = served_model_name(env)
        if decode.groups:
            group = decode.groups[0]
            self.decode = DecodeWorkerPool(self, "Decode", DecodeWorkerPoolProps(
                **shared,
                config=group.config,
                replicas=decode.workers,
                resources=_per_worker(env.frontend.resources, group.gpus_per_worker),
                served_model_name=name,
                disaggregated=prefill.workers > 0,
                v1=env.v1,
                **_pod_settings(env.frontend),
            ))
        if prefill.groups:
            group = prefill.groups[-1]
            # Without a prefill section the frontend's describes the workers of its graph.
            role = env.prefill or env.frontend
            self.prefill = PrefillWorkerPool(self, "Prefill", PrefillWorkerPoolProps(
                **shared,
                config=group.config,
                replicas=prefill.workers,
                resources=_per_worker(role.resources, group.gpus_per_worker),
                generation=Generation.V1,
                served_model_name=name,
                v1=env.v1,
                **_pod_settings(role),
            ))
        metrics = env.frontend.metrics
        if metrics.enabled and metrics.service_monitor.enabled:
            monitor = metrics.service_monitor
            PodMonitor(self, "WorkerMonitor", PodMonitorProps(
                name=env.v1_names.worker_monitor,
                namespace=monitor.namespace,
                pod_namespace=env.namespace,
                selector={"app.kubernetes.io/name": env.name,
                          "app.kubernetes.io/instance": env.release},
                components=["decode", "prefill"],
                port="system",
                labels={"app.kubernetes.io/name": env.name,
                        "app.kubernetes.io/instance": env.release, **monitor.additional_labels},
                interval=monitor.interval,
                honor_labels=monitor.honor_labels,
                relabelings=monitor.relabelings,
            ))


def _per_worker(role: Resources, gpus: int) -> Resources:
    """1.x pods hold one worker: its GPUs, and the role's CPU and memory settings per pod."""
    return Resources(gpus=gpus, requests=role.requests, limits=role.limits)


def _pod_settings(role: FrontendSettings | PrefillSettings) -> dict[str, Any]:
    """What a role section says about its pods, whichever construct renders them."""
    return dict(labels=role.labels, annotations=role.annotations, probes=role.probes,
                update_strategy=role.update_strategy, disruption_budget=role.disruption_budget)
