"""GPU arithmetic per pod: the request, the workers' ServiceArgs and their parallelism agree.

The seed chart keeps a pod's GPU count in three unlinked places: the pod's `nvidia.com/gpu`,
`ServiceArgs.workers x resources.gpu` of each component in the configs, and vLLM's
`tensor-parallel-size`. A mismatch shows up hours later as a pod stuck Pending, a worker that
waits forever for GPUs, or an engine that uses fewer GPUs than it was given.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import Finding
from .serve_pods import WORKERS, ServeDeployment


def gpu_count(count: int) -> str:
    return f"{count} GPU" if count == 1 else f"{count} GPUs"


def pod_gpus_match_workers(deployment: ServeDeployment) -> Iterator[Finding]:
    """A pod requests exactly the GPUs its components' workers take (sum of workers x gpu)."""
    for pod in deployment.pods:
        asked = pod.config.gpus(list(pod.components))
        if asked == pod.gpus:
            continue
        parts = [f"{c.value} {pod.config.workers(c)} x {pod.config.gpus_per_worker(c)}"
                 for c in pod.components if pod.worker_gpus(c)]
        breakdown = " + ".join(parts) if parts else "none of them takes a GPU"
        yield Finding(pod.path("resources", "gpus"),
                      f"{pod.gpus} nvidia.com/gpu, but the components of the "
                      f"{pod.role} pod ask for {asked}: {breakdown} (ServiceArgs workers x "
                      f"resources.gpu); set it to {asked}, or change ServiceArgs",
                      subject=pod.subject)


def parallelism_matches_worker_gpus(deployment: ServeDeployment) -> Iterator[Finding]:
    """Each vLLM worker's tensor x pipeline parallelism equals the GPUs it is given."""
    for pod in deployment.pods:
        for component in WORKERS:
            if not pod.runs(component):
                continue
            tp = pod.setting(component, "tensor-parallel-size")
            pp = pod.setting(component, "pipeline-parallel-size")
            needed = (tp or 1) * (pp or 1)
            given = pod.config.gpus_per_worker(component)
            if needed == given:
                continue
            section = pod.config.section(component)
            args = section.service_args if section else None
            source = ("ServiceArgs.resources.gpu" if args and args.resources
                      and args.resources.gpu is not None else "the component's default")
            received = str(tp) if tp else "not set (vLLM's default 1)"
            if pp and pp != 1:
                received += f" x pipeline-parallel-size {pp}"
            where = pod.written_at(component, "tensor-parallel-size")
            if ".Common." in f".{where}":
                received += f" (inherited by {component.value} through common-configs)"
            yield Finding(where,
                          f"{received} needs {gpu_count(needed)} per worker, but {source} gives "
                          f"each {component.value} worker {given}; tensor-parallel-size x "
                          "pipeline-parallel-size must equal the GPUs per worker",
                          subject=pod.subject)
