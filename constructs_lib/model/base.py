"""Shared pieces of the typed model: the strict base class and Kubernetes value types."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

# Kubernetes' own patterns (apimachinery validation), so that a name refused here would have
# been refused by the API server too, only hours later.
_DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUANTITY = re.compile(
    r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class StrictModel(BaseModel):
    """Immutable, and refuses keys it does not know: a misspelt key is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              use_attribute_docstrings=True)


def is_dns_label(value: str, max_length: int = 63) -> bool:
    return len(value) <= max_length and bool(_DNS_1123_LABEL.match(value))


def is_dns_subdomain(value: str) -> bool:
    return len(value) <= 253 and bool(_DNS_1123_SUBDOMAIN.match(value))


def _dns_label(value: str) -> str:
    if not is_dns_label(value):
        raise ValueError(
            f"{value!r} is not a valid DNS-1123 label: at most 63 characters of lower-case "
            "letters, digits and '-', starting and ending with a letter or digit"
        )
    return value


def _dns_subdomain(value: str) -> str:
    if not is_dns_subdomain(value):
        raise ValueError(
            f"{value!r} is not a valid DNS-1123 subdomain: at most 253 characters of lower-case "
            "letters, digits, '-' and '.'"
        )
    return value


def _quantity(value: Any) -> int | float | str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as 10, 500m or 20Gi")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{value!r} is negative; a quantity must be at least 0")
        return value
    if not _QUANTITY.match(value) or value.startswith("-"):
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as 10, 500m or 20Gi")
    return value


def _qualified_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if (prefix and not is_dns_subdomain(prefix)) or len(name) > 63 or not _LABEL_NAME.match(name):
        raise ValueError(
            f"{value!r} is not a valid label or annotation key: an optional DNS prefix and '/', "
            "then at most 63 letters, digits, '-', '_' or '.'"
        )
    return value


def _label_value(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"label values are strings; got {value!r} (quote it in YAML)")
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(
            f"{value!r} is not a valid label value: at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
DnsSubdomain = Annotated[str, AfterValidator(_dns_subdomain)]
Quantity = Annotated[int | float | str, BeforeValidator(_quantity)]
LabelKey = Annotated[str, AfterValidator(_qualified_key)]
LabelValue = Annotated[str, BeforeValidator(_label_value)]
Labels = dict[LabelKey, LabelValue]
Annotations = dict[LabelKey, str]
Port = Annotated[int, Field(ge=1, le=65535)]
Replicas = Annotated[int, Field(ge=0)]


def quantity_value(quantity: int | float | str) -> float:
    """The numeric value of a quantity, for arithmetic such as summing memory or CPU."""
    if isinstance(quantity, (int, float)):
        return float(quantity)
    suffixes = {
        "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
        "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
        "E": 1e18,
    }
    for suffix in sorted(suffixes, key=len, reverse=True):
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * suffixes[suffix]
    return float(quantity)
