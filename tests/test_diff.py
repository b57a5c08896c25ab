"""xsell.diff / diff_rules / `xsell diff`: two hand-made models with known changes give exactly those
changes; the lists are what recommend([item], k) answers item by item; rules match as sets; the CLI's
drift alarm exits 3; the HTML report is self-contained."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell import CoOccurrence, InputError
from xsell.datasets import synthetic_shop
from xsell.mining.export import write_rules
from tests.test_outputs import run_xsell


def _orders(baskets: list[str]) -> xsell.Orders:
    lines = [(f"o{n}", item) for n, basket in enumerate(baskets) for item in basket]
    return xsell.load_orders(pd.DataFrame(lines, columns=["order_id", "item_id"]))


# old: a-b, c-d, and g alone; new: a-c, b-d, c-d, e-f (b is kept, g is gone, e and f are new)
OLD = ["ab", "ab", "ab", "cd", "g"]
NEW = ["ac", "ac", "cd", "ef", "bd"]


@pytest.fixture(scope="module")
def models() -> tuple[CoOccurrence, CoOccurrence]:
    return (CoOccurrence(min_count=1).fit(_orders(OLD)), CoOccurrence(min_count=1).fit(_orders(NEW)))


def _links(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["item"], frame["neighbor"]))


def test_hand_made_models_give_exactly_the_known_changes(models):
    old, new = models
    change = xsell.diff(old, new, k=10)
    # old lists a:[b] b:[a] c:[d] d:[c] g:[]; new a:[c] b:[d] c:[a,d] d:[c,b] e:[f] f:[e]
    assert _links(change.entered) == {("a", "c"), ("b", "d"), ("c", "a"), ("d", "b")}
    assert _links(change.left) == {("a", "b"), ("b", "a")}
    assert _links(change.movers) == {("c", "d"), ("d", "c")}
    assert sorted(change.added["item"]) == ["e", "f"] and change.added["orders"].tolist() == [1, 1]
    assert change.gone["item"].tolist() == ["g"] and change.gone["orders"].tolist() == [1]
    items = change.items.set_index("item")
    assert sorted(items.index) == ["a", "b", "c", "d"]  # g has a list in neither model
    assert items.loc[["a", "b", "c", "d"], "overlap"].tolist() == [0.0, 0.0, 0.5, 0.5]
    assert items.loc[["a", "b", "c", "d"], "changed"].tolist() == [True, True, False, False]
    assert items.loc["c", ["old", "new", "shared", "entered", "left"]].tolist() == [1, 2, 1, 1, 0]
    s = change.summary
    assert (s["compared"], s["changed"], s["changed_share"], s["added"], s["gone"]) == (4, 2, 0.5, 2, 1)
    assert (s["entered"], s["left"], s["stayed"], s["links_old"], s["links_new"]) == (4, 2, 2, 4, 6)
    assert s["overlap_mean"] == 0.25
    assert change.health() == ("50.0% of 4 items changed their top 10 by more than half (mean overlap 0.25); "
                               "2 items added, 1 gone; 4 links entered a top 10, 2 left")


def test_movers_carry_the_counts_and_scores_of_both_models(models):
    old, new = models
    change = xsell.diff(old, new, k=10, by="count")
    row = change.movers.set_index(["item", "neighbor"]).loc[("c", "d")]
    assert (row["count_old"], row["count_new"]) == (1, 1)
    assert row["score_old"] == old.recommend(["c"], k=10).scores[0]
    new_c = new.recommend(["c"], k=10)
    assert row["score_new"] == new_c.scores[new_c.items.index("d")]
    assert row["rank_new"] == new_c.items.index("d") + 1
    assert row["change"] == 0
    assert row["lift_new"] == pytest.approx(5 * 1 / (3 * 2))  # n_cd * N / (n_c * n_d) in the new orders


def test_lists_are_what_recommend_answers_item_by_item():
    shop = synthetic_shop(3, n_products=30, n_customers=150, n_orders=1500)
    frame = shop.orders.to_frame()
    ids = frame["order_id"].unique()
    old = CoOccurrence(neighbors=6).fit(xsell.load_orders(frame[frame["order_id"].isin(ids[: len(ids) // 2])]))
    new = CoOccurrence(neighbors=6).fit(shop.orders)
    k = 4
    change = xsell.diff(old, new, k=k)
    reference = {"entered": set(), "left": set(), "stayed": set()}
    for item in set(old.items_.ids) & set(new.items_.ids):
        a, b = old.recommend([item], k=k), new.recommend([item], k=k)
        before = set() if a.fallback else set(a.items)
        after = set() if b.fallback else set(b.items)
        reference["entered"] |= {(item, n) for n in after - before}
        reference["left"] |= {(item, n) for n in before - after}
        reference["stayed"] |= {(item, n) for n in before & after}
    assert _links(change.entered) == reference["entered"]
    assert _links(change.left) == reference["left"]
    assert _links(change.movers) == reference["stayed"]
    assert len(change.entered) + len(change.left) > 0
    # movers are ranked by |change of score|, largest first
    assert np.all(np.diff(np.abs(change.movers["change"].to_numpy())) <= 0)


def test_a_model_compared_with_itself_and_with_its_saved_file(models, tmp_path):
    old, _ = models
    xsell.save_model(old, tmp_path / "old.xsell")
    change = xsell.diff(old, tmp_path / "old.xsell")
    assert change.changed_share == 0.0 and change.summary["overlap_mean"] == 1.0
    assert change.entered.empty and change.left.empty and change.added.empty and change.gone.empty
    assert (change.movers["change"] == 0).all() and len(change.movers) == 4
    assert change.labels == ("old", str(tmp_path / "old.xsell"))


def test_models_without_an_item_in_common_changed_completely():
    change = xsell.diff(CoOccurrence(min_count=1).fit(_orders(["ab"])), CoOccurrence(min_count=1).fit(_orders(["xy"])))
    assert change.changed_share == 1.0 and change.summary["compared"] == 0
    assert sorted(change.added["item"]) == ["x", "y"] and sorted(change.gone["item"]) == ["a", "b"]


def test_bad_arguments_name_what_is_wrong(models):
    old, new = models
    for kwargs, message in [({"k": 0}, "k must be a whole number >= 1, got 0"),
                            ({"by": "lift2"}, "by must be one of score, rank, count, support, confidence, lift "
                                              "for these models, got 'lift2'")]:
        with pytest.raises(InputError) as info:
            xsell.diff(old, new, **kwargs)
        assert str(info.value) == message
    with pytest.raises(InputError) as info:
        xsell.diff(old, pd.DataFrame())
    assert str(info.value) == ("diff compares two fitted models or model files; the new one is a DataFrame "
                               "(for rules use diff_rules)")
    ease = xsell.EASE().fit(_orders(OLD))
    with pytest.raises(InputError) as info:
        xsell.diff(ease, new, by="lift")
    assert str(info.value) == "by must be one of score, rank for these models, got 'lift'"
    assert xsell.diff(ease, new, by="rank").summary["compared"] == 4  # any two models compare by score and rank


def _rules(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["antecedents", "consequents", "support", "confidence", "lift"])


def test_rules_match_as_sets_and_rank_by_confidence():
    old = _rules([(("a", "b"), ("c",), 0.1, 0.5, 2.0), (("a",), ("b",), 0.2, 0.4, 1.5),
                  (("a",), ("c",), 0.2, 0.3, 1.2), (("x",), ("y",), 0.1, 0.9, 3.0)])
    new = _rules([(("b", "a"), ("c",), 0.1, 0.6, 2.2), (("a",), ("c",), 0.2, 0.45, 1.3),
                  (("a",), ("b",), 0.2, 0.4, 1.5), (("a",), ("d",), 0.1, 0.2, 1.1), (("z",), ("y",), 0.1, 0.9, 3.0)])
    change = xsell.diff_rules(old, new, k=1)
    # top 1 by confidence: old a:[b] (0.4 > 0.3), "a & b":[c], x:[y]; new a:[c] (0.45), "a & b":[c], z:[y]
    assert set(zip(change.entered["antecedent"], change.entered["consequent"])) == {("a", "c")}
    assert set(zip(change.left["antecedent"], change.left["consequent"])) == {("a", "b")}
    mover = change.movers.iloc[0]
    assert (mover["antecedent"], mover["consequent"], mover["confidence_old"], mover["confidence_new"]) == \
        ("a & b", "c", 0.5, 0.6)
    assert mover["change"] == pytest.approx(0.1)
    assert change.added["antecedent"].tolist() == ["z"] and change.gone["antecedent"].tolist() == ["x"]
    s = change.summary
    assert (s["rules_old"], s["rules_new"], s["rules_added"], s["rules_gone"]) == (4, 5, 2, 1)
    assert (s["compared"], s["changed"]) == (2, 1)
    assert change.health().endswith("; rules 4 -> 5 (2 new, 1 gone)")


def test_rules_files_csv_and_parquet_compare_equal(tmp_path):
    orders = synthetic_shop(2, n_products=30, n_customers=150, n_orders=1500).orders
    frame = xsell.mine_rules(orders, 0.01, 0.05, max_len=3)
    write_rules(frame, tmp_path / "r.csv")
    write_rules(frame.sample(frac=1.0, random_state=0), tmp_path / "r.parquet")  # another row order
    change = xsell.diff_rules(tmp_path / "r.csv", tmp_path / "r.parquet", k=5)
    assert change.summary["rules_added"] == change.summary["rules_gone"] == 0
    assert change.changed_share == 0.0 and change.entered.empty and change.left.empty
    assert len(change.movers) == change.summary["links_old"] > 0


def test_bad_rules_are_named():
    good = _rules([(("a",), ("b",), 0.2, 0.4, 1.5)])
    twice = _rules([(("a", "b"), ("c",), 0.1, 0.5, 2.0), (("b", "a"), ("c",), 0.1, 0.5, 2.0)])
    cases = [(twice, "rules old hold the rule 'a & b -> c' more than once"),
             (good.drop(columns=["lift"]), "rules old lack the column(s) lift (compare files written by xsell "
                                          "rules or frames from xsell.mine_rules)"),
             ("rules.txt", "rules file rules.txt must end in .parquet or .csv (as xsell rules writes them)"),
             ("missing.csv", "no such rules file: missing.csv"),
             (good.assign(lift="high"), "rules old: support, confidence, lift must be numbers")]
    for bad, message in cases:
        with pytest.raises(InputError) as info:
            xsell.diff_rules(bad, good)
        assert str(info.value) == message


@pytest.fixture(scope="module")
def model_files(tmp_path_factory, models):
    folder = tmp_path_factory.mktemp("diff")
    xsell.save_model(models[0], folder / "old.xsell")
    xsell.save_model(models[1], folder / "new.xsell")
    return folder


def test_cli_diff_alarm_json_and_report(model_files):
    ok = run_xsell("diff", "old.xsell", "new.xsell", "--fail-above", "0.5", cwd=model_files)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0] == ("old.xsell -> new.xsell: 50.0% of 4 items changed their top 10 by more "
                                         "than half (mean overlap 0.25); 2 items added, 1 gone; 4 links entered "
                                         "a top 10, 2 left")
    alarm = run_xsell("diff", "old.xsell", "new.xsell", "--fail-above", "0.4", "--json", "--report", "d.html",
                      cwd=model_files)
    assert alarm.returncode == 3
    assert alarm.stderr.splitlines()[-1] == ("drift alarm: 50.0% of the compared items changed their top 10 by "
                                             "more than half, above --fail-above 0.4")
    payload = json.loads(alarm.stdout)
    assert payload["alarm"] is True and payload["summary"]["changed_share"] == 0.5
    assert {(r["item"], r["neighbor"]) for r in payload["left"]} == {("a", "b"), ("b", "a")}
    page = (model_files / "d.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and 'src="http' not in page
    assert re.findall(r'src="(data:image/png;base64,iVBOR)', page)  # the overlap histogram, inside the page
    assert '<p class="health alarm">50.0% of 4 items changed' in page
    assert "<td>c</td><td>d</td>" in page and "1 \u2192 1" in page  # a mover, its count before and after


def test_cli_diff_usage_errors_exit_2(model_files):
    write_rules(_rules([(("a",), ("b",), 0.2, 0.4, 1.5)]), model_files / "r.csv")
    mixed = run_xsell("diff", "r.csv", "new.xsell", cwd=model_files)
    assert mixed.returncode == 2
    assert "OLD and NEW must both be model files or both rules files (.parquet, .csv); got a rules file and a " \
           "model file" in mixed.stderr
    assert run_xsell("diff", "old.xsell", "new.xsell", "--fail-above", "1.5", cwd=model_files).returncode == 2
    assert run_xsell("diff", "old.xsell", "new.xsell", "--by", "weight", cwd=model_files).returncode == 2
    catalog = run_xsell("diff", "old.xsell", "new.xsell", "--catalog", "c.csv", cwd=model_files)
    assert catalog.returncode == 2 and "Invalid value for '--catalog': is for --upsell" in catalog.stderr
    rules = run_xsell("diff", "r.csv", "r.csv", "--upsell", cwd=model_files)
    assert rules.returncode == 2 and "compares the up-sells of two model files, not rules files" in rules.stderr
    data = run_xsell("diff", "old.xsell", "gone.xsell", cwd=model_files)
    assert data.returncode == 1 and data.stderr.count("\n") == 1 and data.stderr.startswith("error: ")


def test_cli_output_cut_short_by_a_closed_pipe_exits_141_without_a_message(tmp_path):
    import subprocess

    from tests.test_outputs import XSELL

    shop = synthetic_shop(4)  # 360 items: tables of thousands of rows at k=50, far more than a pipe holds
    frame = shop.orders.to_frame()
    half = frame[frame["order_id"].isin(frame["order_id"].unique()[::2])]
    xsell.save_model(CoOccurrence().fit(xsell.load_orders(half)), tmp_path / "old.xsell")
    xsell.save_model(CoOccurrence().fit(shop.orders), tmp_path / "new.xsell")
    proc = subprocess.Popen([str(XSELL), "diff", "old.xsell", "new.xsell", "-k", "50", "--top", "100000"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.read(10)  # what `| head -c 10` reads, then the reader is gone
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert first == b"old.xsell " and err == ""
    # a drift alarm still decides the exit code, and says so, when the reader stopped early
    proc = subprocess.Popen([str(XSELL), "diff", "old.xsell", "new.xsell", "-k", "50", "--top", "100000",
                             "--fail-above", "0"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            bufsize=0)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 3
    assert err.startswith("drift alarm: ") and err.count("\n") == 1


def test_upsell_diff_is_up_sell_item_by_item_and_sees_a_price_change():
    from tests.conftest import shop_catalog_frame

    shop = synthetic_shop(0)
    model = CoOccurrence().fit(shop.orders)
    frame = shop_catalog_frame(shop)
    target = frame["item_id"].iloc[5]
    dearer = frame.assign(price=np.where(frame["item_id"] == target, frame["price"] * 10, frame["price"]))
    old, new = xsell.Engine(model, xsell.load_catalog(frame)), xsell.Engine(model, xsell.load_catalog(dearer))
    change = xsell.diff_upsell(old, new, k=3)

    def lists(engine: xsell.Engine) -> dict[str, list[str]]:
        out = {}
        for item in model.items_.ids:
            try:
                out[item] = engine.up_sell(item, k=3).items
            except InputError:  # an item up_sell cannot compare with anything: no list
                out[item] = []
        return out

    before, after = lists(old), lists(new)
    links = lambda frame: set(zip(frame["item"], frame["upsell"]))  # noqa: E731
    assert links(change.left) == {(i, u) for i in before for u in before[i] if u not in after[i]}
    assert links(change.entered) == {(i, u) for i in after for u in after[i] if u not in before[i]}
    assert links(change.movers) == {(i, u) for i in before for u in before[i] if u in after[i]}
    into_target = {(i, u) for i in before for u in before[i] if u == target}
    assert into_target and into_target <= links(change.left)  # ten times dearer: out of every band
    assert not any(u == target for u in change.entered["upsell"])
    row = change.movers.iloc[0]
    assert row["probability_old"] == pytest.approx(row["probability_new"])  # same model: only prices moved
    assert change.health().endswith(f"{len(change.entered):,} up-sells entered a top 3, {len(change.left):,} left")


def test_a_tie_at_the_last_place_is_not_churn():
    # a was bought once with each of b, c, d, e: at k=2 two of four tied links make the cut, which two
    # follows the order the items were first seen; the same orders read backwards change nothing learnt
    frame = pd.DataFrame([(n, item) for n, pair in enumerate(["ab", "ac", "ad", "ae"]) for item in pair],
                         columns=["order_id", "item_id"])
    first = CoOccurrence(min_count=1).fit(xsell.load_orders(frame))
    backwards = CoOccurrence(min_count=1).fit(xsell.load_orders(frame.iloc[::-1].reset_index(drop=True)))
    assert first.recommend(["a"], k=2).items != backwards.recommend(["a"], k=2).items  # the tie, cut two ways
    change = xsell.diff(first, backwards, k=2)
    assert change.entered.empty and change.left.empty
    assert change.summary["tie_swaps"] == 2 and change.changed_share == 0.0
    assert change.items.set_index("item").loc["a", ["shared", "overlap"]].tolist() == [2, 1.0]
    # a real change at the last place still shows: a and e bought together once more
    more = CoOccurrence(min_count=1).fit(xsell.load_orders(pd.concat(
        [frame, pd.DataFrame({"order_id": [9, 9], "item_id": ["a", "e"]})])))
    moved = xsell.diff(first, more, k=2)
    assert ("a", "e") in _links(moved.entered)


def test_int_ids_turned_to_text_by_an_update_are_the_same_items():
    ints = pd.DataFrame({"order_id": [1, 1, 2, 2, 3, 3], "item_id": [10, 20, 10, 30, 20, 30]})
    old = CoOccurrence(min_count=1, keep_counts=1).fit(xsell.load_orders(ints))
    new = CoOccurrence(min_count=1, keep_counts=1).fit(xsell.load_orders(ints))
    new.update(xsell.load_orders(pd.DataFrame({"order_id": [4, 4], "item_id": ["X1", "10"]})))
    assert new.items_.ids.tolist() == ["10", "20", "30", "X1"]  # every id is text now
    change = xsell.diff(old, new)
    assert change.summary["gone"] == 0 and change.added["item"].tolist() == ["X1"]
    assert change.summary["compared"] == 3 and ("10", "X1") in _links(change.entered)
