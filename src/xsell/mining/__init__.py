"""Frequent itemsets and association rules."""

from xsell.mining.rules import RULE_COLUMNS, FrequentItemsets, frequent_itemsets, mine_rules

__all__ = ["RULE_COLUMNS", "FrequentItemsets", "frequent_itemsets", "mine_rules"]
