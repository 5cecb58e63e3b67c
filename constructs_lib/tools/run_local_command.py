"""`python -m constructs_lib run-local ENVIRONMENT`: smoke-test a 1.x environment locally."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..errors import ConfigError, Problem


def run(args: argparse.Namespace, environment_path: Path) -> int:
    from ..model.dynamo_v1 import EnvironmentV1
    from . import synth
    from .run_local import LocalStack, dynamo_python
    from .run_local.synthesized import instances, read_manifests, smoke_test, start

    environments = synth.load_all([environment_path])
    name, environment = next(iter(environments.items()))
    if not isinstance(environment, EnvironmentV1):
        raise ConfigError([Problem(str(environment_path), "dynamo",
                                   f"run-local runs Dynamo 1.x environments; this one is "
                                   f"{environment.dynamo.value}")])
    spanning = _workers_spanning_nodes(environment)
    if spanning:
        raise ConfigError([Problem(str(environment_path), f"{role}.gpus", (
            f"{gpus}, more than a node of nodes.gpus_per_node has: such workers run as "
            "LeaderWorkerSet groups across nodes, which run-local cannot start (the mock "
            "engine has no multi-node mode); try an environment whose workers fit a node"))
            for role, gpus in spanning])
    python = dynamo_python()
    if not python.exists():
        print(f"run-local: the Dynamo runtime is not installed ({python}); "
              "run scripts/install-dynamo-runtime.sh", file=sys.stderr)
        return 1
    replicas = None if args.replicas == "all" else int(args.replicas)
    with tempfile.TemporaryDirectory(prefix="dynamo-run-local-") as workdir:
        synth.synthesize(environments, Path(workdir) / "dist")
        documents = read_manifests(Path(workdir) / "dist" / name)
        with LocalStack(Path(workdir) / "run", python=str(python), timeout=args.timeout) as stack:
            started = start(stack, documents, replicas=replicas)
            result = smoke_test(started, timeout=args.timeout)
            known = instances(started)
            leaks = stack.non_loopback_listeners()
        print(f"{name}: {len(stack.commands)} processes on 127.0.0.1, all probes ready")
        print(f"  /v1/models: {', '.join(result.models)}")
        for label, workers in (("chat", result.chat_workers), ("stream", result.stream_workers)):
            if workers is None:
                served = "no worker ids returned"
            elif workers.prefill_worker_id == workers.decode_worker_id:
                served = f"worker {workers.decode_worker_id} (prefill and decode)"
            else:
                served = (f"prefill worker {workers.prefill_worker_id}, "
                          f"decode worker {workers.decode_worker_id}")
            print(f"  {label} completion: {served}")
        if leaks:
            print(f"run-local: listening beyond loopback: {leaks}", file=sys.stderr)
            return 1
        disaggregated = "prefill" in started.workers
        chat = result.chat_workers
        if disaggregated and not (chat and chat.prefill_worker_id in known.get("prefill", set())):
            print("run-local: no prefill worker served the request", file=sys.stderr)
            return 1
    return 0


def _workers_spanning_nodes(environment: object) -> list[tuple[str, int]]:
    """The pools (role, GPUs per worker) whose workers are LeaderWorkerSet groups."""
    from ..model.dynamo_v1 import EnvironmentV1, nodes_per_worker

    assert isinstance(environment, EnvironmentV1)
    per_node = environment.nodes.gpus_per_node if environment.nodes is not None else None
    pools = [("decode", environment.decode), ("prefill", environment.prefill)]
    return [(role, pool.gpus) for role, pool in pools
            if pool is not None and nodes_per_worker(pool.gpus, per_node) > 1]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               resolve: object) -> None:
    parser = commands.add_parser(
        "run-local", help="run a Dynamo 1.x environment on 127.0.0.1 and query it",
        description="Runs a Dynamo 1.x environment on 127.0.0.1 with the mock engine and sends "
        "it OpenAI requests (needs scripts/install-dynamo-runtime.sh).")
    parser.add_argument("environment", help="a name in environments/ or a file")
    parser.add_argument("--replicas", default="1",
                        help="worker processes per Deployment: a number or 'all' (default: 1)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for each process and answer (default: 60)")
    parser.set_defaults(run=lambda args: run(args, resolve(args.environment)))  # type: ignore[operator]
