"""How hard the property and kill suites push: XSELL_FUZZ_SCALE=1 (the default) keeps the test suite
fast; benchmarks/hostile.py runs the same suites with a larger scale."""

from __future__ import annotations

import os

SCALE = max(1, int(os.environ.get("XSELL_FUZZ_SCALE", "1")))


def scaled(examples: int) -> int:
    """`examples` times the scale: Hypothesis examples, kill rounds."""
    return examples * SCALE
