"""`python -m constructs_lib`: synthesize environments, and the other commands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from ..errors import ConfigError, Problem, one_line
from . import run_local_command as _run_local_command

EXIT_INPUT_ERROR = 2
EXIT_OUTPUT_ERROR = 1


def _print_warnings(warnings: list[Problem]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _synth(args: argparse.Namespace) -> int:
    from . import output, summary, synth

    paths = [Path(p) for p in args.environments] or synth.discover(Path(args.environments_dir))
    warnings: list[Problem] = []
    environments = synth.load_all(paths, warnings)
    _print_warnings(warnings)
    out = Path(args.output)
    # Named files update their environments' folders and keep the others; the whole folder of
    # environments replaces the whole output. The lock keeps another run from replacing the
    # output before the summary has read it.
    with output.locked(out.absolute().parent):
        results = synth.synthesize(
            environments, out, keep_others=bool(args.environments),
            sources=paths if args.environments else [Path(args.environments_dir)])
        for result in results:
            print("\n".join(summary.summarize(result.name, out / result.name, result.files,
                                                result.plan).lines()))
    return 0


class _HelpFormatter(argparse.HelpFormatter):
    """Keeps each command's one-line help on the command's own line: argparse measures command
    names without the indent it then gives them, so the longest help would wrap below it."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):
            longest = max(map(len, action.choices), default=0)
            indented = self._current_indent + 2 * self._indent_increment + longest
            self._action_max_length = max(self._action_max_length, indented)


def _version() -> str:
    try:
        return metadata.version("dynamo-cdk8s")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _environment_file(reference: str, directory: Path) -> Path:
    """A path as given, or the file of that name in the environments folder."""
    path = Path(reference)
    if path.suffix in (".yaml", ".yml") or path.exists() or len(path.parts) > 1:
        return path
    for candidate in (directory / f"{reference}.yaml", directory / f"{reference}.yml"):
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in directory.glob("*.y*ml")) if directory.is_dir() else []
    raise ConfigError([Problem(reference, "", (
        f"neither an environment file nor an environment in {directory}/"
        + (f" (it has: {', '.join(known)})" if known else "")))])


def _plan(args: argparse.Namespace) -> int:
    from ..model import placement
    from ..model.loader import load_environment
    from . import plan_report

    path = _environment_file(args.environment, Path(args.environments_dir))
    # The same names as `synth` accepts, so that a plan is never of a file synth refuses.
    from .synth import name_problem

    problem = name_problem(path)
    if problem is not None:
        raise ConfigError([problem])
    warnings: list[Problem] = []
    environment = load_environment(path, warnings)
    _print_warnings(warnings)
    name = path.name.removesuffix(".yaml").removesuffix(".yml")
    print(plan_report.text(placement.plan(environment), name), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m constructs_lib",
        description="Typed cdk8s constructs for NVIDIA Dynamo disaggregated inference.",
        epilog="`python -m constructs_lib COMMAND --help` describes a command's options.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    synth = commands.add_parser("synth", help="synthesize environments into DIR/<environment>/")
    synth.add_argument("environments", nargs="*",
                       help="environment files (default: every file in --environments-dir)")
    synth.add_argument("--environments-dir", default="environments")
    synth.add_argument("--output", "-o", default=os.environ.get("CDK8S_OUTDIR", "dist"),
                       help="output folder (default: $CDK8S_OUTDIR or dist)")
    synth.set_defaults(run=_synth)
    from .helm import command as from_helm_values
    from .reference import command as reference

    from_helm_values.register(commands)
    plan = commands.add_parser(
        "plan", help="print the placement plan: which node runs which pod")
    plan.add_argument("environment",
                      help="an environment file, or the name of one in --environments-dir")
    plan.add_argument("--environments-dir", default="environments")
    plan.set_defaults(run=_plan)
    _run_local_command.add_parser(
        commands, lambda name: _environment_file(name, Path("environments")))
    reference.register(commands)
    return parser


MAX_PROBLEM_LINES = 20
"""Problems printed per source (file or flag); a count of the others follows."""
EXIT_INTERRUPTED = 130


def report(problems: Sequence[Problem]) -> None:
    """One line per problem on stderr, at most MAX_PROBLEM_LINES per source."""
    shown: dict[str, int] = {}
    hidden: dict[str, int] = {}
    for problem in problems:
        if shown.get(problem.source, 0) < MAX_PROBLEM_LINES:
            shown[problem.source] = shown.get(problem.source, 0) + 1
            print(problem, file=sys.stderr)
        else:
            hidden[problem.source] = hidden.get(problem.source, 0) + 1
    for source, count in hidden.items():
        print(Problem(source, "", f"{count} more problems like the ones above, not shown"),
              file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .output import OutputError, describe

    try:
        return int(args.run(args))
    except ConfigError as err:
        report(err.problems)
        return EXIT_INPUT_ERROR
    except OutputError as err:
        # The output could not be written (a read-only or full disk); the input was fine.
        print(one_line(f"error: {err.path}: {err.reason}"), file=sys.stderr)
        return EXIT_OUTPUT_ERROR
    except OSError as err:
        where = err.filename or "output"
        print(one_line(f"error: {where}: {describe(err)}"), file=sys.stderr)
        return EXIT_OUTPUT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
