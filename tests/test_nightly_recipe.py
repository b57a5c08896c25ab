"""The README's nightly job, run as written (bash, the real `xsell` command): update, diff against the
served model, publish by rename; a day that changes too much raises the drift alarm (exit 3) and the
served model stays."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell.datasets import synthetic_shop
from tests.test_update import assert_same_model

ROOT = Path(__file__).resolve().parents[1]


def _recipe() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### A nightly job", 1)[1]
    return section.split("```bash\n", 1)[1].split("```", 1)[0]


@pytest.fixture()
def shop_dir(tmp_path):
    frame = synthetic_shop(6, n_products=30, n_customers=200, n_orders=2000).orders.to_frame()
    ids = frame["order_id"].unique()
    history, day = frame[frame["order_id"].isin(ids[:1800])], frame[frame["order_id"].isin(ids[1800:])]
    (tmp_path / "orders").mkdir()
    (tmp_path / "reports").mkdir()
    history.to_csv(tmp_path / "history.csv", index=False)
    xsell.save_model(xsell.CoOccurrence(keep_counts=1).fit(xsell.load_orders(history)), tmp_path / "base.xsell")
    shutil.copy(tmp_path / "base.xsell", tmp_path / "served.xsell")
    return tmp_path, history, day


def _run(folder: Path, day: pd.DataFrame) -> subprocess.CompletedProcess:
    today = dt.date.today()
    for d in (today - dt.timedelta(days=1), today):  # `date -d yesterday` in the script; either side of midnight
        day.to_csv(folder / "orders" / f"{d.isoformat()}.csv", index=False)
    script = folder / "nightly.sh"
    script.write_text(_recipe().replace("/srv/xsell", str(folder)), encoding="utf-8")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=300)


def test_a_quiet_day_is_published(shop_dir):
    folder, history, day = shop_dir
    done = _run(folder, day)
    assert done.returncode == 0, done.stderr
    every = xsell.load_orders(pd.concat([history, day]))
    assert_same_model(xsell.load_model(folder / "served.xsell"), xsell.CoOccurrence(keep_counts=1).fit(every))
    assert_same_model(xsell.load_model(folder / "base.xsell"), xsell.load_model(folder / "served.xsell"))
    assert not (folder / "candidate.xsell").exists()  # renamed into place
    assert list((folder / "reports").glob("*.html"))


def test_a_day_that_changes_too_much_raises_the_alarm_and_nothing_is_published(shop_dir):
    folder, history, day = shop_dir
    before = (folder / "served.xsell").read_bytes()
    rng = np.random.default_rng(0)
    items = history["item_id"].unique()
    # a flood of orders pairing items at random: the learned links change wholesale
    n = 6000
    flood = pd.DataFrame({"order_id": np.repeat([f"F{i}" for i in range(n)], 3),
                          "item_id": rng.choice(items, 3 * n),
                          "customer_id": "C-flood", "timestamp": pd.Timestamp("2026-01-01"),
                          "quantity": 1.0, "price": 5.0}).drop_duplicates(["order_id", "item_id"])
    done = _run(folder, flood[history.columns])
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines()[-2].startswith("drift alarm: ")
    assert done.stderr.splitlines()[-1].startswith("drift alarm: served.xsell kept; see reports/")
    assert (folder / "served.xsell").read_bytes() == before  # yesterday's model still serves
    assert xsell.load_model(folder / "base.xsell").kept_orders_.ids.size == 1800 + flood["order_id"].nunique()
