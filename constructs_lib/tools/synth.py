"""Synthesizes environment files into `dist/<environment>/`, all or nothing."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cdk8s

from .. import placement
from ..chart import DynamoChart
from ..errors import ConfigError, Problem
from ..model import AnyEnvironment as Environment
from ..model.base import is_dns_label
from ..model.loader import load_environment
from ..rules import RuleViolations
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


def _read(paths: list[Path], warnings: list[Problem] | None
          ) -> tuple[dict[str, Environment], dict[str, list[Problem]]]:
    """Every file that reads and type-checks, and the problems of the others, by file."""
    problems: dict[str, list[Problem]] = {}
    environments: dict[str, Environment] = {}
    for path in paths:
        name = environment_name(path)
        if not is_dns_label(name):
            problems[str(path)] = [Problem(str(path), "", (
                "the file name is the output folder and chart name, so it must be a DNS label "
                "(lower-case, digits, '-')"))]
            continue
        try:
            environments[name] = load_environment(path, warnings)
        except ConfigError as err:
            problems[str(path)] = err.problems
    return environments, problems


def load_files(paths: list[Path],
               warnings: list[Problem] | None = None) -> dict[str, Environment]:
    """Read and type-check every file, reporting the problems of all of them; the rules of the
    constructs run when the charts are composed (`compose`)."""
    environments, problems = _read(paths, warnings)
    if problems:
        raise ConfigError([p for found in problems.values() for p in found])
    return environments


def sources(paths: list[Path]) -> dict[str, str]:
    """The file each environment was read from, by environment name."""
    return {environment_name(path): str(path) for path in paths}


def _compose(app: cdk8s.App, environments: dict[str, Environment],
             warnings: list[Problem] | None, source: dict[str, str]
             ) -> tuple[dict[str, DynamoChart], dict[str, list[Problem]]]:
    charts: dict[str, DynamoChart] = {}
    problems: dict[str, list[Problem]] = {}
    for name, environment in environments.items():
        where = source.get(name, name)
        try:
            charts[name] = DynamoChart(app, name, environment)
        except RuleViolations as violations:
            problems[where] = [Problem(where, f.field, f.message) for f in violations.findings]
            continue
        if warnings is not None:
            warnings += [Problem(where, f.field, f.message) for f in charts[name].warnings()]
    return charts, problems


def compose(app: cdk8s.App, environments: dict[str, Environment],
            warnings: list[Problem] | None = None,
            source: dict[str, str] | None = None) -> dict[str, DynamoChart]:
    """A chart per environment in `app`; every rule the charts break is reported together,
    naming each file (`source`, by environment name) and its fields. Warnings are appended to
    `warnings` if given."""
    charts, problems = _compose(app, environments, warnings, source or {})
    if problems:
        raise ConfigError([p for found in problems.values() for p in found])
    return charts


def compose_files(app: cdk8s.App, paths: list[Path],
                  warnings: list[Problem] | None = None) -> dict[str, DynamoChart]:
    """A chart per file in `app`: every problem of every file (its own and the rules of the
    constructs it composes) is reported together, file by file."""
    environments, problems = _read(paths, warnings)
    charts, broken = _compose(app, environments, warnings, sources(paths))
    problems.update(broken)
    if problems:
        raise ConfigError([p for path in paths for p in problems.get(str(path), [])])
    return charts


def load_all(paths: list[Path], warnings: list[Problem] | None = None) -> dict[str, Environment]:
    """Validate every file, its rules and those of the constructs it composes, before
    anything is written, reporting the problems of all of them.

    Warnings about legal but probably unintended settings are appended to `warnings` if given.
    """
    charts = compose_files(cdk8s.App(), paths, warnings)
    return {name: chart.environment for name, chart in charts.items()}


def discover(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ConfigError([Problem(str(directory), "", "no such folder of environment files")])
    found = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
    if not found:
        raise ConfigError([Problem(str(directory), "", "holds no environment files (*.yaml)")])
    return found


def synthesize(environments: dict[str, Environment], outdir: Path,
               warnings: list[Problem] | None = None,
               source: dict[str, str] | None = None) -> list[SynthesizedEnvironment]:
    """Write every environment into `outdir/<name>/`, replacing `outdir` only on success; a
    rule a chart breaks stops it before anything is written (ConfigError)."""
    return _write(outdir, lambda app: compose(app, environments, warnings, source))


def synthesize_files(paths: list[Path], outdir: Path,
                     warnings: list[Problem] | None = None) -> list[SynthesizedEnvironment]:
    """`synthesize` of environment files, reporting every problem of every file first."""
    return _write(outdir, lambda app: compose_files(app, paths, warnings))


def _write(outdir: Path, composer: Callable[[cdk8s.App], dict[str, DynamoChart]]
           ) -> list[SynthesizedEnvironment]:
    outdir = outdir.resolve()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        # One App for all environments, a chart (and output folder) each: every synth pays for
        # the jsii runtime once, and each App costs calls into it.
        app = cdk8s.App(outdir=str(staging),
                        yaml_output_type=cdk8s.YamlOutputType.FOLDER_PER_CHART_FILE_PER_RESOURCE)
        charts = composer(app)
        app.synth()
        results = [_finish(name, chart.environment, chart, staging / name)
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
    plan = chart.plan()
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
