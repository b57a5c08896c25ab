"""examples/server.py against hostile clients, over raw loopback sockets: every bad request gets its exact
4xx status and JSON error (or the exact answer), nothing reaches stderr, and idle or stalled connections
neither starve /health nor stay open past the timeout."""

from __future__ import annotations

import json
import selectors
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from pathlib import Path

import pytest

import xsell

SERVER = Path(__file__).resolve().parents[1] / "examples" / "server.py"
K_ERROR = {"error": "k must be a whole number from 1 to 100"}
NOT_FOUND = {"error": "no such endpoint; use /also-bought, /cross-sell, /up-sell, /health"}
NOT_UTF8 = {"error": "the query string is not UTF-8 (after percent-decoding)"}
BUSY = {"error": "too many connections; retry in a second"}


def start(model_dir: Path, *flags: str) -> tuple[subprocess.Popen, int, Path]:
    """The example server in its own process on a free loopback port; its stderr goes to a file."""
    stderr = model_dir / f"stderr-{time.monotonic_ns()}.txt"
    proc = subprocess.Popen([sys.executable, str(SERVER), str(model_dir / "m.xsell"), "--catalog",
                             str(model_dir / "catalog.csv"), "--port", "0", *flags],
                            stdout=subprocess.PIPE, stderr=stderr.open("w"), text=True)
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=60):
            proc.kill()
            pytest.fail("the server did not start within 60 s")
    line = proc.stdout.readline()
    assert line.startswith("serving "), (line, stderr.read_text())
    return proc, int(line.rsplit(":", 1)[1]), stderr


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def exchange(port: int, data: bytes, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read to the server's close: (status, headers with lower-case names, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/1.0 "), status_line
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


def request(target: str, method: str = "GET", extra: bytes = b"") -> bytes:
    return f"{method} {target} HTTP/1.1\r\nHost: shop\r\n".encode() + extra + b"\r\n"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, shop, shop_model) -> Path:
    path = tmp_path_factory.mktemp("server")
    xsell.save_model(shop_model, path / "m.xsell")
    shop.catalog.to_csv(path / "catalog.csv", index=False)
    return path


@pytest.fixture(scope="module")
def served(model_dir):
    proc, port, stderr = start(model_dir, "--timeout", "2")
    yield port, stderr
    stop(proc)
    assert stderr.read_text() == ""


@pytest.fixture(scope="module")
def expect(shop, shop_model, model_dir):
    """What the library answers, for the 200 rows of the table."""
    a = shop.truth.complements[0][0]
    engine = xsell.Engine(shop_model, xsell.load_catalog(model_dir / "catalog.csv"))

    def also(item: str, k: int) -> dict:
        result = shop_model.also_bought(item, k=k)
        return {"item": item, "fallback": result.fallback, "result_ids": result.items}

    def cross(items: list[str], k: int) -> dict:
        return {"basket": items, "result_ids": engine.cross_sell(items, k=k).items}

    return {"item": a, "also": also, "cross": cross,
            "up": lambda item, k: {"item": item, "result_ids": engine.up_sell(item, k=k).items},
            "health": {"status": "ok", "model": "cooccurrence", "items": shop_model.n_items}}


A = "{a}"  # the known item of the table, filled in from the shop's first true complement
TABLE = [
    # (name, raw request, status, the JSON body or, for a 200, the library's own answer)
    ("k superscript two, percent-encoded", request(f"/also-bought?item={A}&k=%C2%B2"), 400, K_ERROR),
    ("k superscript two, raw UTF-8", request(f"/also-bought?item={A}&k=²").decode("latin-1"), 400, K_ERROR),
    ("k fullwidth three", request(f"/also-bought?item={A}&k=%EF%BC%93"), 400, K_ERROR),
    ("k with a space", request(f"/also-bought?item={A}&k=%203"), 400, K_ERROR),
    ("k minus one", request(f"/also-bought?item={A}&k=-1"), 400, K_ERROR),
    ("k zero", request(f"/also-bought?item={A}&k=0"), 400, K_ERROR),
    ("k 101", request(f"/also-bought?item={A}&k=101"), 400, K_ERROR),
    ("k 1e3", request(f"/also-bought?item={A}&k=1e3"), 400, K_ERROR),
    ("k fifty nines", request(f"/also-bought?item={A}&k={'9' * 50}"), 400, K_ERROR),
    ("k abc", request(f"/also-bought?item={A}&k=abc"), 400, K_ERROR),
    ("k repeated", request(f"/also-bought?item={A}&k=1&k=2"), 400,
     {"error": "parameter 'k' is given 2 times; give it once"}),
    ("k missing: 5", request(f"/also-bought?item={A}"), 200, lambda e: e["also"](e["item"], 5)),
    ("k empty: as missing", request(f"/also-bought?item={A}&k="), 200, lambda e: e["also"](e["item"], 5)),
    ("k 100", request(f"/also-bought?item={A}&k=100"), 200, lambda e: e["also"](e["item"], 100)),
    ("item missing", request("/also-bought?k=3"), 400, {"error": "missing parameter 'item'"}),
    ("item repeated", request(f"/up-sell?item={A}&item=x"), 400,
     {"error": "parameter 'item' is given 2 times; give it once"}),
    ("unknown item: popular items", request("/also-bought?item=nope&k=3"), 200, lambda e: e["also"]("nope", 3)),
    ("unknown item in up-sell", request("/up-sell?item=nope&k=3"), 400,
     {"error": "unknown item 'nope': the model was not trained on it"}),
    ("unknown items in cross-sell: popular items", request("/cross-sell?items=nope,nada&k=3"), 200,
     lambda e: e["cross"](["nope", "nada"], 3)),
    ("known item in cross-sell", request(f"/cross-sell?items={A},nope&k=4&customer=17850"), 200,
     lambda e: e["cross"]([e["item"], "nope"], 4)),
    ("known item in up-sell", request(f"/up-sell?item={A}&k=2"), 200, lambda e: e["up"](e["item"], 2)),
    ("items empty", request("/cross-sell?items=&k=3"), 400, {"error": "missing parameter 'items'"}),
    ("items only commas", request("/cross-sell?items=,,,&k=3"), 400,
     {"error": "items takes 1 to 100 ids separated by commas, got 0"}),
    ("10,000 items", request("/cross-sell?items=" + ",".join(f"i{n}" for n in range(10_000))), 400,
     {"error": "items takes 1 to 100 ids separated by commas, got 10,000"}),
    ("101 items", request("/cross-sell?items=" + ",".join(f"i{n}" for n in range(101))), 400,
     {"error": "items takes 1 to 100 ids separated by commas, got 101"}),
    ("id of 257 characters", request("/also-bought?item=" + "x" * 257), 400,
     {"error": "'item' has an id of 257 characters; ids have at most 256"}),
    ("id of 256 characters: unknown", request("/also-bought?item=" + "x" * 256 + "&k=2"), 200,
     lambda e: e["also"]("x" * 256, 2)),
    ("basket id of 300 characters", request(f"/cross-sell?items={A},{'y' * 300}"), 400,
     {"error": "'items' has an id of 300 characters; ids have at most 256"}),
    ("customer id of 300 characters", request(f"/cross-sell?items={A}&customer={'c' * 300}"), 400,
     {"error": "'customer' has an id of 300 characters; ids have at most 256"}),
    ("unknown path", request("/nowhere"), 404, NOT_FOUND),
    ("unknown path, absolute form", request("http://[::1/health"), 404, NOT_FOUND),
    ("health", request("/health"), 200, lambda e: e["health"]),
    ("health ignores parameters", request("/health?k=abc&item="), 200, lambda e: e["health"]),
    ("POST", b"POST /health HTTP/1.1\r\nHost: shop\r\nContent-Length: 5\r\n\r\nhello", 405,
     {"error": "method POST is not allowed; use GET"}),
    ("POST of 100 kB", b"POST /cross-sell HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000, 405,
     {"error": "method POST is not allowed; use GET"}),
    ("PUT", request("/health", "PUT"), 405, {"error": "method PUT is not allowed; use GET"}),
    ("DELETE", request(f"/also-bought?item={A}", "DELETE"), 405, {"error": "method DELETE is not allowed; use GET"}),
    ("unknown method", request("/health", "BREW"), 501, {"error": "Unsupported method ('BREW')"}),
    ("HEAD", request("/health", "HEAD"), 200, None),
    ("HEAD of an unknown path", request("/nowhere", "HEAD"), 404, None),
    ("query of 70,000 characters", request("/also-bought?item=" + "x" * 70_000), 414,
     {"error": HTTPStatus(414).phrase}),  # "Request-URI Too Long"; Python 3.13: "URI Too Long"
    ("%ff", request("/also-bought?item=%ff"), 400, NOT_UTF8),
    ("encoded surrogate", request("/also-bought?item=%ed%a0%80"), 400, NOT_UTF8),
    ("30 parameters", request("/also-bought?" + "&".join(f"p{n}=1" for n in range(30))), 400,
     {"error": "too many query parameters (at most 20)"}),
    ("101 headers", request("/health", extra=b"".join(b"X-%d: y\r\n" % n for n in range(101))), 431,
     {"error": "Too many headers: got more than 100 headers"}),
    ("header line of 70,000 bytes", request("/health", extra=b"X: " + b"y" * 70_000 + b"\r\n"), 431,
     {"error": "Line too long: got more than 65536 bytes when reading header line"}),
    ("HTTP/9", b"GET /health HTTP/9\r\n\r\n", 400, {"error": "Bad request version ('HTTP/9')"}),
    ("HTTP/2.0", b"GET /health HTTP/2.0\r\n\r\n", 505, {"error": "Invalid HTTP version (2.0)"}),
    ("four words", b"GET /health x HTTP/1.1\r\n\r\n", 400, {"error": "Bad request syntax ('GET /health x HTTP/1.1')"}),
]


@pytest.mark.parametrize(("raw", "status", "want"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_hostile_request(served, expect, raw, status, want):
    port, stderr = served
    data = raw.encode("latin-1") if isinstance(raw, str) else raw
    got_status, headers, body = exchange(port, data.replace(A.encode(), expect["item"].encode()))
    assert got_status == status
    assert headers["content-type"] == "application/json"
    if data.startswith(b"HEAD "):
        assert body == b""
        _, get_headers, get_body = exchange(port, data.replace(b"HEAD ", b"GET ", 1))
        assert headers["content-length"] == get_headers["content-length"] == str(len(get_body))
    else:
        assert headers["content-length"] == str(len(body))
        answer = json.loads(body)
        if callable(want):  # a 200: the library's own answer; "result_ids" are the results in order
            library = dict(want(expect))
            if "result_ids" in library:
                assert [r["item_id"] for r in answer.pop("results")] == library.pop("result_ids")
                answer = {key: answer[key] for key in library}
            assert answer == library
        else:
            assert answer == want
    if status == 405:
        assert headers["allow"] == "GET, HEAD"
    assert stderr.read_text() == ""  # no traceback, no log line


def test_table_is_long_enough():
    assert len(TABLE) >= 25


def test_a_slow_client_that_keeps_sending_is_answered(served, expect):
    """The timeout is per read: a request that arrives in pieces, each within it, is answered."""
    port, stderr = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for piece in (b"GET /hea", b"lth HTTP/1.1\r\n", b"Host: shop\r\n", b"\r\n"):
            sock.sendall(piece)
            time.sleep(0.3)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 OK\r\n") and json.loads(body) == expect["health"]
    assert stderr.read_text() == ""


def flood(port: int, idle: int, stalled: int) -> list[tuple[socket.socket, float]]:
    """Open `stalled` connections that send half a request line and stop, then `idle` that send nothing."""
    opened = []
    for n in range(stalled + idle):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if n < stalled:
            sock.sendall(b"GET /also-bought?item=P0")
        opened.append((sock, time.monotonic()))
    return opened


def watch_closing(opened: list[tuple[socket.socket, float]], limit: float) -> list[tuple[bytes, float]]:
    """(what each connection received, seconds from its opening to the server's close), waiting `limit` s."""
    results: list[tuple[bytes, float] | None] = [None] * len(opened)
    data = [b""] * len(opened)
    with selectors.DefaultSelector() as sel:
        for i, (sock, _) in enumerate(opened):
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, i)
        deadline = time.monotonic() + limit
        while sel.get_map() and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.1):
                i = key.data
                try:
                    chunk = opened[i][0].recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    chunk = b""
                data[i] += chunk
                if not chunk:
                    results[i] = (data[i], time.monotonic() - opened[i][1])
                    sel.unregister(opened[i][0])
    return [r if r is not None else (data[i], float("inf")) for i, r in enumerate(results)]


def health(port: int, limit: float) -> tuple[int, float]:
    """Ask /health until it answers 200 or `limit` s pass: (last status, seconds taken)."""
    t0 = time.monotonic()
    while True:
        status, _, body = exchange(port, request("/health"), timeout=limit)
        if status == 200 or time.monotonic() - t0 > limit:
            return status, time.monotonic() - t0
        assert (status, json.loads(body)) == (503, BUSY)
        time.sleep(0.05)


@pytest.mark.parametrize("max_connections", [400, 64], ids=["cap-above-flood", "cap-below-flood"])
def test_idle_and_stalled_connections_do_not_starve_health(model_dir, max_connections):
    timeout, idle, stalled = 0.5, 300, 5
    proc, port, stderr = start(model_dir, "--timeout", str(timeout), "--max-connections", str(max_connections))
    opened: list[tuple[socket.socket, float]] = []
    try:
        t0 = time.monotonic()
        opened = flood(port, idle, stalled)
        open_time = time.monotonic() - t0
        with ThreadPoolExecutor(1) as pool:
            watching = pool.submit(watch_closing, opened, timeout + 3.0)  # meanwhile, ask /health
            status, took = health(port, limit=3.0)
            closed = watching.result(timeout=10)
        assert status == 200
        assert took < (1.0 if max_connections > idle + stalled else 2.0)  # at once; or when the timeout frees a slot
        refused = [after for got, after in closed if got]
        timed_out = [after for got, after in closed if not got]
        assert all(got in (b"", _raw_busy()) for got, _ in closed)  # nothing but EOF or a 503
        assert all(after < open_time + 0.5 for after in refused)  # refused at once
        assert all(timeout * 0.9 <= after < timeout + 1.0 for after in timed_out), sorted(timed_out)  # by the server
        assert all(got == b"" for got, _ in closed[:stalled])  # the stalled ones got a slot, then were closed
        assert len(timed_out) >= min(max_connections, idle + stalled)
        assert len(timed_out) + len(refused) == idle + stalled
        print(f"\ncap {max_connections}: {idle} idle + {stalled} stalled connections opened in {open_time:.2f} s; "
              f"/health 200 after {took:.3f} s; {len(refused)} refused with 503 (at most "
              f"{max(refused, default=0):.3f} s after opening); {len(timed_out)} closed by the server "
              f"{min(timed_out):.3f}-{max(timed_out):.3f} s after opening")
        status, took = health(port, limit=1.0)
        assert status == 200 and took < 0.5
    finally:
        for sock, _ in opened:
            sock.close()
        stop(proc)
    assert stderr.read_text() == ""


def _raw_busy() -> bytes:
    data = json.dumps(BUSY).encode()
    return (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % len(data)) + data


def test_a_bug_is_a_logged_500_without_traceback_to_the_client(model_dir, caplog):
    import importlib.util

    spec = importlib.util.spec_from_file_location("xsell_example_server", SERVER)
    server_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server_mod)

    class Broken(server_mod.Service):
        def answer(self, path, query):
            raise RuntimeError("secret detail")

    server, thread = server_mod.serve_in_thread(Broken(str(model_dir / "m.xsell")), timeout=1.0, max_connections=4)
    try:
        status, headers, body = exchange(server.server_address[1], request("/also-bought?item=a"))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert (status, json.loads(body)) == (500, {"error": "internal error"})
    assert [r.exc_info[0] for r in caplog.records] == [RuntimeError]
