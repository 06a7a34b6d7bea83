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


def test_ceiling_rows_deploy_the_ceiling_where_its_own_evidence_passes() -> None:
    cells = [
        {**CELLS[0], "ceiling_gain": 0.02, "ceiling_se": 0.01},  # t = 2
        {**CELLS[1], "ceiling_gain": 0.002, "ceiling_se": 0.01},  # t = 0.2
        {**CELLS[2], "ceiling_gain": -0.01, "ceiling_se": 0.01},  # t = -1
        {**CELLS[3], "ceiling_gain": float("nan"), "ceiling_se": float("nan")},
    ]
    for c in cells:
        c["ceiling_down"] = c["ceiling_below"] = False
    cells[2]["ceiling_below"] = True
    rows = _rows(rule_table(cells, [200], [1.0, 0.0, -2.0]))
    # the correction's rows are as without the ceiling's evidence
    assert rows["Z = 1"] == _rows(rule_table(CELLS, [200], [1.0]))["Z = 1"]
    assert list(rows)[-3:] == ["ceiling, Z = 1", "ceiling, Z = 0", "ceiling, Z = -2"]
    # each deployed cell moves from k = 0 (0.50) to the ceiling (0.60): +0.10
    # (row "a" at Z = 1: one of its two cells, so its mean is at half the gap)
    assert rows["ceiling, Z = 1"][3:] == ["1", "+0.0250", "0.25", "1 of 2", "0", "0"]
    assert rows["ceiling, Z = 0"][3:] == ["2", "+0.0500", "0.50", "1 of 2", "0", "0"]
    assert rows["ceiling, Z = -2"][3:] == ["3", "+0.0750", "0.75", "2 of 2", "0", "1"]
