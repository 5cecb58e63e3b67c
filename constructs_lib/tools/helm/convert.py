"""The seed chart's merged values -> this project's typed Environment.

Every value is read from its Helm key and checked; a problem names that key (as the user wrote
it: `configs.VllmWorker.tensor-parallel-size`, `rdma.networkMode`) and the file it came from.
Checks the typed model already makes, its cross-field rules included (GPU counts, prefill and
decode agreement, the length of every generated name, dependencies), are left to it: its
problems are mapped back from the model's field paths to the Helm keys they were read from,
also where a message mentions another setting.

Where the seed chart itself is wrong, the conversion follows what the chart documents and says
so in a warning: the lowercase `router:` configs section becomes `Router`, and the prefill pool
gets `multinode.prefill.resources` (the seed rendered `multinode.resources` there).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ...errors import ConfigError, Problem, show
from ...model import naming, rules
from ...model.environment import Environment
from ...model.loader import problems_from
from .dependencies import convert_dependencies
from .merge import CHART_DEFAULTS, Path, Values
from .reader import MISSING, Reader
from .resources import convert_resources
from .serving import graph, serve_config
from .set_values import dotted

# `helm install` refuses longer release names (they must leave room for suffixes).
HELM_RELEASE_NAME_LIMIT = 53
SERVICE_MONITOR_API = "monitoring.coreos.com/v1"
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


class _Converter(Reader):
    def __init__(self, values: Values, release: str, namespace: str) -> None:
        super().__init__(values)
        self.release = release
        self.namespace = namespace

    def run(self) -> Conversion:
        self._release()
        self._image()
        self._pods()
        self._service_and_storage()
        self._rdma()
        mode = self._mode()
        if mode is not None:
            self._roles(mode)
        convert_dependencies(self)
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
            if value not in ("", None, MISSING):
                self.put(field, (key,), value)
            self.key_of(field, (key,))

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
        if repository is None and tag is None:
            return None
        if MISSING in (repository, tag):
            return None  # already reported
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
        self.put("service.type", ("service", "type"), self.get(("service", "type"), MISSING))
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
                 self.get(("rdma", "networkMode"), MISSING))
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
        serve_config(self, "frontend.config", ("configs",))
        graph(self, mode)
        root: Path = (mode,)
        if mode == "multinode":
            self.put("frontend.replicas", (*root, "replicas"),
                     self.integer((*root, "replicas"), _MULTINODE_DEFAULT_REPLICAS))
        convert_resources(self, "frontend.resources", (*root, "resources"), gpus=True)
        self.put("frontend.labels", (*root, "labels"), self.mapping((*root, "labels")))
        self.put("frontend.annotations", (*root, "annotations"),
                 self.mapping((*root, "annotations")))
        self._metrics((*root, "metrics"))
        if mode == "single":
            if self.get(("prefillConfigs",), "") not in ("", None):
                self.warn(("prefillConfigs",), "is ignored in single mode: only multinode mode "
                                               "runs a prefill pool")
            return
        serve_config(self, "prefill.config", ("prefillConfigs",))
        prefill: Path = ("multinode", "prefill")
        self.mapping(prefill)
        self.put("prefill.replicas", (*prefill, "replicas"),
                 self.integer((*prefill, "replicas"), _MULTINODE_DEFAULT_REPLICAS))
        own = self.get((*prefill, "resources"), None)
        if own is None:
            # What seed users got: the chart rendered multinode.resources for the prefill pods.
            convert_resources(self, "prefill.resources", ("multinode", "resources"), gpus=True)
        else:
            if own != self.get(("multinode", "resources"), None):
                self.warn((*prefill, "resources"), (
                    "now sizes the prefill pods as documented; the seed chart ignored it and gave "
                    "them multinode.resources, so these pods change"))
            convert_resources(self, "prefill.resources", (*prefill, "resources"), gpus=True)
        self.put("prefill.labels", ("multinode", "labels"), self.mapping(("multinode", "labels")))
        self.put("prefill.annotations", ("multinode", "annotations"),
                 self.mapping(("multinode", "annotations")))

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
                 self.get((*monitor, "namespace"), MISSING))
        self.put(f"{field}.interval", (*monitor, "interval"),
                 self.text((*monitor, "interval")))
        self.put(f"{field}.honor_labels", (*monitor, "honorLabels"),
                 self.flag((*monitor, "honorLabels"), False))
        self.put(f"{field}.additional_labels", (*monitor, "additionalLabels"),
                 self.mapping((*monitor, "additionalLabels")))
        relabelings = self.get((*monitor, "relabelings"), [])
        self.put(f"{field}.relabelings", (*monitor, "relabelings"),
                 [] if relabelings is None else relabelings)

    # -- validation -----------------------------------------------------------------------

    def _validate(self) -> Environment | None:
        try:
            environment = Environment.model_validate(self.data)
        except ValidationError as err:
            self._report(problems_from(err, "", Environment))
            return None
        # The constructs' rules, as `synth` runs them on the environment file (jsii starts
        # here; the command synthesizes next anyway).
        import cdk8s

        from ...chart import DynamoChart
        from ...rules import RuleViolations

        try:
            chart = DynamoChart(cdk8s.App(), "check", environment)
        except RuleViolations as violations:
            self._report([Problem("", f.field, f.message) for f in violations.findings])
            return None
        # The advice synth would print for the environment file, in the values' own keys.
        for finding in [*chart.warnings(), *rules.warnings(environment)]:
            advice = Problem("", finding.field, finding.message)
            self.warnings.append(self.locate(advice) or Problem(CHART_DEFAULTS, finding.field,
                                                                finding.message))
        return environment

    def _report(self, problems: list[Problem]) -> None:
        earlier = bool(self.problems)
        for problem in problems:
            located = self._names_joined_with(problem) or self.locate(problem)
            # A required field left out because of a problem already reported.
            if not (earlier and located is None):
                self.problems.append(located or Problem(CHART_DEFAULTS, problem.field,
                                                        problem.message))

    def _names_joined_with(self, problem: Problem) -> Problem | None:
        """The rules blame the release for every name it starts. With a nameOverride joined to
        it, the Dynamo names are as long as the two together: when only those are wrong, the
        line goes to nameOverride and says what the two made."""
        name_override = self.data.get("name_override")
        if (problem.field != "release" or not name_override or name_override in self.release
                or self.data.get("fullname_override") or not self.release[:1].isalpha()):
            return None
        # etcd's and NATS's names are the release's alone: only a shorter release fixes them.
        dependencies = naming.DependencyNames(self.release)
        if any(_cites(problem.message, name) for name in (
                dependencies.etcd, dependencies.etcd_headless, dependencies.nats,
                dependencies.nats_headless, dependencies.nats_config_map)):
            return None
        full = naming.full_name(self.release, name_override, None)
        cut = " (Helm cut it at 63 characters)" if full != f"{self.release}-{name_override}" else ""
        rest = problem.message.removeprefix(f"{show(self.release)}: ")
        return Problem(self.values.origin(("nameOverride",)), "nameOverride", (
            f"{show(name_override)}, joined to --release {self.release} as the chart's full "
            f"name {full}{cut}: {self.in_helm_terms(rest)}"))


def _cites(message: str, name: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", message) is not None


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))

