"""Watching a model: what it learned differently from another (`diff`, `diff_rules`, the HTML report)."""

from xsell.monitor.diff import ModelDiff, diff, diff_rules, diff_upsell, read_rules

__all__ = ["ModelDiff", "diff", "diff_rules", "diff_upsell", "read_rules"]
