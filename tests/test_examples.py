"""Every script in examples/ runs and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_quickstart_runs():
    result = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "customers also bought" in result.stdout
    lines = result.stdout.splitlines()
    batch_header = [i for i, line in enumerate(lines) if line.split()[:4] == ["basket_id", "rank", "item_id", "score"]]
    assert batch_header, result.stdout
    batch_rows = [line.split()[0] for line in lines[batch_header[0] + 1:]]
    assert batch_rows == ["cart-1"] * 3 + ["cart-2"] * 3


def test_web_endpoint_answers_on_loopback(tmp_path, shop, shop_model):
    import importlib.util
    import json
    import urllib.error
    import urllib.request

    import xsell

    spec = importlib.util.spec_from_file_location("xsell_example_server", EXAMPLES / "server.py")
    server_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server_mod)
    model_path = xsell.save_model(shop_model, tmp_path / "m.xsell")
    shop.catalog.to_csv(tmp_path / "catalog.csv", index=False)
    server, thread = server_mod.serve_in_thread(server_mod.Service(str(model_path), str(tmp_path / "catalog.csv")))
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def get(path):
        try:
            with urllib.request.urlopen(base + path, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    try:
        a, b = shop.truth.complements[0]
        status, body = get(f"/also-bought?item={a}&k=3")
        assert status == 200 and [r["item_id"] for r in body["results"]] == shop_model.also_bought(a, k=3).items
        status, body = get(f"/cross-sell?items={a}&k=3")
        engine = xsell.Engine(shop_model, xsell.load_catalog(tmp_path / "catalog.csv"))
        expected = engine.cross_sell([a], k=3)
        assert status == 200 and [r["item_id"] for r in body["results"]] == expected.items
        assert body["results"][0]["reason"] == expected.to_frame()["reason"].iloc[0]
        status, body = get(f"/up-sell?item={a}&k=2")
        assert status == 200 and [r["item_id"] for r in body["results"]] == engine.up_sell(a, k=2).items
        assert get("/cross-sell?k=3") == (400, {"error": "missing parameter 'items'"})
        assert get("/up-sell?item=nope") == (400, {"error": "unknown item 'nope': the model was not trained on it"})
        assert get("/also-bought?item=a&k=0") == (400, {"error": "k must be a whole number from 1 to 100"})
        assert get("/nowhere")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
