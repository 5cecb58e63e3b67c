"""CPU, memory and /dev/shm derived from a pod's GPU count, and the quantity arithmetic."""

from __future__ import annotations

import pytest

from constructs_lib._render.quantities import add_bytes, at_least, scale
from constructs_lib._render.sizing import container_resources, shared_memory_size
from constructs_lib.model import ResourceDefaults, Resources, SharedMemorySettings


@pytest.mark.parametrize("quantity, factor, expected", [
    ("2Gi", 8, "16Gi"), (4, 8, 32), ("500m", 3, "1500m"), (0.5, 3, "1.5"), ("1.5Gi", 2, "3Gi"),
])
def test_scale(quantity: object, factor: int, expected: object) -> None:
    assert scale(quantity, factor) == expected  # type: ignore[arg-type]


def test_add_bytes_and_at_least() -> None:
    assert add_bytes("256Gi", "16Gi") == "272Gi"
    assert add_bytes("1.5Gi", "512Mi") == "2Gi"
    assert add_bytes("1Gi", 1) == str(2**30 + 1)
    assert at_least("32Gi", "64Gi") == "64Gi" and at_least(16, "500m") == 16


def test_shared_memory_grows_with_the_gpus() -> None:
    assert shared_memory_size(SharedMemorySettings(), 8) == "16Gi"
    assert shared_memory_size(SharedMemorySettings(), 0) == "2Gi"
    assert shared_memory_size(SharedMemorySettings(size_per_gpu="4Gi"), 4) == "16Gi"
    assert shared_memory_size(SharedMemorySettings(size="15Gi"), 8) == "15Gi"


def test_cpu_and_memory_left_out_come_from_the_gpu_count() -> None:
    resources = container_resources(Resources(gpus=8), ResourceDefaults(), "16Gi")
    assert resources == {"requests": {"cpu": 32, "memory": "128Gi"},
                         # /dev/shm pages are charged to the container's memory limit
                         "limits": {"cpu": 128, "memory": "272Gi"}}


def test_what_resources_set_is_kept_and_limits_never_fall_below_requests() -> None:
    resources = Resources.model_validate({"gpus": 1, "requests": {"cpu": 64, "memory": "1Ti"},
                                          "limits": {"cpu": 96}})
    rendered = container_resources(resources, ResourceDefaults(), "2Gi")
    assert rendered["requests"] == {"cpu": 64, "memory": "1Ti"}
    assert rendered["limits"] == {"cpu": 96, "memory": "1Ti"}


def test_defaults_must_not_limit_below_their_request() -> None:
    with pytest.raises(ValueError, match="memory_limit_per_gpu"):
        ResourceDefaults(memory_request_per_gpu="64Gi")
