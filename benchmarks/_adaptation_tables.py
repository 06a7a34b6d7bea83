"""Markdown tables of `adaptation.py`'s results."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "fmt",
    "multi_table",
    "pair_table",
    "pair_task_table",
    "rule_table",
    "summary_table",
    "target_table",
    "unguarded_table",
]


def fmt(x: float, pct: bool = False) -> str:
    if not math.isfinite(x):
        return "never"
    return f"{100 * x:.0f}%" if pct else f"{x:.3f}"


def pair_table(results: dict[str, Any], ks: Sequence[int]) -> str:
    """Markdown: one row per pair and exploration (mean over held-out tasks)."""
    head = (
        "| pair | explore | "
        + " | ".join(f"k={k}" for k in ks)
        + " | ceiling | random |"
    )
    lines = [head, "|" + "---|" * (len(ks) + 4)]
    for name, per_task in results.items():
        for explore in sorted({e for t in per_task.values() for e in t["streams"]}):
            row = [name, f"{float(explore):g}"]
            for k in ks:
                vals = [
                    t["streams"][explore]["k"][k]["apgr"]
                    for t in per_task.values()
                    if explore in t["streams"]
                ]
                worse = any(
                    t["streams"][explore]["k"][k]["diff_ci"][1] < 0
                    for t in per_task.values()
                )
                row.append(fmt(float(np.mean(vals))) + ("*" if worse else ""))
            row.append(
                fmt(
                    float(np.mean([t["ceiling"]["ceiling"] for t in per_task.values()]))
                )
            )
            row.append(
                fmt(float(np.mean([t["ceiling"]["random"] for t in per_task.values()])))
            )
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def pair_task_table(results: dict[str, Any], ks: Sequence[int]) -> str:
    """Markdown: every (pair, task, exploration) with the k = 0 interval."""
    head = (
        "| pair | task | explore | k=0 [95% CI] | "
        + " | ".join(f"k={k}" for k in ks if k)
        + " | ceiling |"
    )
    lines = [head, "|" + "---|" * (len(ks) + 4)]
    for name, per_task in results.items():
        for task, t in per_task.items():
            for explore, s in t["streams"].items():
                k0 = s["k"][0]
                row = [
                    name,
                    task,
                    f"{float(explore):g}",
                    f"{k0['apgr']:.3f} [{k0['ci'][0]:.3f}, {k0['ci'][1]:.3f}]",
                ]
                for k in ks:
                    if k:
                        cell = s["k"][k]
                        mark = "*" if cell["diff_ci"][1] < 0 else ""
                        row.append(
                            f"{cell['apgr']:.3f}{mark}"
                            + ("" if cell["written"] else "=")
                        )
                row.append(f"{t['ceiling']['ceiling']:.3f}")
                lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def multi_table(results: dict[str, Any], ks: Sequence[int]) -> str:
    """Markdown: cost to match the best single model (share of its cost) and
    quality at the logging budget, per task and exploration."""
    head = (
        "| task | explore | "
        + " | ".join(f"k={k}" for k in ks)
        + " | ceiling | random |"
    )
    lines = [head, "|" + "---|" * (len(ks) + 4)]
    for task, t in results.items():
        for explore, s in t["streams"].items():
            row = [task, f"{float(explore):g}"]
            for k in ks:
                c = s["k"][k]
                worse_cost = k and c["cost_share_diff_ci"][0] > 0
                worse_q = k and c["quality_at_budget_diff_ci"][1] < 0
                row.append(
                    f"{fmt(c['cost_share'], True)}{'*' if worse_cost else ''} / "
                    f"{c['quality_at_budget']:.3f}{'*' if worse_q else ''}"
                )
            ceil = t["ceiling"]
            row.append(
                f"{fmt(ceil['ceiling'], True)} / "
                f"{ceil['ceiling_quality_at_budget']:.3f}"
            )
            row.append(
                f"{fmt(ceil['random'], True)} / {ceil['random_quality_at_budget']:.3f}"
            )
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def unguarded_table(results: dict[str, Any], ks: Sequence[int]) -> str:
    """Markdown: mean APGR over tasks without the guard (the most promising
    candidate fitted on the log), beside the deployed (guarded) one."""
    head = "| pair | explore | " + " | ".join(f"k={k}" for k in ks if k) + " |"
    lines = [head, "|" + "---|" * (len([k for k in ks if k]) + 2)]
    for name, per_task in results.items():
        for explore in sorted({e for t in per_task.values() for e in t["streams"]}):
            row = [name, f"{float(explore):g}"]
            for k in [k for k in ks if k]:
                cells = [t["streams"][explore]["k"][k] for t in per_task.values()]
                row.append(
                    f"{np.mean([c['unguarded'] for c in cells]):.3f} "
                    f"({np.mean([c['apgr'] for c in cells]):.3f})"
                )
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def target_table(results: dict[str, Any], k: int) -> str:
    """Markdown: at `k`, mean over tasks of the deployed router, the unguarded
    candidate and the best candidate in hindsight (when measured), beside k = 0,
    the ceiling, the half-gap target ``k0 + (ceiling - k0) / 2`` and the guarded
    router fitted on the ceiling's labels (both models on every pool prompt)."""
    head = (
        f"| pair | explore | k=0 | deployed k={k} | unguarded | hindsight best | "
        "target (half the gap) | ceiling | ceiling labels, guarded |"
    )
    lines = [head, "|" + "---|" * 9]
    for name, per_task in results.items():
        for explore in sorted({e for t in per_task.values() for e in t["streams"]}):
            cells = [t["streams"][explore]["k"] for t in per_task.values()]
            if any(k not in c for c in cells):
                continue
            k0 = float(np.mean([c[0]["apgr"] for c in cells]))
            ceilings = [t["ceiling"]["ceiling"] for t in per_task.values()]
            ceiling = float(np.mean(ceilings))
            best = [c[k].get("hindsight") for c in cells]
            row = [
                name,
                f"{float(explore):g}",
                fmt(k0),
                fmt(float(np.mean([c[k]["apgr"] for c in cells]))),
                fmt(float(np.mean([c[k]["unguarded"] for c in cells]))),
                fmt(float(np.mean(best))) if None not in best else "-",
                fmt(k0 + (ceiling - k0) / 2),
                fmt(ceiling),
                fmt(
                    float(
                        np.mean(
                            [t["ceiling"]["ceiling_guarded"] for t in per_task.values()]
                        )
                    )
                ),
            ]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def summary_table(runs: dict[str, dict[str, Any]], min_gap: float = -math.inf) -> str:
    """Markdown: per run, every pair cell (task, split, exploration, k > 0) counted:
    moved from k = 0, above or below it beyond the paired 95% interval, below
    k = 0's own interval; the mean change from k = 0 at each k, and at k = 200 that
    of the unguarded router (fitted on the same log, deployed whatever the guard and
    the held-out check say). Tasks whose
    strong-weak quality gap on the evaluation prompts is under `min_gap` are left
    out (APGR divides by that gap: near 0 it swings by whole units)."""
    ks: list[int] = sorted(
        {
            int(k)
            for run in runs.values()
            for tasks in run.values()
            for e in tasks.values()
            for s in e["streams"].values()
            for k in s["k"]
            if int(k) > 0
        }
    )
    head = (
        "| run | task splits | cells | moved | up | down | below k=0's interval | "
        + " | ".join(f"k={k}" for k in ks)
        + " | unguarded k=200 |"
    )
    lines = [head, "|" + "---|" * (8 + len(ks))]
    for name, run in runs.items():
        n = moved = up = down = below = n_tasks = 0
        change: dict[int, list[float]] = {k: [] for k in ks}
        unguarded: list[float] = []
        for tasks in run.values():
            for entry in tasks.values():
                if entry["ceiling"]["gap"] < min_gap:
                    continue
                n_tasks += 1
                for stream in entry["streams"].values():
                    cells = {int(k): c for k, c in stream["k"].items()}
                    base = cells[0]
                    for k in ks:
                        c = cells[k]
                        n += 1
                        moved += c["apgr"] != base["apgr"]
                        up += c["diff_ci"][0] > 0
                        down += c["diff_ci"][1] < 0
                        below += c["apgr"] < base["ci"][0]
                        change[k].append(c["apgr"] - base["apgr"])
                        if k == 200:
                            unguarded.append(c["unguarded"] - base["apgr"])
        lines.append(
            f"| {name} | {n_tasks} | {n} | {moved} | {up} | {down} | {below} | "
            + " | ".join(f"{np.mean(change[k]):+.4f}" for k in ks)
            + (f" | {np.mean(unguarded):+.4f} |" if unguarded else " | - |")
        )
    return "\n".join(lines)


def rule_table(cells: list[dict[str, Any]], ks: list[int], zs: list[float]) -> str:
    """Markdown: one row per (k, rule) over every cell (see `adaptation_rules.py`).

    Cells that carry the guard's evidence for the ceiling's own ranking on the same
    log (``ceiling_gain``, ``ceiling_se``) add the rows ``ceiling, Z = z``: what
    each guard would recover if the correction fitted on the log were the ceiling.
    """
    rules: list[tuple[str, float]] = [
        ("never", math.inf),
        *((f"Z = {z:g}", z) for z in sorted(zs, reverse=True)),
        ("always", -math.inf),
    ]
    head = (
        "| k | rule | cells | moved | mean change | share of the gap | rows at half "
        "the gap | down (paired) | below k=0's interval |"
    )
    lines = [head, "|" + "---|" * 9]
    for k in ks:
        mine = [c for c in cells if c["k"] == k]
        for name, z in rules:
            lines.append(_rule_row(mine, k, name, z, ""))
        if mine and all("ceiling_gain" in c for c in mine):
            for z in sorted(zs, reverse=True):
                lines.append(_rule_row(mine, k, f"ceiling, Z = {z:g}", z, "ceiling_"))
    return "\n".join(lines)


def _rule_row(
    cells: list[dict[str, Any]], k: int, name: str, z: float, prefix: str
) -> str:
    """One row of `rule_table`: the guard at `z` deploys, in each cell, the
    correction (`prefix` "") or the ceiling (`prefix` "ceiling_") when its evidence
    ``gain - z * se`` is above 0."""
    rows = sorted({(c["pair"], c["explore"]) for c in cells})
    per_row: dict[tuple[str, float], list[tuple[float, float, float]]] = defaultdict(
        list
    )
    moved = down = below = 0
    change = []
    for c in cells:
        if prefix:
            g, se, deployed = c["ceiling_gain"], c["ceiling_se"], c["ceiling"]
        else:
            g, se, deployed = c["gain"], c["se"], c["unguarded"]
        # NaN evidence (too few requests) keeps the start, like the guard
        used = z == -math.inf or (
            math.isfinite(g) and math.isfinite(se) and g - z * se > 0
        )
        value = deployed if used else c["k0"]
        moved += used and deployed != c["k0"]
        down += used and c[prefix + "down"]
        below += used and c[prefix + "below"]
        change.append(value - c["k0"])
        per_row[(c["pair"], c["explore"])].append((c["k0"], c["ceiling"], value))
    met = 0
    for row in rows:
        k0, ceiling, value = (
            float(np.mean(v)) for v in zip(*per_row[row], strict=True)
        )
        met += value >= k0 + (ceiling - k0) / 2
    gap = float(np.mean([c["ceiling"] - c["k0"] for c in cells]))
    return (
        f"| {k} | {name} | {len(cells)} | {moved} | {np.mean(change):+.4f} | "
        f"{np.mean(change) / gap:.2f} | {met} of {len(rows)} | {down} | {below} |"
    )
