"""The W&B double: a real HTTP server on 127.0.0.1 that executes GraphQL against W&B's schema.

wandb 0.31 sends its GraphQL through the wandb-core sidecar, so nothing in-process can intercept it: the double
must be a server. Queries are parsed, validated against `schema.graphql` (W&B's type and field names) and executed
over a `World` with graphql-core, so a query the real server would reject fails here too. Every request is
recorded; faults (HTTP statuses with Retry-After, GraphQL errors, malformed JSON, HTML, dropped connections) are
injected per operation, a latency can be added to every answer, and a test can rewrite an answer in flight. It can
also be an older server that lacks fields or arguments (`lacking`): a query naming one fails validation as there.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLSchema,
    ObjectTypeDefinitionNode,
    OperationDefinitionNode,
    build_ast_schema,
    build_schema,
    execute,
    parse,
    validate,
)
from graphql.error import GraphQLError

from .dataset import World
from .resolvers import Context, QueryRoot

DEFAULT_API_KEY = "local-" + "0123456789abcdef" * 3
SCHEMA_PATH = Path(__file__).with_name("schema.graphql")


@functools.cache
def load_schema() -> GraphQLSchema:
    return build_schema(SCHEMA_PATH.read_text())


@functools.cache
def schema_lacking(lacking: frozenset[str]) -> GraphQLSchema:
    """W&B's schema as an older server has it, without the fields (`Run.host`) and the arguments
    (`Sweep.runs(order:)`, `Artifact.usedBy(first:, after:)`) named in `lacking`."""
    if not lacking:
        return load_schema()
    document = parse(SCHEMA_PATH.read_text())
    for name in lacking:
        found = re.fullmatch(r"(\w+)\.(\w+)(?:\((.*)\))?", name)
        if not found:
            raise ValueError(f"not Type.field or Type.field(argument:, …): {name!r}")
        owner, field_name, listed = found.groups()
        arguments = {a.strip().rstrip(":") for a in (listed or "").split(",") if a.strip()}
        kind = next(
            (d for d in document.definitions if isinstance(d, ObjectTypeDefinitionNode) and d.name.value == owner),
            None,
        )
        field_node = next((f for f in kind.fields if f.name.value == field_name), None) if kind else None
        if field_node is None or not arguments <= {a.name.value for a in field_node.arguments}:
            raise ValueError(f"W&B's schema has no {name}")
        if arguments:
            field_node.arguments = tuple(a for a in field_node.arguments if a.name.value not in arguments)
        else:
            kind.fields = tuple(f for f in kind.fields if f is not field_node)
    return build_ast_schema(document)


@dataclass
class Fault:
    """What to answer instead of the real response; build one with the class methods."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    drop: bool = False

    @classmethod
    def http(cls, status: int, retry_after: float | None = None, message: str = "injected") -> Fault:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return cls(status, headers, json.dumps({"errors": [{"message": message}]}).encode())

    @classmethod
    def graphql_error(cls, message: str = "injected GraphQL error") -> Fault:
        body = {"data": None, "errors": [{"message": message, "path": ["project"]}]}
        return cls(200, {}, json.dumps(body).encode())

    @classmethod
    def malformed(cls) -> Fault:
        return cls(200, {}, b'{"data": {"project": {"runs": ')

    @classmethod
    def html(cls, status: int = 200) -> Fault:
        return cls(status, {"Content-Type": "text/html"}, b"<html><body>Bad gateway</body></html>")

    @classmethod
    def dropped(cls) -> Fault:
        return cls(drop=True)


@dataclass
class Rule:
    fault: Fault
    op: str | None
    skip: int
    times: int | None

    def take(self, op: str) -> Fault | None:
        if self.op not in (None, op) or self.times == 0:
            return None
        if self.skip > 0:
            self.skip -= 1
            return None
        if self.times is not None:
            self.times -= 1
        return self.fault


@dataclass
class RateLimit:
    """N requests per fixed window; a refused request does not count against the quota."""

    requests: int
    window_s: float
    started: float
    retry_after: bool = True
    window: int = -1
    used: int = 0

    def take(self, now: float) -> Fault | None:
        window = int((now - self.started) // self.window_s)
        if window != self.window:
            self.window, self.used = window, 0
        if self.used < self.requests:
            self.used += 1
            return None
        reset = max(1, math.ceil(self.started + (window + 1) * self.window_s - now))
        fault = Fault.http(429, retry_after=reset if self.retry_after else None, message="rate limit exceeded")
        fault.headers |= {"RateLimit-Remaining": "0", "RateLimit-Reset": str(reset)}
        return fault


@dataclass
class Request:
    op: str
    variables: dict[str, Any]
    status: int
    query: str = ""


class WandbDouble:
    """Start with `with WandbDouble(world) as double:`; point `wandb.Api` at `double.base_url`."""

    def __init__(
        self,
        world: World,
        api_keys: tuple[str, ...] = (DEFAULT_API_KEY,),
        page_cap: int = 100,
        latency: float = 0.0,
        lacking: set[str] | frozenset[str] = frozenset(),
    ):
        self.world = world
        self.api_keys = set(api_keys)
        self.page_cap = page_cap
        self.latency = latency
        self.requests: list[Request] = []
        self.on_request: Callable[[Request], None] | None = None
        self.on_response: Callable[[str, dict, dict], dict] | None = None
        self._rules: list[Rule] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._documents: dict[str, tuple[DocumentNode | None, list[GraphQLError]]] = {}
        self._limit: RateLimit | None = None
        self.lacking = lacking

    @property
    def lacking(self) -> frozenset[str]:
        """The fields and arguments this server does not have (`Run.host`, `Sweep.runs(order:)`); settable between
        syncs, as a server upgraded or downgraded."""
        return self._lacking

    @lacking.setter
    def lacking(self, names: set[str] | frozenset[str]) -> None:
        schema = schema_lacking(frozenset(names))
        with self._lock:
            self._lacking, self._schema = frozenset(names), schema
            self._documents = {}

    def __enter__(self) -> WandbDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, port: int = 0) -> WandbDouble:
        self._server = _Server(("127.0.0.1", port), _handler_for(self))
        threading.Thread(target=self._server.serve_forever, name="wandb-double", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def inject(self, fault: Fault, op: str | None = None, times: int | None = 1, after: int = 0) -> None:
        """Answer the next `times` matching requests (None: all) with `fault`, after letting `after` through."""
        with self._lock:
            self._rules.append(Rule(fault, op, after, times))

    def limit_rate(self, requests: int, window_s: float, retry_after: bool = True) -> None:
        """Answer 429 past `requests` in a fixed window of `window_s` seconds, as W&B's quota does ("quota remaining
        in the current window", "seconds until the current quota resets"), with `Retry-After` or, since no capture
        shows that W&B sends it, without."""
        with self._lock:
            self._limit = RateLimit(requests, window_s, time.monotonic(), retry_after)

    def _throttle(self) -> Fault | None:
        with self._lock:
            return self._limit.take(time.monotonic()) if self._limit else None

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()

    def ops(self) -> list[str]:
        return [r.op for r in self.requests]

    def count(self, op: str | None = None) -> int:
        return sum(1 for r in self.requests if op in (None, r.op))

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def _fault_for(self, op: str) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                fault = rule.take(op)
                if fault:
                    return fault
        return None

    def _document(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        documents, schema = self._documents, self._schema
        if query not in documents:
            try:
                document = parse(query)
            except GraphQLError as error:
                documents[query] = (None, [error])
            else:
                documents[query] = (document, validate(schema, document))
        return documents[query]

    def answer(self, body: dict) -> tuple[int, dict]:
        """Execute one GraphQL request; validation failures are HTTP 400 like a real GraphQL server's."""
        document, errors = self._document(body.get("query") or "")
        if errors:
            return 400, {"errors": [e.formatted for e in errors]}
        with self._lock:
            result = execute(
                self._schema,
                document,
                root_value=QueryRoot(Context(self.world, self.page_cap, self.base_url if self._server else "")),
                variable_values=body.get("variables") or {},
                operation_name=body.get("operationName") or None,
            )
            payload: dict[str, Any] = {"data": result.data}
            if result.errors:
                payload["errors"] = [e.formatted for e in result.errors]
            if self.on_response:
                payload = self.on_response(operation_name(body), body.get("variables") or {}, payload)
        return 200, payload

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, key = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == "api" and key in self.api_keys

    @contextlib.contextmanager
    def hooked(self, on_request: Callable[[Request], None]) -> Iterator[None]:
        """Call `on_request` after each request is answered (to change the world mid-sync), until the block ends."""
        self.on_request = on_request
        try:
            yield
        finally:
            self.on_request = None

    @contextlib.contextmanager
    def rewriting(self, on_response: Callable[[str, dict, dict], dict]) -> Iterator[None]:
        """Answer with `on_response(op, variables, payload)` instead of each executed payload (to serve what the
        world cannot hold, like a null node), until the block ends."""
        self.on_response = on_response
        try:
            yield
        finally:
            self.on_response = None

    def parquet_file(self, path: str) -> bytes | None:
        """The parquet export of a run's history (`/files/parquet/<entity>/<project>/<run>.parquet`), as W&B's
        signed URLs serve it: the steps up to the run's `exported_through`, one column per key."""
        parts = path.strip("/").split("/")
        if len(parts) != 5 or parts[:2] != ["files", "parquet"] or parts[2] != self.world.entity:
            return None
        with self._lock:
            run = self.world.run(parts[3], parts[4].removesuffix(".parquet"))
            if run is None or run.exported_through is None:
                return None
            rows = run.history(None, run.exported_through + 1)
        return parquet_bytes(rows)

    def record(self, op: str, variables: dict, status: int, query: str = "") -> Request:
        request = Request(op, variables, status, query)
        with self._lock:
            self.requests.append(request)
            if self.on_request:
                self.on_request(request)
        return request


def parquet_bytes(rows: list[dict]) -> bytes:
    """History rows as one parquet file written by pyarrow: numbers as doubles (`_step` an integer), strings as
    strings, nested values (dicts, media references) as JSON text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = sorted({key for row in rows for key in row})
    columns = {}
    for key in keys:
        values = [row.get(key) for row in rows]
        present = [v for v in values if v is not None]
        if key == "_step":
            columns[key] = pa.array(values, pa.int64())
        elif present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            columns[key] = pa.array([None if v is None else float(v) for v in values], pa.float64())
        else:
            columns[key] = pa.array([v if v is None or isinstance(v, str) else json.dumps(v) for v in values])
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(columns) if columns else pa.table({"_step": pa.array([], pa.int64())}), sink)
    return sink.getvalue().to_pybytes()


def operation_name(body: dict) -> str:
    """`operationName` is often "": take the name from the query text, as the real server's logs do."""
    if body.get("operationName"):
        return body["operationName"]
    try:
        document = parse(body.get("query") or "")
    except GraphQLError:
        return "<unparseable>"
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and definition.name:
            return definition.name.value
    return "<anonymous>"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        """Clients hang up keep-alive sockets at exit; that is not an error worth a traceback."""


def _handler_for(double: WandbDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = double.parquet_file(self.path)
            if body is None:
                self._send(404, {"errors": [{"message": "not found"}]})
                return
            double.record("GET " + self.path.rpartition("/")[0], {"path": self.path}, 200)
            time.sleep(double.latency)
            self._send_raw(200, body, {"Content-Type": "application/octet-stream"})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/graphql":
                self._send(404, {"errors": [{"message": f"no route {self.path}"}]})
                return
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._send(400, {"errors": [{"message": "request body is not JSON"}]})
                return
            self._graphql(body)

        def _graphql(self, body: dict) -> None:
            op = operation_name(body)
            authorized = double.authorized(self.headers.get("Authorization"))
            fault = (double._throttle() or double._fault_for(op)) if authorized else None
            status, payload = (401, _unauthorized()) if not authorized else (200, None)
            if fault and fault.drop:
                double.record(op, body.get("variables") or {}, 0, body.get("query") or "")
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault:
                status = fault.status
            elif authorized:
                status, payload = double.answer(body)
            double.record(op, body.get("variables") or {}, status, body.get("query") or "")
            time.sleep(double.latency)
            if fault and fault.body is not None:
                self._send_raw(status, fault.body, fault.headers)
            else:
                self._send(status, payload, fault.headers if fault else {})

        def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
            self._send_raw(status, json.dumps(payload).encode(), headers or {})

        def _send_raw(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
            for key, value in headers.items():
                if key != "Content-Type":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _unauthorized() -> dict:
    return {"errors": [{"message": "permission denied: the API key is not valid for this server"}]}
