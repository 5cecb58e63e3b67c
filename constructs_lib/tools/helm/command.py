"""`python -m constructs_lib from-helm-values`: a seed chart release's values -> manifests."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from ...errors import ConfigError, Problem
from ...model.base import is_dns_label
from ..output import OutputError, OutputFolder, describe
from ..reference.command import SCHEMA_PATH

DESCRIPTION = """\
Reads the values of a release of the seed Helm chart (helm-charts/dynamo) the way Helm does:
the chart's defaults, then every -f file in order (maps merge, lists and scalars are replaced,
later files win, null deletes a key), then every --set, then every --set-string, then every
--set-file (Helm's order, whatever the order on the command line). It writes to DIR the
manifests that `helm template NAME <seed chart> --namespace NS -f ... --set ...` would have
installed, as `synth` writes one environment: one file per resource plus kustomization.yaml and
the placement plan PLAN.md, directly in DIR (apply with `kubectl apply -k DIR`). DIR is replaced as
a whole, so it must be new, empty, or a folder this command or `synth` wrote before.

A key the chart does not read is an error naming the file and the key (--ignore-unknown makes
it a warning). Exit code 2 on any input problem, and nothing is written.
"""


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "from-helm-values", help="convert seed Helm chart values into manifests",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-f", "--values", dest="files", action="append", required=True,
                        metavar="FILE", help="a values file; repeat to layer several")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="Helm --set syntax: a.b=c, list[0].name=x, a=1,b=2, a\\.b=c")
    parser.add_argument("--set-string", dest="set_strings", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="as --set, but every value stays a string (true, 8, null)")
    parser.add_argument("--set-file", dest="set_files", action="append", default=[],
                        metavar="KEY=PATH",
                        help="as --set, but the value is the text of the file at PATH, e.g. "
                             "--set-file configs=my-configs.yaml")
    parser.add_argument("--release", required=True, metavar="NAME",
                        help="the Helm release name (it prefixes every resource name)")
    parser.add_argument("--namespace", default="default", metavar="NS",
                        help="the release's namespace (default: default)")
    parser.add_argument("--output", "-o", required=True, metavar="DIR",
                        help="folder to write the manifests and kustomization.yaml into")
    parser.add_argument("--write-environment", metavar="FILE",
                        help="also write the equivalent environment file (this project's own "
                             "format); `synth` of it gives the same manifests")
    parser.add_argument("--ignore-unknown", action="store_true",
                        help="warn about keys the chart does not read instead of failing")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: every command registers this one, and `synth` needs none of it.
    from .. import summary
    from . import environment_file
    from .convert import convert
    from .inputs import gather

    output = OutputFolder(Path(args.output), "manifests", sources=_inputs(args))
    if args.write_environment:
        _check_environment_file(args, output.path)
    inputs = gather(args.files, args.sets, args.set_strings, args.set_files)
    problems = [] if args.ignore_unknown else list(inputs.unknown)
    try:
        conversion = convert(inputs.values, args.release, args.namespace)
    except ConfigError as err:
        raise ConfigError(problems + err.problems) from None
    if problems:
        raise ConfigError(problems)
    warnings = [Problem(p.source, p.field, f"{p.message}; ignored") for p in inputs.unknown]
    warnings += conversion.warnings
    output.check()
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)

    environment = conversion.environment
    # Named as `synth` will name the environment file, so that synthesizing it gives the
    # same PLAN.md as well.
    name = (_environment_name(Path(args.write_environment)) if args.write_environment
            else environment.release)
    results: list[Any] = []

    def build(folder: Path) -> None:
        # Imported here: synth starts the jsii runtime, which `--help` does not need.
        from .. import synth

        rendered = folder / ".render"
        rendered.mkdir()
        composed = synth.compose_environments({name: environment})
        try:
            results.extend(synth.render(composed, rendered))
        finally:
            composed.discard()
        for file in (rendered / name).iterdir():
            os.rename(file, folder / file.name)
        shutil.rmtree(rendered)
        if args.write_environment:
            header = [_modeline(Path(args.write_environment)), *_header(args, warnings)]
            _write_file(Path(args.write_environment),
                        environment_file.render(environment, header))

    output.replace(build)
    # The summary `synth` prints for an environment, so the two commands report alike.
    result = results[0]
    print("\n".join(summary.summarize(name, output.path, result.files, result.plan).lines()))
    if args.write_environment:
        note = "" if Path(SCHEMA_PATH).is_file() else (
            f" (its first line names {SCHEMA_PATH} for editors; `python -m constructs_lib "
            "schema` writes it)")
        print(f"environment file -> {args.write_environment}{note}")
    return 0


def _environment_name(path: Path) -> str:
    return path.name.removesuffix(".yaml").removesuffix(".yml")


def _modeline(environment_file: Path) -> str:
    """The first line of every environment file: editors with the YAML language server read
    the schema it names (`python -m constructs_lib schema` writes it, relative to the current
    folder as here), the way the shipped files name it."""
    schema = os.path.relpath(Path.cwd() / SCHEMA_PATH, environment_file.resolve().parent)
    return f"yaml-language-server: $schema={Path(schema).as_posix()}"


def _inputs(args: argparse.Namespace) -> list[Path]:
    """The files the command reads: the output folder must hold none of them."""
    paths = [Path(name) for name in args.files]
    for argument in args.set_files:
        paths += [Path(a.value) for a in _set_file_assignments(argument)]
    if args.write_environment:
        paths.append(Path(args.write_environment))
    return paths


def _set_file_assignments(argument: str) -> list[Any]:
    from .set_values import FILE_SOURCE, parse

    try:
        return parse(argument, FILE_SOURCE)
    except ConfigError:
        return []  # reported when the values are gathered


def _check_environment_file(args: argparse.Namespace, output: Path) -> None:
    path = Path(args.write_environment)

    def refuse(message: str) -> ConfigError:
        return ConfigError([Problem("--write-environment", "", f"{path} {message}")])

    if path.suffix not in (".yaml", ".yml") or not is_dns_label(_environment_name(path)):
        raise refuse("is not an environment file name: the name is the environment's output "
                     "folder and chart name, so it must be a DNS label (lower-case, digits, "
                     "'-') followed by .yaml, such as environments/prod.yaml")
    if path.is_dir():
        raise refuse("is a folder; give the environment file's path")
    if output.resolve() in path.resolve().parents:
        raise ConfigError([Problem("--write-environment", "", (
            f"{args.write_environment} is inside --output {output}, whose contents are "
            "replaced; write the environment file elsewhere (e.g. environments/)"))])
    read = [Path(name).resolve() for name in args.files]
    read += [Path(a.value).resolve() for arg in args.set_files
             for a in _set_file_assignments(arg)]
    if path.resolve() in read:
        raise refuse("is one of the files this command reads; write the environment file "
                     "elsewhere (e.g. environments/)")


def _write_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except OSError as err:
        Path(temporary).unlink(missing_ok=True)
        raise OutputError(path, f"cannot be written: {describe(err)}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _header(args: argparse.Namespace, warnings: list[Problem]) -> list[str]:
    command = ["python", "-m", "constructs_lib", "from-helm-values"]
    for file in args.files:
        command += ["-f", file]
    for flag, assignments in (("--set", args.sets), ("--set-string", args.set_strings),
                              ("--set-file", args.set_files)):
        for assignment in assignments:
            command += [flag, assignment]
    command += ["--release", args.release, "--namespace", args.namespace]
    lines = [
        "Converted from the seed Helm chart's values by",
        f"  {shlex.join(command)}",
        "Synthesizing this file gives the manifests that command wrote; edit this file from now "
        "on.",
    ]
    if warnings:
        lines += ["", "Notes from the conversion:"]
        lines += [f"  {warning}" for warning in warnings]
    return lines
