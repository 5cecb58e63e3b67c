"""A minimal OpenAI-compatible client (urllib only) for the Dynamo frontend.

Dynamo reports which workers served a request when the request carries
``"nvext": {"extra_fields": ["worker_id"]}``. Measured response shape (ai-dynamo 1.6.1,
disaggregated, KV router)::

    "nvext": {"worker_id": {"prefill_worker_id": 2324035639125232144, "prefill_dp_rank": 0,
                            "decode_worker_id": 2324035639125232133, "decode_dp_rank": 0}}

at the top level of a non-streaming response and of every streamed chunk. The ids are the
workers' instance ids, as listed by the frontend's ``/health`` (``instances[].instance_id``).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

WORKER_ID_FIELDS: dict[str, Any] = {"nvext": {"extra_fields": ["worker_id"]}}


class ClientError(RuntimeError):
    """The server answered with an error status or an unexpected body."""


@dataclass(frozen=True)
class WorkerIds:
    prefill_worker_id: int | None
    decode_worker_id: int | None
    prefill_dp_rank: int | None = None
    decode_dp_rank: int | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> WorkerIds | None:
        info = (body.get("nvext") or {}).get("worker_id")
        if not isinstance(info, Mapping):
            return None
        return cls(
            prefill_worker_id=info.get("prefill_worker_id"),
            decode_worker_id=info.get("decode_worker_id"),
            prefill_dp_rank=info.get("prefill_dp_rank"),
            decode_dp_rank=info.get("decode_dp_rank"),
        )


@dataclass(frozen=True)
class ChatResult:
    content: str
    finish_reason: str | None
    model: str
    usage: Mapping[str, Any] | None
    workers: WorkerIds | None
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class StreamResult:
    content: str
    finish_reason: str | None
    chunks: list[Mapping[str, Any]] = field(default_factory=list)
    workers: WorkerIds | None = None
    done: bool = False  # the server sent "data: [DONE]"


def iter_sse(lines: Iterator[bytes]) -> Iterator[tuple[str, str]]:
    """Yield (event, data) per Server-Sent Event; ``event`` is "message" unless given."""
    event = "message"
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue  # comment / keep-alive
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
    if data:
        yield event, "\n".join(data)


class OpenAIClient:
    """Blocking client; every call is bounded by ``timeout`` seconds."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _request(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            headers={"Content-Type": "application/json"} if data is not None else {},
            method="GET" if data is None else "POST",
        )
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:500].decode(errors="replace")
            raise ClientError(f"{request.method} {path}: HTTP {exc.code}: {detail}") from exc

    def models(self) -> list[str]:
        """Ids from ``GET /v1/models``."""
        with self._request("/v1/models") as resp:
            body = json.load(resp)
        return [item["id"] for item in body.get("data", [])]

    def _chat_body(
        self,
        model: str,
        messages: Sequence[Mapping[str, str]],
        max_tokens: int,
        stream: bool,
        worker_ids: bool,
        extra: Mapping[str, Any],
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "stream": stream,
        }
        if worker_ids:
            body.update(WORKER_ID_FIELDS)
        body.update(extra)
        return body

    def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, str]],
        max_tokens: int = 16,
        worker_ids: bool = True,
        **extra: Any,
    ) -> ChatResult:
        """``POST /v1/chat/completions`` (non-streaming)."""
        body = self._chat_body(model, messages, max_tokens, False, worker_ids, extra)
        with self._request("/v1/chat/completions", body) as resp:
            answer = json.load(resp)
        try:
            choice = answer["choices"][0]
            content = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise ClientError(f"unexpected chat completion: {answer!r}") from exc
        return ChatResult(
            content=content,
            finish_reason=choice.get("finish_reason"),
            model=answer.get("model", ""),
            usage=answer.get("usage"),
            workers=WorkerIds.from_body(answer),
            raw=answer,
        )

    def chat_stream(
        self,
        model: str,
        messages: Sequence[Mapping[str, str]],
        max_tokens: int = 16,
        worker_ids: bool = True,
        max_chunks: int = 10_000,
        **extra: Any,
    ) -> StreamResult:
        """Streaming ``POST /v1/chat/completions``; reads until ``[DONE]``.

        Bounded: at most ``max_chunks`` events and ``timeout`` seconds in total.
        """
        body = self._chat_body(model, messages, max_tokens, True, worker_ids, extra)
        deadline = time.monotonic() + self.timeout
        chunks: list[Mapping[str, Any]] = []
        parts: list[str] = []
        finish: str | None = None
        workers: WorkerIds | None = None
        done = False
        with self._request("/v1/chat/completions", body) as resp:
            for event, data in iter_sse(iter(resp.readline, b"")):
                if time.monotonic() > deadline or len(chunks) >= max_chunks:
                    raise ClientError(f"stream not finished after {len(chunks)} chunks")
                if data == "[DONE]":
                    done = True
                    break
                if event == "error":
                    raise ClientError(f"stream error event: {data}")
                chunk = json.loads(data)
                chunks.append(chunk)
                workers = WorkerIds.from_body(chunk) or workers
                for choice in chunk.get("choices", []):
                    parts.append((choice.get("delta") or {}).get("content") or "")
                    finish = choice.get("finish_reason") or finish
        return StreamResult("".join(parts), finish, chunks, workers, done)
