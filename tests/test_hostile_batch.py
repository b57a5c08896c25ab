"""`xsell score` / `score_file` on bad and odd input: every case gets one exact stderr line and exit code
(1: the data or a file, 2: the command line) or an exact scored output, through the real entry point
(`xsell.cli.main`, in process)."""

from __future__ import annotations

import re

import sys
from pathlib import Path

import pandas as pd
import pytest

import xsell
from xsell.batch import score_file
from xsell.cli import main
from xsell.datasets import synthetic_shop

# the tiny model (tests/conftest.py: orders {a,b,c} {a,b} {a,c,d} {b,c}), k=2:
# x=[a,b] -> c,d   y=[d] -> a,c   z=[nope] -> the popular a,b
GROUPED = "basket_id,item_id\nx,a\nx,b\ny,d\nz,nope\n"
SHUFFLED = "basket_id,item_id\nx,a\ny,d\nz,nope\nx,b\n"
XYZ = {"x": ["c", "d"], "y": ["a", "c"], "z": ["a", "b"]}
WROTE_XYZ = "wrote {out}: 3 baskets (1 with no known item got popular items), 6 rows"
REGROUPED = " (lines of a basket were not next to each other: regrouped through 1 temporary partition)"
# a usage error: xsell's one line and exit code 2 around typer's own words, whose wording changes between
# typer releases ("0 is not in the range x>=1." in 0.16, "Input should be greater than or equal to 1" in 0.29)
TYPER = "<typer's reason>"
USAGE = "error: Invalid value for '{opt}': " + TYPER + " (see: xsell score --help)"


def frame(**columns: list) -> pd.DataFrame:
    return pd.DataFrame(columns)


# id, input file name, its content (str/bytes: written as is; DataFrame: Parquet; "DIR": a folder; None: absent),
# extra arguments, exit code, stderr lines, stdout line, expected item ids per basket (output read back)
CASES = [
    ("unsorted-csv-chunk-1", "b.csv", SHUFFLED, ["--chunk-lines", "1"], 0, [], WROTE_XYZ + REGROUPED, XYZ),
    ("unsorted-parquet-chunk-2", "b.parquet", frame(basket_id=list("xyzx"), item_id=["a", "d", "nope", "b"]),
     ["--chunk-lines", "2"], 0, [], WROTE_XYZ + REGROUPED, XYZ),
    ("unsorted-two-workers", "b.csv", SHUFFLED, ["--chunk-lines", "1", "--workers", "2"], 0, [],
     WROTE_XYZ + REGROUPED, XYZ),
    ("basket-split-across-chunks", "b.csv", GROUPED, ["--chunk-lines", "1"], 0, [], WROTE_XYZ, XYZ),
    ("grouped-one-chunk", "b.csv", GROUPED, [], 0, [], WROTE_XYZ, XYZ),
    ("empty-file", "b.csv", b"", [], 1,
     ["error: {src} is empty: expected a header line naming basket_id and item_id"], None, None),
    ("header-only", "b.csv", "basket_id,item_id\n", [], 0, [],
     "wrote {out}: 0 baskets (0 with no known item got popular items), 0 rows", {}),
    ("missing-column", "b.csv", "basket_id,sku\nx,a\n", [], 1,
     ["error: {src} lacks column(s) item_id; it has: basket_id, sku"], None, None),
    ("duplicate-column", "b.csv", "basket_id,item_id,basket_id\nx,a,y\n", [], 1,
     ["error: {src} has column(s) basket_id more than once; keep one of each"], None, None),
    ("null-basket-ids", "b.csv", "basket_id,item_id\nx,a\n,b\n,c\n", [], 1,
     ["error: {src}: line 3 (and 1 more) has no basket_id; every line needs one"], None, None),
    ("null-item-id", "b.csv", "basket_id,item_id\nx,a\ny,\n", [], 1,
     ["error: {src}: line 3 has no item_id; every line needs one"], None, None),
    ("null-item-with-customer-column", "b.csv", "basket_id,item_id,customer_id\nx,a,c1\nx,b,c1\ny,,c2\n", [], 0,
     [], "wrote {out}: 2 baskets (1 with no known item got popular items), 4 rows",
     {"x": ["c", "d"], "y": ["a", "b"]}),
    ("null-basket-id-in-int-parquet", "b.parquet",
     frame(basket_id=pd.array([1, None, 2], dtype="Int64"), item_id=["a", "b", "c"]), [], 1,
     ["error: {src}: row 2 has no basket_id; every line needs one"], None, None),
    ("basket-id-10000-chars", "b.csv", "basket_id,item_id\nx,a\n" + "x" * 10_000 + ",b\n", [], 1,
     ["error: {src}: line 3: basket_id is 10,000 characters long; ids may be at most 256 characters"], None, None),
    ("item-id-300-chars-parquet", "b.parquet", frame(basket_id=["x", "x"], item_id=["a", "i" * 300]), [], 1,
     ["error: {src}: row 2: item_id is 300 characters long; ids may be at most 256 characters"], None, None),
    ("basket-id-256-chars-is-fine", "b.csv", "basket_id,item_id\n" + "x" * 256 + ",a\n" + "x" * 256 + ",b\n", [],
     0, [], "wrote {out}: 1 baskets (0 with no known item got popular items), 2 rows", {"x" * 256: ["c", "d"]}),
    ("folder-as-input", "b.csv", "DIR", [], 1,
     ["error: baskets path {src} is a folder; name one CSV or Parquet file"], None, None),
    ("unknown-input-suffix", "b.xml", '<basket_id>x</basket_id>', [], 1,
     ["error: cannot read {src}: unknown file type '.xml'; use .csv, .tsv, .txt, .parquet, .xlsx, .json or .jsonl (text formats also compressed: .gz, .zst)"], None, None),
    ("input-missing", "b.csv", None, [], 1, ["error: baskets file not found: {src}"], None, None),
    ("not-really-parquet", "b.parquet", GROUPED, [], 1,
     ["error: cannot read Parquet file {src}: Parquet magic bytes not found in footer. Either the file is "
      "corrupted or this is not a parquet file."], None, None),
    ("non-utf8-row", "b.csv", b"basket_id,item_id\nx,a\ny,\xff\xfe\n", [], 1,
     ["error: {src} is not UTF-8 text; save it as UTF-8"], None, None),
    ("non-utf8-header", "b.csv", b"basket_id,item\xe9_id\nx,a\n", [], 1,
     ["error: {src} is not UTF-8 text (byte 0xe9 in the header); save it as UTF-8"], None, None),
    ("utf8-bom", "b.csv", "\ufeff" + GROUPED, [], 0, [], WROTE_XYZ, XYZ),
    ("tsv", "b.tsv", GROUPED.replace(",", "\t"), [], 0, [], WROTE_XYZ, XYZ),
    ("quoted-comma-in-id", "b.csv", 'basket_id,item_id\n"x,1",a\n"x,1",b\n', [], 0, [],
     "wrote {out}: 1 baskets (0 with no known item got popular items), 2 rows", {"x,1": ["c", "d"]}),
    ("csv-string-ids-keep-leading-zeros", "b.csv", "basket_id,item_id\n007,a\n007,b\n7,d\n", [], 0, [],
     "wrote {out}: 2 baskets (0 with no known item got popular items), 4 rows", {"007": ["c", "d"], "7": ["a", "c"]}),
    ("parquet-int-basket-ids", "b.parquet", frame(basket_id=[10, 20, 10, 30], item_id=["a", "d", "b", "nope"]),
     ["--chunk-lines", "1"], 0, [], WROTE_XYZ + REGROUPED, {"10": ["c", "d"], "20": ["a", "c"], "30": ["a", "b"]}),
    ("output-folder-missing", "b.csv", GROUPED, ["-o", "{tmp}/nope/out.csv"], 1,
     ["error: folder does not exist: {tmp}/nope"], None, None),
    ("output-suffix-unknown", "b.csv", GROUPED, ["-o", "{tmp}/out.xlsx"], 1,
     ["error: output {tmp}/out.xlsx must end in .parquet or .csv"], None, None),
    ("output-is-a-folder", "b.csv", GROUPED, ["-o", "{tmp}/outdir.csv"], 1,
     ["error: output {tmp}/outdir.csv is a folder; name a file inside it"], None, None),
    ("chunk-lines-0", "b.csv", GROUPED, ["--chunk-lines", "0"], 2,
     [USAGE.format(opt="--chunk-lines")], None, None),
    ("chunk-lines-negative", "b.csv", GROUPED, ["--chunk-lines", "-1"], 2,
     [USAGE.format(opt="--chunk-lines")], None, None),
    ("chunk-lines-not-a-number", "b.csv", GROUPED, ["--chunk-lines", "many"], 2,
     [USAGE.format(opt="--chunk-lines")], None, None),
    ("workers-0", "b.csv", GROUPED, ["--workers", "0"], 2, [USAGE.format(opt="--workers")],
     None, None),
    ("k-0", "b.csv", GROUPED, ["-k", "0"], 2, [USAGE.format(opt="-k' / '--k")], None, None),
    ("no-such-option", "b.csv", GROUPED, ["--bogus"], 2, ["error: No such option" + TYPER + "--bogus" + TYPER +
                                                          " (see: xsell score --help)"],
     None, None),
    ("unknown-mode", "b.csv", GROUPED, ["--mode", "bogus"], 2, [USAGE.format(opt="--mode")], None, None),
    ("unknown-objective", "b.csv", GROUPED, ["--objective", "profit"], 2, [USAGE.format(opt="--objective")],
     None, None),
]


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory) -> Path:
    lines = [(1, "a"), (1, "b"), (1, "c"), (2, "a"), (2, "b"), (3, "a"), (3, "c"), (3, "d"), (4, "b"), (4, "c")]
    model = xsell.CoOccurrence(min_count=1).fit(xsell.load_orders(pd.DataFrame(lines, columns=["order_id", "item_id"])))
    return xsell.save_model(model, tmp_path_factory.mktemp("model") / "tiny.xsell")


def run_main(monkeypatch, capsys, args: list[str]) -> tuple[int, list[str], list[str]]:
    """Run the console entry point in process: (exit code, stdout lines, stderr lines)."""
    monkeypatch.setattr(sys, "argv", ["xsell", *args])
    with pytest.raises(SystemExit) as stop:
        main()
    out = capsys.readouterr()
    return stop.value.code, out.out.splitlines(), out.err.splitlines()


def read_output(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"basket_id": str, "item_id": str}, keep_default_na=False)
    got = pd.read_parquet(path)
    return got.astype({c: got[c].cat.categories.dtype for c in got.columns if got[c].dtype == "category"})


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_score_command_on_bad_or_odd_input(case, tiny_model_file, tmp_path, monkeypatch, capsys):
    _, name, content, extra, code, stderr, stdout, expected = case
    src = tmp_path / name
    if isinstance(content, pd.DataFrame):
        content.to_parquet(src)
    elif content == "DIR":
        src.mkdir()
    elif isinstance(content, bytes):
        src.write_bytes(content)
    elif content is not None:
        src.write_text(content, encoding="utf-8")
    (tmp_path / "outdir.csv").mkdir()
    out = tmp_path / "out.csv"
    fill = {"tmp": str(tmp_path), "src": str(src), "out": str(out)}
    args = ["score", str(tiny_model_file), str(src), "-o", str(out), "-k", "2", "--no-progress", "--workers", "1",
            *[a.format(**fill) for a in extra]]
    got_code, got_out, got_err = run_main(monkeypatch, capsys, args)
    wanted = [line.format(**fill) for line in stderr]
    if code == 2:  # typer's part of the line may be any text; the rest is exact
        assert got_code == 2 and len(got_err) == len(wanted) == 1
        pattern = ".*".join(re.escape(part) for part in wanted[0].split(TYPER))
        assert re.fullmatch(pattern, got_err[0]), got_err[0]
    else:
        assert (got_code, got_err) == (code, wanted)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    if code:
        assert got_out == [] and not out.exists()
        return
    assert got_out == [stdout.format(**fill)]
    written = read_output(out)
    assert list(written.columns) == ["basket_id", "rank", "item_id", "score"]
    by_basket = {b: g.sort_values("rank")["item_id"].tolist() for b, g in written.groupby("basket_id", sort=False)}
    assert by_basket == expected


def test_shuffled_parquet_int_ids_score_exactly_like_sorted(tiny_model_file, tmp_path):
    model = xsell.load_model(tiny_model_file)
    lines = frame(basket_id=[10, 10, 20, 30, 40, 40, 40], item_id=["a", "b", "d", "nope", "b", "c", "a"])
    shuffled = lines.iloc[[4, 0, 3, 5, 2, 1, 6]]  # 40 10 30 40 20 10 40
    lines.to_parquet(tmp_path / "sorted.parquet")
    shuffled.to_parquet(tmp_path / "shuffled.parquet")
    a = score_file(model, tmp_path / "sorted.parquet", tmp_path / "a.parquet", k=2, chunk_lines=2)
    b = score_file(model, tmp_path / "shuffled.parquet", tmp_path / "b.parquet", k=2, chunk_lines=2)
    assert (a.baskets, a.partitions, b.baskets, b.partitions) == (4, 0, 4, 1)
    expected = model.recommend_batch(lines, k=2)
    for path in (tmp_path / "a.parquet", tmp_path / "b.parquet"):
        got = read_output(path).sort_values(["basket_id", "rank"]).reset_index(drop=True)
        want = read_output_frame(expected).sort_values(["basket_id", "rank"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want)  # the same floats, row for row


def read_output_frame(result: pd.DataFrame) -> pd.DataFrame:
    return result.astype({c: result[c].cat.categories.dtype for c in result.columns
                          if result[c].dtype == "category"})


@pytest.mark.parametrize("kwargs, message", [
    ({"chunk_lines": 0}, "chunk_lines must be a whole number >= 1, got 0"),
    ({"workers": 0}, "workers must be a whole number >= 1, got 0"),
    ({"workers": True}, "workers must be a whole number >= 1, got True"),
    ({"k": 0}, "k must be a whole number >= 1, got 0"),
    ({"mode": "uplift"}, "mode uplift needs an xsell.Engine"),
])
def test_score_file_refuses_bad_arguments(kwargs, message, tiny_model_file, tmp_path):
    (tmp_path / "b.csv").write_text(GROUPED)
    with pytest.raises(xsell.InputError) as err:
        score_file(xsell.load_model(tiny_model_file), tmp_path / "b.csv", tmp_path / "o.csv", **kwargs)
    assert str(err.value) == message
    assert list(tmp_path.iterdir()) == [tmp_path / "b.csv"]


def test_unknown_customers_score_as_anonymous_baskets(tmp_path):
    shop = synthetic_shop(seed=0, n_orders=3_000)
    model = xsell.ItemKNN().fit(shop.orders)
    lines = shop.orders.to_frame().head(300).rename(columns={"order_id": "basket_id"})
    known = lines[["basket_id", "item_id", "customer_id"]]
    unknown = known.assign(customer_id="nobody-" + known["customer_id"].astype(str))
    unknown.to_csv(tmp_path / "unknown.csv", index=False)
    known.to_csv(tmp_path / "known.csv", index=False)
    score_file(model, tmp_path / "unknown.csv", tmp_path / "u.csv", k=3, chunk_lines=50)
    score_file(model, tmp_path / "known.csv", tmp_path / "k.csv", k=3, chunk_lines=50)
    anonymous = read_output_frame(model.recommend_batch(known[["basket_id", "item_id"]], k=3))
    got = read_output(tmp_path / "u.csv")
    pd.testing.assert_frame_equal(got[["basket_id", "rank", "item_id"]],
                                  anonymous[["basket_id", "rank", "item_id"]].astype({"rank": "int64"}))
    with_history = read_output_frame(model.recommend_batch(known, k=3))
    assert read_output(tmp_path / "k.csv")["item_id"].tolist() == with_history["item_id"].tolist()
    assert with_history["item_id"].tolist() != anonymous["item_id"].tolist()  # the customers did matter


@pytest.fixture(scope="module")
def shop_files(tmp_path_factory):
    """A synthetic shop's model and catalog, and 1,500 lines of another seed's baskets: sorted and shuffled."""
    root = tmp_path_factory.mktemp("shop")
    shop = synthetic_shop(seed=0, n_orders=4_000)
    xsell.save_model(xsell.CoOccurrence().fit(shop.orders), root / "m.xsell")
    shop.catalog.to_csv(root / "catalog.csv", index=False)
    lines = synthetic_shop(seed=1, n_orders=600).orders.to_frame().head(1_500)
    lines = lines.rename(columns={"order_id": "basket_id"})[["basket_id", "item_id"]]
    shuffled = lines.sample(frac=1, random_state=0)
    for name, data in (("sorted", lines), ("shuffled", shuffled)):
        data.to_csv(root / f"{name}.csv", index=False)
        data.to_parquet(root / f"{name}.parquet")
    return root, int(lines["basket_id"].nunique())


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("mode", ["recommend", "cross-sell", "uplift"])
def test_shuffled_input_scores_like_sorted_input(mode, suffix, shop_files, tmp_path, monkeypatch, capsys):
    root, baskets = shop_files
    results = {}
    for name in ("sorted", "shuffled"):
        out = tmp_path / f"{name}{suffix}"
        args = ["score", str(root / "m.xsell"), str(root / f"{name}{suffix}"), "-o", str(out), "--mode", mode,
                "-k", "3", "--chunk-lines", "97", "--no-progress", "--workers", "1"]
        if mode != "recommend":
            args += ["--catalog", str(root / "catalog.csv")]
        code, stdout, stderr = run_main(monkeypatch, capsys, args)
        assert (code, stderr) == (0, [])
        assert f": {baskets:,} baskets" in stdout[0]
        assert stdout[0].endswith("temporary partition)") == (name == "shuffled")
        results[name] = read_output(out)
    key = ["basket_id", "rank"] if mode != "uplift" else ["basket_id"]
    a, b = (results[n].sort_values(key).reset_index(drop=True) for n in ("sorted", "shuffled"))
    assert a["basket_id"].nunique() == baskets
    pd.testing.assert_frame_equal(a, b)
