"""The FastAPI app: `create_app(model_path, catalog, rules)` and `run(...)`, what `xsell serve` starts.

Endpoints (GET, query parameters; every answer JSON, described in /docs and /openapi.json):

    /also-bought?item=85123A&k=5                   the model's also_bought
    /recommend?items=85123A&items=71053&k=5        the model's recommend (exclude=, customer=)
    /cross-sell?items=85123A&items=71053&k=5       Engine.cross_sell (customer=, threshold=, business rules)
    /up-sell?item=85123A&k=3                       Engine.up_sell (business rules)
    /health                                        200 while the process runs
    /ready                                         200 once a model serves (what, since when, the last
                                                   failed reload); 503 before

A basket is the parameter repeated (`items=a&items=b`), never split at commas: shop ids may hold commas.
Business rules per request (cross-sell, up-sell): `exclude` and `exclude_category` (repeatable) add to the
rules file's; `in_stock_only`, `min_price`, `max_price`, `max_per_category` and `objective` replace its value
for that request. Errors: FastAPI's 422 for a parameter that is missing or out of its bounds (k in 1..100, at
most 100 items, ids of 1..256 characters, prices >= 0, an objective of the list); 422 {"detail": message} for
a value xsell refuses (min_price above max_price, an up-sell item without a price); 404 {"detail": message}
for an up-sell item the model does not know (also-bought and recommend answer the popular items instead,
with fallback true); 409 for cross-sell or up-sell over a model the engine cannot serve (not a co-occurrence
model); 503 before the first model is loaded.
"""

# no `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at run time, and the
# endpoints are closures over their app's reloader
import copy
import math
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, AsyncIterator, Callable, Optional, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

import xsell
from xsell.data.idmap import MAX_ID_LENGTH
from xsell.engine.engine import Engine
from xsell.engine.rules import BusinessRules
from xsell.errors import InputError
from xsell.models.base import Recommender
from xsell.serve.reloader import FileState, PathArg, Reloader, Served
from xsell.serve.schemas import (AlsoBought, CrossSell, FileInfo, Health, LoadFailure, ModelInfo, Objective,
                                 Problem, Ready, Recommended, UpSell)

T = TypeVar("T")
MAX_K = 100  # suggestions per request
MAX_ITEMS = 100  # items in a basket, ids in an exclude list

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
K = Annotated[int, Query(ge=1, le=MAX_K, description=f"How many suggestions, 1 to {MAX_K}.")]
OneItem = Annotated[str, Query(min_length=1, max_length=MAX_ID_LENGTH, description="An item id.")]
Basket = Annotated[list[Id], Query(min_length=1, max_length=MAX_ITEMS,
                                   description=f"The basket's item ids, the parameter repeated once per item "
                                               f"(items=a&items=b; 1 to {MAX_ITEMS}); ids are never split at "
                                               f"commas. Unknown ids are ignored.")]
Customer = Annotated[Optional[str], Query(min_length=1, max_length=MAX_ID_LENGTH,
                                          description="The shop's customer id (customer-aware models use it).")]
Excluded = Annotated[Optional[list[Id]], Query(max_length=MAX_ITEMS, description="Item ids never to suggest "
                                                                                 "(repeat the parameter).")]

_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": Problem, "description": "No model loaded yet (see /ready)."}}
_ENGINE: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "The served model is not one the engine can serve."}, **_NOT_READY}

DESCRIPTION = """Cross-sell, up-sell and "customers who bought X also bought" from an xsell model file.

The server follows its files: every `reload_interval` seconds it looks at the model, catalog and rules files
and, when one changed, loads the new version aside and swaps it in at once. Requests in flight finish on the
model they started with. A file that fails to load leaves the previous model serving; /ready shows the error.
Replace files by rename (`xsell fit ... -o` and `save_model` do), not by copying over them.

Business rules per request (cross-sell, up-sell): `exclude` and `exclude_category` add to the server's rules
file; the other rule parameters replace its value for the request.
"""


@dataclass(frozen=True)
class RequestRules:
    """The business-rule parameters of one request (None or empty: not given)."""

    exclude: tuple[str, ...] = ()
    exclude_category: tuple[str, ...] = ()
    in_stock_only: Optional[bool] = None
    min_price: Optional[float] = None
    max_price: Optional[float] = None
    max_per_category: Optional[int] = None
    objective: Optional[str] = None

    def over(self, base: BusinessRules) -> Optional[BusinessRules]:
        """The rules of this request over the server's `base`: excludes added to base's, the other values
        replacing base's; None when the request gives none (the engine then uses base, compiled once)."""
        if self == RequestRules():
            return None
        return BusinessRules(
            exclude_items=base.exclude_items | set(self.exclude),
            exclude_categories=base.exclude_categories | set(self.exclude_category),
            allow=base.allow, pin=base.pin, block=base.block,
            in_stock_only=base.in_stock_only if self.in_stock_only is None else self.in_stock_only,
            min_price=base.min_price if self.min_price is None else self.min_price,
            max_price=base.max_price if self.max_price is None else self.max_price,
            max_per_category=base.max_per_category if self.max_per_category is None else self.max_per_category,
            objective=base.objective if self.objective is None else self.objective)


async def request_rules(
    exclude: Excluded = None,
    exclude_category: Annotated[Optional[list[Id]], Query(max_length=MAX_ITEMS, description=(
        "Categories never to suggest from (repeat the parameter); added to the rules file's."))] = None,
    in_stock_only: Annotated[Optional[bool], Query(description=(
        "Leave out items the catalog marks out of stock (default: the rules file's, else true)."))] = None,
    min_price: Annotated[Optional[float], Query(ge=0, allow_inf_nan=False, description=(
        "Suggest nothing cheaper (unit price)."))] = None,
    max_price: Annotated[Optional[float], Query(ge=0, allow_inf_nan=False, description=(
        "Suggest nothing dearer (unit price)."))] = None,
    max_per_category: Annotated[Optional[int], Query(ge=1, le=MAX_K, description=(
        "At most this many suggestions from one category."))] = None,
    objective: Annotated[Optional[Objective], Query(description=(
        "Rank by probability, expected revenue or expected margin (default: the rules file's, else revenue)."))
                         ] = None,
) -> RequestRules:
    # async: read in the event loop, no trip to the thread pool (the endpoints are plain functions)
    return RequestRules(tuple(exclude or ()), tuple(exclude_category or ()), in_stock_only, min_price, max_price,
                        max_per_category, objective)


Rules = Annotated[RequestRules, Depends(request_rules)]


def _utc(seconds: float) -> str:
    """UTC time as ISO 8601 text with microseconds, written here: pydantic's datetime serialisation differs
    between its releases (2.1 drops trailing zeros of the fraction)."""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _file(state: Optional[FileState]) -> Optional[FileInfo]:
    return None if state is None else FileInfo(path=state.path, modified=_utc(state.mtime_ns / 1e9), size=state.size)


def ready_answer(reloader: Reloader) -> Ready:
    """What /ready shows, from one read of the serving state."""
    served, error = reloader.current, reloader.error
    failure = None if error is None else LoadFailure(file=error.file, message=error.message, at=_utc(error.at))
    if served is None:
        return Ready(ready=False, error=failure, reloads=reloader.reloads)
    mf = served.model_file
    model = ModelInfo(path=mf.path, modified=_utc(mf.mtime_ns / 1e9), size=mf.size, type=served.model.model_type,
                      items=served.model.n_items)
    return Ready(ready=True, model=model, catalog=_file(served.catalog_file), rules=_file(served.rules_file),
                 loaded_at=_utc(served.loaded_at), reloads=reloader.reloads, cross_sell=served.engine is not None,
                 error=failure)


def create_app(model_path: PathArg, catalog: Optional[PathArg] = None,
               rules: "PathArg | BusinessRules | None" = None, *, reload_interval: Optional[float] = 2.0,
               threshold: Optional[float] = None, mmap: bool = False) -> FastAPI:
    """A FastAPI app serving the model file at `model_path` (see the module docstring for the endpoints).

    catalog: a catalog file (`xsell.load_catalog`: prices, categories, stock) for cross-sell and up-sell.
    rules: a rules TOML file (`xsell.engine.rules.load_rules`) or a `BusinessRules`: the server's rules.
    reload_interval: seconds between looks at the files (None: load once, never reload). threshold: the
    free-shipping or minimum order value of cross-sell (a request's `threshold` replaces it). mmap: memory-map
    the model file (shared between processes, faster to load; then never rewrite the file in place).

    Nothing is loaded here: the app loads the files in a background thread when it starts (its lifespan),
    answering 503 until the model is in (`/ready`); `app.state.reloader` is the `Reloader`."""
    threshold = _threshold(threshold)
    reloader = Reloader(model_path, catalog, rules, threshold=threshold, interval=reload_interval, mmap=mmap)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reloader.start()
        try:
            yield
        finally:
            reloader.stop()

    app = FastAPI(title="xsell", version=xsell.__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.reloader = reloader
    app.add_exception_handler(InputError, _input_error)

    def current() -> Served:
        """The serving state, read once per request: the whole answer comes from it."""
        served = reloader.current
        if served is None:
            error = reloader.error
            why = f"{error.file}: {error.message}" if error is not None else "loading"
            raise HTTPException(503, f"no model loaded yet ({why})", headers={"Retry-After": "1"})
        return served

    def engine_of(served: Served) -> Engine:
        if served.engine is None:
            raise HTTPException(409, served.engine_off)
        return served.engine

    @app.get("/also-bought", response_model=AlsoBought, responses=_NOT_READY,
             summary="Items most often bought with one item")
    async def also_bought(item: OneItem, k: K = 5) -> dict[str, Any]:
        """`model.also_bought(item, k)`: the k items most often bought with `item`, best first. An item the model
        does not know gets the popular items, with `fallback` true."""
        model = current().model

        def work() -> dict[str, Any]:
            result = model.also_bought(item, k=k)
            return {"item": item, "fallback": result.fallback, "suggestions": result.to_records()}

        return await _answer(model, work)

    @app.get("/recommend", response_model=Recommended, responses=_NOT_READY,
             summary="Items that complete a basket (the model alone, no business rules)")
    async def recommend(items: Basket, k: K = 5, exclude: Excluded = None, customer: Customer = None
                        ) -> dict[str, Any]:
        """`model.recommend(items, k, exclude, customer)`: basket items and `exclude` never come back; unknown ids
        are ignored; a basket with no known item gets the popular items, with `fallback` true."""
        model = current().model

        def work() -> dict[str, Any]:
            result = model.recommend(items, k=k, exclude=exclude or (), customer=customer)
            return {"items": items, "customer": customer, "fallback": result.fallback,
                    "suggestions": result.to_records()}

        return await _answer(model, work)

    # The engine serves co-occurrence models only: its requests take microseconds, answered in the event loop.
    @app.get("/cross-sell", response_model=CrossSell, responses=_ENGINE,
             summary="Complements to add to a basket, priced, with reasons and the business rules")
    async def cross_sell(items: Basket, rules: Rules, k: K = 5, customer: Customer = None,
                         threshold: Annotated[Optional[float], Query(gt=0, allow_inf_nan=False, description=(
                             "Free-shipping or minimum order value for this request (default: the server's)."))
                                              ] = None) -> dict[str, Any]:
        """`Engine.cross_sell(items, k, customer, rules, threshold)`: complements with their probability, price,
        expected revenue and margin and a reason; the basket's value, the gap to the threshold and the expected
        uplift. Business rules: `exclude`, `exclude_category` add to the server's; the others replace its
        values. 422: FastAPI's list for a parameter out of bounds, {"detail": message} for a value xsell
        refuses (e.g. min_price above max_price, the server's included)."""
        served = current()
        result = engine_of(served).cross_sell(items, k=k, customer=customer, rules=rules.over(served.rules),
                                              threshold=threshold)
        return {"items": items, "customer": customer, **result.to_dict()}

    @app.get("/up-sell", response_model=UpSell,
             responses={404: {"model": Problem, "description": "The model does not know the item."}, **_ENGINE},
             summary="Dearer alternatives to an item, with the business rules")
    async def up_sell(item: OneItem, rules: Rules, k: K = 5) -> dict[str, Any]:
        """`Engine.up_sell(item, k, rules)`: dearer substitutes (same category, else family), at most 1.5 times the
        price. 404 for an item the model does not know; 422 {"detail": message} for one xsell cannot up-sell (no
        price, no category or family) and for values it refuses."""
        served = current()
        engine, chosen = engine_of(served), rules.over(served.rules)
        try:
            result = engine.up_sell(item, k=k, rules=chosen)
        except InputError as exc:
            if served.model.items_.index_of(item, "item") < 0:
                raise HTTPException(404, str(exc)) from None
            raise
        return {"item": item, "price": result.basket_value, "suggestions": result.to_records()}

    @app.get("/health", response_model=Health, summary="Liveness: 200 while the process runs")
    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/ready", response_model=Ready, responses={503: {"model": Ready, "description": "No model yet."}},
             summary="Readiness: 200 once a model serves, with what and since when; 503 before")
    async def ready(response: Response) -> Ready:
        answer = ready_answer(reloader)
        if not answer.ready:
            response.status_code = 503
        return answer

    return app


async def _answer(model: Recommender, work: Callable[[], T]) -> T:
    """work(): in the event loop for a model that answers from its neighbour table (tens of µs: the trip to
    FastAPI's thread pool cost more than the request, half the requests/s in benchmarks/serve.py), in the
    thread pool for one that scores every item (dense or customer-aware models: milliseconds on a large
    catalog, which must not hold up the other requests)."""
    if not model.dense_scores and not model.uses_customers:
        return work()
    return await run_in_threadpool(work)


async def _input_error(request: Request, exc: Exception) -> JSONResponse:
    """xsell's InputError from a request: 422 with its message (a bad value xsell refused)."""
    return JSONResponse(status_code=422, content={"detail": str(exc)})


def _threshold(value: Optional[float]) -> Optional[float]:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not math.isfinite(value) or value <= 0):
        raise InputError(f"threshold must be a finite number > 0, got {value!r}")
    return value


def run(model_path: PathArg, *, catalog: Optional[PathArg] = None, rules: "PathArg | BusinessRules | None" = None,
        host: str = "127.0.0.1", port: int = 8000, reload_interval: Optional[float] = 2.0,
        threshold: Optional[float] = None, mmap: bool = False, log_level: str = "info",
        access_log: bool = True) -> None:
    """Serve `create_app(...)` with uvicorn on host:port until Ctrl-C or SIGTERM (what `xsell serve` runs).

    The files are loaded once before the server starts, so a missing or bad file stops here with xsell's
    error (InputError, ModelFileError) instead of a server that never gets ready. port 0: a free port
    (uvicorn's start-up line names it). log_level: uvicorn's and the "xsell" logger's (reloads, load errors).
    access_log: one line per request (uvicorn's)."""
    import uvicorn
    import uvicorn.config

    app = create_app(model_path, catalog, rules, reload_interval=reload_interval, threshold=threshold, mmap=mmap)
    logging = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)  # uvicorn's, with the "xsell" logger beside its own
    logging.setdefault("loggers", {})["xsell"] = {"handlers": ["default"], "level": log_level.upper(),
                                                  "propagate": False}
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=access_log,
                            log_config=logging)  # sets up logging, so the first load below is logged too
    reloader: Reloader = app.state.reloader
    reloader.poll(raise_errors=True)  # fail fast; the lifespan's thread then only follows the files
    uvicorn.Server(config).run()


__all__ = ["MAX_ITEMS", "MAX_K", "RequestRules", "create_app", "ready_answer", "run"]
