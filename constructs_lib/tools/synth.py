"""Synthesizes environment files into `dist/<environment>/`, all or nothing.

Every environment is checked whole before anything is written: its file (types, limits, the
file's own rules), then the rules of the constructs it composes, for all files together. The
charts are composed once, in an App that writes to a private folder; the output folder is then
replaced in one step (see `output`).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, Problem
from ..model import AnyEnvironment as Environment
from ..model.base import is_dns_label
from ..model.loader import load_environment
from ..rules import RuleViolations
from .output import OutputError, OutputFolder

if TYPE_CHECKING:
    from ..chart import DynamoChart
    from ..graph_chart import DynamoGraphChart
    from ..model.dynamo_graph import Output
    from ..placement import Plan

    AnyChart = DynamoChart | DynamoGraphChart

# Objects that others refer to are applied first; Dynamo pods last, once etcd and NATS exist,
# and the autoscalers after the workloads they scale.
_APPLY_ORDER = ["Namespace", "CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding",
                "Secret", "ConfigMap", "PersistentVolumeClaim", "Service", "NetworkPolicy",
                "PodDisruptionBudget", "StatefulSet", "Deployment", "LeaderWorkerSet",
                "DynamoGraphDeployment", "HorizontalPodAutoscaler", "ScaledObject",
                "ServiceMonitor", "PodMonitor"]


@dataclass(frozen=True)
class SynthesizedEnvironment:
    name: str
    environment: Environment
    chart: AnyChart
    files: list[str]
    plan: Plan


@dataclass(frozen=True)
class Composed:
    """Charts composed and checked, in an App that writes to a private folder of its own."""

    app: Any
    charts: dict[str, AnyChart]
    folder: Path

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def environment_name(path: Path) -> str:
    return path.name.removesuffix(".yaml").removesuffix(".yml")


def name_problem(path: Path) -> Problem | None:
    """Why `path` cannot name an environment (its output folder and chart), if it cannot."""
    if not is_dns_label(environment_name(path)):
        return Problem(str(path), "", "the file name is the output folder and chart name, so "
                                      "it must be a DNS label (lower-case, digits, '-')")
    return None


@dataclass(frozen=True)
class EnvironmentFiles:
    """Environment files read and type-checked (the constructs' rules have not run yet)."""

    paths: list[Path]
    environments: dict[str, Environment]
    """The files that read, by environment name."""
    files: dict[str, Path]
    """The file of each environment."""
    problems: dict[str, list[Problem]]
    """The problems of the files that did not read, by file."""

    def error(self, more: dict[str, list[Problem]] | None = None) -> ConfigError:
        """Every problem, these files' and `more`, in the order the files were given."""
        found = {**self.problems, **(more or {})}
        return ConfigError([p for path in self.paths for p in found.get(str(path), [])])


def read_files(paths: Sequence[Path], warnings: list[Problem] | None = None) -> EnvironmentFiles:
    """Read and type-check every file, keeping the problems of each one that does not read."""
    problems: dict[str, list[Problem]] = {}
    environments: dict[str, Environment] = {}
    files: dict[str, Path] = {}
    for path in paths:
        name = environment_name(path)
        problem = name_problem(path)
        if problem is not None:
            problems[str(path)] = [problem]
            continue
        if name in files:
            problems[str(path)] = [Problem(str(path), "", (
                f"names the environment {name}, as {files[name]} does; the file name is the "
                "output folder, so rename or remove one of them"))]
            continue
        files[name] = path
        try:
            environments[name] = load_environment(path, warnings)
        except ConfigError as err:
            problems[str(path)] = err.problems
    return EnvironmentFiles(list(paths), environments, files, problems)


def load_files(paths: list[Path],
               warnings: list[Problem] | None = None) -> dict[str, Environment]:
    """Read and type-check every file, reporting the problems of all of them; the rules of the
    constructs run when the charts are composed (`compose`)."""
    read = read_files(paths, warnings)
    if read.problems:
        raise read.error()
    if warnings is not None:
        warnings += _shared_releases(read.environments, read.files)
    return read.environments


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


def sources(paths: Sequence[Path]) -> dict[str, str]:
    """The file each environment was read from, by environment name."""
    return {environment_name(path): str(path) for path in paths}


def new_app(outdir: Path | None = None) -> Any:
    """A cdk8s App writing a folder per chart and a file per resource (into `outdir`, or a
    folder nothing reads)."""
    # Imported here: the jsii runtime starts with cdk8s, and a refused file needs none of it.
    from . import jsii_session

    jsii_session.start()
    import cdk8s

    jsii_session.quiet_exit()
    return cdk8s.App(outdir=str(outdir) if outdir else tempfile.gettempdir(),
                     yaml_output_type=cdk8s.YamlOutputType.FOLDER_PER_CHART_FILE_PER_RESOURCE)


def _compose(app: Any, environments: dict[str, Environment], advice: list[Problem] | None,
             source: dict[str, str], output_format: Output | None = None
             ) -> tuple[dict[str, AnyChart], dict[str, list[Problem]]]:
    from ..graph_chart import compose_chart

    charts: dict[str, AnyChart] = {}
    problems: dict[str, list[Problem]] = {}
    for name, environment in environments.items():
        where = source.get(name, name)
        try:
            charts[name] = compose_chart(app, name, environment, output_format)
        except RuleViolations as violations:
            problems[where] = [Problem(where, f.field, f.message) for f in violations.findings]
            continue
        if advice is not None:
            advice += [Problem(where, f.field, f.message) for f in charts[name].warnings()]
    return charts, problems


def compose(app: Any, environments: dict[str, Environment],
            warnings: list[Problem] | None = None,
            source: dict[str, str] | None = None,
            output_format: Output | None = None) -> dict[str, AnyChart]:
    """A chart per environment in `app`; every rule the charts break is reported together,
    naming each file (`source`, by environment name) and its fields. Warnings are appended to
    `warnings` if given. `output_format` (manifests or dynamo-graph) overrides the files'
    `output`."""
    charts, problems = _compose(app, environments, warnings, source or {}, output_format)
    if problems:
        raise ConfigError([p for found in problems.values() for p in found])
    return charts


@contextmanager
def staging_app() -> Iterator[tuple[Any, Path]]:
    """A cdk8s App writing into a private folder of its own (`write` moves what it synthesized
    into the output), and that folder; the folder is removed if the block fails."""
    folder = Path(tempfile.mkdtemp(prefix="dynamo-cdk8s-"))
    try:
        yield new_app(folder), folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def add_charts(app: Any, read: EnvironmentFiles, warnings: list[Problem] | None = None,
               output_format: Output | None = None) -> dict[str, AnyChart]:
    """A chart per environment that read, in `app` (a DynamoChart, or the operator's
    DynamoGraphChart for `output: dynamo-graph`; `output_format` overrides the files'). Every
    problem, of the files that did not read and of the rules the charts break, is raised
    together (ConfigError), file by file; warnings (the charts' advice, releases shared between
    files) are appended to `warnings`."""
    charts, broken = _compose(app, read.environments, warnings, sources(read.paths),
                              output_format)
    if read.problems or broken:
        raise read.error(broken)
    if warnings is not None:
        warnings += _shared_releases(read.environments, read.files)
    return charts


def compose_files(paths: Sequence[Path], warnings: list[Problem] | None = None,
                  output_format: Output | None = None) -> Composed:
    """A chart per file, ready to `write` (see `add_charts`); `output_format` overrides the
    files' `output`."""
    read = read_files(paths, warnings)
    if not read.environments:
        # Nothing to compose: the jsii runtime is not even started.
        raise read.error()
    with staging_app() as (app, folder):
        charts = add_charts(app, read, warnings, output_format)
    return Composed(app, charts, folder)


def compose_environments(environments: dict[str, Environment],
                         warnings: list[Problem] | None = None,
                         source: dict[str, str] | None = None,
                         output_format: Output | None = None) -> Composed:
    """`compose` in an App of its own, ready to `write`."""
    with staging_app() as (app, folder):
        charts = compose(app, environments, warnings, source, output_format)
    return Composed(app, charts, folder)


def load_all(paths: list[Path], warnings: list[Problem] | None = None) -> dict[str, Environment]:
    """Validate every file, its rules and those of the constructs it composes, before
    anything is written, reporting the problems of all of them.

    Warnings about legal but probably unintended settings are appended to `warnings` if given.
    """
    composed = compose_files(paths, warnings)
    composed.discard()
    return {name: chart.environment for name, chart in composed.charts.items()}


def discover(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ConfigError([Problem(str(directory), "", "no such folder of environment files")])
    found = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
    if not found:
        raise ConfigError([Problem(str(directory), "", "holds no environment files (*.yaml)")])
    return found


def synthesize(environments: dict[str, Environment], outdir: Path, *,
               sources: Sequence[Path] = (), keep_others: bool = False,
               warnings: list[str] | None = None, advice: list[Problem] | None = None,
               output_format: Output | None = None) -> list[SynthesizedEnvironment]:
    """Write every environment into `outdir/<name>/`, replacing `outdir` only on success; a
    rule a chart breaks stops it before anything is written (ConfigError).

    `outdir` must be new, empty or written by this tool, and hold none of `sources` (see
    `output`); with `keep_others`, the environment folders already there that are not among
    `environments` are kept. Problems removing an old copy go to `warnings`, the charts'
    advice to `advice`. Raises ConfigError for an output folder that is not to be replaced,
    OutputError when writing fails. `output_format` (manifests or dynamo-graph)
    overrides the environments' `output`.
    """
    return write(compose_environments(environments, advice, output_format=output_format), outdir,
                 sources=sources,
                 keep_others=keep_others, warnings=warnings)


def write(composed: Composed, outdir: Path, *, sources: Sequence[Path] = (),
          keep_others: bool = False, warnings: list[str] | None = None
          ) -> list[SynthesizedEnvironment]:
    """Synthesize composed charts into `outdir/<name>/`, replacing `outdir` in one step (see
    `synthesize`)."""
    results: list[SynthesizedEnvironment] = []
    charts = composed.charts
    try:
        folder = OutputFolder(Path(outdir), "environments", sources=sources)
        folder.replace(lambda staging: results.extend(render(composed, staging)),
                       keep=(lambda name: name not in charts) if keep_others else None,
                       warnings=warnings)
    finally:
        composed.discard()
    return results


def render(composed: Composed, folder: Path) -> list[SynthesizedEnvironment]:
    """Synthesize the composed charts and move each one's folder into `folder/<name>/` (a
    folder of the caller's, written as is: `write` is what replaces an output folder
    safely)."""
    synth_app(composed.app)
    results = []
    for name, chart in composed.charts.items():
        _move(composed.folder / name, folder / name)
        results.append(_finish(name, chart, folder / name))
    return results


def _move(source: Path, target: Path) -> None:
    """Move a chart's folder of files: a rename on one file system, else a copy, whose errors
    (a full disk) stay plain OSErrors naming no temporary path."""
    try:
        os.rename(source, target)
        return
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
    target.mkdir()
    for file in sorted(source.iterdir()):
        shutil.copyfile(file, target / file.name)


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


def _finish(name: str, chart: AnyChart, folder: Path) -> SynthesizedEnvironment:
    from . import plan_report

    files = sorted((p.name for p in folder.glob("*.k8s.yaml")), key=_apply_rank)
    (folder / "kustomization.yaml").write_text(_kustomization(files))
    plan = chart.plan()
    (folder / "PLAN.md").write_text(plan_report.markdown(plan, name))
    return SynthesizedEnvironment(name, chart.environment, chart, files, plan)


def file_kind(file_name: str) -> str:
    """The kind of the one resource in a file cdk8s wrote (`<Kind>.<name>.k8s.yaml`)."""
    return file_name.split(".", 1)[0]


def _apply_rank(file_name: str) -> tuple[int, str]:
    kind = file_kind(file_name)
    rank = _APPLY_ORDER.index(kind) if kind in _APPLY_ORDER else len(_APPLY_ORDER)
    return rank, file_name


def _kustomization(files: list[str]) -> str:
    # fifo keeps the order below; kustomize's default ("legacy") sorts by kind and would apply
    # Deployments before the etcd and NATS StatefulSets. sortOptions needs kustomize 5
    # (kubectl 1.27+).
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization",
             "sortOptions:", "  order: fifo", "resources:"]
    lines += [f"  - {f}" for f in files]
    return "\n".join(lines) + "\n"
