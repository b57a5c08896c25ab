"""Names the command line offers as choices, kept apart from the modules that use them so that `xsell --help`
does not import numpy or pandas to list them."""

from __future__ import annotations

RULE_METRICS = ("antecedent_support", "consequent_support", "support", "confidence", "lift", "leverage",
                "conviction", "zhangs_metric", "jaccard", "certainty", "kulczynski")
"""The metrics of an association rule, in the order of `xsell.mining.RULE_COLUMNS` after the two item lists."""
