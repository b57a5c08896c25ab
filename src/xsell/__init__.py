"""xsell: cross-sell, up-sell and "also bought" recommendations learned from order history.

    import xsell
    orders = xsell.load_orders("orders.csv", columns={"order_id": "InvoiceNo", "item_id": "StockCode"})
    model = xsell.CoOccurrence().fit(orders)
    model.also_bought("85123A", k=5).to_frame()
    model.recommend(["85123A", "71053"], k=5)
    xsell.save_model(model, "model.xsell"); xsell.load_model("model.xsell")

Names are imported on first use, so `import xsell` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xsell.models.registry import MODELS as _MODELS

__version__ = "0.1.0"

_EXPORTS = {
    # every registered model class (xsell.models.registry), e.g. "CoOccurrence": "xsell.models.cooccurrence"
    **{entry.path.split(":")[1]: entry.path.split(":")[0] for entry in _MODELS.values()},
    "load_orders": "xsell.data.orders",
    "Orders": "xsell.data.orders",
    "LoadReport": "xsell.data.orders",
    "IdMap": "xsell.data.idmap",
    "MAX_ID_LENGTH": "xsell.data.idmap",
    "PairCounts": "xsell.mining.pairs",
    "count_pairs": "xsell.mining.pairs",
    "Engine": "xsell.engine",
    "BusinessRules": "xsell.engine",
    "Catalog": "xsell.engine",
    "Suggestions": "xsell.engine",
    "load_catalog": "xsell.engine",
    "load_rules": "xsell.engine.rules",
    "mine_rules": "xsell.mining.rules",
    "diff": "xsell.monitor.diff",
    "diff_rules": "xsell.monitor.diff",
    "diff_upsell": "xsell.monitor.diff",
    "ModelDiff": "xsell.monitor.diff",
    "frequent_itemsets": "xsell.mining.rules",
    "Recommendations": "xsell.models.base",
    "Recommender": "xsell.models.base",
    "save_model": "xsell.io",
    "load_model": "xsell.io",
    "inspect_model": "xsell.io",
    "XsellError": "xsell.errors",
    "InputError": "xsell.errors",
    "ModelFileError": "xsell.errors",
    "NotFittedError": "xsell.errors",
    "datasets": "xsell",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from xsell import datasets as datasets
    from xsell.data.idmap import MAX_ID_LENGTH as MAX_ID_LENGTH, IdMap as IdMap
    from xsell.data.orders import LoadReport as LoadReport, Orders as Orders, load_orders as load_orders
    from xsell.errors import InputError as InputError, ModelFileError as ModelFileError
    from xsell.errors import NotFittedError as NotFittedError, XsellError as XsellError
    from xsell.io import inspect_model as inspect_model, load_model as load_model, save_model as save_model
    from xsell.mining.rules import frequent_itemsets as frequent_itemsets, mine_rules as mine_rules
    from xsell.models.association import AssociationRules as AssociationRules
    from xsell.models.dense import EASE as EASE, Popular as Popular
    from xsell.models.cf import ALS as ALS, BPR as BPR, ItemKNN as ItemKNN
    from xsell.models.hybrid import Hybrid as Hybrid
    from xsell.engine import BusinessRules as BusinessRules, Catalog as Catalog, Engine as Engine
    from xsell.engine import Suggestions as Suggestions, load_catalog as load_catalog
    from xsell.engine.rules import load_rules as load_rules
    from xsell.models.base import Recommendations as Recommendations, Recommender as Recommender
    from xsell.models.cooccurrence import CoOccurrence as CoOccurrence
    from xsell.mining.pairs import PairCounts as PairCounts, count_pairs as count_pairs
    from xsell.monitor.diff import ModelDiff as ModelDiff, diff as diff, diff_rules as diff_rules
    from xsell.monitor.diff import diff_upsell as diff_upsell


def __getattr__(name: str) -> Any:
    import importlib

    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'xsell' has no attribute {name!r}")
    if name == "datasets":
        return importlib.import_module("xsell.datasets")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
