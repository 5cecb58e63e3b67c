"""Synthesizes environment files into `dist/<environment>/`, all or nothing."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, Problem
from ..model import placement
from ..model.base import is_dns_label
from ..model.environment import Environment
from ..model.loader import load_environment
from . import plan_report
from .output import OutputError, OutputFolder

if TYPE_CHECKING:
    from ..chart import DynamoChart

# Objects that others refer to are applied first; Dynamo pods last, once etcd and NATS exist.
_APPLY_ORDER = ["Namespace", "ServiceAccount", "Secret", "ConfigMap", "PersistentVolumeClaim",
                "Service", "NetworkPolicy", "PodDisruptionBudget", "StatefulSet", "Deployment",
                "ServiceMonitor", "PodMonitor"]


@dataclass(frozen=True)
class SynthesizedEnvironment:
    name: str
    environment: Environment
    chart: DynamoChart
    files: list[str]
    plan: placement.Plan


def environment_name(path: Path) -> str:
    return path.name.removesuffix(".yaml").removesuffix(".yml")


def name_problem(path: Path) -> Problem | None:
    """Why `path` cannot name an environment (its output folder and chart), if it cannot."""
    if not is_dns_label(environment_name(path)):
        return Problem(str(path), "", "the file name is the output folder and chart name, so "
                                      "it must be a DNS label (lower-case, digits, '-')")
    return None


def load_all(paths: list[Path], warnings: list[Problem] | None = None) -> dict[str, Environment]:
    """Validate every file before anything is written, reporting the problems of all of them.

    Warnings about legal but probably unintended settings are appended to `warnings` if given.
    """
    problems: list[Problem] = []
    environments: dict[str, Environment] = {}
    files: dict[str, Path] = {}
    for path in paths:
        name = environment_name(path)
        problem = name_problem(path)
        if problem is not None:
            problems.append(problem)
            continue
        if name in files:
            problems.append(Problem(str(path), "", (
                f"names the environment {name}, as {files[name]} does; the file name is the "
                "output folder, so rename or remove one of them")))
            continue
        files[name] = path
        try:
            environments[name] = load_environment(path, warnings)
        except ConfigError as err:
            problems.extend(err.problems)
    if problems:
        raise ConfigError(problems)
    if warnings is not None:
        warnings += _shared_releases(environments, files)
    return environments


def _shared_releases(environments: dict[str, Environment],
                     files: dict[str, Path]) -> list[Problem]:
    """Environments that deploy the same release into the same namespace give their resources
    the same names: they are alternatives, and applying two replaces one with the other."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name, environment in environments.items():
        groups.setdefault((environment.namespace, environment.release), []).append(name)
    return [Problem(str(files[names[0]]), "release", (
        f"{release}, in namespace {namespace}, as in {', '.join(names[1:])}: the same resource "
        "names, so applying more than one of them replaces the others' resources (give each a "
        "release of its own to run them side by side)"))
        for (namespace, release), names in groups.items() if len(names) > 1]


def discover(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ConfigError([Problem(str(directory), "", "no such folder of environment files")])
    found = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
    if not found:
        raise ConfigError([Problem(str(directory), "", "holds no environment files (*.yaml)")])
    return found


def synthesize(environments: dict[str, Environment], outdir: Path, *,
               sources: Sequence[Path] = (), keep_others: bool = False,
               warnings: list[str] | None = None) -> list[SynthesizedEnvironment]:
    """Write every environment into `outdir/<name>/`, replacing `outdir` only on success.

    `outdir` must be new, empty or written by this tool, and hold none of `sources` (see
    `output`); with `keep_others`, the environment folders already there that are not among
    `environments` are kept. Raises ConfigError for an output folder that is not to be
    replaced, OutputError when writing fails.
    """
    results: list[SynthesizedEnvironment] = []
    folder = OutputFolder(Path(outdir), "environments", sources=sources)
    folder.replace(lambda staging: results.extend(render(environments, staging)),
                   keep=(lambda name: name not in environments) if keep_others else None,
                   warnings=warnings)
    return results


def render(environments: dict[str, Environment], folder: Path) -> list[SynthesizedEnvironment]:
    """Write every environment into `folder/<name>/` (a folder of the caller's, written as
    is: `synthesize` is what replaces an output folder safely)."""
    # Imported here: the jsii runtime starts with cdk8s, and a refused input needs none of it.
    from . import jsii_session

    jsii_session.start()
    import cdk8s

    jsii_session.quiet_exit()

    from ..chart import DynamoChart

    # One App for all environments, a chart (and output folder) each: every synth pays for
    # the jsii runtime once, and each App costs calls into it.
    app = cdk8s.App(outdir=str(folder),
                    yaml_output_type=cdk8s.YamlOutputType.FOLDER_PER_CHART_FILE_PER_RESOURCE)
    charts = {name: DynamoChart(app, name, env) for name, env in environments.items()}
    synth_app(app)
    return [_finish(name, environments[name], chart, folder / name)
            for name, chart in charts.items()]


def synth_app(app: Any) -> None:
    """`app.synth()`, with the file system errors Node meets (a full disk, a permission) turned
    into an OSError instead of jsii's report of the whole request."""
    try:
        app.synth()
    except Exception as err:  # jsii raises JSIIError or RuntimeError with Node's message
        text = str(err)
        code = re.search(r"\b(E[A-Z]{2,})\b", text)
        number = getattr(errno, code.group(1), None) if code else None
        if isinstance(number, int):
            raise OSError(number, os.strerror(number)) from None
        first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
        raise OutputError("cdk8s", f"synthesis failed: {first[:200]}") from None




def _finish(name: str, environment: Environment, chart: DynamoChart,
            folder: Path) -> SynthesizedEnvironment:
    files = sorted((p.name for p in folder.glob("*.k8s.yaml")), key=_apply_rank)
    (folder / "kustomization.yaml").write_text(_kustomization(environment, files))
    plan = placement.plan(environment)
    (folder / "PLAN.md").write_text(plan_report.markdown(plan, name))
    return SynthesizedEnvironment(name, environment, chart, files, plan)


def file_kind(file_name: str) -> str:
    """The kind of the one resource in a file cdk8s wrote (`<Kind>.<name>.k8s.yaml`)."""
    return file_name.split(".", 1)[0]


def _apply_rank(file_name: str) -> tuple[int, str]:
    kind = file_kind(file_name)
    rank = _APPLY_ORDER.index(kind) if kind in _APPLY_ORDER else len(_APPLY_ORDER)
    return rank, file_name


def _kustomization(environment: Environment, files: list[str]) -> str:
    # fifo keeps the order below; kustomize's default ("legacy") sorts by kind and would apply
    # Deployments before the etcd and NATS StatefulSets. sortOptions needs kustomize 5
    # (kubectl 1.27+).
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization",
             "sortOptions:", "  order: fifo", "resources:"]
    lines += [f"  - {f}" for f in files]
    return "\n".join(lines) + "\n"
