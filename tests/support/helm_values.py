"""Converting values given as dictionaries, as `from-helm-values` would after reading files."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from constructs_lib.errors import ConfigError
from constructs_lib.tools.helm.convert import Conversion, convert
from constructs_lib.tools.helm.inputs import chart_defaults
from constructs_lib.tools.helm.merge import Values, coalesce
from constructs_lib.tools.helm.set_values import apply_arguments

FRONTEND_GRAPH = """\
from components.frontend import Frontend
from components.kv_router import Router
from components.processor import Processor
from components.worker import VllmWorker
from components.prefill_worker import PrefillWorker
Frontend.link(Processor).link(Router).link(VllmWorker).link(PrefillWorker)
"""
# The prefill pool's workers must load the decode worker's model with its block layout and
# connector: these are the values of the chart's Common section, which the decode worker reads.
PREFILL_CONFIGS = """\
PrefillWorker:
  model: /data/neuralmagic/DeepSeek-R1-Distill-Llama-70B-FP8-dynamic
  block-size: 64
  max-model-len: 16384
  kv-transfer-config: '{"kv_connector":"DynamoNixlConnector"}'
  tensor-parallel-size: 1
  ServiceArgs:
    workers: 8
    resources:
      gpu: 1
"""
MULTINODE: dict[str, Any] = {
    "single": {"enable": False},
    "multinode": {"enable": True, "resources": {"requests": {"nvidia.com/gpu": 8},
                                                "limits": {"nvidia.com/gpu": 8}}},
    "prefillConfigs": PREFILL_CONFIGS,
    "graphs": {"frontend.py": FRONTEND_GRAPH},
}


def sized(gpus: int, decode_gpus: int) -> dict[str, Any]:
    """Values for a single-node pod of `gpus` GPUs: the chart's configs with one decode worker
    of `decode_gpus` GPUs (tensor parallel) and the rest as one-GPU prefill workers, so that
    the pod's GPUs add up as the model's rules require."""
    configs = yaml.safe_load(chart_defaults()["configs"])
    configs["VllmWorker"]["tensor-parallel-size"] = decode_gpus
    configs["VllmWorker"]["ServiceArgs"]["resources"]["gpu"] = decode_gpus
    configs["PrefillWorker"]["ServiceArgs"]["workers"] = gpus - decode_gpus
    return {"configs": yaml.safe_dump(configs, sort_keys=False),
            "single": {"resources": {"requests": {"nvidia.com/gpu": gpus},
                                     "limits": {"nvidia.com/gpu": gpus}}}}


def converted(*files: dict[str, Any], sets: tuple[str, ...] = (), release: str = "r1",
              namespace: str = "default") -> Conversion:
    user = Values()
    for index, values in enumerate(files):
        user.merge_file(values, f"f{index}.yaml")
    apply_arguments(user, list(sets))
    return convert(coalesce(chart_defaults(), user), release, namespace)


def problems(*files: dict[str, Any], **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as err:
        converted(*files, **kwargs)
    return [str(p) for p in err.value.problems]


def warnings(*files: dict[str, Any], **kwargs: Any) -> list[str]:
    return [str(w) for w in converted(*files, **kwargs).warnings]
