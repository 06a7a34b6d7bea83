"""The rule table of `benchmarks/adaptation_rules.py`, on hand-made cells (imported
from the table module: the benchmark sets BLAS threads for its process on import)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

from _adaptation_tables import rule_table


def _cell(
    pair: str, unguarded: float, gain: float, se: float, **flags: bool
) -> dict[str, Any]:
    return {
        "pair": pair,
        "explore": 0.0,
        "k": 200,
        "k0": 0.50,
        "ceiling": 0.60,
        "unguarded": unguarded,
        "gain": gain,
        "se": se,
        "down": flags.get("down", False),
        "below": flags.get("below", False),
    }


CELLS = [
    _cell("a", 0.58, gain=0.03, se=0.01),  # t = 3
    _cell("a", 0.56, gain=0.005, se=0.01),  # t = 0.5
    _cell("b", 0.40, gain=-0.01, se=0.01, down=True, below=True),  # t = -1
    _cell("b", 0.62, gain=float("nan"), se=float("nan")),  # too few requests
]


def _rows(table: str) -> dict[str, list[str]]:
    out = {}
    for line in table.splitlines()[2:]:
        cols = [c.strip() for c in line.strip("|").split("|")]
        out[cols[1]] = cols
    return out


def test_each_rule_deploys_the_correction_where_its_bound_is_above_zero() -> None:
    rows = _rows(rule_table(CELLS, [200], [2.0, 0.0, -2.0]))
    assert list(rows) == ["never", "Z = 2", "Z = 0", "Z = -2", "always"]
    # columns: k, rule, cells, moved, mean change, share, rows, down, below
    assert rows["never"][3:] == ["0", "+0.0000", "0.00", "0 of 2", "0", "0"]
    assert rows["Z = 2"][3:] == ["1", "+0.0200", "0.20", "0 of 2", "0", "0"]
    # Z = 0 adds the t = 0.5 cell; the NaN cell keeps the start under every Z
    assert rows["Z = 0"][3:] == ["2", "+0.0350", "0.35", "1 of 2", "0", "0"]
    assert rows["Z = -2"][3:] == ["3", "+0.0100", "0.10", "1 of 2", "1", "1"]
    # always: every cell, the NaN one and the harmful one included
    assert rows["always"][3:] == ["4", "+0.0400", "0.40", "1 of 2", "1", "1"]
