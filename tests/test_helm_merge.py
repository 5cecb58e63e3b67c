"""Helm's layering of values files onto the chart's defaults."""

from __future__ import annotations

from constructs_lib.tools.helm.merge import CHART_DEFAULTS, Values, coalesce

DEFAULTS = {
    "service": {"type": "ClusterIP", "port": 80},
    "imagePullSecrets": [],
    "single": {"labels": {}, "resources": {"limits": {"nvidia.com/gpu": 8}}},
}


def layered(*files: dict) -> Values:
    user = Values()
    for index, values in enumerate(files):
        user.merge_file(values, f"f{index}.yaml")
    return coalesce(DEFAULTS, user)


def test_maps_merge_key_by_key_and_later_files_win() -> None:
    merged = layered({"service": {"port": 81}}, {"service": {"port": 82}, "podLabels": {"a": "1"}})
    assert merged.tree["service"] == {"type": "ClusterIP", "port": 82}
    assert merged.tree["podLabels"] == {"a": "1"}
    assert merged.origin(("service", "port")) == "f1.yaml"
    assert merged.origin(("service", "type")) == CHART_DEFAULTS


def test_lists_are_replaced_not_appended() -> None:
    merged = layered({"imagePullSecrets": [{"name": "a"}, {"name": "b"}]},
                     {"imagePullSecrets": [{"name": "c"}]})
    assert merged.tree["imagePullSecrets"] == [{"name": "c"}]
    assert merged.origin(("imagePullSecrets", 0, "name")) == "f1.yaml"


def test_a_scalar_replaces_a_map_and_a_map_replaces_a_scalar() -> None:
    merged = layered({"service": "none"})
    assert merged.tree["service"] == "none"
    merged = layered({"service": "none"}, {"service": {"port": 90}})
    # The user's files are merged first, so the chart's service.type comes back underneath.
    assert merged.tree["service"] == {"type": "ClusterIP", "port": 90}


def test_null_deletes_a_chart_default() -> None:
    merged = layered({"single": {"resources": None}})
    assert "resources" not in merged.tree["single"]
    assert merged.tree["single"]["labels"] == {}
    assert merged.origin(("single", "resources")) == "f0.yaml"
    # A key that was below the deleted one is gone because of that file, not the chart.
    assert merged.origin(("single", "resources", "limits", "nvidia.com/gpu")) == "f0.yaml"


def test_a_later_file_overrides_an_earlier_null_and_keeps_the_defaults_underneath() -> None:
    merged = layered({"service": None}, {"service": {"port": 90}})
    assert merged.tree["service"] == {"type": "ClusterIP", "port": 90}


def test_null_in_a_later_file_wins_over_an_earlier_value() -> None:
    merged = layered({"service": {"port": 81}}, {"service": {"port": None}})
    assert merged.tree["service"] == {"type": "ClusterIP"}


def test_nulls_under_keys_the_chart_lacks_are_dropped() -> None:
    merged = layered({"podLabels": {"a": "1", "b": None}})
    assert merged.tree["podLabels"] == {"a": "1"}


def test_the_defaults_are_not_modified() -> None:
    before = repr(DEFAULTS)
    layered({"service": {"port": 1}, "single": {"labels": {"x": "y"}}})
    assert repr(DEFAULTS) == before
