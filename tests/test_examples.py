"""Every script in examples/ runs and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_quickstart_runs():
    result = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "customers also bought" in result.stdout
    lines = result.stdout.splitlines()
    batch_header = [i for i, line in enumerate(lines) if line.split()[:4] == ["basket_id", "rank", "item_id", "score"]]
    assert batch_header, result.stdout
    batch_rows = [line.split()[0] for line in lines[batch_header[0] + 1:]]
    assert batch_rows == ["cart-1"] * 3 + ["cart-2"] * 3
