"""Offline evaluation: splits, tasks and ranking/revenue metrics."""

from xsell.evaluation.protocol import BasketTask, basket_completion, evaluate, temporal_split

__all__ = ["BasketTask", "basket_completion", "evaluate", "temporal_split"]
