"""The Dynamo v0.1 serve configuration (`dynamo serve -f configs.yaml`), typed.

The file is keyed by component class name. `Common` holds values that components pull in
through their `common-configs` list; each component's own keys win over inherited ones. Worker
sections also take vLLM engine arguments, which are open-ended: arguments this model knows are
typed, others pass through unchanged unless they look like a misspelling of a known one.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    PrivateAttr,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from ..errors import KeyMistakes, did_you_mean, show
from .base import Count, GpuCount, Port, PositiveCount, Quantity, StrictModel, WorkerCount

RouterMode = Literal["kv", "round-robin", "random"]
DEFAULT_HTTP_PORT = 8000
"""The Frontend component's HTTP port when its section does not set `port`."""


class Component(StrEnum):
    """The v0.1 components a graph can link, named as their classes are."""

    FRONTEND = "Frontend"
    PROCESSOR = "Processor"
    ROUTER = "Router"
    VLLM_WORKER = "VllmWorker"
    PREFILL_WORKER = "PrefillWorker"

    @property
    def module(self) -> str:
        return _COMPONENT_MODULES[self]

    @property
    def default_gpus(self) -> int:
        """GPUs per worker when ServiceArgs does not say (the components' @service defaults)."""
        return 1 if self in (Component.VLLM_WORKER, Component.PREFILL_WORKER) else 0


_COMPONENT_MODULES = {
    Component.FRONTEND: "components.frontend",
    Component.PROCESSOR: "components.processor",
    Component.ROUTER: "components.kv_router",
    Component.VLLM_WORKER: "components.worker",
    Component.PREFILL_WORKER: "components.prefill_worker",
}


class KvTransferConfig(StrictModel):
    """vLLM's `--kv-transfer-config`, which the config file carries as a JSON string."""

    kv_connector: str
    """The connector that moves the KV cache between workers: `DynamoNixlConnector` for Dynamo
    v0.1 (a 1.x environment renders it as vLLM's `NixlConnector`)."""
    kv_role: str | None = None
    """Whether the worker produces the KV cache, consumes it or both (`kv_producer`,
    `kv_consumer`, `kv_both`). Default: vLLM's."""
    kv_buffer_device: str | None = None
    """Where the connector buffers the KV cache (`cuda` or `cpu`). Default: vLLM's."""
    kv_buffer_size: float | None = None
    """The size of the connector's buffer, in bytes. Default: vLLM's."""
    engine_id: str | None = None
    """The engine id that KV transfers address this worker by. Default: vLLM's."""

    @model_validator(mode="before")
    @classmethod
    def _from_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as err:
                raise ValueError(f"{value!r} is not JSON ({err.msg})") from None
        return value

    def to_json(self) -> str:
        return json.dumps(self.model_dump(exclude_none=True), separators=(",", ":"))

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # Files carry it as a JSON string, as vLLM's flag takes it; without the string form
        # here, editors would flag every shipped environment.
        as_object = handler.resolve_ref_schema(handler(core_schema))
        return {"anyOf": [{"type": "string", "contentMediaType": "application/json"}, as_object],
                "description": as_object.get("description", "")}


KvTransfer = Annotated[KvTransferConfig, PlainSerializer(lambda c: c.to_json(), return_type=str)]
Fraction = Annotated[float, Field(gt=0, le=1)]
_KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class ServiceResources(StrictModel):
    """What one worker process of a component gets (`ServiceArgs.resources`)."""

    gpu: GpuCount | None = None
    cpu: Quantity | None = None
    memory: Quantity | None = None


class ServiceArgs(StrictModel):
    """How many worker processes a component spawns in its pod, and what each one gets."""

    workers: WorkerCount | None = None
    resources: ServiceResources | None = None


class _KeepsKeyOrder(BaseModel):
    """Renders keys in the order the file had them, so generated configs read like the input."""

    _key_order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _remember_key_order(cls, value: Any, handler: Any) -> Any:
        model = handler(value)
        if isinstance(value, dict):
            model._key_order = tuple(value)
        return model

    def _ordered(self, data: dict[str, Any]) -> dict[str, Any]:
        ordered = {key: data[key] for key in self._key_order if key in data}
        ordered.update((key, value) for key, value in data.items() if key not in ordered)
        return ordered


class Section(_KeepsKeyOrder):
    """Keys every component section may hold, typed; subclasses decide what else is allowed."""

    model_config = ConfigDict(frozen=True, validate_by_name=False, validate_by_alias=True,
                              extra="forbid")

    common_configs: list[str] | None = Field(None, alias="common-configs")
    service_args: ServiceArgs | None = Field(None, alias="ServiceArgs")

    def own(self) -> dict[str, Any]:
        """The section as written, in the file's vocabulary (aliases, JSON strings)."""
        return self._ordered(self.model_dump(by_alias=True, exclude_none=True))


class FrontendSection(Section):
    """The OpenAI HTTP frontend; it forwards requests to `endpoint`."""

    served_model_name: str | None = None
    endpoint: str | None = None
    port: Port | None = None


class EngineSection(Section):
    """Processor, Router and the vLLM workers: Dynamo's own keys and vLLM engine arguments.

    Keys not listed here are further vLLM engine arguments, passed on as written: flag names
    without the leading `--`, in lower-case kebab-case, each with a scalar or a list of scalars.
    A key that looks like a misspelling of a listed one is refused.
    """

    model_config = ConfigDict(frozen=True, validate_by_name=False, validate_by_alias=True,
                              extra="allow")

    model: str | None = None
    served_model_name: str | None = Field(None, alias="served-model-name")
    block_size: PositiveCount | None = Field(None, alias="block-size")
    max_model_len: PositiveCount | None = Field(None, alias="max-model-len")
    max_num_batched_tokens: PositiveCount | None = Field(None, alias="max-num-batched-tokens")
    max_num_seqs: PositiveCount | None = Field(None, alias="max-num-seqs")
    router: RouterMode | None = None
    min_workers: PositiveCount | None = Field(None, alias="min-workers")
    kv_transfer_config: KvTransfer | None = Field(None, alias="kv-transfer-config")
    tensor_parallel_size: PositiveCount | None = Field(None, alias="tensor-parallel-size")
    pipeline_parallel_size: PositiveCount | None = Field(None, alias="pipeline-parallel-size")
    enable_prefix_caching: bool | None = Field(None, alias="enable-prefix-caching")
    enable_chunked_prefill: bool | None = Field(None, alias="enable-chunked-prefill")
    remote_prefill: bool | None = Field(None, alias="remote-prefill")
    conditional_disagg: bool | None = Field(None, alias="conditional-disagg")
    max_local_prefill_length: Count | None = Field(None, alias="max-local-prefill-length")
    max_prefill_queue_size: Count | None = Field(None, alias="max-prefill-queue-size")
    gpu_memory_utilization: Fraction | None = Field(None, alias="gpu-memory-utilization")
    disable_log_requests: bool | None = Field(None, alias="disable-log-requests")
    enforce_eager: bool | None = Field(None, alias="enforce-eager")
    trust_remote_code: bool | None = Field(None, alias="trust-remote-code")
    dtype: str | None = None
    quantization: str | None = None

    @model_validator(mode="after")
    def _check_pass_through_arguments(self) -> EngineSection:
        known = [f.alias or name for name, f in type(self).model_fields.items()]
        mistakes = {}
        for key, value in (self.model_extra or {}).items():
            # Stricter than for a closed section: a new engine argument may resemble a known one.
            close = did_you_mean(key, known, cutoff=0.8)
            if close:
                mistakes[key] = f"unknown key (did you mean {close!r}?)"
            elif not _KEBAB.match(key):
                mistakes[key] = (
                    "unknown key: engine arguments are vLLM flag names without the leading "
                    "'--', in lower-case kebab-case (for example enforce-eager)"
                )
            elif not isinstance(value, (str, int, float, bool)) and not (
                isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value)
            ):
                mistakes[key] = ("an engine argument must be a scalar or a list of scalars "
                                 f"(received {show(value)})")
        if mistakes:
            raise KeyMistakes(mistakes)
        return self


class ServeConfig(_KeepsKeyOrder):
    """One `configs.yaml` for `dynamo serve`: a Common section and one section per component."""

    model_config = ConfigDict(frozen=True, validate_by_name=False, validate_by_alias=True,
                              extra="forbid")

    common: EngineSection | None = Field(None, alias="Common")
    frontend: FrontendSection | None = Field(None, alias="Frontend")
    processor: EngineSection | None = Field(None, alias="Processor")
    router: EngineSection | None = Field(None, alias="Router")
    vllm_worker: EngineSection | None = Field(None, alias="VllmWorker")
    prefill_worker: EngineSection | None = Field(None, alias="PrefillWorker")

    @model_validator(mode="after")
    def _inherited_keys_exist(self) -> ServeConfig:
        common = self.common.own() if self.common else {}
        mistakes = []
        for component in Component:
            section = self.section(component)
            for key in (section.common_configs or []) if section else []:
                if key not in common:
                    mistakes.append(
                        f"{component.value}.common-configs names {key!r}, which Common does not "
                        f"define (Common has: {', '.join(common) or 'nothing'})"
                    )
        if mistakes:
            raise ValueError("; ".join(mistakes))
        return self

    @property
    def http_port(self) -> int:
        """The port the Frontend component listens on."""
        return self.frontend.port if self.frontend and self.frontend.port else DEFAULT_HTTP_PORT

    def section(self, component: Component) -> Section | None:
        return {
            Component.FRONTEND: self.frontend,
            Component.PROCESSOR: self.processor,
            Component.ROUTER: self.router,
            Component.VLLM_WORKER: self.vllm_worker,
            Component.PREFILL_WORKER: self.prefill_worker,
        }[component]

    def effective(self, component: Component) -> dict[str, Any]:
        """What the component reads: inherited Common keys, overridden by its own."""
        section = self.section(component)
        if section is None:
            return {}
        common = self.common.own() if self.common else {}
        merged = {key: common[key] for key in section.common_configs or [] if key in common}
        merged.update(section.own())
        merged.pop("common-configs", None)
        return merged

    def workers(self, component: Component) -> int:
        section = self.section(component)
        args = section.service_args if section else None
        return args.workers if args and args.workers is not None else 1

    def gpus_per_worker(self, component: Component) -> int:
        section = self.section(component)
        args = section.service_args if section else None
        if args and args.resources and args.resources.gpu is not None:
            return args.resources.gpu
        return component.default_gpus

    def gpus(self, components: list[Component]) -> int:
        """GPUs a pod running these components asks for: the sum of workers x gpu."""
        return sum(self.workers(c) * self.gpus_per_worker(c) for c in components)

    def render(self) -> dict[str, Any]:
        """The configs.yaml document, in the file's own vocabulary."""
        sections: dict[str, Any] = {}
        if self.common is not None:
            sections["Common"] = self.common.own()
        for component in Component:
            section = self.section(component)
            if section is not None:
                sections[component.value] = section.own()
        return self._ordered(sections)
