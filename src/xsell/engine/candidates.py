"""Where the engine's candidates come from: a small protocol and its two implementations.

A `CandidateSource` proposes, for one basket or for many, the items a model ranks best, best first;
the engine then applies the business rules (`xsell.engine.filters`), prices them and re-ranks them
by the objective. Both implementations work through the models' public API only:

- `ModelCandidates`: any fitted model (`recommend_indices` for one basket, `rank_baskets` for many).
- `CoOccurrenceCandidates`: a CoOccurrence whose own counts are the engine's evidence; for many
  baskets one complex sparse product gives both the model's scores (real part, ranked exactly as
  `recommend_batch` ranks them) and each candidate's summed log(1 - p_ij) (imaginary part), so the
  probabilities need no second product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from xsell.data.baskets import Baskets
from xsell.engine.evidence import Evidence
from xsell.models._topk import topk_rows
from xsell.models.base import Recommender, merge_ranked, ranks_within
from xsell.models.cooccurrence import CoOccurrence


@dataclass(frozen=True)
class Pool:
    """Candidates of many baskets, best first within each basket (rows ascending).

    rows: the basket row of each entry; items: internal item indices; rank: 1-based within the
    basket; logsum: each entry's summed log(1 - p_ij) over its basket when the source computed it
    along (else None: the engine looks the probabilities up)."""

    rows: np.ndarray
    items: np.ndarray
    rank: np.ndarray
    logsum: np.ndarray | None


class CandidateSource(Protocol):
    """Proposes candidates, best first: `one` for one request, `many` for many baskets at once."""

    def one(self, basket: np.ndarray, k: int, customer: Any = None) -> np.ndarray:
        """The model's top `k` internal item indices for one basket (sorted unique internal indices),
        best first; `customer`: the shop's customer id or None."""
        ...

    def many(self, baskets: Baskets, matrix: sp.csr_matrix, k: int) -> Pool:
        """The model's top `k` for every basket of `baskets` (`matrix`: `baskets.matrix()`)."""
        ...

    def prepare(self) -> None:
        """Build what `many` shares between calls (before worker processes are forked); may do nothing."""
        ...


class ModelCandidates:
    """Candidates from any fitted model, through its public API."""

    def __init__(self, model: Recommender) -> None:
        self.model = model

    def one(self, basket: np.ndarray, k: int, customer: Any = None) -> np.ndarray:
        indices: np.ndarray = self.model.recommend_indices(basket, k=k, customer=customer).indices
        return indices  # read-only, of the model's index type: the kernels take it as it is

    def many(self, baskets: Baskets, matrix: sp.csr_matrix, k: int) -> Pool:
        ranked = self.model.rank_baskets(baskets, k)
        return Pool(ranked.rows, ranked.items, ranked.rank.astype(np.int32), None)

    def prepare(self) -> None:
        return None


class CoOccurrenceCandidates(ModelCandidates):
    """A CoOccurrence scored with its own counts: many baskets in one complex sparse product.

    evidence: the engine's `Evidence` over the model's items (its items x items log(1 - p_ij), `logq`, is
    built on first use)."""

    def __init__(self, model: CoOccurrence, evidence: Evidence) -> None:
        super().__init__(model)
        self.cooc = model
        self.evidence = evidence
        self._joint: sp.csr_matrix | None = None

    def prepare(self) -> None:
        if self._joint is None:
            self._joint = (self.cooc.score_matrix().astype(np.complex128) + 1j * self.evidence.logq).tocsr()

    def many(self, baskets: Baskets, matrix: sp.csr_matrix, k: int) -> Pool:
        """The model's top `k` per basket (exactly as recommend_batch ranks them) and their summed
        log(1 - p_ij), from one complex sparse product: the real part is the model's score, the
        imaginary part the probability's log sum."""
        model = self.cooc
        self.prepare()
        joint = self._joint
        assert joint is not None
        basket = matrix
        prod = (basket @ joint).tocsr()
        real, imag = prod.data.real, prod.data.imag
        row = np.repeat(np.arange(basket.shape[0], dtype=np.int64), np.diff(prod.indptr))
        floor = model.basket_floor(basket, k)
        kept = np.flatnonzero(real >= floor[row])  # what the model's exact floor keeps, in order
        indptr = np.zeros(basket.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(row[kept], minlength=basket.shape[0]), out=indptr[1:])
        indptr, items, _values, order = topk_rows(indptr, prod.indices[kept], real[kept], k)
        logs = imag[kept[order]]
        lengths = np.diff(indptr)
        r = np.repeat(np.arange(basket.shape[0], dtype=np.int64), lengths)
        rank = np.arange(len(items)) - np.repeat(indptr[:-1], lengths) + 1
        c = items.astype(np.int64)
        empty = np.flatnonzero(lengths == 0)
        if len(empty):  # no neighbours: the model's popular fallback, no co-purchase evidence
            fr, fc, _ = model.popular_batch(basket, empty, k)
            fr = fr.astype(np.int64)
            r, rank, c, logs = merge_ranked((r, rank, c, logs),
                                            (fr, ranks_within(fr), fc.astype(np.int64), np.zeros(len(fr))))
        return Pool(r, c, rank, logs)


__all__ = ["CandidateSource", "CoOccurrenceCandidates", "ModelCandidates", "Pool"]
