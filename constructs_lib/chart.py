"""DynamoChart: one environment's whole deployment, composed from the public constructs."""

from __future__ import annotations

from cdk8s import Chart
from constructs import Construct

from .decode_pool import DecodeWorkerPool, DecodeWorkerPoolProps
from .dependencies import DependencyStack, DependencyStackProps
from .frontend import FrontendDeployment, FrontendDeploymentProps
from .model.environment import Environment, Generation, Mode, Resources
from .model.roles import decode_role, prefill_role, served_model_name
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
        ))
        self.rdma = None
        if env.rdma.enabled:
            self.rdma = RdmaPolicy(self, "Rdma", RdmaPolicyProps(
                network_mode=env.rdma.network_mode,
                host_network=env.rdma.host_network,
            ))
        shared = dict(
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
            rdma=self.rdma,
        )
        self.frontend = FrontendDeployment(self, "Frontend", FrontendDeploymentProps(
            **shared,
            mode=env.mode,
            config=env.frontend.config,
            graph=tuple(env.frontend.graph),
            replicas=env.frontend.replicas,
            resources=env.frontend.resources,
            labels=env.frontend.labels,
            annotations=env.frontend.annotations,
            service=env.service,
            metrics=env.frontend.metrics,
            generation=env.dynamo,
            v1=env.v1,
        ))
        self.decode = None
        self.prefill = None
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
                labels=env.prefill.labels,
                annotations=env.prefill.annotations,
            ))

    def _compose_v1(self, shared: dict) -> None:
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
                labels=env.frontend.labels,
                annotations=env.frontend.annotations,
                v1=env.v1,
            ))
        if prefill.groups:
            group = prefill.groups[-1]
            role_resources = env.prefill.resources if env.prefill else env.frontend.resources
            self.prefill = PrefillWorkerPool(self, "Prefill", PrefillWorkerPoolProps(
                **shared,
                config=group.config,
                replicas=prefill.workers,
                resources=_per_worker(role_resources, group.gpus_per_worker),
                labels=env.prefill.labels if env.prefill else env.frontend.labels,
                annotations=env.prefill.annotations if env.prefill else env.frontend.annotations,
                generation=Generation.V1,
                served_model_name=name,
                v1=env.v1,
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
