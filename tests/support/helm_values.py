"""Converting values given as dictionaries, as `from-helm-values` would after reading files."""

from __future__ import annotations

from typing import Any

import pytest

from constructs_lib.errors import ConfigError
from constructs_lib.helm.convert import Conversion, convert
from constructs_lib.helm.inputs import chart_defaults
from constructs_lib.helm.merge import Values, coalesce
from constructs_lib.helm.set_values import apply_arguments

FRONTEND_GRAPH = """\
from components.frontend import Frontend
from components.kv_router import Router
from components.processor import Processor
from components.worker import VllmWorker
from components.prefill_worker import PrefillWorker
Frontend.link(Processor).link(Router).link(VllmWorker).link(PrefillWorker)
"""
PREFILL_CONFIGS = """\
PrefillWorker:
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
