"""What the gain correction's guard trades, for every threshold at once.

The simulated deployments of `adaptation.py` (same held-out tasks, starting routers,
pool / evaluation splits, request streams, logging policy and exploration draws), but
without redeploying: the first k requests of each stream are logged under the
starting router's policy, and the gain correction is fitted on their feedback twice,
once with its guard's evidence (the held-out gain g over the starting ranking and its
standard error se, as `prefroute adapt` computes them) and once without the guard.
A guard at Z standard errors deploys the correction when ``g - Z * se > 0`` and keeps
the starting ranking otherwise, so one fit per log scores every Z; ``never`` keeps the
start, ``always`` deploys the correction whatever the evidence (the `unguarded` column
of `adaptation.py`). The table, per rule and k, over every (task, split, exploration)
cell:

- the mean APGR change from k = 0 on the evaluation prompts, and as a share of the gap
  between k = 0 and the ceiling (the correction fitted on every pool prompt with both
  models' labels, `adaptation.ceiling_routers`);
- the (pair, exploration) rows whose mean over tasks and splits reaches half that
  gap (the adaptation target at k = 200);
- the cells moved, the cells below k = 0 beyond the paired 95% interval (500
  bootstrap resamples of the evaluation prompts) and the cells below k = 0's own 95%
  interval.

The rows ``ceiling, Z = z`` ask what the evidence allows whatever the model: the same
guard, on the same log and folds, judges the ceiling's own ranking (fitted with every
label of the task's pool, the log's prompts among them, so its evidence if anything
flatters it), and deploys the ceiling where ``g - z * se > 0``. Where
they recover no more of the gap than the correction's rows, a better model would not
help at that k; more evidence would.

It isolates the rule from `prefroute adapt`'s held-out check and from redeployment,
which `adaptation.py` includes. ``--outcome levels`` ablates the correction's
outcome model (the levels alone, the starting logit at face value). Usage::

    PREFROUTE_DATA_DIR=../shared/data .venv/bin/python benchmarks/adaptation_rules.py \\
        --splits 5 --ks 50,200,1000
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import adaptation as A
from _adaptation_deploy import StoreLog, face_value_outcome, load_cached
from _adaptation_tables import rule_table

from prefroute.config import resolve_data_dir
from prefroute.embed import get_embedder
from prefroute.embed.cache import CachedEmbedder
from prefroute.evals.bootstrap import (
    bootstrap_metrics,
    paired_difference,
    percentile_interval,
)
from prefroute.evals.multi import load_golden
from prefroute.train.logdata import read_log

ZS = (-2.0, -1.0, 0.0, 0.5, 1.0, 2.0)


def cell_scores(
    scenario: A.PairScenario,
    start: Any,
    task: A.Task,
    stream: list[str],
    threshold: float,
    explore: float,
    work: Path,
    ceiling: Any,
) -> tuple[np.ndarray, float, float, float, float]:
    """Log `stream` under the starting policy (`threshold`); the unguarded
    correction's scores on the evaluation prompts, the guard's (g, se), and the
    same guard's (g, se) for the `ceiling` router's ranking on the same log."""
    log = Path(tempfile.mkdtemp(dir=work)) / "log.db"
    store = StoreLog(log, explore, seed=3, candidates=(scenario.strong, scenario.weak))
    s = np.asarray(start.score(stream))
    picks = [scenario.strong if v >= threshold else scenario.weak for v in s]
    store.serve(
        stream,
        picks,
        lambda p, m: task.scores[p][m],
        None,
        threshold=threshold,
        scores=s,
    )
    traffic = read_log(log)
    guarded = A._fit_on_log(
        scenario, start, traffic, None, guard=True, references=[ceiling]
    )
    gain, se = guarded.gain_guard_
    [(ceiling_gain, ceiling_se)] = guarded.reference_guard_
    unguarded = A._fit_on_log(scenario, start, traffic, None)
    return (
        np.asarray(unguarded.score(task.evaluation)),
        float(gain),
        float(se),
        float(ceiling_gain),
        float(ceiling_se),
    )


def main() -> None:
    """Log, fit and score every cell; print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--pairs", default=",".join(p.name for p in A.PAIRS))
    ap.add_argument("--task-set", default="benchmark", choices=("benchmark", "dev"))
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--ks", default="50,200,1000")
    ap.add_argument("--explore", default=",".join(str(e) for e in A.EXPLORES))
    ap.add_argument("--z", default=",".join(f"{z:g}" for z in ZS))
    ap.add_argument("--json", type=Path, default=None, help="write every cell here")
    ap.add_argument(
        "--outcome",
        default="slope",
        choices=("slope", "levels"),
        help="the gain correction's outcome model: the library's, or the levels "
        "alone (the starting logit at face value; ablation)",
    )
    ap.add_argument(
        "--min-gap",
        type=float,
        default=-math.inf,
        help="leave out tasks whose strong-weak gap on the evaluation prompts is "
        "under this (APGR divides by it)",
    )
    args = ap.parse_args()
    if args.outcome == "levels":
        face_value_outcome()
    ks = [int(k) for k in args.ks.split(",")]
    explores = [float(e) for e in args.explore.split(",")]
    zs = [float(z) for z in args.z.split(",")]
    data_dir = resolve_data_dir(args.data_dir)
    embedder = CachedEmbedder(get_embedder(A.EMBEDDER), memory_items=200_000)
    t0 = time.time()
    cells: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="prefroute-rules-") as tmp:
        work = Path(tmp)
        starts = A.Starts(data_dir, work, embedder)
        golden: dict[str, Any] = {}
        for scenario in A.PAIRS:
            if scenario.name not in args.pairs.split(","):
                continue
            if scenario.dataset not in golden:
                golden[scenario.dataset] = load_golden(scenario.dataset, data_dir)
            tasks = (
                scenario.tasks
                if args.task_set == "benchmark"
                else A.DEV_TASKS.get(scenario.name, ())
            )
            for name in tasks:
                for split in range(args.splits):
                    task = A.load_task(
                        golden[scenario.dataset], scenario.dataset, name, split
                    )
                    qs, qw = A.pair_truth(task, scenario.strong, scenario.weak)
                    if qs.mean() - qw.mean() < args.min_gap:
                        continue
                    folder = starts.pair(name)
                    start = load_cached(folder, embedder)
                    _, ceiling_router = A.ceiling_routers(scenario, task, start)
                    ceiling_scores = np.asarray(ceiling_router.score(task.evaluation))
                    ceiling = A._apgr(ceiling_scores, qs, qw)
                    k0_scores = np.asarray(start.score(task.evaluation))
                    stream = A.stream_of(task, seed=1)
                    threshold = A.share_threshold(start, task.pool)
                    fitted = {}
                    for explore in explores:
                        for k in ks:
                            fitted[f"{explore}/{k}"] = cell_scores(
                                scenario,
                                start,
                                task,
                                stream[:k],
                                threshold,
                                explore,
                                work,
                                ceiling_router,
                            )
                    scores = {"k0": k0_scores, "ceiling": ceiling_scores} | {
                        key: value[0] for key, value in fitted.items()
                    }
                    boot = bootstrap_metrics(scores, qs, qw, n_resamples=500, seed=0)
                    base = boot.routers["k0"]["APGR"]
                    k0 = A._apgr(k0_scores, qs, qw)
                    k0_low = percentile_interval(base)[0]
                    ceiling_paired = paired_difference(
                        boot.routers["ceiling"]["APGR"], base, ceiling, k0
                    )
                    for key, (unguarded, gain, se, c_gain, c_se) in fitted.items():
                        explore_text, k_text = key.split("/")
                        value = A._apgr(unguarded, qs, qw)
                        paired = paired_difference(
                            boot.routers[key]["APGR"], base, value, k0
                        )
                        cells.append(
                            {
                                "pair": scenario.name,
                                "task": name,
                                "split": split,
                                "explore": float(explore_text),
                                "k": int(k_text),
                                "k0": k0,
                                "ceiling": ceiling,
                                "unguarded": value,
                                "gain": gain,
                                "se": se,
                                "down": bool(paired["diff_ci"][1] < 0),
                                "below": bool(value < k0_low),
                                "ceiling_gain": c_gain,
                                "ceiling_se": c_se,
                                "ceiling_down": bool(ceiling_paired["diff_ci"][1] < 0),
                                "ceiling_below": bool(ceiling < k0_low),
                            }
                        )
                    print(
                        f"{scenario.name} {name} ({split + 1}): k=0 {k0:.3f}, ceiling "
                        f"{ceiling:.3f} ({time.time() - t0:.0f} s)",
                        flush=True,
                    )
    if args.json is not None:
        args.json.write_text(json.dumps(cells, indent=1) + "\n", encoding="utf-8")
    print()
    print(rule_table(cells, ks, zs))
    print(f"\ntotal {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
