"""xsell.serve against a real uvicorn on loopback: every endpoint answers what the library answers for the
same request, each business rule changes the answer as it does in the library, bad requests get their exact
status and body, /ready follows the loading, and the files are reloaded under load without a failed request."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, get_args

import httpx
import pandas as pd
import pytest
import uvicorn

import xsell
from xsell.engine.rules import OBJECTIVES, BusinessRules, load_rules
from xsell.serve import create_app
from xsell.serve.schemas import Objective
from tests.conftest import shop_catalog_frame

NO_CATEGORY = "P119-P"  # left out of the served catalog: no category or family, so no up-sell
ROOT = Path(__file__).resolve().parents[1]


class Running:
    """An app served by uvicorn in a thread on a free loopback port, with an httpx client on it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        wait_until(lambda: self.server.started, "uvicorn started")
        self.client = httpx.Client(base_url=self.base, timeout=10)
        return self.client

    def __exit__(self, *exc: Any) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive()


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"waited {timeout} s for {what}")


def ready(client: httpx.Client) -> dict[str, Any]:
    answer = wait_until(lambda: (r := client.get("/ready")).status_code == 200 and r.json(), "/ready 200")
    assert isinstance(answer, dict)
    return answer


def replace(path: Path, write: Callable[[Path], Any]) -> None:
    """Write a file beside `path` and rename it into place, as the server's docs ask."""
    tmp = path.with_name(f".{path.name}.new{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def basket_item(shop) -> str:
    return shop.truth.complements[0][0]


@pytest.fixture(scope="module")
def catalog_frame(shop, shop_model, basket_item) -> pd.DataFrame:
    """The shop's catalog (costs, families) with the top cross-sell of `basket_item` out of stock and
    NO_CATEGORY left out."""
    frame = shop_catalog_frame(shop)
    top = xsell.Engine(shop_model, xsell.load_catalog(frame)).cross_sell([basket_item], k=5).items[0]
    frame.loc[frame["item_id"] == top, "in_stock"] = False
    return frame[frame["item_id"] != NO_CATEGORY].reset_index(drop=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory, shop_model, catalog_frame) -> Path:
    folder = tmp_path_factory.mktemp("serve")
    xsell.save_model(shop_model, folder / "m.xsell")
    catalog_frame.to_csv(folder / "catalog.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def engine(shop_model, files) -> xsell.Engine:
    """The library's engine over the files the server serves."""
    return xsell.Engine(shop_model, xsell.load_catalog(files / "catalog.csv"))


@pytest.fixture(scope="module")
def client(files):
    with Running(create_app(files / "m.xsell", files / "catalog.csv", reload_interval=0.1)) as client:
        ready(client)
        yield client


@pytest.fixture(scope="module")
def baskets(shop) -> list[list[str]]:
    """Real orders of the shop (their distinct items), the single items first."""
    orders = shop.orders
    grouped = pd.Series(orders.items.ids[orders.item_index]).groupby(orders.order_index).unique()
    multi = [v.tolist() for v in grouped.iloc[:400] if len(v) >= 2]
    return [[i] for i in orders.items.ids[:60].tolist()] + multi


def get(client: httpx.Client, path: str, **params: Any) -> tuple[int, Any]:
    response = client.get(path, params=params)
    return response.status_code, response.json()


# -- every endpoint equals the library -----------------------------------------------------------------
def test_also_bought_is_the_models_answer(client, shop_model, basket_item):
    for item, k in ((basket_item, 5), ("P003-S", 1), ("P003-S", 100), ("nope", 3)):
        result = shop_model.also_bought(item, k=k)
        assert get(client, "/also-bought", item=item, k=k) == (
            200, {"item": item, "fallback": result.fallback, "suggestions": result.to_records()})
    assert get(client, "/also-bought", item="nope")[1]["fallback"] is True
    assert len(get(client, "/also-bought", item=basket_item)[1]["suggestions"]) == 5  # k defaults to 5


def test_recommend_is_the_models_answer(client, shop_model, baskets):
    for basket in baskets[60:70] + [["nope"], ["nope", baskets[0][0]]]:
        result = shop_model.recommend(basket, k=4)
        assert get(client, "/recommend", items=basket, k=4) == (
            200, {"items": basket, "customer": None, "fallback": result.fallback, "suggestions": result.to_records()})
    basket = baskets[60]
    top = shop_model.recommend(basket, k=3).items
    excluded = shop_model.recommend(basket, k=3, exclude=top[:2])
    assert excluded.items[0] == top[2]
    assert get(client, "/recommend", items=basket, k=3, exclude=top[:2])[1]["suggestions"] == excluded.to_records()


def test_cross_sell_is_the_engines_answer(client, engine, baskets):
    for basket in baskets[:5] + baskets[60:75]:
        expected = {"items": basket, "customer": None, **engine.cross_sell(basket, k=5).to_dict()}
        assert get(client, "/cross-sell", items=basket) == (200, expected)
    basket = baskets[61]
    threshold = round(engine.cross_sell(basket).basket_value) + 5.0
    with_threshold = engine.cross_sell(basket, k=3, threshold=threshold, customer="C00001")
    assert with_threshold.gap > 0 and with_threshold.to_records()[0]["closes_gap"] is True
    assert get(client, "/cross-sell", items=basket, k=3, threshold=threshold, customer="C00001") == (
        200, {"items": basket, "customer": "C00001", **with_threshold.to_dict()})


def test_up_sell_is_the_engines_answer(client, engine, shop):
    for item in ("P000-B", "P001-S", "P010-B", "P033-B"):
        result = engine.up_sell(item, k=3)
        assert len(result) > 0
        assert get(client, "/up-sell", item=item, k=3) == (
            200, {"item": item, "price": result.basket_value, "suggestions": result.to_records()})


# -- business rules per request --------------------------------------------------------------------
def _category(frame: pd.DataFrame, item: str) -> str:
    return str(frame.loc[frame["item_id"] == item, "category"].iloc[0])


# name -> (query parameters, BusinessRules) made from the default answer's suggestions (records)
RULES: dict[str, Callable[[list[dict[str, Any]], pd.DataFrame], tuple[dict[str, Any], BusinessRules]]] = {
    "exclude": lambda s, f: ({"exclude": [s[0]["item_id"]]}, BusinessRules(exclude_items=[s[0]["item_id"]])),
    "exclude_category": lambda s, f: ({"exclude_category": [_category(f, s[0]["item_id"])]},
                                      BusinessRules(exclude_categories=[_category(f, s[0]["item_id"])])),
    "in_stock_only": lambda s, f: ({"in_stock_only": "false"}, BusinessRules(in_stock_only=False)),
    "min_price": lambda s, f: ({"min_price": min(r["price"] for r in s) + 0.01},
                               BusinessRules(min_price=min(r["price"] for r in s) + 0.01)),
    "max_price": lambda s, f: ({"max_price": max(r["price"] for r in s) - 0.01},
                               BusinessRules(max_price=max(r["price"] for r in s) - 0.01)),
    "max_per_category": lambda s, f: ({"max_per_category": 1}, BusinessRules(max_per_category=1)),
    "objective=probability": lambda s, f: ({"objective": "probability"}, BusinessRules(objective="probability")),
    "objective=margin": lambda s, f: ({"objective": "margin"}, BusinessRules(objective="margin")),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_changes_the_cross_sell_as_the_library_does(client, engine, catalog_frame, baskets, rule):
    """The first basket whose answer the rule changes in the library gets the library's answer over HTTP."""
    for basket in baskets:
        default = engine.cross_sell(basket, k=5)
        if len(default) < 2:
            continue
        params, rules = RULES[rule](default.to_records(), catalog_frame)
        expected = engine.cross_sell(basket, k=5, rules=rules)
        if expected.to_dict() != default.to_dict():
            break
    else:
        pytest.fail(f"{rule} changes no basket's cross-sell")
    assert get(client, "/cross-sell", items=basket, **params) == (
        200, {"items": basket, "customer": None, **expected.to_dict()})
    assert get(client, "/cross-sell", items=basket)[1]["suggestions"] == default.to_records()


@pytest.mark.parametrize("rule", ["exclude", "exclude_category", "min_price", "max_price", "objective=probability"])
def test_each_rule_changes_the_up_sell_as_the_library_does(client, engine, catalog_frame, shop, rule):
    for item in catalog_frame["item_id"]:
        default = engine.up_sell(item, k=5)
        if len(default) < 2:
            continue
        params, rules = RULES[rule](default.to_records(), catalog_frame)
        expected = engine.up_sell(item, k=5, rules=rules)
        if expected.to_records() != default.to_records():
            break
    else:
        pytest.fail(f"{rule} changes no up-sell")
    assert get(client, "/up-sell", item=item, **params) == (
        200, {"item": item, "price": expected.basket_value, "suggestions": expected.to_records()})


def test_a_rules_file_combines_with_the_requests_rules(tmp_path, shop_model, files, engine, basket_item, baskets):
    top = engine.cross_sell([basket_item], k=5, rules=BusinessRules(in_stock_only=False)).items
    path = tmp_path / "rules.toml"
    path.write_text(f'exclude_items = ["{top[0]}"]\nin_stock_only = false\nobjective = "margin"\nmax_price = 40\n')
    base = load_rules(path)
    assert base == BusinessRules(exclude_items=[top[0]], in_stock_only=False, objective="margin", max_price=40)
    library = xsell.Engine(shop_model, xsell.load_catalog(files / "catalog.csv"), base)
    cases = [  # request parameters -> the rules the library is asked with
        ({}, base),
        ({"exclude": top[1]}, BusinessRules(exclude_items=top[:2], in_stock_only=False, objective="margin",
                                            max_price=40)),  # excludes add up
        ({"objective": "probability", "in_stock_only": "true", "max_price": 15},
         BusinessRules(exclude_items=[top[0]], objective="probability", max_price=15)),  # the others replace
    ]
    app = create_app(files / "m.xsell", files / "catalog.csv", path, reload_interval=0.1)
    with Running(app) as client:
        status = ready(client)
        assert status["rules"] == {"path": str(path), "modified": status["rules"]["modified"],
                                   "size": path.stat().st_size}
        answers = []
        for params, rules in cases:
            expected = library.cross_sell([basket_item], k=5, rules=rules)
            assert get(client, "/cross-sell", items=[basket_item], **params) == (
                200, {"items": [basket_item], "customer": None, **expected.to_dict()})
            answers.append(expected.to_dict())
        assert answers[0] != answers[1] != answers[2]
        assert get(client, "/cross-sell", items=[basket_item], min_price=50) == (
            422, {"detail": "min_price 50.0 is above max_price 40.0"})  # a request's band against the file's


# -- errors --------------------------------------------------------------------------------------
def _problem(client: httpx.Client, path: str, **params: Any) -> tuple[int, list[tuple[Any, ...]]]:
    """FastAPI's validation answer as (status, [(type, loc, input)])."""
    status, body = get(client, path, **params)
    return status, [(e["type"], tuple(e["loc"]), e.get("input")) for e in body["detail"]]


def test_bad_parameters_get_fastapis_422(client, basket_item):
    long_id = "x" * 257
    assert _problem(client, "/also-bought", item=basket_item, k=0) == (422, [("greater_than_equal", ("query", "k"), "0")])
    assert _problem(client, "/also-bought", item=basket_item, k=101) == (422, [("less_than_equal", ("query", "k"), "101")])
    assert _problem(client, "/also-bought", item=basket_item, k="²") == (422, [("int_parsing", ("query", "k"), "²")])
    assert _problem(client, "/also-bought") == (422, [("missing", ("query", "item"), None)])
    assert _problem(client, "/also-bought", item="") == (422, [("string_too_short", ("query", "item"), "")])
    assert _problem(client, "/up-sell", item=long_id) == (422, [("string_too_long", ("query", "item"), long_id)])
    assert _problem(client, "/cross-sell") == (422, [("missing", ("query", "items"), None)])
    assert _problem(client, "/recommend") == (422, [("missing", ("query", "items"), None)])
    many = [f"i{n}" for n in range(101)]
    assert _problem(client, "/cross-sell", items=many) == (422, [("too_long", ("query", "items"), many)])
    assert _problem(client, "/cross-sell", items=[basket_item, long_id]) == (
        422, [("string_too_long", ("query", "items", 1), long_id)])
    assert _problem(client, "/cross-sell", items=basket_item, objective="price") == (
        422, [("literal_error", ("query", "objective"), "price")])
    assert _problem(client, "/up-sell", item=basket_item, min_price=-1) == (
        422, [("greater_than_equal", ("query", "min_price"), "-1")])
    assert _problem(client, "/cross-sell", items=basket_item, max_price="nan") == (
        422, [("finite_number", ("query", "max_price"), "nan")])
    assert _problem(client, "/cross-sell", items=basket_item, threshold=0) == (
        422, [("greater_than", ("query", "threshold"), "0")])
    assert _problem(client, "/cross-sell", items=basket_item, in_stock_only="maybe") == (
        422, [("bool_parsing", ("query", "in_stock_only"), "maybe")])
    assert _problem(client, "/cross-sell", items=basket_item, max_per_category=0) == (
        422, [("greater_than_equal", ("query", "max_per_category"), "0")])


def test_values_xsell_refuses_get_422_with_its_message_and_unknown_items_404(client, engine, basket_item):
    assert get(client, "/cross-sell", items=basket_item, min_price=30, max_price=10) == (
        422, {"detail": "min_price 30.0 is above max_price 10.0"})
    with pytest.raises(xsell.InputError) as refused:
        engine.up_sell(NO_CATEGORY, k=3)
    assert get(client, "/up-sell", item=NO_CATEGORY) == (422, {"detail": str(refused.value)})
    assert str(refused.value).startswith(f"item '{NO_CATEGORY}' has no category or product family in the catalog")
    assert get(client, "/up-sell", item="nope") == (
        404, {"detail": "unknown item 'nope': the model was not trained on it"})
    assert get(client, "/no-such-endpoint") == (404, {"detail": "Not Found"})
    assert client.post("/cross-sell", params={"items": basket_item}).status_code == 405


def test_health_and_ready(client, files, shop_model):
    assert get(client, "/health") == (200, {"status": "ok"})
    status, body = get(client, "/ready")
    model_stat, catalog_stat = (files / "m.xsell").stat(), (files / "catalog.csv").stat()
    assert status == 200
    assert body == {
        "ready": True, "cross_sell": True, "reloads": 0, "error": None, "rules": None,
        "model": {"path": str(files / "m.xsell"), "size": model_stat.st_size, "type": "cooccurrence",
                  "items": shop_model.n_items, "modified": _iso(model_stat.st_mtime_ns)},
        "catalog": {"path": str(files / "catalog.csv"), "size": catalog_stat.st_size,
                    "modified": _iso(catalog_stat.st_mtime_ns)},
        "loaded_at": body["loaded_at"]}
    assert time.time() - 600 < datetime.fromisoformat(body["loaded_at"].replace("Z", "+00:00")).timestamp() <= time.time()


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def test_ready_is_503_until_the_model_file_arrives(tmp_path, shop_model, basket_item):
    path = tmp_path / "later.xsell"
    with Running(create_app(path, reload_interval=0.1)) as client:
        assert get(client, "/health") == (200, {"status": "ok"})
        missing = {"file": str(path), "message": f"model file not found: {path}"}
        status, body = wait_until(lambda: (r := get(client, "/ready"))[1]["error"] and r, "the first load attempt")
        assert status == 503
        assert body == {"ready": False, "model": None, "catalog": None, "rules": None, "loaded_at": None,
                        "reloads": 0, "cross_sell": False, "error": {**missing, "at": body["error"]["at"]}}
        response = client.get("/also-bought", params={"item": basket_item})
        assert (response.status_code, response.json(), response.headers["retry-after"]) == (
            503, {"detail": f"no model loaded yet ({path}: model file not found: {path})"}, "1")
        xsell.save_model(shop_model, path)
        assert ready(client)["model"]["items"] == shop_model.n_items
        assert get(client, "/also-bought", item=basket_item) == (
            200, {"item": basket_item, "fallback": False,
                  "suggestions": shop_model.also_bought(basket_item, k=5).to_records()})


def test_a_model_the_engine_cannot_serve_answers_recommend_and_409(tmp_path, shop):
    model = xsell.ItemKNN(K=10, num_threads=1).fit(shop.orders)
    xsell.save_model(model, tmp_path / "knn.xsell")
    basket = ["P000-B", "P001-B"]
    customer = next(str(c) for c in shop.orders.customers.ids  # the first whose history changes the answer
                    if model.recommend(basket, k=5, customer=str(c)).items != model.recommend(basket, k=5).items)
    with Running(create_app(tmp_path / "knn.xsell", reload_interval=None)) as client:
        assert ready(client)["cross_sell"] is False
        for who in (customer, None):
            result = model.recommend(basket, k=5, customer=who)
            params = {"items": basket} if who is None else {"items": basket, "customer": who}
            assert get(client, "/recommend", **params) == (
                200, {"items": basket, "customer": who, "fallback": False, "suggestions": result.to_records()})
        off = (f"cross-sell and up-sell need a cooccurrence model (the engine's probabilities and reasons come from "
               f"its co-purchase counts); {tmp_path / 'knn.xsell'} holds a itemknn model")
        assert get(client, "/cross-sell", items=basket) == (409, {"detail": off})
        assert get(client, "/up-sell", item="P000-B") == (409, {"detail": off})


def test_the_openapi_schema_lists_the_endpoints_and_the_objectives(client):
    assert get_args(Objective) == OBJECTIVES
    schema = client.get("/openapi.json").json()
    assert sorted(schema["paths"]) == ["/also-bought", "/cross-sell", "/health", "/ready", "/recommend", "/up-sell"]
    params = {p["name"]: p for p in schema["paths"]["/cross-sell"]["get"]["parameters"]}
    assert sorted(params) == ["customer", "exclude", "exclude_category", "in_stock_only", "items", "k",
                              "max_per_category", "max_price", "min_price", "objective", "threshold"]
    objective = params["objective"]["schema"]["anyOf"][0]
    assert objective["enum"] == ["probability", "revenue", "margin"]
    k = params["k"]["schema"]
    assert (k["type"], k["minimum"], k["maximum"], k["default"]) == ("integer", 1, 100, 5)
    items = params["items"]["schema"]
    assert (items["type"], items["minItems"], items["maxItems"], items["items"]["maxLength"]) == ("array", 1, 100, 256)
    answer = schema["paths"]["/cross-sell"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/CrossSell"}
    assert sorted(schema["components"]["schemas"]["Suggestion"]["properties"]) == [
        "closes_gap", "expected_margin", "expected_revenue", "item_id", "pinned", "price", "probability", "reason"]
    assert sorted(schema["paths"]["/up-sell"]["get"]["responses"]) == ["200", "404", "409", "422", "503"]
    validation = schema["paths"]["/up-sell"]["get"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert validation == {"$ref": "#/components/schemas/HTTPValidationError"}
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text


# -- hot reload ------------------------------------------------------------------------------------
def test_a_new_model_is_swapped_in_under_load_and_a_corrupt_one_is_refused(tmp_path, shop, shop_model, basket_item):
    path = tmp_path / "m.xsell"
    xsell.save_model(shop_model, path)
    other = xsell.CoOccurrence(alpha=1.0, shrinkage=0.0).fit(shop.orders)
    answers = {"old": shop_model.also_bought(basket_item, k=5).to_records(),
               "new": other.also_bought(basket_item, k=5).to_records()}
    assert answers["old"] != answers["new"]
    names = {repr(v): name for name, v in answers.items()}
    stop = threading.Event()
    seen: list[list[tuple[float, int, str]]] = [[] for _ in range(4)]

    with Running(create_app(path, reload_interval=0.1)) as client:
        ready(client)

        def send(log: list[tuple[float, int, str]]) -> None:
            with httpx.Client(base_url=client.base_url, timeout=10) as own:
                while not stop.is_set():
                    response = own.get("/also-bought", params={"item": basket_item})
                    body = response.json()["suggestions"] if response.status_code == 200 else response.text
                    log.append((time.monotonic(), response.status_code, names.get(repr(body), repr(body))))

        threads = [threading.Thread(target=send, args=(log,)) for log in seen]
        try:
            for thread in threads:
                thread.start()
            time.sleep(0.4)
            swapped_at = time.monotonic()
            xsell.save_model(other, path)  # written beside it and renamed into place
            wait_until(lambda: get(client, "/also-bought", item=basket_item)[1]["suggestions"] == answers["new"],
                       "the new model")
            time.sleep(0.3)
            corrupt_at = time.monotonic()
            replace(path, lambda tmp: tmp.write_bytes(b"PK\x03\x04 not a model at all"))
            status = wait_until(lambda: (r := get(client, "/ready")[1])["error"] and r, "the corrupt file's error")
            time.sleep(0.3)
        finally:
            stop.set()
            for thread in threads:
                thread.join(10)
        with pytest.raises(xsell.ModelFileError) as refused:
            xsell.load_model(path)
        assert status["ready"] is True and status["reloads"] == 1
        assert status["error"] == {"file": str(path), "message": str(refused.value), "at": status["error"]["at"]}
        assert get(client, "/also-bought", item=basket_item)[1]["suggestions"] == answers["new"]

        replace(path, lambda tmp: xsell.save_model(shop_model, tmp))  # a good file again: served, error cleared
        wait_until(lambda: get(client, "/also-bought", item=basket_item)[1]["suggestions"] == answers["old"],
                   "the old model back")
        assert {k: v for k, v in get(client, "/ready")[1].items() if k in ("reloads", "error")} == {
            "reloads": 2, "error": None}

    for log in seen:
        assert len(log) > 20
        assert {status for _, status, _ in log} == {200}, [e for e in log if e[1] != 200][:3]
        order = [name for _, _, name in log]
        assert set(order) == {"old", "new"}
        first_new = order.index("new")
        assert order[first_new:] == ["new"] * (len(order) - first_new)  # never back to the old model
        assert log[first_new][0] - swapped_at < 2.0  # within a few reload intervals (and the load)
        assert any(t > corrupt_at for t, _, _ in log)  # served on while the corrupt file was refused


def test_catalog_and_rules_files_are_reloaded(tmp_path, shop_model, catalog_frame, basket_item):
    model, catalog, rules = tmp_path / "m.xsell", tmp_path / "catalog.csv", tmp_path / "rules.toml"
    xsell.save_model(shop_model, model)
    catalog_frame.to_csv(catalog, index=False)
    rules.write_text("max_per_category = 2\n")
    library = xsell.Engine(shop_model, xsell.load_catalog(catalog), BusinessRules(max_per_category=2))
    before = library.cross_sell([basket_item], k=5)
    with Running(create_app(model, catalog, rules, reload_interval=0.1)) as client:
        ready(client)

        def answer() -> Any:
            return get(client, "/cross-sell", items=basket_item)[1]

        assert answer() == {"items": [basket_item], "customer": None, **before.to_dict()}
        out = catalog_frame.copy()
        out.loc[out["item_id"] == before.items[0], "in_stock"] = False
        replace(catalog, lambda tmp: out.to_csv(tmp, index=False))
        library.set_catalog(xsell.load_catalog(catalog))
        after = library.cross_sell([basket_item], k=5)
        assert after.items[0] != before.items[0]
        wait_until(lambda: answer()["suggestions"] == after.to_records(), "the new catalog")

        replace(rules, lambda tmp: tmp.write_text(f'max_per_category = 2\nexclude_items = ["{after.items[0]}"]\n'))
        excluded = library.cross_sell([basket_item], k=5, rules=BusinessRules(max_per_category=2,
                                                                              exclude_items=[after.items[0]]))
        wait_until(lambda: answer()["suggestions"] == excluded.to_records(), "the new rules")

        replace(rules, lambda tmp: tmp.write_text("max_per_category = 2\nexclude = []\n"))
        with pytest.raises(xsell.InputError) as refused:
            load_rules(rules)
        status = wait_until(lambda: (r := get(client, "/ready")[1])["error"] and r, "the bad rules file's error")
        assert status["error"] == {"file": str(rules), "message": str(refused.value), "at": status["error"]["at"]}
        assert answer()["suggestions"] == excluded.to_records()  # the previous rules still serve
        assert status["reloads"] == 2


def test_rules_naming_items_the_new_model_lacks_keep_the_old_model(tmp_path, shop, shop_model, basket_item):
    model, rules = tmp_path / "m.xsell", tmp_path / "rules.toml"
    xsell.save_model(shop_model, model)
    rules.write_text('pin = [["P000-B", "P001-B"]]\n')
    fewer = xsell.CoOccurrence().fit(xsell.load_orders(shop.orders.to_frame().query("item_id != 'P001-B'")))
    with Running(create_app(model, rules=rules, reload_interval=0.1)) as client:
        ready(client)
        replace(model, lambda tmp: xsell.save_model(fewer, tmp))
        status = wait_until(lambda: (r := get(client, "/ready")[1])["error"] and r, "the rules' error")
        assert status["error"]["file"] == str(rules)
        assert status["error"]["message"] == "business rules name items the model does not know: pin 'P001-B'"
        assert status["model"]["items"] == shop_model.n_items  # the old model serves on


def test_the_reloader_thread_stops_with_the_app(files):
    app = create_app(files / "m.xsell", reload_interval=0.1)
    with Running(app) as client:
        ready(client)
        thread = app.state.reloader._thread
        assert thread is not None and thread.is_alive()
    assert not thread.is_alive() and app.state.reloader._thread is None


def test_create_app_refuses_bad_settings(files):
    with pytest.raises(xsell.InputError, match=r"^reload_interval must be a number of seconds > 0 \(or None: "
                                               r"never reload\), got 0$"):
        create_app(files / "m.xsell", reload_interval=0)
    with pytest.raises(xsell.InputError, match=r"^threshold must be a finite number > 0, got -5$"):
        create_app(files / "m.xsell", threshold=-5)


# -- run() and the optional extra ------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_in_a_process(argv: list[str], port: int, item: str, expected: list, what: str) -> tuple[int, str]:
    """Start ``argv`` (a server on ``port``), wait until /ready answers, check /also-bought for ``item`` against
    ``expected``, send SIGTERM and return (exit code, stderr)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            def answered() -> Any:
                try:
                    return client.get("/ready").status_code == 200
                except httpx.TransportError:
                    return proc.poll() is not None and pytest.fail(proc.stderr.read() if proc.stderr else "")
            wait_until(answered, what, timeout=60)
            assert get(client, "/also-bought", item=item, k=len(expected))[1]["suggestions"] == expected
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    return proc.returncode, stderr


def test_run_serves_until_sigterm_and_logs_the_load(files, basket_item, shop_model):
    port = free_port()
    code = (f"from xsell.serve import run; run({str(files / 'm.xsell')!r}, catalog={str(files / 'catalog.csv')!r}, "
            f"port={port}, reload_interval=0.1, access_log=False)")
    returncode, stderr = serve_in_a_process([sys.executable, "-c", code], port, basket_item,
                                            shop_model.also_bought(basket_item, k=2).to_records(), "run() to serve")
    assert returncode in (0, -signal.SIGTERM), stderr  # uvicorn >= 0.29 re-raises the signal once shut down
    assert "Application shutdown complete." in stderr
    assert f"loaded {files / 'm.xsell'}: cooccurrence model, 360 items; catalog {files / 'catalog.csv'}" in stderr
    assert "Uvicorn running on" in stderr and "Traceback" not in stderr


def test_run_refuses_a_bad_model_file_before_serving(tmp_path):
    (tmp_path / "bad.xsell").write_bytes(b"not a zip")
    from xsell.serve import run

    with pytest.raises(xsell.ModelFileError, match="bad.xsell"):
        run(tmp_path / "bad.xsell", port=0)
    with pytest.raises(xsell.InputError, match=f"^model file not found: {tmp_path / 'none.xsell'}$"):
        run(tmp_path / "none.xsell", port=0)


def test_import_xsell_never_imports_fastapi_and_serve_says_which_extra():
    code = ("import sys, xsell; xsell.Engine; xsell.load_model; xsell.BusinessRules; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'pydantic', 'starlette') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr
    code = ("import sys; sys.modules['fastapi'] = None\n"
            "try:\n    import xsell.serve\n"
            "except ImportError as exc:\n"
            "    import xsell; print(type(exc).__name__, isinstance(exc, xsell.InputError), exc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (
        0, "MissingExtraError True xsell serve needs fastapi: pip install 'xsell[serve]'\n"), done.stderr


def test_the_cli_serves_until_sigterm_and_names_a_missing_model_in_one_line(files, basket_item, shop_model, tmp_path):
    port = free_port()
    cli = [sys.executable, "-c", "from xsell.cli import main; main()", "serve"]
    argv = [*cli, str(files / "m.xsell"), "--catalog", str(files / "catalog.csv"), "--port", str(port),
            "--no-access-log"]
    returncode, stderr = serve_in_a_process(argv, port, basket_item,
                                            shop_model.also_bought(basket_item, k=3).to_records(),
                                            "xsell serve to serve")
    # uvicorn shuts down, then re-raises SIGTERM: the CLI's usual "stopped by a signal" exit (128 + 15)
    assert returncode in (0, 143), stderr
    assert "Application shutdown complete." in stderr and "Traceback" not in stderr
    done = subprocess.run([*cli, str(tmp_path / "none.xsell")], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (1, f"error: model file not found: {tmp_path / 'none.xsell'}\n")


def test_times_in_answers_always_carry_six_fraction_digits():
    """Times are written by xsell, not by pydantic (2.1 wrote 04:17:46.113Z for .113000): the same text under every
    supported release, also for a whole millisecond or a whole second."""
    from xsell.serve.app import _utc
    from xsell.serve.schemas import FileInfo

    for seconds, text in [(1764649066.113, "2025-12-02T04:17:46.113000Z"), (1764649066.0, "2025-12-02T04:17:46.000000Z")]:
        assert json.loads(FileInfo(path="p", modified=_utc(seconds), size=1).model_dump_json())["modified"] == text
