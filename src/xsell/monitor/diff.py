"""What a model learned differently from another: the product links a merchandiser watches.

    change = xsell.diff(yesterday, today, k=10)     # two fitted models (or their files)
    print(change.health())                          # one line for a nightly log
    change.movers.head(20)                          # the links whose score moved most
    change.write_report("diff.html")                # self-contained HTML (xsell[report])

Models: every item's list is what `recommend([item], k)` answers ("customers who bought X also
bought"), read for all items at once; a list that would be the popularity fallback (an item with no
learned link) counts as empty. Rules (`diff_rules`: `mine_rules` frames or `xsell rules` files): an
antecedent's list is its rules' consequents, the k with the highest confidence (ties: higher lift,
then the consequent's text); both sides are matched as sets of ids (`a & b` equals `b & a`).

What is compared, for the items (antecedents) both sides know:
  entered / left   links (item, neighbor) in the new top k but not the old one / the other way round
  movers           links in both top k lists, by the absolute change of `by` (score, rank or a
                   statistic both sides explain: count, support, confidence, lift), largest first
  items            per item: list lengths, shared links, entered, left, overlap (Jaccard of the two
                   top k lists) and `changed`: fewer than half of the longer list's links are shared.
                   A tie at the last place (both lists full with the same k-th score, a tied link in and
                   another out) counts as shared: which tied link makes the cut follows the order the
                   items were first seen, not what was learnt (`summary["tie_swaps"]`)
  summary          counts, the overlap distribution and `changed_share`: the share of compared items
                   whose top k changed by more than half (the health figure `xsell diff --fail-above`
                   checks); two sides without an item in common changed completely (1.0)
Items only one side knows are `added` / `gone` (with their order counts where the model keeps them);
their lists are not counted as entered or left. Up-sells (`diff_upsell`: two `Engine`s): an item's list
is its `up_sell(item, k)`, with probability, extra price, expected revenue and margin before and after.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xsell.errors import InputError

STATS = ("count", "support", "confidence", "lift")
RULE_FILES = (".parquet", ".pq", ".csv")


@dataclass(frozen=True)
class _Lists:
    """Every owner's top-k list of one side: owners' ids, then one entry per link (owner code,
    neighbour id, 1-based rank, score, statistics)."""

    owners: np.ndarray
    owner: np.ndarray
    neighbor: np.ndarray
    rank: np.ndarray
    score: np.ndarray
    stats: dict[str, np.ndarray]
    owner_counts: np.ndarray | None = None  # orders per owner, where the side keeps them
    n_rules: int | None = None
    rule_keys: np.ndarray | None = None  # every rule's "antecedent -> consequent" text (rules only)


@dataclass(frozen=True)
class ModelDiff:
    """The difference between two models' (or rule sets') top-k lists; see the module docstring."""

    kind: str
    k: int
    by: str
    summary: dict[str, Any]
    items: pd.DataFrame
    added: pd.DataFrame
    gone: pd.DataFrame
    entered: pd.DataFrame
    left: pd.DataFrame
    movers: pd.DataFrame
    labels: tuple[str, str] = field(default=("old", "new"))

    @property
    def changed_share(self) -> float:
        return float(self.summary["changed_share"])

    def health(self) -> str:
        """One line: the share of items whose top k changed by more than half, and what moved."""
        s, owners = self.summary, ("antecedents" if self.kind == "rules" else "items")
        line = (f"{s['changed_share']:.1%} of {s['compared']:,} {owners} changed their top {self.k} by more than "
                f"half")
        if s["compared"]:
            line += f" (mean overlap {s['overlap_mean']:.2f})"
        links = "up-sells" if self.kind == "upsell" else "links"
        line += (f"; {s['added']:,} {owners} added, {s['gone']:,} gone; {s['entered']:,} {links} entered a top "
                 f"{self.k}, {s['left']:,} left")
        if self.kind == "rules":
            line += f"; rules {s['rules_old']:,} -> {s['rules_new']:,} ({s['rules_added']:,} new, " \
                    f"{s['rules_gone']:,} gone)"
        return line

    def to_dict(self, top: int | None = 50) -> dict[str, Any]:
        """Plain Python values (JSON-ready): summary, health, and the first `top` rows of each table."""
        from xsell.data.records import frame_records, plain_value

        def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return frame_records(frame if top is None else frame.head(top))

        return {"kind": self.kind, "k": self.k, "by": self.by, "old": self.labels[0], "new": self.labels[1],
                "summary": {key: plain_value(value) for key, value in self.summary.items()},
                "health": self.health(), "movers": rows(self.movers), "entered": rows(self.entered),
                "left": rows(self.left), "added": rows(self.added), "gone": rows(self.gone)}

    def write_report(self, path: str | os.PathLike[str], top: int = 50, alarm_above: float | None = None) -> Path:
        """A self-contained HTML page (needs matplotlib: xsell[report]), written atomically; its health
        line is red above `alarm_above` (default: a third of the items changed)."""
        from xsell.monitor.report import write_diff_report

        return write_diff_report(self, path, top=top, alarm_above=alarm_above)


# -- entry points ---------------------------------------------------------------------------
def diff(old: Any, new: Any, k: int = 10, by: str = "score") -> ModelDiff:
    """Compare two fitted models (objects or model file paths) item by item at `k`.

    by: what ranks the movers: "score", "rank", or a statistic both models explain (co-occurrence:
    count, support, confidence, lift; association rules: support, confidence, lift)."""
    k = _check_k(k)
    labels = (_label(old, "old"), _label(new, "new"))
    before, after = _model(old, "old"), _model(new, "new")
    return _compare(_model_lists(before, k), _model_lists(after, k), k, by, "model", labels)


def diff_rules(old: Any, new: Any, k: int = 10, by: str = "confidence") -> ModelDiff:
    """Compare two rule sets (`mine_rules` frames or files written by `xsell rules`) antecedent by
    antecedent: each antecedent's k consequents with the highest confidence. by: "confidence", "lift",
    "support", "count" (when both sides hold counts), "score" (= confidence) or "rank"."""
    k = _check_k(k)
    labels = (_label(old, "old"), _label(new, "new"))
    return _compare(_rule_lists(_rules_frame(old, "old"), k, labels[0]),
                    _rule_lists(_rules_frame(new, "new"), k, labels[1]), k, by, "rules", labels)


def diff_upsell(old: Any, new: Any, k: int = 5, by: str = "probability") -> ModelDiff:
    """Compare the up-sell links of two engines (`xsell.Engine`: a model and a catalog) item by item:
    each item's `up_sell(item, k)` in the old and in the new engine, read for all items at once
    (`up_sell_batch`). by: "probability" (the share of orders the up-sell sells in), "score" (the
    same), "rank", "extra_price", "expected_revenue" or "expected_margin"."""
    k = _check_k(k)
    return _compare(_upsell_lists(old, k, "old"), _upsell_lists(new, k, "new"), k, by, "upsell", ("old", "new"))


def _upsell_lists(engine: Any, k: int, which: str) -> _Lists:
    from xsell.engine import Engine

    if not isinstance(engine, Engine):
        raise InputError(f"diff_upsell compares two engines (xsell.Engine); the {which} one is a "
                         f"{type(engine).__name__}")
    ids = engine.model.items_.ids
    frame = engine.up_sell_batch(pd.Series(ids, dtype=object), k=k, reasons=False)
    owner = engine.model.items_.to_internal(frame["item_id"].to_numpy()).astype(np.int64)
    stats = {name: frame[name].to_numpy(dtype=np.float64)
             for name in ("probability", "extra_price", "expected_revenue", "expected_margin")}
    counts = getattr(engine.model, "item_counts_", None)
    return _Lists(owners=ids, owner=owner, neighbor=np.asarray(frame["upsell_id"].astype(object).to_numpy()),
                  rank=frame["rank"].to_numpy(dtype=np.int64), score=stats["probability"], stats=stats,
                  owner_counts=None if counts is None else np.asarray(counts, dtype=np.int64))


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k must be a whole number >= 1, got {k!r}")
    return int(k)


def _label(side: Any, default: str) -> str:
    return str(side) if isinstance(side, (str, os.PathLike)) else default


# -- one side's lists -----------------------------------------------------------------------
def _model(side: Any, which: str) -> Any:
    from xsell.models.base import Recommender

    if isinstance(side, (str, os.PathLike)):
        from xsell.io import load_model

        return load_model(side)
    if not isinstance(side, Recommender):
        raise InputError(f"diff compares two fitted models or model files; the {which} one is a "
                         f"{type(side).__name__} (for rules use diff_rules)")
    side._check_fitted()
    return side


def _model_lists(model: Any, k: int) -> _Lists:
    """Every item's recommend([item], k), for all items in one batch; fallback answers left out."""
    from xsell.data.baskets import Baskets

    n = model.n_items
    index = np.arange(n, dtype=np.int64)
    baskets = Baskets(ids=index, rows=index, items=index, customers=None, n_items=n)
    ranked = model.rank_baskets(baskets, k)
    assert ranked.fallback is not None
    fallback = ranked.fallback[ranked.rows]
    extra = model._explain_batch(baskets.matrix().sorted_indices(), ranked.rows, ranked.items, fallback)
    live = ~fallback
    stats = {name: np.asarray(extra[name])[live] for name in STATS if name in extra}
    counts = getattr(model, "item_counts_", None)
    ids = model.items_.ids
    return _Lists(owners=ids, owner=ranked.rows[live].astype(np.int64), neighbor=ids[ranked.items[live]],
                  rank=ranked.rank[live].astype(np.int64), score=ranked.scores[live].astype(np.float64),
                  stats=stats, owner_counts=None if counts is None else np.asarray(counts, dtype=np.int64))


def _rules_frame(side: Any, which: str) -> pd.DataFrame:
    if isinstance(side, pd.DataFrame):
        return side
    if isinstance(side, (str, os.PathLike)):
        return read_rules(side)
    raise InputError(f"diff_rules compares two rules frames (mine_rules) or rules files; the {which} one is a "
                     f"{type(side).__name__}")


def read_rules(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A rules file written by `xsell rules` (.parquet with id lists, .csv with `a & b`) as a frame."""
    where = Path(path)
    suffix = where.suffix.lower()
    if suffix not in RULE_FILES:
        raise InputError(f"rules file {where} must end in .parquet or .csv (as xsell rules writes them)")
    if not where.is_file():
        raise InputError(f"no such rules file: {where}")
    try:
        if suffix == ".csv":
            return pd.read_csv(where, dtype={"antecedents": str, "consequents": str}, keep_default_na=False)
        import pyarrow.parquet as pq

        return pq.read_table(where).to_pandas()
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot read rules file {where}: {' '.join(str(exc).split())}") from None


def _side_text(column: pd.Series, label: str, name: str) -> np.ndarray:
    """Each rule side as one text key, its ids sorted as text and joined by ' & ': one Arrow pass per
    step (split or cast, flatten, sort by (rule, id), rebuild, join), no Python loop per rule."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(column) == 0:
        return np.array([], dtype=object)
    if column.map(lambda v: isinstance(v, str)).all():
        lists = pc.split_pattern(pa.array(column.tolist(), type=pa.string()), " & ")
    else:
        try:
            lists = pa.array([list(v) if isinstance(v, np.ndarray) else v for v in column.tolist()])
            lists = pc.cast(lists, pa.list_(pa.string()))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
            raise InputError(f"rules {label}: column {name} must hold item lists or 'a & b' text") from None
    if lists.null_count:
        raise InputError(f"rules {label}: column {name} has {lists.null_count:,} empty value(s)")
    flat, parent = pc.list_flatten(lists), pc.list_parent_indices(lists)
    order = pc.sort_indices(pa.table({"rule": parent, "id": flat}),
                            sort_keys=[("rule", "ascending"), ("id", "ascending")])
    rebuilt = pa.ListArray.from_arrays(pa.array(np.asarray(lists.offsets)), pc.take(flat, order))
    joined: Any = pc.binary_join(rebuilt, " & ")
    return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)


def _rule_lists(frame: pd.DataFrame, k: int, label: str) -> _Lists:
    need = ["antecedents", "consequents", "support", "confidence", "lift"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise InputError(f"rules {label} lack the column(s) {', '.join(missing)} (compare files written by "
                         f"xsell rules or frames from xsell.mine_rules)")
    names = [s for s in STATS if s in frame.columns]
    try:
        stats = {s: pd.to_numeric(frame[s]).to_numpy() for s in names}
    except (ValueError, TypeError):
        raise InputError(f"rules {label}: {', '.join(names)} must be numbers") from None
    ante = _side_text(frame["antecedents"], label, "antecedents")
    cons = _side_text(frame["consequents"], label, "consequents")
    keys = pd.Series(ante, dtype=object) + " -> " + pd.Series(cons, dtype=object)
    repeated = keys.duplicated()
    if repeated.any():
        raise InputError(f"rules {label} hold the rule {keys[repeated].iloc[0]!r} more than once")
    owners, owner = np.unique(ante, return_inverse=True) if len(ante) else (np.array([], dtype=object),
                                                                            np.array([], dtype=np.int64))
    order = np.lexsort((cons, -stats["lift"], -stats["confidence"], owner))
    owner_sorted = owner[order]
    starts = np.searchsorted(owner_sorted, owner_sorted, side="left")
    rank = np.arange(len(order)) - starts + 1
    keep = order[rank <= k]
    return _Lists(owners=np.asarray(owners, dtype=object), owner=owner[keep].astype(np.int64),
                  neighbor=cons[keep], rank=rank[rank <= k].astype(np.int64),
                  score=stats["confidence"][keep], stats={s: v[keep] for s, v in stats.items()},
                  n_rules=len(frame), rule_keys=keys.to_numpy(dtype=object))


# -- the comparison -------------------------------------------------------------------------
def _int_ids(ids: np.ndarray) -> bool:
    return ids.dtype.kind in "iu" or (ids.dtype == object and len(ids) > 0 and isinstance(ids[0], (int, np.integer)))


def _as_text(side: _Lists) -> _Lists:
    """The same lists with every id as text (`xsell.update` turns int ids into text when a text one arrives)."""
    return dataclasses.replace(side, owners=side.owners.astype(str).astype(object),
                               neighbor=side.neighbor.astype(str).astype(object))


def _compare(old: _Lists, new: _Lists, k: int, by: str, kind: str, labels: tuple[str, str]) -> ModelDiff:
    if len(old.owners) and len(new.owners) and _int_ids(old.owners) != _int_ids(new.owners):
        old, new = _as_text(old), _as_text(new)  # 7 and "7" are one item, as everywhere in xsell
    stats = [s for s in old.stats if s in new.stats]
    choices = ["score", "rank", *stats]
    if not isinstance(by, str) or by not in choices:
        what = {"rules": "rule sets", "upsell": "engines"}.get(kind, "models")
        raise InputError(f"by must be one of {', '.join(choices)} for these {what}, got {by!r}")
    universe = pd.Index(np.concatenate([_objects(old.owners), _objects(new.owners)])).unique()
    if len(old.neighbor) or len(new.neighbor):
        neighbours = pd.Index(np.concatenate([_objects(old.neighbor), _objects(new.neighbor)])).unique()
    else:
        neighbours = pd.Index([], dtype=object)
    old_code = universe.get_indexer(_objects(old.owners)).astype(np.int64)
    new_code = universe.get_indexer(_objects(new.owners)).astype(np.int64)
    u = len(universe)
    in_old, in_new = np.zeros(u, dtype=bool), np.zeros(u, dtype=bool)
    in_old[old_code], in_new[new_code] = True, True
    both = in_old & in_new
    width = np.int64(max(len(neighbours), 1))
    o_owner, n_owner = old_code[old.owner], new_code[new.owner]
    o_key = o_owner * width + neighbours.get_indexer(_objects(old.neighbor))
    n_key = n_owner * width + neighbours.get_indexer(_objects(new.neighbor))
    # each old link's position among the new links (-1: not there); keys are unique per side
    n_order = np.argsort(n_key, kind="stable")
    at = np.minimum(np.searchsorted(n_key[n_order], o_key), max(len(n_key) - 1, 0))
    o_match = np.full(len(o_key), -1, dtype=np.int64)
    if len(n_key):
        hit = n_key[n_order][at] == o_key
        o_match[hit] = n_order[at[hit]]
    n_matched = np.zeros(len(n_key), dtype=bool)
    n_matched[o_match[o_match >= 0]] = True
    o_live, n_live = both[o_owner], both[n_owner]
    stayed = np.flatnonzero(o_match >= 0)
    left = np.flatnonzero(o_live & (o_match < 0))
    entered = np.flatnonzero(n_live & ~n_matched)

    old_len = np.bincount(o_owner[o_live], minlength=u)
    new_len = np.bincount(n_owner[n_live], minlength=u)
    shared = np.bincount(o_owner[stayed], minlength=u)
    # a tie at the last place: both lists full with the same k-th score, one link in and one out at that
    # score (which of the tied links makes the cut follows the model's internal item order, that is the
    # order items were first seen): not a change in what was learnt; counted as shared, not as churn
    kth_old, kth_new = _kth_scores(o_owner, old.score, u), _kth_scores(n_owner, new.score, u)
    full = (old_len == k) & (new_len == k) & (kth_old == kth_new)
    tied_left = left[full[o_owner[left]] & (old.score[left] == kth_old[o_owner[left]])]
    tied_entered = entered[full[n_owner[entered]] & (new.score[entered] == kth_new[n_owner[entered]])]
    swaps = np.minimum(np.bincount(o_owner[tied_left], minlength=u), np.bincount(n_owner[tied_entered], minlength=u))
    left = np.setdiff1d(left, _first_per_owner(tied_left, o_owner, swaps))
    entered = np.setdiff1d(entered, _first_per_owner(tied_entered, n_owner, swaps))
    shared = shared + swaps
    compared = np.flatnonzero(both & ((old_len > 0) | (new_len > 0)))
    union = old_len[compared] + new_len[compared] - shared[compared]
    overlap = shared[compared] / np.maximum(union, 1)
    changed = 2 * shared[compared] < np.maximum(old_len[compared], new_len[compared])
    items = pd.DataFrame({"item": universe[compared], "old": old_len[compared], "new": new_len[compared],
                          "shared": shared[compared], "entered": new_len[compared] - shared[compared],
                          "left": old_len[compared] - shared[compared], "overlap": overlap,
                          "changed": changed})
    if kind == "rules":
        items = items.rename(columns={"item": "antecedent"})
    lists_anywhere = len(old.owner) + len(new.owner) > 0
    share = float(changed.mean()) if len(compared) else (1.0 if lists_anywhere and not both.any() else 0.0)

    owner_name = "antecedent" if kind == "rules" else "item"
    neighbor_name = {"rules": "consequent", "upsell": "upsell"}.get(kind, "neighbor")

    def links(side: _Lists, codes: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame({owner_name: universe[codes[side.owner[rows]]], neighbor_name: side.neighbor[rows],
                              "rank": side.rank[rows], "score": side.score[rows],
                              **{s: side.stats[s][rows] for s in stats}})
        return frame.iloc[np.lexsort((frame["rank"].to_numpy(), -frame["score"].to_numpy()))] \
            .reset_index(drop=True)

    n_rows = o_match[stayed]
    movers = pd.DataFrame({owner_name: universe[o_owner[stayed]], neighbor_name: old.neighbor[stayed],
                           "rank_old": old.rank[stayed], "rank_new": new.rank[n_rows],
                           "score_old": old.score[stayed], "score_new": new.score[n_rows]})
    for s in stats:
        movers[f"{s}_old"], movers[f"{s}_new"] = old.stats[s][stayed], new.stats[s][n_rows]
    movers["change"] = (movers[f"{by}_new"] - movers[f"{by}_old"]).astype(np.float64)
    movers = movers.iloc[np.lexsort((movers["rank_old"].to_numpy(), -np.abs(movers["change"].to_numpy())))] \
        .reset_index(drop=True)

    def only(side: _Lists, codes: np.ndarray, mask: np.ndarray) -> pd.DataFrame:
        rows = np.flatnonzero(mask[codes])
        frame = pd.DataFrame({owner_name: _objects(side.owners)[rows]})
        if side.owner_counts is not None:
            frame["orders"] = side.owner_counts[rows]
            frame = frame.iloc[np.argsort(-frame["orders"].to_numpy(), kind="stable")].reset_index(drop=True)
        return frame

    added, gone = only(new, new_code, in_new & ~in_old), only(old, old_code, in_old & ~in_new)
    summary: dict[str, Any] = {
        "items_old": len(old.owners), "items_new": len(new.owners), "added": len(added), "gone": len(gone),
        "compared": len(compared), "changed": int(changed.sum()), "changed_share": share,
        "overlap_mean": float(overlap.mean()) if len(compared) else float("nan"),
        "overlap_median": float(np.median(overlap)) if len(compared) else float("nan"),
        "links_old": int(o_live.sum()), "links_new": int(n_live.sum()), "stayed": len(stayed),
        "entered": len(entered), "left": len(left), "tie_swaps": int(swaps.sum())}
    if kind == "rules":
        assert old.rule_keys is not None and new.rule_keys is not None
        summary.update({"rules_old": old.n_rules, "rules_new": new.n_rules,
                        "rules_added": int((~pd.Index(new.rule_keys).isin(old.rule_keys)).sum()),
                        "rules_gone": int((~pd.Index(old.rule_keys).isin(new.rule_keys)).sum())})
    return ModelDiff(kind=kind, k=k, by=by, summary=summary, items=items, added=added, gone=gone,
                     entered=links(new, new_code, entered), left=links(old, old_code, left), movers=movers,
                     labels=labels)


def _kth_scores(owner: np.ndarray, score: np.ndarray, n: int) -> np.ndarray:
    """Per owner the lowest score of its list (its last place; +inf for an owner without a list)."""
    out = np.full(n, np.inf)
    np.minimum.at(out, owner, score)
    return out


def _first_per_owner(rows: np.ndarray, owner: np.ndarray, quota: np.ndarray) -> np.ndarray:
    """The first quota[o] of `rows` of each owner o (rows ascending)."""
    if not len(rows):
        return rows
    own = owner[rows]
    order = np.argsort(own, kind="stable")
    rows, own = rows[order], own[order]
    start = np.searchsorted(own, own, side="left")
    return np.asarray(rows[(np.arange(len(rows)) - start) < quota[own]])


def _objects(ids: np.ndarray) -> np.ndarray:
    """Ids as an object array (so int and text ids of two models never compare as equal numbers)."""
    return ids if ids.dtype == object else ids.astype(object)
