"""A small recommendation endpoint a shop backend can copy: the standard library's http.server, no framework.

    python examples/server.py model.xsell [--catalog catalog.csv] [--threshold 50] [--port 8000]

The model (and catalog) are loaded once at start; every request is answered from memory:

    GET /also-bought?item=85123A&k=5
    GET /cross-sell?items=85123A,71053&k=5[&customer=17850]
    GET /up-sell?item=85123A&k=3
    GET /health

Answers are JSON: {"results": [{"item_id": ..., "score" or "probability": ..., "reason": ...}, ...]}.
A bad request gets status 400 and {"error": "..."}; nothing else leaks out. ThreadingHTTPServer
serves requests in threads (xsell's models are safe to share between threads for reading). Put it
behind your usual reverse proxy; for more, the same three calls fit any framework (FastAPI, Flask).
"""

from __future__ import annotations

import argparse
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import xsell


def _records(frame: Any) -> list[dict[str, Any]]:
    rows = json.loads(frame.to_json(orient="records"))
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()} for row in rows]


class Service:
    """What the endpoint answers, apart from HTTP: easy to test and to move into another framework."""

    def __init__(self, model_path: str, catalog_path: str | None = None, threshold: float | None = None) -> None:
        self.model = xsell.load_model(model_path)
        catalog = xsell.load_catalog(catalog_path) if catalog_path else None
        self.engine = xsell.Engine(self.model, catalog, threshold=threshold) \
            if isinstance(self.model, xsell.CoOccurrence) else None

    def answer(self, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        def one(name: str) -> str:
            if not query.get(name) or not query[name][0]:
                raise xsell.InputError(f"missing parameter '{name}'")
            return query[name][0]

        k = int(query.get("k", ["5"])[0]) if query.get("k", ["5"])[0].isdigit() else -1
        if k < 1 or k > 100:
            raise xsell.InputError("k must be a whole number from 1 to 100")
        if path == "/health":
            return {"status": "ok", "model": self.model.model_type, "items": self.model.n_items}
        if path == "/also-bought":
            result = self.model.also_bought(one("item"), k=k)
            return {"item": one("item"), "fallback": result.fallback, "results": _records(result.to_frame())}
        if path in ("/cross-sell", "/up-sell") and self.engine is None:
            raise xsell.InputError("cross-sell and up-sell need a cooccurrence model here")
        if path == "/cross-sell":
            items = [i for i in one("items").split(",") if i]
            result = self.engine.cross_sell(items, k=k, customer=query.get("customer", [None])[0])
            return {"basket": items, "basket_value": result.basket_value,
                    "expected_uplift": result.expected_uplift_revenue, "results": _records(result.to_frame())}
        if path == "/up-sell":
            result = self.engine.up_sell(one("item"), k=k)
            return {"item": one("item"), "results": _records(result.to_frame())}
        raise LookupError(path)


def make_server(service: Service, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urlparse(self.path)
            try:
                status, body = 200, service.answer(url.path, parse_qs(url.query))
            except LookupError:
                status, body = 404, {"error": f"no such endpoint: {url.path}"}
            except xsell.XsellError as exc:
                status, body = 400, {"error": str(exc)}
            except Exception:  # never leak a traceback to the client
                status, body = 500, {"error": "internal error"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet by default
            pass

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Serve also-bought, cross-sell and up-sell over HTTP.")
    ap.add_argument("model")
    ap.add_argument("--catalog")
    ap.add_argument("--threshold", type=float)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    args = ap.parse_args(argv)
    server = make_server(Service(args.model, args.catalog, args.threshold), args.host, args.port)
    print(f"serving {args.model} on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_in_thread(service: Service) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start on a free loopback port in a background thread (for tests and notebooks)."""
    server = make_server(service, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


if __name__ == "__main__":
    main()
