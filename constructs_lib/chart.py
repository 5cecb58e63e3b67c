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
from .decode_pool import DecodeWorkerPool, DecodeWorkerPoolProps
from .dependencies import DependencyStack, DependencyStackProps
from .frontend import FrontendDeployment, FrontendDeploymentProps
from .model import file_fields
from .model.environment import (
    Environment,
    FrontendSettings,
    Generation,
    Mode,
    PrefillSettings,
    Resources,
)
from .model.pods import serve_deployment
from .model.roles import decode_role, prefill_role, served_model_name
from .model.rules import runtime_v1
from .network_policy import DynamoNetworkPolicy, DynamoNetworkPolicyProps
from .node_pool import GpuNodePool, GpuNodePoolProps
from .pod_monitor import PodMonitor, PodMonitorProps
from .prefill_pool import PrefillWorkerPool, PrefillWorkerPoolProps
from .rdma import RdmaPolicy, RdmaPolicyProps
from .rules import Finding, Locator, RuleViolations, Stage, staged, tagged
from .rules.catalog import report_order
from .rules.names import generated_names_are_valid
from .rules.serve_rules import advice as serve_advice
from .rules.serve_rules import pod_problems
from .rules.subjects import RuleSubject, subjects_of
from .v0_1 import FrontendDeployment as ServeFrontend
from .v0_1 import FrontendDeploymentProps as ServeFrontendProps
from .v0_1 import PrefillWorkerPool as ServePrefillPool
from .v0_1 import PrefillWorkerPoolProps as ServePrefillPoolProps
from .v0_1 import _deployment as _serve_deployment
from .workload import DynamoWorkload


class DynamoChart(Chart):
    """Dependencies, the frontend, the worker pools and, when the file declares one, the GPU
    node pool of one environment.

    Raises RuleViolations, naming the file's fields, when the composed constructs break a rule.
    Construct ids are part of the output's identity; renaming one renames resources.
    """

    def __init__(self, scope: Construct, id: str, environment: Environment, *,
                 check_rules: bool = True) -> None:
        """`check_rules`: run the constructs' rules while composing and raise RuleViolations in
        the file's terms (default); false leaves them to the constructs' validations at
        `app.synth()`."""
        super().__init__(scope, id, namespace=environment.namespace,
                         disable_resource_name_hashes=True)
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
            dependencies=self.dependencies,
            rdma=self.rdma,
            shared_memory=env.shared_memory,
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
        if env.dynamo is Generation.V1:
            self._compose_v1(shared)
        else:
            self._compose_v01(shared)
        self.network_policy: DynamoNetworkPolicy | None = None
        """What may connect to the Dynamo pods, unless the file turns NetworkPolicies off."""
        if env.network_policy.enabled:
            scraped = env.frontend.metrics.enabled
            public_ports: list[int | str]
            if env.dynamo is Generation.V1:
                # Prometheus scrapes the 1.x frontend on its HTTP port, workers on their system
                # port.
                public_ports = [_v1.HTTP_PORT_NAME, *([_v1.SYSTEM_PORT_NAME] if scraped else [])]
            else:
                public_ports = [_v01.SERVE_PORT_NAME,
                                *(["metrics"] if scraped else [])]
            self.network_policy = DynamoNetworkPolicy(
                self, "NetworkPolicy", DynamoNetworkPolicyProps(
                    release=env.release,
                    name=(env.v1_names if env.dynamo is Generation.V1 else env.names
                          ).network_policy,
                    namespace=env.namespace,
                    app_name=env.name,
                    public_ports=public_ports,
                ))
        self.node_pool: GpuNodePool | None = None
        """The GPU nodes the file declares (`nodes`); None when it declares none."""
        if env.nodes is not None:
            self.node_pool = GpuNodePool(self, "Nodes", GpuNodePoolProps(
                count=env.nodes.count, gpus_per_node=env.nodes.gpus_per_node,
                gpu_product=env.nodes.gpu_product))
        self._name_fields_after_the_file()
        if check_rules and (found := self.problems()):
            raise RuleViolations(found)

    def _compose_v01(self, shared: dict[str, Any]) -> None:
        env = self.environment
        self.frontend = ServeFrontend(self, "Frontend", ServeFrontendProps(
            **shared,
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
                config=env.prefill.config,
                graphs_config_map_name=self.frontend.graphs_config_map_name,
                http_port=self.frontend.http_port,
                replicas=env.prefill.replicas,
                resources=env.prefill.resources,
                **_pod_settings(env.prefill),
            ))

    def _compose_v1(self, shared: dict[str, Any]) -> None:
        """Dynamo 1.x: every worker of the description becomes a pod of its own."""
        env = self.environment
        self.frontend = FrontendDeployment(self, "Frontend", FrontendDeploymentProps(
            **shared,
            config=env.frontend.config,
            replicas=env.frontend.replicas,
            service=env.service,
            metrics=env.frontend.metrics,
            v1=env.v1,
            **_pod_settings(env.frontend),
        ))
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
                served_model_name=name,
                v1=env.v1,
                **_pod_settings(role),
            ))
        metrics = env.frontend.metrics
        self.worker_monitor: PodMonitor | None = None
        """The PodMonitor of the 1.x workers' system ports, when metrics are scraped."""
        if metrics.enabled and metrics.service_monitor.enabled:
            monitor = metrics.service_monitor
            self.worker_monitor = PodMonitor(self, "WorkerMonitor", PodMonitorProps(
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

    # -- the rules, in the file's terms ----------------------------------------------------------

    def _name_fields_after_the_file(self) -> None:
        env = self.environment
        values = file_fields.value_as_written(env)
        for subject in subjects_of(self, RuleSubject):
            if subject is self.dependencies:
                names = file_fields.dependencies(env)
            elif subject is self.node_pool:
                names = file_fields.nodes(env)
            elif subject is self.prefill and env.prefill is not None:
                names = file_fields.prefill(env)
            elif isinstance(subject, DynamoWorkload):
                names = file_fields.frontend(env)
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
        found = [*generated_names_are_valid(named), *(f for s in subjects for f in s.findings())]
        env = self.environment
        if env.dynamo is Generation.V1:
            # The 1.x description is still written in v0.1 terms: check it as v0.1 pods.
            found += pod_problems(serve_deployment(env))
            found += tagged(runtime_v1.one_prefill_pool_in_v1, Stage.POD,
                            runtime_v1.one_prefill_pool_in_v1(env))
        return found

    def problems(self) -> list[Finding]:
        """The findings of the earliest stage that has any, in the order a reader would fix
        them."""
        return sorted(staged(self.findings()), key=lambda f: report_order(f.rule))

    def warnings(self) -> list[Finding]:
        """Settings that are legal but probably not what was meant, named as the file's fields."""
        env = self.environment
        if env.dynamo is Generation.V1:
            return serve_advice(serve_deployment(env))
        return serve_advice(_serve_deployment.of(self.frontend))

    def plan(self) -> placement.Plan:
        """Where every Dynamo pod of the chart would run: on the declared node pool, or on the
        fewest default-sized nodes."""
        return placement.plan(self, self.node_pool)


def _per_worker(role: Resources, gpus: int) -> Resources:
    """1.x pods hold one worker: its GPUs, and the role's CPU and memory settings per pod."""
    return Resources(gpus=gpus, requests=role.requests, limits=role.limits)


def _pod_settings(role: FrontendSettings | PrefillSettings) -> dict[str, Any]:
    """What a role section says about its pods, whichever construct renders them."""
    return dict(labels=role.labels, annotations=role.annotations, probes=role.probes,
                update_strategy=role.update_strategy, disruption_budget=role.disruption_budget)
