from __future__ import annotations

import pytest

from constructs_lib._render.escape_hatches import (
    add_capabilities,
    add_extended_resource,
    extended_resource,
)


def test_extended_resources_go_into_requests_and_limits_alike() -> None:
    container: dict = {"resources": {"requests": {"cpu": "1"}}}
    add_extended_resource(container, "nvidia.com/gpu", 8)
    assert container["resources"] == {"requests": {"cpu": "1", "nvidia.com/gpu": 8},
                                      "limits": {"nvidia.com/gpu": 8}}
    assert extended_resource(container, "nvidia.com/gpu") == 8
    assert extended_resource(container, "example.com/other") == 0


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 0"):
        add_extended_resource({}, "nvidia.com/gpu", -1)


def test_capabilities_are_bare_names_without_duplicates() -> None:
    container: dict = {}
    add_capabilities(container, "IPC_LOCK")
    add_capabilities(container, "IPC_LOCK", "SYS_NICE")
    assert container["securityContext"]["capabilities"]["add"] == ["IPC_LOCK", "SYS_NICE"]


def test_cap_prefixed_names_are_refused() -> None:
    with pytest.raises(ValueError, match="without the CAP_ prefix: 'IPC_LOCK'"):
        add_capabilities({}, "CAP_IPC_LOCK")
