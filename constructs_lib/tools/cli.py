"""`python -m constructs_lib`: synthesize environments, and the other commands."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

from ..errors import ConfigError, Problem, did_you_mean, one_line
from . import dynamo_graph_command as _dynamo_graph_command
from . import run_local_command as _run_local_command

if TYPE_CHECKING:
    from .synth import Composed

EXIT_INPUT_ERROR = 2
EXIT_OUTPUT_ERROR = 1

# jsii prints an 11-line box on every run on Node 20, which its current releases no longer
# support (since 2026-10-30). This project's tests run on Node 20 too, so its own commands keep
# jsii quiet about that one version; a value set by the user wins (an empty one shows the box),
# and jsii's other warnings (an untested, known-broken or deprecated Node) are untouched.
JSII_QUIET_END_OF_LIFE = ("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


SYNTH_DESCRIPTION = """\
Validates every environment file first (types, known keys, and the rules that refuse a
deployment that cannot work), printing one line per problem with exit code 2 and writing
nothing; then writes each environment into DIR/<environment>/: one file per resource,
kustomization.yaml and PLAN.md. DIR is replaced as a whole, only once everything is written,
and the command ends with a line per environment: its resources by kind and the GPUs its
Deployments and LeaderWorkerSets request.
"""


def _print_warnings(warnings: list[Problem]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _synth(args: argparse.Namespace) -> int:
    from . import synth

    paths = [Path(p) for p in args.environments] or synth.discover(Path(args.environments_dir))
    return write_composed(lambda warnings: synth.compose_files(paths, warnings, args.format),
                          Path(args.output), keep_others=bool(args.environments),
                          sources=paths if args.environments else [Path(args.environments_dir)])


def write_composed(compose: Callable[[list[Problem]], Composed], output: Path, *,
                   keep_others: bool = False, sources: Sequence[Path] = ()) -> int:
    """Compose the charts (`compose` appends its warnings to the list it is given), write them
    into `output/<environment>/` and print a summary line per environment.

    Named files update their environments' folders and keep the others (`keep_others`); the
    whole folder of environments replaces the whole output. Returns 0; a problem is raised for
    `exit_code` to report.
    """
    from . import output as output_folder
    from . import summary, synth

    warnings: list[Problem] = []
    composed = compose(warnings)
    _print_warnings(warnings)
    # The lock keeps another run from replacing the output before the summary has read it.
    with output_folder.locked(output.absolute().parent):
        results = synth.write(composed, output, keep_others=keep_others, sources=sources)
        for result in results:
            print("\n".join(summary.summarize(result.name, output / result.name, result.files,
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


class _Parser(argparse.ArgumentParser):
    """Says which command (or choice) a mistyped one most likely means, as the environment
    file checks do for keys."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices:
            close = did_you_mean(str(value), [str(choice) for choice in action.choices])
            if close is not None:
                raise argparse.ArgumentError(
                    action, f"invalid choice: {value!r} (did you mean {close!r}?)")
        super()._check_value(action, value)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("dynamo-cdk8s")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


class _VersionAction(argparse.Action):
    """`--version`, looked up only when asked for: reading the installed packages' metadata
    costs every other command 25 ms."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _environment_file(reference: str, directory: Path) -> Path:
    """A path as given, or the file of that name in the environments folder."""
    path = Path(reference)
    if path.suffix in (".yaml", ".yml") or path.exists() or len(path.parts) > 1:
        return path
    for candidate in (directory / f"{reference}.yaml", directory / f"{reference}.yml"):
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in directory.glob("*.y*ml")) if directory.is_dir() else []
    close = did_you_mean(reference, known)
    raise ConfigError([Problem(reference, "", (
        f"neither an environment file nor an environment in {directory}/"
        + (f"; did you mean {close!r}?" if close else "")
        + (f" (it has: {', '.join(known)})" if known else "")))])


def _plan(args: argparse.Namespace) -> int:
    from . import plan_report, synth

    path = _environment_file(args.environment, Path(args.environments_dir))
    warnings: list[Problem] = []
    # The same checks as `synth`, file names included: a plan is never of a file synth refuses.
    composed = synth.compose_files([path], warnings)
    _print_warnings(warnings)
    composed.discard()
    for name, chart in composed.charts.items():
        print(plan_report.text(chart.plan(), name), end="")
    return 0


def _upgrade(args: argparse.Namespace) -> int:
    from ..model.environment import Environment
    from ..model.loader import load_environment
    from . import synth, upgrade

    path = _environment_file(args.environment, Path(args.environments_dir))
    environment = load_environment(path)
    if not isinstance(environment, Environment):
        raise ConfigError([Problem(str(path), "dynamo", "1.x already; nothing to upgrade")])
    upgraded, notes = upgrade.upgrade(environment, str(path))
    text = upgrade.render(upgraded, upgrade.header(path.name, notes))
    if args.write is None:
        print(text, end="")
        return 0
    target = Path(args.write)
    # The upgraded file must compose like any other before it replaces anything.
    name = synth.environment_name(target)
    synth.compose_environments({name: upgraded}, source={name: str(target)}).discard()
    target.write_text(text)
    print(f"{path} (Dynamo v0.1) -> {target} (Dynamo 1.x)", file=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def _environment_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("environment",
                        help=f"{what}, or the name of one in --environments-dir")
    parser.add_argument("--environments-dir", default="environments", metavar="FOLDER",
                        help="the folder of environment files (default: environments)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m constructs_lib",
        description="Typed cdk8s constructs for NVIDIA Dynamo disaggregated inference.",
        epilog="`python -m constructs_lib COMMAND --help` describes a command's options.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    # Each command's parser is a _Parser too; typed as argparse's, which the commands take.
    commands = cast("argparse._SubParsersAction[argparse.ArgumentParser]", parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND"))
    synth = commands.add_parser("synth", help="synthesize environments into DIR/<environment>/",
                                description=SYNTH_DESCRIPTION)
    synth.add_argument("environments", nargs="*",
                       help="environment files (default: every file in --environments-dir)")
    synth.add_argument("--environments-dir", default="environments", metavar="FOLDER",
                       help="the folder of environment files (default: environments)")
    synth.add_argument("--output", "-o", default=os.environ.get("CDK8S_OUTDIR", "dist"),
                       metavar="DIR", help="output folder (default: $CDK8S_OUTDIR or dist)")
    synth.add_argument("--format", choices=["manifests", "dynamo-graph"], default=None,
                       help="manifests, or dynamo-graph: a DynamoGraphDeployment for NVIDIA's "
                       "Dynamo operator (Dynamo 1.x files only); default: each file's `output`")
    synth.set_defaults(run=_synth)
    from .helm import command as from_helm_values
    from .reference import command as reference

    from_helm_values.register(commands)
    plan = commands.add_parser(
        "plan", help="print the placement plan: which node runs which pod",
        description="Prints where every pod of an environment would run, node by node, with the "
        "RDMA and host-network facts that matter (synth writes the same plan to "
        "DIR/<environment>/PLAN.md).")
    _environment_arguments(plan, "an environment file")
    plan.set_defaults(run=_plan)
    upgrade = commands.add_parser(
        "upgrade", help="rewrite a v0.1 environment file in the 1.x format",
        description="Translates a v0.1 environment (dynamo serve graphs) into the 1.x format "
        "(a frontend and decode and prefill worker pools), keeping the model, the GPUs per "
        "worker and the workers per role; prints it, or writes it with --write.")
    _environment_arguments(upgrade, "a v0.1 environment file")
    upgrade.add_argument("--write", metavar="FILE", default=None,
                         help="write the 1.x file here (checked first) instead of printing it")
    upgrade.set_defaults(run=_upgrade)
    _dynamo_graph_command.add_parser(
        commands, lambda name, folder: _environment_file(name, Path(folder)))
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


def program() -> NoReturn:
    """The `dynamo-cdk8s` command: main() as a process."""
    exit_program(main())


def exit_program(code: int) -> NoReturn:
    """End the process with `code`.

    After Ctrl-C (130) the process ends here, once the exit handlers have run: CPython 3.11
    counts a Ctrl-C that lands in code exec() runs from a string (dataclasses make their methods
    that way, while a module loads) as unhandled even after the command handled it, and would
    end the process by SIGINT instead of with this code (seen under load in
    tests/test_output_faults.py).
    """
    if code == EXIT_INTERRUPTED:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        atexit._run_exitfuncs()
        os._exit(code)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # Ctrl-C while the commands' modules load, before a command runs.
        return _interrupted()


def _main(argv: Sequence[str] | None) -> int:
    # Before any command imports cdk8s, which starts jsii's Node process.
    os.environ.setdefault(*JSII_QUIET_END_OF_LIFE)
    parser = build_parser()
    args = parser.parse_args(argv)
    return exit_code(lambda: int(args.run(args)))


def exit_code(command: Callable[[], int]) -> int:
    """Run a command, turning what it raises into one line per problem on stderr and the exit
    code: 2 for bad input, 1 when the output could not be written, 130 when interrupted."""
    from .output import OutputError, describe

    try:
        return command()
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
        return _interrupted()


def _interrupted() -> int:
    from . import jsii_session

    jsii_session.interrupted()
    print("interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED
