"""A stand-in Kubernetes API server for Dynamo's `kubernetes` discovery backend.

It speaks what the 1.6.1 runtime (kube-rs 2.0.1) asks of a real one, over TLS with a bearer
token, as in-cluster clients do: `get`/`list`/`watch` of namespaced resources (equality label
selectors, resource versions, chunked watch streams of ADDED/MODIFIED/DELETED events) and
server-side apply (`PATCH` with `application/apply-patch+yaml`, `fieldManager`, `force`).

As a real one, it authenticates each request by its token (`tokens`: who each one is, a 401
otherwise), then authorizes it (`authorize`, e.g. :class:`Rbac` over the manifests' Roles:
a 403 naming what was missing, as the RBAC authorizer words it; an apply that creates is
authorized as `create` too), and only then looks for the resource: it knows only those it is
given (`Resource`; anything else is a 404), and any other method is a 405. An applied object
is pruned and validated as its resource says (its CRD's structural schema, kube_schema.py: an
invalid one is a 422; a dropped field is a `Warning` header, as since Kubernetes 1.27). It
holds objects controllers `put` (pods, EndpointSlices) and collects the garbage: an object
none of whose owners exists is deleted (`collect_garbage`). Every request is logged (`calls`)
with who made it and the RBAC verbs it needed (`ApiCall.verbs`), so that the log can be held
against a Role (`denied`).

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
from dataclasses import dataclass, field, replace
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
    prune: Callable[[Object], list[str]] | None = None
    """Drops, in place, the fields of an applied object that the resource does not keep (its
    CRD's schema), returning their paths; nothing by default."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


ENDPOINT_SLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
PODS = Resource("", "v1", "pods", "Pod")


@dataclass(frozen=True)
class Identity:
    """Who a token authenticates, as the API server's authenticators say: a ServiceAccount's
    token is the user `system:serviceaccount:<namespace>:<name>` in the groups
    `system:serviceaccounts`, `system:serviceaccounts:<namespace>` and `system:authenticated`,
    and a pod-bound token names its pod."""

    user: str
    groups: tuple[str, ...] = ()
    pod: str = ""

    @classmethod
    def service_account(cls, namespace: str, name: str, pod: str = "") -> Identity:
        return cls(f"system:serviceaccount:{namespace}:{name}",
                   ("system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                    "system:authenticated"), pod)


@dataclass(frozen=True)
class Attributes:
    """What an authorizer decides on: a verb on a resource, in a namespace, maybe by name."""

    verb: str
    group: str
    resource: str
    namespace: str
    name: str = ""


Authorizer = Callable[[Identity, Attributes], bool]


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
    user: str = ""
    pod: str = ""
    """The pod whose token made the call (empty for a token bound to none)."""
    warnings: tuple[str, ...] = ()
    """What the API server warned of (fields an apply wrote that the resource drops)."""
    message: str = ""
    """Why a call failed, as the API server's Status says."""

    @property
    def allowed(self) -> bool:
        return self.status != HTTPStatus.FORBIDDEN


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
    `put`/`delete` change objects as a controller would (watchers see the events).

    `tokens`: the bearer tokens it accepts and who each is. `authorize`: whether an identity may
    do what it asks (default: anything). `resources`: what it serves."""

    def __init__(self, *, tokens: Mapping[str, Identity], cert_file: str, key_file: str,
                 resources: Iterable[Resource], authorize: Authorizer | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.tokens = dict(tokens)
        self.authorize = authorize
        self.resources = {(r.group, r.plural): r for r in resources}
        self.calls: list[ApiCall] = []
        self.collected: list[tuple[Object, str]] = []
        """What the garbage collector deleted, and why."""
        self._kinds: dict[tuple[str, str], Resource] = {
            (r.api_version, r.kind): r for r in (*self.resources.values(), PODS)}
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
        # The handshake happens in each connection's own thread (Handler.setup), so that a
        # client that connects and says nothing cannot stall the accepting one.
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
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

    def collect_garbage(self) -> list[Object]:
        """Delete, as the garbage collector does, each object that has owners and none of which
        exists (an owner exists when an object of its kind, name and UID is in the dependent's
        namespace); return them. An owner of a kind the stand-in does not know counts as
        existing, as the collector leaves what it cannot resolve alone."""
        with self._lock:
            doomed: list[tuple[Resource, Object, str]] = []
            for (group, plural, namespace, _), obj in self._objects.items():
                owners = obj["metadata"].get("ownerReferences") or []
                missing = [owner for owner in owners if not self._owner_exists(owner, namespace)]
                if owners and len(missing) == len(owners):
                    resource = next(r for r in self._kinds.values()
                                    if (r.group, r.plural) == (group, plural))
                    shown = ", ".join(f"{o.get('kind')} {o.get('name')} (uid {o.get('uid')})"
                                      for o in missing)
                    doomed.append((resource, obj, f"no owner exists: {shown}"))
            for resource, obj, why in doomed:
                meta = obj["metadata"]
                self.delete(resource, meta["namespace"], meta["name"])
                self.collected.append((obj, why))
            return [obj for _, obj, _ in doomed]

    def _owner_exists(self, owner: Mapping[str, Any], namespace: str) -> bool:
        resource = self._kinds.get((str(owner.get("apiVersion")), str(owner.get("kind"))))
        if resource is None:
            return True
        found = self._objects.get((resource.group, resource.plural, namespace,
                                   str(owner.get("name"))))
        return found is not None and found["metadata"].get("uid") == owner.get("uid")

    def _store(self, resource: Resource, namespace: str, name: str, obj: Object) -> Object:
        self._kinds.setdefault((resource.api_version, resource.kind), resource)
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

            def setup(self) -> None:
                connection = self.request
                connection.settimeout(10)
                try:
                    connection.do_handshake()
                finally:
                    connection.settimeout(None)
                super().setup()

            def handle(self) -> None:
                try:
                    super().handle()
                except (ssl.SSLError, ConnectionError, TimeoutError):
                    # A client that hung up mid-request, or did not finish its handshake.
                    self.close_connection = True

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
        authorization = request.headers.get("Authorization") or ""
        identity = self.tokens.get(authorization.removeprefix("Bearer "))
        if not authorization.startswith("Bearer ") or identity is None:
            self._reply(request, call, HTTPStatus.UNAUTHORIZED, _status(401, "Unauthorized"))
            return
        call = replace(call, user=identity.user, pod=identity.pod)
        target = _parse_path(split.path)
        if target is None:
            self._reply(request, call, HTTPStatus.NOT_FOUND,
                        _status(404, f"the server could not find {split.path}"))
            return
        group, version, plural, namespace, name = target
        call = replace(call, group=group, resource=plural, namespace=namespace, name=name)
        verb = _verb_of(method, bool(name), query)
        if not self._allowed(identity, verb, call):
            self._forbid(request, call, identity, verb)
            return
        resource = self.resources.get((group, plural))
        if resource is None or version != resource.version:
            self._reply(request, call, HTTPStatus.NOT_FOUND,
                        _status(404, f"the server could not find {split.path}"), verbs=(verb,))
            return
        if method == "GET":
            self._get(request, call, resource, query)
        elif method == "PATCH" and name and content_type == APPLY_CONTENT_TYPE:
            self._apply(request, call, resource, raw, query, identity)
        else:
            self._reply(request, call, HTTPStatus.METHOD_NOT_ALLOWED,
                        _status(405, f"{method} {content_type} is not served by the stand-in"),
                        verbs=(verb,))

    def _allowed(self, identity: Identity, verb: str, call: ApiCall) -> bool:
        return self.authorize is None or self.authorize(identity, Attributes(
            verb, call.group, call.resource, call.namespace, call.name))

    def _forbid(self, request: BaseHTTPRequestHandler, call: ApiCall, identity: Identity,
                verb: str, verbs: tuple[str, ...] | None = None) -> None:
        # The RBAC authorizer's wording, so that a log reads like a cluster's.
        what = f"{call.resource}.{call.group}" if call.group else call.resource
        named = f' "{call.name}"' if call.name else ""
        where = f' in the namespace "{call.namespace}"' if call.namespace else \
            " at the cluster scope"
        message = (f'{what}{named} is forbidden: User "{identity.user}" cannot {verb} resource '
                   f'"{call.resource}" in API group "{call.group}"{where}')
        self._reply(request, call, HTTPStatus.FORBIDDEN, _status(403, message, "Forbidden"),
                    verbs=verbs or (verb,))

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
               raw: bytes, query: Mapping[str, str], identity: Identity) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            # YAML is valid for apply too, but kube-rs sends JSON; anything else is news.
            self._reply(request, call, HTTPStatus.BAD_REQUEST,
                        _status(400, "the stand-in reads apply bodies in JSON only"),
                        verbs=("patch",))
            return
        call = replace(call, body=body)
        with self._lock:
            exists = (call.group, call.resource, call.namespace, call.name) in self._objects
        verbs = ("patch",) if exists else ("patch", "create")
        if not exists and not self._allowed(identity, "create", call):
            self._forbid(request, call, identity, "create", verbs)
            return
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
        kept = json.loads(json.dumps(body))
        dropped = resource.prune(kept) if not problems and resource.prune else []
        call = replace(call, warnings=tuple(f'unknown field "{path}"' for path in dropped))
        if not problems and resource.validate is not None:
            problems = resource.validate(kept)
        if problems:
            self._reply(request, call, HTTPStatus.UNPROCESSABLE_ENTITY,
                        _status(422, "; ".join(problems), "Invalid"), verbs=verbs)
            return
        with self._lock:
            stored = self._store(resource, call.namespace, call.name, kept)
        self._reply(request, call, HTTPStatus.OK if exists else HTTPStatus.CREATED, stored,
                    verbs=verbs)

    def _log(self, call: ApiCall, status: int, verbs: tuple[str, ...],
             message: str = "") -> None:
        with self._lock:
            self.calls.append(replace(call, status=int(status), verbs=verbs, message=message))

    def _reply(self, request: BaseHTTPRequestHandler, call: ApiCall, status: int,
               body: Object, verbs: tuple[str, ...] = ()) -> None:
        self._log(call, status, verbs, str(body.get("message", "")) if status >= 400 else "")
        data = json.dumps(body).encode()
        request.send_response(status)
        for warning in call.warnings:
            request.send_header("Warning", f'299 - "{_quote(warning)}"')
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


def _verb_of(method: str, named: bool, query: Mapping[str, str]) -> str:
    """The RBAC verb of a request on a resource."""
    if method == "GET":
        if query.get("watch") in ("true", "1"):
            return "watch"
        return "get" if named else "list"
    return {"POST": "create", "PUT": "update", "DELETE": "delete" if named else
            "deletecollection", "PATCH": "patch"}.get(method, method.lower())


def _status(code: int, message: str, reason: str = "") -> Object:
    status: Object = {"apiVersion": "v1", "kind": "Status", "status": "Failure",
                      "message": message, "code": code}
    if reason:
        status["reason"] = reason
    return status


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


class Rbac:
    """The RBAC authorizer over the Roles, ClusterRoles and their bindings in `documents`
    (a synthesized environment's manifests): an identity may do what a rule of a role bound to
    it (by user, ServiceAccount or group) allows, a Role's rules only in its namespace. `*`
    matches anything; `resourceNames` allow only requests naming one of them."""

    def __init__(self, documents: Iterable[Mapping[str, Any]]) -> None:
        documents = list(documents)
        self.roles = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
                      for d in documents if d.get("kind") in ("Role", "ClusterRole")}
        self.bindings = [d for d in documents
                         if d.get("kind") in ("RoleBinding", "ClusterRoleBinding")]

    def rules(self, identity: Identity,
              namespace: str) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
        """(role, rule) for every rule that applies to `identity` in `namespace`."""
        found = []
        for binding in self.bindings:
            bound_in = binding["metadata"].get("namespace", "")
            if binding["kind"] == "RoleBinding" and bound_in != namespace:
                continue
            if not any(_subject_is(subject, identity, bound_in)
                       for subject in binding.get("subjects") or []):
                continue
            ref = binding["roleRef"]
            role = self.roles.get((ref["kind"], bound_in if ref["kind"] == "Role" else "",
                                   ref["name"]))
            if role is not None:
                found += [(role, rule) for rule in role.get("rules") or []]
        return found

    def allows(self, identity: Identity, request: Attributes) -> bool:
        return any(_rule_allows(rule, request)
                   for _, rule in self.rules(identity, request.namespace))

    def __call__(self, identity: Identity, request: Attributes) -> bool:
        return self.allows(identity, request)

    def granted(self, identity: Identity, namespace: str) -> set[tuple[str, str, str]]:
        """(group, resource, verb) the rules for `identity` in `namespace` name."""
        return {(group, resource, verb) for _, rule in self.rules(identity, namespace)
                for group in rule.get("apiGroups") or [] for resource in rule.get("resources")
                or [] for verb in rule.get("verbs") or []}


def _subject_is(subject: Mapping[str, Any], identity: Identity, bound_in: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or bound_in
        return identity.user == f"system:serviceaccount:{namespace}:{name}"
    if kind == "User":
        return identity.user == name
    if kind == "Group":
        return name in identity.groups
    return False


def _rule_allows(rule: Mapping[str, Any], request: Attributes) -> bool:
    def matches(values: Iterable[str] | None, value: str) -> bool:
        values = list(values or [])
        return "*" in values or value in values

    names = rule.get("resourceNames") or []
    return (matches(rule.get("verbs"), request.verb)
            and matches(rule.get("apiGroups"), request.group)
            and matches(rule.get("resources"), request.resource)
            and (not names or request.name in names))


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
