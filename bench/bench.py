"""Synthesis speed and memory, each measured as a whole process: `make bench`.

floor      an App with one empty Chart, after importing the cdk8s packages the project imports
synth-all  every shipped environment, as `python main.py` synthesizes them
scale-N    N generated copies of multi-node (different names), in one process
Each is the median of --runs runs after one warm-up, with min and max; peak RSS includes the
jsii Node child. Results go to bench/results.md (quoted by the README) and results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python")

FLOOR = """
import sys, cdk8s, constructs
app = cdk8s.App(outdir=sys.argv[1])
cdk8s.Chart(app, "empty")
app.synth()
"""

SCALE = """
import sys
from pathlib import Path
import yaml
from constructs_lib.tools import synth
from constructs_lib.model import Environment
base = yaml.safe_load(Path("environments/multi-node.yaml").read_text())
count, out = int(sys.argv[1]), Path(sys.argv[2])
environments = {f"env-{i:03d}": Environment.model_validate({**base, "release": f"release-{i:03d}"})
                for i in range(count)}
synth.synthesize(environments, out)
"""


# The environments the synth-all target (2.8x the floor, issue 12) was measured on; more have
# been shipped since, so synth-all alone no longer compares with it.
TARGET_ENVIRONMENTS = ("single-node", "single-node-no-rdma", "multi-node", "multi-node-no-rdma",
                       "single-node-v1", "multi-node-v1", "dev")


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
        stack.extend(children.get(current, []))
    return total


# Every measured process, the floor included, runs with these settings (scripts/with-env's):
# a floor taken under other Node options than synth-all would not be the floor of synth-all.
RUNTIME_ENV = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
               "CDK8S_CHECK_UPGRADE": "false"}
RUNTIME_ENV.setdefault("JSII_NODE", str(ROOT / "scripts" / "jsii-node"))


def _runtime_settings() -> str:
    node = RUNTIME_ENV["JSII_NODE"]
    shown = os.path.relpath(node, ROOT) if os.path.isabs(node) else node
    settings = f"JSII_NODE={shown}"
    if RUNTIME_ENV.get("NODE_OPTIONS"):
        settings += f", NODE_OPTIONS={RUNTIME_ENV['NODE_OPTIONS']}"
    return settings


def run_once(argv: list[str]) -> tuple[float, int]:
    """Wall time and peak RSS (KiB, process tree) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, env=RUNTIME_ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    peak = 0

    def sample() -> None:
        nonlocal peak
        while process.poll() is None:
            peak = max(peak, _tree_rss_kib(process.pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, stderr = process.communicate()
    elapsed = time.perf_counter() - start
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{stderr.decode()}")
    return elapsed, peak


def measure(argv_for: callable, runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        run_once(argv_for(Path(tmp) / "warm"))
        samples = [run_once(argv_for(Path(tmp) / f"run{i}")) for i in range(runs)]
    times = [s[0] for s in samples]
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "peak_rss_mib": max(s[1] for s in samples) / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--scale", default="1,10,100")
    parser.add_argument("--skip-tests", action="store_true", help="do not time the test suite")
    args = parser.parse_args()

    results: dict[str, dict[str, float]] = {}
    results["floor"] = measure(lambda out: [PYTHON, "-c", FLOOR, str(out)], args.runs)
    results["synth-all"] = measure(
        lambda out: [PYTHON, "-m", "constructs_lib", "synth", "-o", str(out)], args.runs)
    results["synth-7"] = measure(
        lambda out: [PYTHON, "-m", "constructs_lib", "synth", "-o", str(out),
                     *(f"environments/{name}.yaml" for name in TARGET_ENVIRONMENTS)], args.runs)
    counts = [int(c) for c in args.scale.split(",")]
    for count in counts:
        results[f"scale-{count}"] = measure(
            lambda out, n=count: [PYTHON, "-c", SCALE, str(n), str(out)], args.runs)
    if not args.skip_tests:
        start = time.perf_counter()
        # As `make test` runs it.
        tests = subprocess.run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n",
                                "auto", "--dist", "loadscope"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=RUNTIME_ENV)
        if tests.returncode != 0:
            sys.exit(f"the test suite failed, so its time is no measurement:\n"
                     f"{tests.stdout[-4000:]}")
        results["test-suite"] = {"median": time.perf_counter() - start}

    environments = len(list((ROOT / "environments").glob("*.yaml")))
    low, high = min(counts), max(counts)
    per_environment = ((results[f"scale-{high}"]["median"] - results[f"scale-{low}"]["median"])
                       / (high - low))
    ratio = results["synth-all"]["median"] / results["floor"]["median"]
    ratio_7 = results["synth-7"]["median"] / results["floor"]["median"]
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"{_node_version()}, {time.strftime('%Y-%m-%d')}")
    lines = [
        f"Measured on {machine}; median of {args.runs} runs after a warm-up.",
        f"Every process, the floor's included, ran with {_runtime_settings()}.",
        "",
        "| measurement | median s | min s | max s | peak RSS MiB |",
        "|---|---|---|---|---|",
    ]
    for name, row in results.items():
        cells = [f"{row[k]:.3f}" if k in row else "" for k in ("median", "min", "max")]
        rss = f"{row['peak_rss_mib']:.0f}" if "peak_rss_mib" in row else ""
        lines.append(f"| {name} | {' | '.join(cells)} | {rss} |")
    lines += [
        "",
        f"- synth-all / floor: **{ratio:.2f}x** ({environments} environments)",
        f"- synth-7 / floor: **{ratio_7:.2f}x** (the {len(TARGET_ENVIRONMENTS)} environments "
        "of the 2.8x target)",
        f"- marginal cost per environment (scale-{low} to scale-{high}): "
        f"**{per_environment * 1000:.1f} ms**",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    (ROOT / "bench" / "results.md").write_text(report)
    (ROOT / "bench" / "results.json").write_text(json.dumps(
        {"machine": machine, "runtime": _runtime_settings(), "runs": args.runs,
         "results": results, "ratio": ratio, "ratio_7": ratio_7,
         "per_environment_s": per_environment},
        indent=2) + "\n")
    return 0


def _node_version() -> str:
    try:
        return "Node " + subprocess.run([RUNTIME_ENV["JSII_NODE"], "--version"],
                                        capture_output=True, text=True, env=RUNTIME_ENV,
                                        check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "Node unknown"


if __name__ == "__main__":
    sys.exit(main())
