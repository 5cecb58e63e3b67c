"""A stand-in Kubernetes API server for Dynamo's `kubernetes` discovery backend.

It speaks what the 1.6.1 runtime (kube-rs 2.0.1) asks of a real one, over TLS with a bearer
token, as in-cluster clients do: `get`/`list`/`watch` of namespaced resources (equality label
selectors, resource versions, chunked watch streams of ADDED/MODIFIED/DELETED events) and
server-side apply (`PATCH` with `application/apply-patch+yaml`, `fieldManager`, `force`). It
knows only the resources it is given (`Resource`); anything else is a 404, any other method a
405, a wrong token a 401, and every request is logged (`calls`) with the RBAC verbs a real API
server would authorize it by (`ApiCall.verbs`), so that a test can hold the log against a Role
(`denied`).

Standard library only, so that it runs in whatever interpreter starts it (run-local, or the
end-to-end test's runner); a resource may bring a check of the objects applied to it (its CRD's
schema).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Object = dict[str, Any]
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"


@dataclass(frozen=True)
class Resource:
    """A namespaced resource the stand-in serves."""

    group: str
    """"" for the core group."""
    version: str
    plural: str
    kind: str
    validate: Callable[[Object], list[str]] | None = None
    """Problems with an object applied to this resource (e.g. its CRD's schema); none by
    default."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


ENDPOINT_SLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
PODS = Resource("", "v1", "pods", "Pod")


@dataclass(frozen=True)
class ApiCall:
    """One request, as the authorizer and the audit log of a real API server see it."""

    method: str
    path: str
    query: Mapping[str, str]
    status: int
    group: str = ""
    resource: str = ""
    namespace: str = ""
    name: str = ""
    verbs: tuple[str, ...] = ()
    """The RBAC verbs the request needs: get, list or watch for a GET; patch for an apply,
    and create too when the apply creates the object."""
    body: Object | None = None
    content_type: str = ""


@dataclass
class _Watch:
    resource: Resource
    namespace: str
    selector: dict[str, str]
    events: list[tuple[str, Object]] = field(default_factory=list)
    closed: bool = False


def parse_selector(text: str) -> dict[str, str]:
    """An equality-based label selector (`a=b,c==d`); set-based ones are refused, because
    the runtime uses none and a silent mismatch would hide it."""
    selector: dict[str, str] = {}
    for term in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = term.partition("==") if "==" in term else term.partition("=")
        if not sep or "!" in key or " in " in term or " notin " in term:
            raise ValueError(f"unsupported label selector term {term!r}")
        selector[key.strip()] = value.strip()
    return selector


def selects(selector: Mapping[str, str], obj: Object) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in selector.items())


class KubeApiStandIn:
    """The stand-in: `start()` serves on `host:port` (127.0.0.1 and a free port by default);
    `put`/`delete` change objects as a controller would (watchers see the events)."""

    def __init__(self, *, token: str, cert_file: str, key_file: str,
                 resources: Iterable[Resource], host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = token
        self.resources = {(r.group, r.plural): r for r in resources}
        self.calls: list[ApiCall] = []
        self._objects: dict[tuple[str, str, str, str], Object] = {}
        self._revision = 1
        self._watches: list[_Watch] = []
        self._lock = threading.Condition()
        self._stopping = False
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        # Chunked watch streams are HTTP/1.1; no HTTP/2 offered.
        context.set_alpn_protocols(["http/1.1"])
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> KubeApiStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            for watch in self._watches:
                watch.closed = True
            self._lock.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> KubeApiStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state, as controllers and tests change it ----------------------------------------

    def objects(self, resource: Resource, namespace: str | None = None) -> list[Object]:
        with self._lock:
            return [json.loads(json.dumps(o)) for (g, p, ns, _), o in sorted(
                self._objects.items()) if (g, p) == (resource.group, resource.plural)
                and namespace in (None, ns)]

    def put(self, resource: Resource, obj: Object) -> Object:
        """Create or replace `obj` (its metadata names it), as a controller would."""
        meta = obj["metadata"]
        with self._lock:
            return self._store(resource, meta["namespace"], meta["name"], obj)

    def delete(self, resource: Resource, namespace: str, name: str) -> None:
        with self._lock:
            obj = self._objects.pop((resource.group, resource.plural, namespace, name))
            self._revision += 1
            obj["metadata"]["resourceVersion"] = str(self._revision)
            self._notify(resource, namespace, "DELETED", obj)

    def _store(self, resource: Resource, namespace: str, name: str, obj: Object) -> Object:
        key = (resource.group, resource.plural, namespace, name)
        old = self._objects.get(key)
        self._revision += 1
        stored: Object = json.loads(json.dumps(obj))
        stored["apiVersion"], stored["kind"] = resource.api_version, resource.kind
        meta = stored.setdefault("metadata", {})
        meta.update(name=name, namespace=namespace, resourceVersion=str(self._revision))
        meta.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", old["metadata"]["creationTimestamp"] if old
                        else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self._objects[key] = stored
        self._notify(resource, namespace, "MODIFIED" if old else "ADDED", stored)
        return stored

    def _notify(self, resource: Resource, namespace: str, kind: str, obj: Object) -> None:
        for watch in self._watches:
            if (watch.resource == resource and watch.namespace in ("", namespace)
                    and selects(watch.selector, obj)):
                watch.events.append((kind, json.loads(json.dumps(obj))))
        self._lock.notify_all()

    # -- HTTP ------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                api._serve(self, "GET")

            def do_PATCH(self) -> None:
                api._serve(self, "PATCH")

            def do_POST(self) -> None:
                api._serve(self, "POST")

            def do_PUT(self) -> None:
                api._serve(self, "PUT")

            def do_DELETE(self) -> None:
                api._serve(self, "DELETE")

        return Handler

    def _serve(self, request: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        call = ApiCall(method, split.path, query, 0, content_type=content_type)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            self._reply(request, call, HTTPStatus.UNAUTHORIZED, _status(401, "Unauthorized"))
            return
        target = _parse_path(split.path)
        resource = self.resources.get((target[0], target[2])) if target else None
        if target is None or resource is None or target[1] != resource.version:
            self._reply(request, call, HTTPStatus.NOT_FOUND,
                        _status(404, f"the server could not find {split.path}"))
            return
        group, _, plural, namespace, name = target
        call = ApiCall(method, split.path, query, 0, group, plural, namespace, name,
                       content_type=content_type)
        if method == "GET":
            self._get(request, call, resource, query)
        elif method == "PATCH" and name and content_type == APPLY_CONTENT_TYPE:
            self._apply(request, call, resource, raw, query)
        else:
            self._reply(request, call, HTTPStatus.METHOD_NOT_ALLOWED,
                        _status(405, f"{method} {content_type} is not served by the stand-in"),
                        verbs=(_verb_of(method, bool(name)),))

    def _get(self, request: BaseHTTPRequestHandler, call: ApiCall, resource: Resource,
             query: Mapping[str, str]) -> None:
        try:
            selector = parse_selector(query.get("labelSelector", ""))
        except ValueError as err:
            self._reply(request, call, HTTPStatus.BAD_REQUEST, _status(400, str(err)))
            return
        if call.name:
            with self._lock:
                found = self._objects.get((call.group, call.resource, call.namespace,
                                           call.name))
            if found is None:
                self._reply(request, call, HTTPStatus.NOT_FOUND,
                            _status(404, f"{call.resource} {call.name!r} not found"),
                            verbs=("get",))
            else:
                self._reply(request, call, HTTPStatus.OK, found, verbs=("get",))
            return
        if query.get("watch") in ("true", "1"):
            self._watch(request, call, resource, selector, query)
            return
        with self._lock:
            items = [o for o in self.objects(resource, call.namespace or None)
                     if selects(selector, o)]
            revision = self._revision
        if resource.group in ("", "discovery.k8s.io"):
            # Built-in kinds' list items carry no apiVersion and kind; custom resources' do.
            for item in items:
                item.pop("apiVersion", None)
                item.pop("kind", None)
        self._reply(request, call, HTTPStatus.OK, {
            "apiVersion": resource.api_version, "kind": f"{resource.kind}List",
            "metadata": {"resourceVersion": str(revision)}, "items": items}, verbs=("list",))

    def _watch(self, request: BaseHTTPRequestHandler, call: ApiCall, resource: Resource,
               selector: dict[str, str], query: Mapping[str, str]) -> None:
        since = int(query.get("resourceVersion") or 0)
        timeout = min(float(query.get("timeoutSeconds") or 290), 290)
        watch = _Watch(resource, call.namespace, selector)
        with self._lock:
            # The stand-in keeps no history: a watch from a revision sees only what changes
            # after it, which is what a watcher asks for right after its list.
            if since == 0:
                # No starting point: the current state first, as synthetic ADDED events.
                watch.events = [("ADDED", o) for o in self.objects(resource,
                                                                    call.namespace or None)
                                if selects(selector, o)]
            self._watches.append(watch)
        self._log(call, HTTPStatus.OK, ("watch",))
        request.send_response(HTTPStatus.OK)
        request.send_header("Content-Type", "application/json")
        request.send_header("Transfer-Encoding", "chunked")
        request.end_headers()
        deadline = time.monotonic() + timeout
        try:
            while True:
                with self._lock:
                    while (not watch.events and not watch.closed
                           and time.monotonic() < deadline):
                        self._lock.wait(timeout=min(0.2, max(deadline - time.monotonic(), 0)))
                    events, watch.events = watch.events, []
                    done = watch.closed or time.monotonic() >= deadline
                for kind, obj in events:
                    line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
                    request.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                request.wfile.flush()
                if done:
                    break
            request.wfile.write(b"0\r\n\r\n")
            request.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        finally:
            with self._lock:
                self._watches.remove(watch)
        request.close_connection = True

    def _apply(self, request: BaseHTTPRequestHandler, call: ApiCall, resource: Resource,
               raw: bytes, query: Mapping[str, str]) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            # YAML is valid for apply too, but kube-rs sends JSON; anything else is news.
            self._reply(request, call, HTTPStatus.BAD_REQUEST,
                        _status(400, "the stand-in reads apply bodies in JSON only"),
                        verbs=("patch",))
            return
        call = ApiCall(call.method, call.path, call.query, 0, call.group, call.resource,
                       call.namespace, call.name, body=body, content_type=call.content_type)
        with self._lock:
            exists = (call.group, call.resource, call.namespace, call.name) in self._objects
        verbs = ("patch",) if exists else ("patch", "create")
        problems = []
        if not query.get("fieldManager"):
            problems.append("fieldManager is required for apply patch")
        meta = body.get("metadata", {}) if isinstance(body, dict) else {}
        if not isinstance(body, dict) or body.get("apiVersion") != resource.api_version \
                or body.get("kind") != resource.kind:
            problems.append(f"apiVersion/kind must be {resource.api_version} {resource.kind}")
        if meta.get("name") != call.name:
            problems.append(f"metadata.name {meta.get('name')!r} differs from {call.name!r}")
        if meta.get("namespace") not in (None, call.namespace):
            problems.append(f"metadata.namespace {meta.get('namespace')!r} differs from "
                            f"{call.namespace!r}")
        if not problems and resource.validate is not None:
            problems = resource.validate(body)
        if problems:
            self._reply(request, call, HTTPStatus.UNPROCESSABLE_ENTITY,
                        _status(422, "; ".join(problems)), verbs=verbs)
            return
        with self._lock:
            stored = self._store(resource, call.namespace, call.name, body)
        self._reply(request, call, HTTPStatus.OK if exists else HTTPStatus.CREATED, stored,
                    verbs=verbs)

    def _log(self, call: ApiCall, status: int, verbs: tuple[str, ...]) -> None:
        with self._lock:
            self.calls.append(ApiCall(call.method, call.path, call.query, int(status),
                                      call.group, call.resource, call.namespace, call.name,
                                      verbs, call.body, call.content_type))

    def _reply(self, request: BaseHTTPRequestHandler, call: ApiCall, status: int,
               body: Object, verbs: tuple[str, ...] = ()) -> None:
        self._log(call, status, verbs)
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


def _parse_path(path: str) -> tuple[str, str, str, str, str] | None:
    """(group, version, plural, namespace, name) of a resource URL; None for anything else."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = ""
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    if len(rest) not in (1, 2):
        return None
    return group, version, rest[0], namespace, rest[1] if len(rest) == 2 else ""


def _verb_of(method: str, named: bool) -> str:
    return {"POST": "create", "PUT": "update", "DELETE": "delete" if named else
            "deletecollection", "PATCH": "patch"}.get(method, "get")


def _status(code: int, message: str) -> Object:
    return {"apiVersion": "v1", "kind": "Status", "status": "Failure", "message": message,
            "code": code}


def denied(calls: Iterable[ApiCall], role: Object) -> list[str]:
    """The calls `role` (a Role manifest) does not allow, one line each; every call must name
    a resource (a call the stand-in could not place is denied too)."""
    allowed = {(group, resource, verb) for rule in role.get("rules", [])
               for group in rule.get("apiGroups", []) for resource in rule.get("resources", [])
               for verb in rule.get("verbs", [])}
    found = []
    for call in calls:
        missing = [verb for verb in call.verbs or ("<unplaced>",)
                   if (call.group, call.resource, verb) not in allowed]
        if not call.resource or missing:
            found.append(f"{call.method} {call.path} needs {', '.join(missing or ['?'])} on "
                         f"{call.resource or '?'}.{call.group or 'core'}")
    return found
