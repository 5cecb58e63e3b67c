"""DynamoChart: one environment file's whole deployment, composed from the public constructs.

The chart is a client of the constructs like any hand-written app: it maps the file's sections
to props, composes the constructs, and runs their rules as it is built, naming the file's
fields in what it reports (`RuleViolations`).
"""

from __future__ import annotations

from typing import Any

from cdk8s import Chart
from constructs import Construct

from . import placement
from ._render import v01 as _v01
from ._render import v1 as _v1
from .dashboard import GrafanaDashboard, GrafanaDashboardProps
from .decode_pool import DecodeWorkerPool, DecodeWorkerPoolProps
from .dependencies import DependencyStack, DependencyStackProps
from .frontend import FrontendDeployment, FrontendDeploymentProps
from .kubernetes_discovery import KubernetesDiscovery, KubernetesDiscoveryProps
from .model import file_fields
from .model.dynamo_v1 import DecodePoolSettings, EnvironmentV1, PrefillPoolSettings
from .model.environment import Environment, FrontendSettings, Mode, PrefillSettings
from .network_policy import DynamoNetworkPolicy, of_environment
from .node_pool import GpuNodePool, GpuNodePoolProps
from .pod_monitor import PodMonitor, PodMonitorProps
from .prefill_pool import PrefillWorkerPool, PrefillWorkerPoolProps
from .rdma import RdmaPolicy, RdmaPolicyProps
from .rules import Finding, Locator, RuleViolations, staged
from .rules import v1 as _v1_rules
from .rules.catalog import report_order
from .rules.names import generated_names_are_valid
from .rules.serve_rules import advice as serve_advice
from .rules.subjects import RuleSubject, subjects_of, validate_subjects_in
from .v0_1 import FrontendDeployment as ServeFrontend
from .v0_1 import FrontendDeploymentProps as ServeFrontendProps
from .v0_1 import PrefillWorkerPool as ServePrefillPool
from .v0_1 import PrefillWorkerPoolProps as ServePrefillPoolProps
from .v0_1 import _deployment as _serve_deployment
from .worker_pool import WorkerPool
from .workload import DynamoWorkload


class DynamoChart(Chart):
    """Dependencies, the frontend, the worker pools and, when the file declares one, the GPU
    node pool of one environment; for Dynamo 1.x with kubernetes discovery, the
    KubernetesDiscovery its pods use instead of etcd.

    Raises RuleViolations, naming the file's fields, when the composed constructs break a rule.
    Construct ids are part of the output's identity; renaming one renames resources.
    """

    def __init__(self, scope: Construct, id: str, environment: Environment | EnvironmentV1, *,
                 check_rules: bool = True) -> None:
        """`check_rules`: run the constructs' rules while composing and raise RuleViolations in
        the file's terms (default); false leaves them to the constructs' validations at
        `app.synth()`."""
        super().__init__(scope, id, namespace=environment.namespace,
                         disable_resource_name_hashes=True)
        validate_subjects_in(self)
        env = environment
        self.environment = env
        """The environment this chart was composed from."""
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
        """etcd and NATS (or the external ones the file names)."""
        self.rdma: RdmaPolicy | None = None
        """TKE RDMA, when the file turns it on."""
        if env.rdma.enabled:
            self.rdma = RdmaPolicy(self, "Rdma", RdmaPolicyProps(
                network_mode=env.rdma.network_mode,
                host_network=env.rdma.host_network,
                nccl_ib_gid_index=env.rdma.nccl_ib_gid_index,
                nccl_ib_hca=env.rdma.nccl_ib_hca,
                nccl_socket_ifname=env.rdma.nccl_socket_ifname,
                gloo_socket_ifname=env.rdma.gloo_socket_ifname,
                vllm_worker_multiproc_method=env.rdma.vllm_worker_multiproc_method,
                ucx_net_devices=env.rdma.ucx_net_devices,
                ucx_ib_gid_index=env.rdma.ucx_ib_gid_index,
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
            dependencies=self.dependencies,
            rdma=self.rdma,
            resource_defaults=env.resource_defaults,
            placement=env.placement,
            security=env.security,
            dependency_wait=env.dependency_wait,
            debug=env.debug,
        )
        self.frontend: ServeFrontend | FrontendDeployment
        """The frontend: `dynamo serve` of the graph (v0.1), or `dynamo.frontend` (1.x)."""
        self.decode: DecodeWorkerPool | None = None
        """The Dynamo 1.x decode pool."""
        self.prefill: ServePrefillPool | PrefillWorkerPool | None = None
        """The prefill pool, when the deployment has one."""
        self.worker_monitor: PodMonitor | None = None
        """The PodMonitor of the 1.x workers' system ports, when metrics are scraped."""
        self.dashboard: GrafanaDashboard | None = None
        """The Grafana dashboard of the 1.x deployment, when the file asks for it."""
        self.kubernetes_discovery: KubernetesDiscovery | None = None
        """The 1.x pods' ServiceAccount, RBAC and discovery Service, with kubernetes discovery."""
        public_ports: list[int | str]
        if isinstance(env, EnvironmentV1):
            self._compose_v1(env, shared)
            # Prometheus scrapes the 1.x frontend on its HTTP port, workers on their system port.
            public_ports = [_v1.HTTP_PORT_NAME, *(
                [_v1.SYSTEM_PORT_NAME] if env.monitoring.service_monitor.enabled else [])]
        else:
            self._compose_v01(env, shared)
            public_ports = [_v01.SERVE_PORT_NAME,
                            *(["metrics"] if env.frontend.metrics.enabled else [])]
        self.network_policy: DynamoNetworkPolicy | None = of_environment(
            self, env, public_ports)
        """What may connect to the Dynamo pods, unless the file turns NetworkPolicies off."""
        self.node_pool: GpuNodePool | None = None
        """The GPU nodes the file declares (`nodes`); None when it declares none."""
        if env.nodes is not None:
            self.node_pool = GpuNodePool(self, "Nodes", GpuNodePoolProps(
                count=env.nodes.count, gpus_per_node=env.nodes.gpus_per_node,
                gpu_product=env.nodes.gpu_product))
        self._name_fields_after_the_file()
        if check_rules and (found := self.problems()):
            raise RuleViolations(found)

    def _compose_v01(self, env: Environment, shared: dict[str, Any]) -> None:
        self.frontend = ServeFrontend(self, "Frontend", ServeFrontendProps(
            **shared,
            model_volume=env.model_volume,
            shared_memory=env.shared_memory,
            mode=env.mode,
            config=env.frontend.config,
            graph=tuple(env.frontend.graph),
            replicas=env.frontend.replicas,
            resources=env.frontend.resources,
            service=env.service,
            metrics=env.frontend.metrics,
            **_pod_settings(env.frontend),
        ))
        if env.mode is Mode.MULTINODE and env.prefill is not None:
            self.prefill = ServePrefillPool(self, "Prefill", ServePrefillPoolProps(
                **shared,
                model_volume=env.model_volume,
                shared_memory=env.shared_memory,
                config=env.prefill.config,
                graphs_config_map_name=self.frontend.graphs_config_map_name,
                http_port=self.frontend.http_port,
                replicas=env.prefill.replicas,
                resources=env.prefill.resources,
                **_pod_settings(env.prefill),
            ))

    def _compose_v1(self, env: EnvironmentV1, shared: dict[str, Any]) -> None:
        """Dynamo 1.x: the frontend, and a pod per worker in each pool (with kubernetes
        discovery, the ServiceAccount, RBAC and Service they find each other through)."""
        if env.runtime.discovery == "kubernetes":
            self.kubernetes_discovery = KubernetesDiscovery(
                self, "Discovery", KubernetesDiscoveryProps(
                    release=env.release, full_name=env.full_name, namespace=env.namespace,
                    app_name=env.name, worker_port=env.runtime.system_port,
                    install_crd=env.runtime.install_discovery_crd))
        shared = dict(shared, runtime=env.runtime, kubernetes_discovery=self.kubernetes_discovery)
        frontend = env.frontend
        self.frontend = FrontendDeployment(self, "Frontend", FrontendDeploymentProps(
            **{**shared, "rdma": None},
            served_model_name=env.model.name,
            http_port=frontend.http_port,
            router=frontend.router,
            migration_limit=frontend.migration_limit,
            replicas=frontend.replicas,
            resources=frontend.resources,
            probes=frontend.probes,
            labels=frontend.labels,
            annotations=frontend.annotations,
            update_strategy=frontend.update_strategy,
            disruption_budget=frontend.disruption_budget,
            service=env.service,
            service_monitor=env.monitoring.service_monitor,
        ))
        kv_events = env.kv_events if env.publishes_kv_events else None
        kv_transfer = env.kv_transfer if env.disaggregated else None
        # Decode workers of disaggregated serving are picked by load: they publish no KV events.
        self.decode = DecodeWorkerPool(self, "Decode", DecodeWorkerPoolProps(
            **shared, **_pool_settings(env, env.decode), kv_transfer=kv_transfer,
            kv_events=None if env.disaggregated else kv_events, disaggregated=env.disaggregated,
            autoscaling=env.decode.autoscaling))
        if env.prefill is not None:
            self.prefill = PrefillWorkerPool(self, "Prefill", PrefillWorkerPoolProps(
                **shared, **_pool_settings(env, env.prefill), kv_transfer=kv_transfer,
                kv_events=kv_events, autoscaling=env.prefill.autoscaling))
        dashboard = env.monitoring.dashboard
        if dashboard.enabled:
            self.dashboard = GrafanaDashboard(self, "Dashboard", GrafanaDashboardProps(
                frontend=self.frontend, namespace=dashboard.namespace, labels=dashboard.labels,
                folder=dashboard.folder, title=dashboard.title,
                disaggregated=env.disaggregated))
        monitor = env.monitoring.service_monitor
        if monitor.enabled:
            self.worker_monitor = PodMonitor(self, "WorkerMonitor", PodMonitorProps(
                name=f"{env.full_name}-workers",
                namespace=monitor.namespace,
                pod_namespace=env.namespace,
                selector={"app.kubernetes.io/name": env.name,
                          "app.kubernetes.io/instance": env.release},
                components=["decode", "prefill"],
                port=_v1.SYSTEM_PORT_NAME,
                labels={"app.kubernetes.io/name": env.name,
                        "app.kubernetes.io/instance": env.release, **monitor.additional_labels},
                interval=monitor.interval,
                honor_labels=monitor.honor_labels,
                relabelings=monitor.relabelings,
            ))

    # -- the rules, in the file's terms ----------------------------------------------------------

    def _name_fields_after_the_file(self) -> None:
        env = self.environment
        values = file_fields.value_as_written(env)
        for subject in subjects_of(self, RuleSubject):
            names: file_fields.FieldNames
            if subject is self.dependencies:
                names = file_fields.dependencies(env)
            elif subject is self.kubernetes_discovery:
                names = file_fields.kubernetes_discovery(env)
            elif subject is self.node_pool:
                names = file_fields.nodes(env)
            elif isinstance(env, EnvironmentV1) and isinstance(subject, DynamoWorkload):
                names = (file_fields.decode_v1(env) if subject is self.decode
                         else file_fields.prefill_v1(env) if subject is self.prefill
                         else file_fields.frontend_v1(env))
            elif isinstance(env, Environment) and isinstance(subject, DynamoWorkload):
                names = (file_fields.prefill(env) if subject is self.prefill
                         else file_fields.frontend(env))
            else:
                names = file_fields.named(env)
            subject.locator = Locator(lambda: "", names=names, values=values)

    def findings(self) -> list[Finding]:
        """Every rule the chart's constructs break, at every stage, named as the file's
        fields."""
        subjects = subjects_of(self, RuleSubject)
        # Names are checked across the chart, so that each field that decides names has one
        # line; the Dynamo objects' names first, then etcd's and NATS's.
        named = sorted((o for s in subjects for o in s.named_objects()),
                       key=lambda o: o.dependency)
        return [*generated_names_are_valid(named), *(f for s in subjects for f in s.findings())]

    def problems(self) -> list[Finding]:
        """The findings of the earliest stage that has any, in the order a reader would fix
        them."""
        # Constructs composed from one section (both pools from `kv_events`) find a mistake once
        # each; the file has it once.
        unique = list(dict.fromkeys(staged(self.findings())))
        return sorted(unique, key=lambda f: report_order(f.rule))

    def warnings(self) -> list[Finding]:
        """Settings that are legal but probably not what was meant, named as the file's fields."""
        if isinstance(self.frontend, ServeFrontend):
            return serve_advice(_serve_deployment.of(self.frontend))
        return [f for pool in subjects_of(self, WorkerPool) for f in _v1_rules.advice(pool)]

    def plan(self) -> placement.Plan:
        """Where every Dynamo pod of the chart would run: on the declared node pool, or on the
        fewest default-sized nodes."""
        return placement.plan(self, self.node_pool)


def _pool_settings(env: EnvironmentV1,
                   pool: DecodePoolSettings | PrefillPoolSettings) -> dict[str, Any]:
    """What a pool section (over the shared model and engine sections) says about its pods;
    a worker with more GPUs than a node of `nodes` spans nodes."""
    # An autoscaled pool's replicas are its autoscaler's (the file refuses a count next to it).
    replicas = 1 if pool.autoscaling.enabled else pool.replicas
    return dict(model=env.model, gpus=pool.gpus, replicas=replicas,
                shared_memory=env.shared_memory,
                gpus_per_node=env.nodes.gpus_per_node if env.nodes is not None else None,
                engine=env.engine.merged(pool.engine), resources=pool.resources,
                probes=pool.probes, labels=pool.labels, annotations=pool.annotations,
                update_strategy=pool.update_strategy, disruption_budget=pool.disruption_budget)


def _pod_settings(role: FrontendSettings | PrefillSettings) -> dict[str, Any]:
    """What a role section says about its pods, whichever construct renders them."""
    return dict(labels=role.labels, annotations=role.annotations, probes=role.probes,
                update_strategy=role.update_strategy, disruption_budget=role.disruption_budget)
