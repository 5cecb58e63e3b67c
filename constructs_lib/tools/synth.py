"""Synthesizes environment files into `dist/<environment>/`, all or nothing."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cdk8s

from ..chart import DynamoChart
from ..errors import ConfigError, Problem
from ..model import placement
from ..model.base import is_dns_label
from ..model.environment import Environment
from ..model.loader import load_environment
from . import plan_report

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


def load_all(paths: list[Path], warnings: list[Problem] | None = None) -> dict[str, Environment]:
    """Validate every file before anything is written, reporting the problems of all of them.

    Warnings about legal but probably unintended settings are appended to `warnings` if given.
    """
    problems: list[Problem] = []
    environments: dict[str, Environment] = {}
    for path in paths:
        name = environment_name(path)
        if not is_dns_label(name):
            problems.append(Problem(str(path), "", "the file name is the output folder and chart "
                                    "name, so it must be a DNS label (lower-case, digits, '-')"))
            continue
        try:
            environments[name] = load_environment(path, warnings)
        except ConfigError as err:
            problems.extend(err.problems)
    if problems:
        raise ConfigError(problems)
    return environments


def discover(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ConfigError([Problem(str(directory), "", "no such folder of environment files")])
    found = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
    if not found:
        raise ConfigError([Problem(str(directory), "", "holds no environment files (*.yaml)")])
    return found


def synthesize(environments: dict[str, Environment], outdir: Path) -> list[SynthesizedEnvironment]:
    """Write every environment into `outdir/<name>/`, replacing `outdir` only on success."""
    outdir = outdir.resolve()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        # One App for all environments, a chart (and output folder) each: every synth pays for
        # the jsii runtime once, and each App costs calls into it.
        app = cdk8s.App(outdir=str(staging),
                        yaml_output_type=cdk8s.YamlOutputType.FOLDER_PER_CHART_FILE_PER_RESOURCE)
        charts = {name: DynamoChart(app, name, env) for name, env in environments.items()}
        app.synth()
        results = [_finish(name, environments[name], chart, staging / name)
                   for name, chart in charts.items()]
        _replace(outdir, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return results


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


def _replace(outdir: Path, staging: Path) -> None:
    """Swap the new output in with renames, so a reader never sees a half-written dist/."""
    if outdir.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.old.", dir=outdir.parent))
        os.rename(outdir, retired / outdir.name)
        os.rename(staging, outdir)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.rename(staging, outdir)
