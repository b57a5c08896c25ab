"""Cross-sell, up-sell and basket uplift: a catalog, business rules and the Engine."""

from xsell.engine.candidates import CandidateSource
from xsell.engine.catalog import Catalog, load_catalog
from xsell.engine.engine import Engine, Suggestions
from xsell.engine.rules import BusinessRules

__all__ = ["BusinessRules", "CandidateSource", "Catalog", "Engine", "Suggestions", "load_catalog"]
