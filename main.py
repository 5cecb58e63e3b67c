"""The cdk8s app: a DynamoChart per file in environments/, synthesized into dist/<environment>/.

`python main.py` (`make synth`) writes dist/, all or nothing: every file is read and every rule of
every chart runs before anything is written, and a failed synth leaves dist/ as it was. The
cdk8s CLI (`npm run synth`, through scripts/cdk8s-app) runs it with CDK8S_OUTDIR set to the
folder it has just deleted: when that is cdk8s.yaml's `output`, a copy for the CLI, dist/ is
replaced the same way and then copied there; any other folder (`cdk8s synth --output DIR`) is
written directly. Named files (`python main.py environments/dev.yaml`) update only their folders.
"""

import contextlib
import os
import shutil
import sys
from pathlib import Path

import yaml

from constructs_lib.errors import Problem
from constructs_lib.tools import cli, synth

ROOT = Path(__file__).resolve().parent


def compose_app(warnings: list[Problem]) -> synth.Composed:
    """The app: a cdk8s App with a chart per environment file (a DynamoChart; the operator's
    DynamoGraphChart for a file with `output: dynamo-graph`)."""
    environment_files = synth.read_files(synth.discover(_relative("environments")), warnings)
    with synth.staging_app() as (app, staging):  # dist/ is replaced from `staging` in one step
        charts = synth.add_charts(app, environment_files, warnings)
    return synth.Composed(app, charts, staging)


def synthesize(output: Path, files: list[str]) -> int:
    """app.synth() into `output`, then a summary line per environment; the exit code."""
    if files:
        return cli.main(["synth", "--output", str(output), *files])
    return cli.exit_code(lambda: cli.write_composed(
        compose_app, output, sources=[_relative("environments")]))


def _relative(name: str) -> Path:
    """A folder of this project, as problems and summaries name it: from where we run."""
    return Path(os.path.relpath(ROOT / name))


def _cli_copy() -> Path:
    """cdk8s.yaml's `output`: the folder the CLI deletes before each run."""
    config = yaml.safe_load((ROOT / "cdk8s.yaml").read_text(encoding="utf-8"))
    return (ROOT / config["output"]).resolve()


def run(argv: list[str]) -> int:
    os.environ.setdefault(*cli.JSII_QUIET_END_OF_LIFE)
    outdir = os.environ.get("CDK8S_OUTDIR")
    if not outdir or Path(outdir).resolve() != _cli_copy():
        return synthesize(Path(outdir) if outdir else _relative("dist"), argv)
    # The CLI discards the app's stdout: the summary of what went to dist/ goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        code = synthesize(_relative("dist"), argv)
    if code == 0:
        shutil.rmtree(outdir, ignore_errors=True)
        shutil.copytree(ROOT / "dist", outdir)
    return code


if __name__ == "__main__":
    try:
        code = run(sys.argv[1:])
    except KeyboardInterrupt:  # while the modules load, before a command runs
        print("interrupted", file=sys.stderr)
        code = cli.EXIT_INTERRUPTED
    cli.exit_program(code)
