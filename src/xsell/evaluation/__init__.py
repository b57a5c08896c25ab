"""Offline evaluation: splits, tasks and ranking/revenue metrics."""

from xsell.evaluation.protocol import (BasketTask, basket_completion, evaluate, leave_last_out, metric_curves,
                                       next_order, score_recommendations, temporal_split)
from xsell.evaluation.tuning import tune_hybrid

__all__ = ["BasketTask", "basket_completion", "evaluate", "leave_last_out", "metric_curves", "next_order",
           "score_recommendations", "temporal_split", "tune_hybrid"]
