"""The seed chart's merged values -> this project's typed Environment.

Every value is read from its Helm key and checked; a problem names that key (as the user wrote
it: `configs.VllmWorker.tensor-parallel-size`, `rdma.networkMode`) and the file it came from.
Checks the typed model already makes are left to it, and its errors are mapped back from the
model's field paths to the Helm keys they were read from.

Where the seed chart itself is wrong, the conversion follows what the chart documents and says
so in a warning: the lowercase `router:` configs section becomes `Router`, and the prefill pool
gets `multinode.prefill.resources` (the seed rendered `multinode.resources` there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import yaml
from pydantic import ValidationError

from ..errors import ConfigError, Problem, show
from ..model.environment import Environment
from ..model.loader import problems_from
from .graph_file import GraphFileError, parse as parse_graph
from .merge import CHART_DEFAULTS, Path, Values
from .set_values import dotted

# `helm install` refuses longer release names (they must leave room for suffixes).
HELM_RELEASE_NAME_LIMIT = 53
SERVICE_MONITOR_API = "monitoring.coreos.com/v1"
GPU = "nvidia.com/gpu"
RDMA_DEVICE = "tke.cloud.tencent.com/tke-shared-rdma"
_RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")
_MISSING = object()
# What the README documents for the multinode keys the chart's values.yaml leaves commented out.
_MULTINODE_DEFAULT_REPLICAS = 1
_DEFAULT_METRICS_PORT = 9091


@dataclass(frozen=True)
class Conversion:
    environment: Environment
    warnings: list[Problem]


def convert(values: Values, release: str, namespace: str) -> Conversion:
    """Raises ConfigError listing every problem found."""
    return _Converter(values, release, namespace).run()


class _Converter:
    def __init__(self, values: Values, release: str, namespace: str) -> None:
        self.values = values
        self.release = release
        self.namespace = namespace
        self.data: dict[str, Any] = {}
        self.where: dict[str, tuple[str, str]] = {}
        """Model field path -> (source, Helm key) it was read from."""
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self._bad_mappings: set[Path] = set()

    # -- reading values -------------------------------------------------------------------

    def get(self, path: Path, default: Any = _MISSING) -> Any:
        node: Any = self.values.tree
        for depth, part in enumerate(path):
            if not isinstance(node, Mapping):
                self._not_a_mapping(path[:depth], node)
                return default
            if part not in node:
                return default
            node = node[part]
        return node

    def _not_a_mapping(self, path: Path, value: Any) -> None:
        if path not in self._bad_mappings:
            self._bad_mappings.add(path)
            self.problem(path, f"expected a mapping of keys, got {show(value)}")

    def problem(self, path: Path, message: str) -> None:
        self.problems.append(Problem(self.values.origin(path), dotted(path), message))

    def warn(self, path: Path, message: str) -> None:
        self.warnings.append(Problem(self.values.origin(path), dotted(path), message))

    def flag(self, path: Path, default: bool) -> bool:
        value = self.get(path, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            self.problem(path, f"expected true or false, got the string {value!r} (Helm "
                               "treats every non-empty string as true; write true or false, unquoted)")
        else:
            self.problem(path, f"expected true or false, got {show(value)}")
        return default

    def integer(self, path: Path, default: Any = _MISSING) -> Any:
        value = self.get(path, default)
        if value is _MISSING or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
        self.problem(path, f"expected a whole number, got {show(value)}")
        return _MISSING

    def mapping(self, path: Path) -> dict[str, Any]:
        value = self.get(path, {})
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self._not_a_mapping(path, value)
            return {}
        return dict(value)

    def text(self, path: Path, default: Any = _MISSING) -> Any:
        """A string setting; numbers are taken as Helm prints them (`tag: 2` is "2")."""
        value = self.get(path, default)
        if isinstance(value, bool):
            self.problem(path, f"expected a string, got {show(value)}")
            return _MISSING
        if isinstance(value, (int, float)):
            return str(value)
        return value

    # -- writing the model ----------------------------------------------------------------

    def put(self, field: str, path: Path | None, value: Any, source: str | None = None) -> None:
        """Set `field` (dotted model path) and remember which Helm key it came from."""
        if value is _MISSING:
            return
        node = self.data
        *parents, last = field.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        if path is not None:
            self.where[field] = (source or self.values.origin(path), dotted(path))
        elif source is not None:
            self.where[field] = (source, "")

    # -- the conversion -------------------------------------------------------------------

    def run(self) -> Conversion:
        self._release()
        self._image()
        self._pods()
        self._service_and_storage()
        self._rdma()
        mode = self._mode()
        if mode is not None:
            self._roles(mode)
        self._dependencies()
        environment = self._validate()
        if self.problems:
            raise ConfigError(_unique(self.problems))
        assert environment is not None
        return Conversion(environment, _unique(self.warnings))

    def _release(self) -> None:
        if len(self.release) > HELM_RELEASE_NAME_LIMIT:
            self.problems.append(Problem("--release", "", (
                f"{self.release!r} is {len(self.release)} characters; Helm release names are at "
                f"most {HELM_RELEASE_NAME_LIMIT}")))
        self.put("release", None, self.release, source="--release")
        self.put("namespace", None, self.namespace, source="--namespace")
        for key, field in (("nameOverride", "name_override"),
                           ("fullnameOverride", "fullname_override")):
            value = self.text((key,), "")
            if value not in ("", None, _MISSING):
                self.put(field, (key,), value)

    def _image(self) -> None:
        image = self._image_at(("image",))
        if image:
            self.put("image", ("image",), image)
            for key, field in (("repository", "repository"), ("tag", "tag"),
                               ("pullPolicy", "pull_policy")):
                self.where[f"image.{field}"] = (self.values.origin(("image", key)),
                                                f"image.{key}")
        secrets = self.get(("imagePullSecrets",), [])
        if secrets is None:
            secrets = []
        if not isinstance(secrets, list):
            self.problem(("imagePullSecrets",), f"expected a list such as [{{name: regcred}}], "
                                                f"got {show(secrets)}")
            return
        names = []
        for index, item in enumerate(secrets):
            path: Path = ("imagePullSecrets", index)
            if not isinstance(item, Mapping) or set(item) != {"name"}:
                self.problem(path, f"expected {{name: <secret>}}, got {show(item)}")
                continue
            names.append(item["name"])
            self.where[f"image_pull_secrets[{len(names) - 1}]"] = (
                self.values.origin(path), dotted((*path, "name")))
        self.put("image_pull_secrets", None, names)

    def _image_at(self, path: Path) -> dict[str, Any] | None:
        self.mapping(path)
        repository = self.text((*path, "repository"), None)
        tag = self.text((*path, "tag"), None)
        if repository in (None, _MISSING) and tag in (None, _MISSING):
            return None
        if tag in ("", None):
            # The chart would fall back to its appVersion, 1.16.0, which no Dynamo image has.
            self.problem((*path, "tag"), "is empty; set the image tag (the chart would have used "
                                         "its placeholder appVersion 1.16.0, which is not a "
                                         "Dynamo image tag)")
            return None
        if repository in ("", None):
            self.problem((*path, "repository"), f"is missing while {dotted((*path, 'tag'))} is "
                                                "set; give the image's repository")
            return None
        image = {"repository": repository, "tag": tag}
        pull_policy = self.get((*path, "pullPolicy"), None)
        if pull_policy is not None:
            image["pull_policy"] = pull_policy
        return image

    def _pods(self) -> None:
        for key, field in (("podLabels", "pod_labels"), ("podAnnotations", "pod_annotations")):
            self.put(field, (key,), self.mapping((key,)))

    def _service_and_storage(self) -> None:
        self.put("service.type", ("service", "type"), self.get(("service", "type"), _MISSING))
        self.put("service.port", ("service", "port"), self.integer(("service", "port")))
        self.put("model_volume.enabled", ("modelPVC", "enable"),
                 self.flag(("modelPVC", "enable"), False))
        self.put("model_volume.claim_name", ("modelPVC", "name"),
                 self.text(("modelPVC", "name")))
        self.put("model_volume.mount_path", ("modelPVC", "mountPath"),
                 self.text(("modelPVC", "mountPath")))

    def _rdma(self) -> None:
        self.put("rdma.enabled", ("rdma", "enable"), self.flag(("rdma", "enable"), False))
        self.put("rdma.network_mode", ("rdma", "networkMode"),
                 self.get(("rdma", "networkMode"), _MISSING))
        self.put("rdma.host_network", ("rdma", "hostNetwork"),
                 self.flag(("rdma", "hostNetwork"), False))

    def _mode(self) -> str | None:
        single = self.flag(("single", "enable"), False)
        multinode = self.flag(("multinode", "enable"), False)
        if single and multinode:
            self.problem(("multinode", "enable"), (
                "single.enable and multinode.enable are both true; the seed would start both "
                "Deployments on the same GPUs and behind two Services. Set one of them to false"))
            return None
        if not single and not multinode:
            self.problem(("single", "enable"), (
                "neither single.enable nor multinode.enable is true, so nothing would serve the "
                "model (the seed would deploy only etcd and NATS). Set one of them to true"))
            return None
        mode = "single" if single else "multinode"
        self.put("mode", (mode, "enable"), mode)
        return mode

    def _roles(self, mode: str) -> None:
        self._serve_config("frontend.config", ("configs",))
        self._graph(mode)
        root: Path = (mode,)
        if mode == "multinode":
            self.put("frontend.replicas", (*root, "replicas"),
                     self.integer((*root, "replicas"), _MULTINODE_DEFAULT_REPLICAS))
        self._resources("frontend.resources", (*root, "resources"), gpus=True)
        self.put("frontend.labels", (*root, "labels"), self.mapping((*root, "labels")))
        self.put("frontend.annotations", (*root, "annotations"),
                 self.mapping((*root, "annotations")))
        self._metrics((*root, "metrics"))
        if mode == "single":
            if self.get(("prefillConfigs",), "") not in ("", None):
                self.warn(("prefillConfigs",), "is ignored in single mode: only multinode mode "
                                               "runs a prefill pool")
            return
        self._serve_config("prefill.config", ("prefillConfigs",))
        prefill: Path = ("multinode", "prefill")
        self.mapping(prefill)
        self.put("prefill.replicas", (*prefill, "replicas"),
                 self.integer((*prefill, "replicas"), _MULTINODE_DEFAULT_REPLICAS))
        own = self.get((*prefill, "resources"), None)
        if own is None:
            # What seed users got: the chart rendered multinode.resources for the prefill pods.
            self._resources("prefill.resources", ("multinode", "resources"), gpus=True)
        else:
            if own != self.get(("multinode", "resources"), None):
                self.warn((*prefill, "resources"), (
                    "now sizes the prefill pods as documented; the seed chart ignored it and gave "
                    "them multinode.resources, so these pods change"))
            self._resources("prefill.resources", (*prefill, "resources"), gpus=True)
        self.put("prefill.labels", ("multinode", "labels"), self.mapping(("multinode", "labels")))
        self.put("prefill.annotations", ("multinode", "annotations"),
                 self.mapping(("multinode", "annotations")))

    def _serve_config(self, field: str, path: Path) -> None:
        text = self.get(path, "")
        if not isinstance(text, str):
            self.problem(path, f"expected the text of a configs.yaml (a string, e.g. written "
                               f"with `|`), got {show(text)}")
            return
        if not text.strip():
            runs = "the prefill Deployment" if path == ("prefillConfigs",) else "the Deployment"
            self.problem(path, f"is empty, but {runs} runs `dynamo serve -f` with it; it must "
                               "hold the Dynamo configs.yaml")
            return
        try:
            config = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            reason = getattr(err, "problem", None) or str(err)
            self.problem(path, f"is not valid YAML: {where}{reason} (it holds Dynamo's "
                               "configs.yaml)")
            return
        if not isinstance(config, dict):
            self.problem(path, f"expected a configs.yaml mapping of component sections such as "
                               f"Frontend: and VllmWorker:, got {show(config)}")
            return
        if "router" in config:
            if "Router" in config:
                self.problem((*path, "router"), "is given as well as Router; Dynamo reads only "
                                                "Router. Merge the two sections")
                return
            self.warn((*path, "router"), (
                "converted to Router: components read their section by class name, so no "
                "component read the seed's lowercase section; the Router now uses its settings"))
            config = {("Router" if key == "router" else key): value
                      for key, value in config.items()}
        self.put(field, path, config)

    def _graph(self, mode: str) -> None:
        graphs = self.mapping(("graphs",))
        file = "single.py" if mode == "single" else "frontend.py"
        path: Path = ("graphs", file)
        for other in sorted(set(graphs) - {file}):
            if self.values.origin(("graphs", other)) != CHART_DEFAULTS:
                self.warn(("graphs", other), f"is not run in {mode} mode (it runs graphs/{file}); "
                                             "dropped")
        if file not in graphs:
            self.problem(("graphs",), (
                f"has no {file!r}, which the {mode} Deployment runs (`dynamo serve "
                f"graphs.{file[:-3]}:Frontend`); it has: {', '.join(sorted(graphs)) or 'nothing'}"))
            return
        text = graphs[file]
        if not isinstance(text, str):
            self.problem(path, f"expected the text of a Python graph file, got {show(text)}")
            return
        try:
            graph = parse_graph(text)
        except GraphFileError as err:
            self.problem(path, str(err))
            return
        for name in graph.unused_imports:
            self.warn(path, f"imports {name} but never links it; the generated file leaves the "
                            "import out")
        self.put("frontend.graph", path, [c.value for c in graph.chain])

    def _resources(self, field: str, path: Path, gpus: bool) -> None:
        resources = self.mapping(path)
        gpu_counts: dict[str, Any] = {}
        for kind in ("requests", "limits"):
            listed = self.mapping((*path, kind))
            kept = {}
            for name, quantity in listed.items():
                at: Path = (*path, kind, name)
                if name in _RESOURCE_NAMES:
                    kept[name] = quantity
                elif name == GPU and gpus:
                    count = self.integer(at)
                    if count is not _MISSING:
                        gpu_counts[kind] = count
                elif name == RDMA_DEVICE:
                    self.problem(at, "is added by rdma.enable (one device per pod); remove it "
                                     "from resources")
                else:
                    allowed = ", ".join((*_RESOURCE_NAMES, GPU) if gpus else _RESOURCE_NAMES)
                    self.problem(at, f"is not a resource this project sets; allowed: {allowed}")
            if kept or kind in resources:
                self.put(f"{field}.{kind}", (*path, kind), kept)
        if gpu_counts:
            if len(set(gpu_counts.values())) > 1:
                self.problem((*path, "limits", GPU), (
                    f"is {gpu_counts['limits']} but the request is {gpu_counts['requests']}; "
                    "Kubernetes requires a GPU request to equal its limit"))
                return
            key = "limits" if "limits" in gpu_counts else "requests"
            self.put(f"{field}.gpus", (*path, key, GPU), gpu_counts[key])

    def _metrics(self, path: Path) -> None:
        self.mapping(path)
        enabled = self.flag((*path, "enable"), False)
        self.put("frontend.metrics.enabled", (*path, "enable"), enabled)
        self.put("frontend.metrics.port", (*path, "port"),
                 self.integer((*path, "port"), _DEFAULT_METRICS_PORT))
        image = self._image_at((*path, "image"))
        if image and image != self.data.get("image"):
            self.put("frontend.metrics.image", (*path, "image"), image)
            for key, name in (("repository", "repository"), ("tag", "tag"),
                              ("pullPolicy", "pull_policy")):
                self.where[f"frontend.metrics.image.{name}"] = (
                    self.values.origin((*path, "image", key)), dotted((*path, "image", key)))
        monitor: Path = (*path, "serviceMonitor")
        self.mapping(monitor)
        monitor_enabled = self.flag((*monitor, "enable"), False)
        if monitor_enabled and not enabled:
            self.warn((*monitor, "enable"), f"is true but {dotted((*path, 'enable'))} is false; "
                                            "there is no metrics port to scrape, so no "
                                            "ServiceMonitor is made")
        api = self.get((*monitor, "apiVersion"), SERVICE_MONITOR_API)
        if api != SERVICE_MONITOR_API:
            self.problem((*monitor, "apiVersion"), f"{show(api)} is not supported; allowed: "
                                                   f"{SERVICE_MONITOR_API}")
        field = "frontend.metrics.service_monitor"
        self.put(f"{field}.enabled", (*monitor, "enable"), monitor_enabled)
        self.put(f"{field}.namespace", (*monitor, "namespace"),
                 self.get((*monitor, "namespace"), _MISSING))
        self.put(f"{field}.interval", (*monitor, "interval"),
                 self.text((*monitor, "interval")))
        self.put(f"{field}.honor_labels", (*monitor, "honorLabels"),
                 self.flag((*monitor, "honorLabels"), False))
        self.put(f"{field}.additional_labels", (*monitor, "additionalLabels"),
                 self.mapping((*monitor, "additionalLabels")))
        relabelings = self.get((*monitor, "relabelings"), [])
        self.put(f"{field}.relabelings", (*monitor, "relabelings"),
                 [] if relabelings is None else relabelings)

    def _dependencies(self) -> None:
        etcd: Path = ("etcd",)
        field = "dependencies.etcd"
        self.mapping(etcd)
        enabled = self.flag((*etcd, "enable"), False)
        self.put(f"{field}.enabled", (*etcd, "enable"), enabled)
        override = self.text(("etcdEndpointsOverride",), "")
        if override not in ("", None, _MISSING):
            self.put(f"{field}.endpoints_override", ("etcdEndpointsOverride",), override)
        elif not enabled:
            self.problem(("etcdEndpointsOverride",), (
                "is empty while etcd.enable is false, so the pods would look for an etcd that "
                "nothing deploys; give the external etcd's host:port"))
        self.put(f"{field}.replicas", (*etcd, "replicaCount"),
                 self.integer((*etcd, "replicaCount"), _MISSING))
        self.put(f"{field}.storage_size", (*etcd, "persistence", "size"),
                 self.get((*etcd, "persistence", "size"), _MISSING))
        # As in the bitnami chart, empty resources leave etcd's default sizing in place.
        if self.get((*etcd, "resources"), None):
            self.put(f"{field}.resources", (*etcd, "resources"), {})
            self._resources(f"{field}.resources", (*etcd, "resources"), gpus=False)
        if self.flag((*etcd, "auth", "rbac", "create"), False):
            self.problem((*etcd, "auth", "rbac", "create"), (
                "true is not supported: this project's etcd runs without authentication, as the "
                "seed's did (it set false); allowed: false"))
        for probe in ("readinessProbe", "livenessProbe"):
            if self.flag((*etcd, probe, "enabled"), False):
                self.warn((*etcd, probe, "enabled"), (
                    "is ignored: this project's etcd has no probes, as the seed's etcd had none "
                    "(it disabled both)"))

        nats: Path = ("nats",)
        field = "dependencies.nats"
        self.mapping(nats)
        enabled = self.flag((*nats, "enable"), False)
        self.put(f"{field}.enabled", (*nats, "enable"), enabled)
        override = self.text(("natsServerOverride",), "")
        if override not in ("", None, _MISSING):
            self.put(f"{field}.server_override", ("natsServerOverride",), override)
        elif not enabled:
            self.problem(("natsServerOverride",), (
                "is empty while nats.enable is false, so the pods would look for a NATS that "
                "nothing deploys; give the external server's nats://host:port"))
        jetstream: Path = (*nats, "config", "jetstream")
        store: Path = (*jetstream, "fileStore")
        field = f"{field}.jetstream"
        self.put(f"{field}.enabled", (*jetstream, "enabled"),
                 self.flag((*jetstream, "enabled"), False))
        self.put(f"{field}.file_store_enabled", (*store, "enabled"),
                 self.flag((*store, "enabled"), False))
        self.put(f"{field}.file_store_dir", (*store, "dir"), self.text((*store, "dir")))
        self.put(f"{field}.file_store_pvc", (*store, "pvc", "enabled"),
                 self.flag((*store, "pvc", "enabled"), False))
        self.put(f"{field}.file_store_size", (*store, "pvc", "size"),
                 self.get((*store, "pvc", "size"), _MISSING))

    # -- validation -----------------------------------------------------------------------

    def _validate(self) -> Environment | None:
        try:
            environment = Environment.model_validate(self.data)
        except ValidationError as err:
            earlier = bool(self.problems)
            for problem in problems_from(err, "", Environment):
                located = self._located(problem)
                # A required field left out because of a problem already reported.
                if not (earlier and located is None):
                    self.problems.append(located or Problem(CHART_DEFAULTS, problem.field,
                                                            problem.message))
            return None
        self._check_service_names(environment)
        return environment

    def _located(self, problem: Problem) -> Problem | None:
        """A model problem, named by the Helm key its value was read from."""
        field = problem.field.replace(".[key]", "")
        for model_path in sorted(self.where, key=len, reverse=True):
            if field == model_path or field.startswith((f"{model_path}.", f"{model_path}[")):
                source, helm = self.where[model_path]
                rest = field[len(model_path):]
                return Problem(source, (helm + rest).lstrip("."), problem.message)
        return None

    def _check_service_names(self, environment: Environment) -> None:
        suffix = "-single" if environment.mode.value == "single" else "-multinode"
        service = environment.full_name + suffix
        if len(service) <= 63:
            return
        if environment.fullname_override:
            source, field = self.values.origin(("fullnameOverride",)), "fullnameOverride"
        elif environment.name_override:
            source, field = self.values.origin(("nameOverride",)), "nameOverride"
        else:
            source, field = "--release", ""
        self.problems.append(Problem(source, field, (
            f"makes the chart's full name {environment.full_name!r}, so the Service would be "
            f"{service!r}, {len(service)} characters; Kubernetes allows 63. Choose a shorter "
            "name")))


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))

