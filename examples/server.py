"""A small recommendation endpoint a shop backend can copy: the standard library's http.server, no framework.
Recommended for serving instead: `xsell serve MODEL` (pip install 'xsell[serve]': FastAPI, rules, hot reload).

    python examples/server.py model.xsell [--catalog catalog.csv] [--threshold 50] [--port 8000]
                              [--timeout 5] [--max-connections 256]

The model (and catalog) are loaded once at start; every request is answered from memory:

    GET /also-bought?item=85123A&k=5
    GET /cross-sell?items=85123A,71053&k=5[&customer=17850]
    GET /up-sell?item=85123A&k=3
    GET /health

Answers are JSON: {"results": [{"item_id": ..., "score" or "probability": ..., "reason": ...}, ...]}.
Anything wrong gets {"error": "..."} and a 4xx status: a bad parameter 400 (xsell's InputError), an unknown path
404, POST, PUT, DELETE... 405, a request http.server refuses (malformed, line too long, too many headers) its own
4xx; as HTTP asks, an unknown method gets 501 and HTTP/2 505. Nothing else leaks out: no traceback, no 500 but
for a bug (logged). Unknown item ids get the popular items ("fallback": true), as the model does, except in
up-sell, which needs a known item.

Two settings keep slow or idle clients from starving the others (change them below or on the command line):
TIMEOUT closes a connection that stays silent that long mid-request; MAX_CONNECTIONS caps the connections
served at once (a thread each), and one more gets 503 at once instead of a thread or a wait. A client that
sends a byte every few seconds still holds its thread, up to the cap: on the open internet put the endpoint
behind your usual reverse proxy (nginx, a load balancer), which buffers requests. For more, the same three
calls fit any framework (FastAPI, Flask); xsell's models are safe to share between threads for reading.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import xsell

TIMEOUT = 5.0  # seconds a connection may stay silent before it is closed
MAX_CONNECTIONS = 256  # connections served at once, one thread each; keep it well below `ulimit -n`
MAX_K, MAX_ITEMS, MAX_ID_LENGTH, MAX_PARAMETERS = 100, 100, 256, 20
ENDPOINTS = ("/also-bought", "/cross-sell", "/up-sell", "/health")
NOT_FOUND = f"no such endpoint; use {', '.join(ENDPOINTS)}"


def _records(frame: Any) -> list[dict[str, Any]]:
    rows = json.loads(frame.to_json(orient="records"))
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()} for row in rows]


def parse_query(query: str) -> dict[str, list[str]]:
    """The parameters of a query string (a blank one counts as absent); InputError if it is not UTF-8."""
    try:
        return parse_qs(query, errors="strict", max_num_fields=MAX_PARAMETERS)
    except UnicodeDecodeError:
        raise xsell.InputError("the query string is not UTF-8 (after percent-decoding)") from None
    except ValueError:  # parse_qs's "Max number of fields exceeded"
        raise xsell.InputError(f"too many query parameters (at most {MAX_PARAMETERS})") from None


def _one(query: dict[str, list[str]], name: str, default: str | None = None) -> str:
    """The value of a parameter given once."""
    values = query.get(name) or ([default] if default else [])
    if not values:
        raise xsell.InputError(f"missing parameter '{name}'")
    if len(values) > 1:
        raise xsell.InputError(f"parameter '{name}' is given {len(values)} times; give it once")
    return values[0]


def _id(name: str, value: str) -> str:
    if len(value) > MAX_ID_LENGTH:
        raise xsell.InputError(f"'{name}' has an id of {len(value):,} characters; ids have at most {MAX_ID_LENGTH}")
    return value


class Service:
    """What the endpoint answers, apart from HTTP: easy to test and to move into another framework."""

    def __init__(self, model_path: str, catalog_path: str | None = None, threshold: float | None = None) -> None:
        self.model = xsell.load_model(model_path)
        catalog = xsell.load_catalog(catalog_path) if catalog_path else None
        self.engine = xsell.Engine(self.model, catalog, threshold=threshold) \
            if isinstance(self.model, xsell.CoOccurrence) else None

    def answer(self, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        """The answer to GET path (one of ENDPOINTS) with the parsed query; xsell.InputError if it is bad."""
        if path == "/health":
            return {"status": "ok", "model": self.model.model_type, "items": self.model.n_items}
        if path not in ENDPOINTS:
            raise xsell.InputError(NOT_FOUND)
        if path != "/also-bought" and self.engine is None:
            raise xsell.InputError("cross-sell and up-sell need a cooccurrence model here")
        raw_k = _one(query, "k", "5")
        if not (raw_k.isascii() and raw_k.isdigit() and 1 <= int(raw_k) <= MAX_K):  # int('²') fails, '²'.isdigit()
            raise xsell.InputError(f"k must be a whole number from 1 to {MAX_K}")
        k = int(raw_k)
        if path == "/cross-sell":
            items = [_id("items", i) for i in _one(query, "items").split(",") if i]
            if not 1 <= len(items) <= MAX_ITEMS:
                raise xsell.InputError(f"items takes 1 to {MAX_ITEMS} ids separated by commas, got {len(items):,}")
            customer = _id("customer", _one(query, "customer")) if "customer" in query else None
            result = self.engine.cross_sell(items, k=k, customer=customer)
            return {"basket": items, "basket_value": result.basket_value,
                    "expected_uplift": result.expected_uplift_revenue, "results": _records(result.to_frame())}
        item = _id("item", _one(query, "item"))
        if path == "/also-bought":
            result = self.model.also_bought(item, k=k)
            return {"item": item, "fallback": result.fallback, "results": _records(result.to_frame())}
        return {"item": item, "results": _records(self.engine.up_sell(item, k=k).to_frame())}


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with at most max_connections threads; one connection more gets 503 at once."""

    request_queue_size = 1024  # connections the OS queues until accepted (socketserver's default: 5)

    def __init__(self, address: tuple[str, int], handler: Any, max_connections: int) -> None:
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):  # full: refuse at once, in the accepting thread
            with contextlib.suppress(OSError):
                request.sendall(_raw_response(503, {"error": "too many connections; retry in a second"}))
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)  # starts the thread, which releases the slot
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client that hung up or timed out is no error
            super().handle_error(request, client_address)


def _raw_response(status: int, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    return (f"HTTP/1.0 {status} {HTTPStatus(status).phrase}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode() + data


def make_server(service: Service, host: str = "127.0.0.1", port: int = 8000, timeout: float = TIMEOUT,
                max_connections: int = MAX_CONNECTIONS) -> Server:
    class Handler(BaseHTTPRequestHandler):
        default_request_version = "HTTP/1.0"  # so that a malformed request's error has a status line too

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path, _, query = self.path.partition("?")
            if path not in ENDPOINTS:
                return self.reply(404, {"error": NOT_FOUND})
            try:
                status, body = 200, service.answer(path, parse_query(query))
            except xsell.InputError as exc:
                status, body = 400, {"error": str(exc)}
            except Exception:  # a bug: log it here, never show a traceback to the client
                logging.getLogger(__name__).exception("cannot answer %r", self.path)
                status, body = 500, {"error": "internal error"}
            self.reply(status, body)

        do_HEAD = do_GET  # reply() leaves the body out

        def do_POST(self) -> None:  # noqa: N802
            self.reply(405, {"error": f"method {self.command} is not allowed; use GET"}, allow="GET, HEAD")

        do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """http.server's own refusals (malformed request, line too long, too many headers...) as JSON too."""
            self.close_connection = True
            self.reply(code, {"error": ": ".join(filter(None, [message or HTTPStatus(code).phrase, explain]))})

        def reply(self, status: int, body: dict[str, Any], allow: str | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if allow:
                self.send_header("Allow", allow)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet by default
            pass

    Handler.timeout = timeout  # http.server sets it on each connection: a read or write waits at most this long
    return Server((host, port), Handler, max_connections)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Serve also-bought, cross-sell and up-sell over HTTP.")
    ap.add_argument("model")
    ap.add_argument("--catalog")
    ap.add_argument("--threshold", type=float)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds a connection may stay silent")
    ap.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS, help="connections served at once")
    args = ap.parse_args(argv)
    server = make_server(Service(args.model, args.catalog, args.threshold), args.host, args.port, args.timeout,
                         args.max_connections)
    print(f"serving {args.model} on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_in_thread(service: Service, **settings: Any) -> tuple[Server, threading.Thread]:
    """Start on a free loopback port in a background thread (for tests and notebooks); settings: timeout,
    max_connections."""
    server = make_server(service, "127.0.0.1", 0, **settings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


if __name__ == "__main__":
    main()
