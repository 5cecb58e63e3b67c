"""DynamoChart: one environment's whole deployment, composed from the public constructs."""

from __future__ import annotations

from cdk8s import Chart
from constructs import Construct

from .dependencies import DependencyStack, DependencyStackProps
from .frontend import FrontendDeployment, FrontendDeploymentProps
from .model.environment import Environment, Mode
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
        ))
        self.prefill = None
        if env.mode is Mode.MULTINODE and env.prefill is not None:
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
