"""Every model xsell knows, once: name -> class, read by `xsell.io`, `xsell.__init__`, the evaluation,
the CLI's `fit` and `evaluate`, and the tests (the contract suite runs every entry).

A name is the model's `model_type`, the string its model file carries. Adding a model is one line
here (see README, "How to add a model"); classes are imported on first use, so `import xsell`
stays fast.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple


if TYPE_CHECKING:
    from xsell.models.base import Recommender


_NONE: Mapping[str, Any] = MappingProxyType({})


class ModelEntry(NamedTuple):  # a NamedTuple, not a dataclass: `import xsell` reads this module, keep it light
    """One registered model.

    name: its one name (the model file's model_type, the CLI's --model). path: "module:Class".
    aliases: older names still accepted (the CLI says which name to use now). quick: parameters
    that fit in well under a second on a small shop, for tests and examples (not the defaults).
    evaluate: the parameters `xsell evaluate` fits it with, where they differ from the defaults.
    """

    name: str
    path: str
    aliases: tuple[str, ...] = ()
    quick: Mapping[str, Any] = _NONE
    evaluate: Mapping[str, Any] = _NONE

    @property
    def cls(self) -> type["Recommender"]:
        module, name = self.path.split(":")
        cls: type[Recommender] = getattr(importlib.import_module(module), name)
        return cls


MODELS: dict[str, ModelEntry] = {entry.name: entry for entry in (
    ModelEntry("cooccurrence", "xsell.models.cooccurrence:CoOccurrence", aliases=("cooc",),
               quick={"min_count": 1}),
    ModelEntry("association_rules", "xsell.models.association:AssociationRules", aliases=("rules",),
               quick={"min_support": 0.005}, evaluate={"min_support": 0.0005}),
    ModelEntry("als", "xsell.models.cf:ALS", quick={"factors": 8, "iterations": 3, "num_threads": 1}),
    ModelEntry("bpr", "xsell.models.cf:BPR", quick={"factors": 8, "iterations": 10}),
    ModelEntry("itemknn", "xsell.models.cf:ItemKNN", quick={"K": 10, "num_threads": 1}),
    ModelEntry("ease", "xsell.models.dense:EASE", quick={"l2": 50.0}, evaluate={"l2": 200.0}),
    ModelEntry("popular", "xsell.models.dense:Popular"),
    ModelEntry("hybrid", "xsell.models.hybrid:Hybrid"),
)}

ALIASES: dict[str, str] = {alias: entry.name for entry in MODELS.values() for alias in entry.aliases}


def canonical_name(name: str) -> str:
    """The registered name for `name`, an old alias (`cooc`, `rules`) mapped to it; other names as given."""
    return ALIASES.get(name, name)


__all__ = ["ALIASES", "MODELS", "ModelEntry", "canonical_name"]
