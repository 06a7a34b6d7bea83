"""Adapting to your own traffic: a simulated deployment with known truth.

Golden labels (per-model correctness of every prompt: RouterBench, RouterDC,
LLMRouter) stand in for users: the feedback on a request is the golden correctness
of the model that answered it. Leave one task out: the starting router never saw
the task (its prompts are dropped from every family of its training data); the
task's prompts are split (a fixed hash of the text) into a traffic pool (60%) and
evaluation prompts (40%). ``--splits N`` repeats every pair deployment on N such
splits (other hash salts) and averages over them: APGR on a few hundred prompts of one
task moves by several hundredths between splits, more than most adaptations gain.

A deployment serves 1,000 requests drawn from the pool (a seeded permutation, cycled
when the pool is smaller, so a prompt may come back), logs each (prompt, decision,
propensity), receives its feedback, and at k = 50, 100, 200, 500 and 1,000 feedback
records runs ``prefroute adapt`` (the CLI: held-out check, written only when not
worse) on the log so far, starting from the starting router; a written router is
deployed for the next requests (a reload). Each row reports the deployed router at
k on the task's evaluation prompts:

- pairs: APGR (exact curve) with a bootstrap interval over the evaluation prompts,
  and the paired difference with k = 0. The logging policy sends the top half of the
  pool (by the deployed router's score: its threshold for a 50% strong share) strong.
- N models (RouterBench's 11, measured cost per query): the mean cost at which the
  router's curve (interpolated hull over a lambda sweep) reaches the best single
  model's quality, as a share of that model's cost. The logging policy is the
  deployed router at the lambda that meets the median single-model cost.

Exploration 0 / 0.1 / 0.5: that share of requests goes to a model the policy did not
pick (`prefroute.gateway.explore.Explorer`, as `serve --explore`), propensity logged.
Beside them: ``ceiling``, the adapted router fitted on every pool prompt with every
model's label (pairs: the gain correction, or with ``--correction heads`` the heads
at the penalties cross-validation picks, without the guard; it can fall below
k = 0), and ``random``.

``--task-set dev`` runs the two math pairs on development tasks instead (RouterDC:
ARC-Easy, CMMLU, MBPP, ARC-Challenge, C-Eval; LLMRouter: MMLU, CommonsenseQA,
OpenBookQA, MBPP, GPQA, ARC-Challenge): tasks no default was chosen on, to check that
a rule generalises beyond the benchmark's own tasks.

Starting routers (trained here, per held-out task, on the embedding cache's
``minilm`` vectors of each prompt's question text, at most 1,500 prompts per source
file): pairs, the shipped ``default`` recipe (difficulty, ``floor`` heads) on the
RouterBench, RouterDC and LLMRouter golden labels (RouteProfile and AlpacaEval left
out); N models, ``mf-multi`` with the shipped hyperparameters on RouterBench's other
tasks. The routed prompt is the question text (few-shot prefixes dropped).

Two paths write the log:

- ``server`` (the real path): ``prefroute serve``'s app (uvicorn on 127.0.0.1) with
  ``log:``, ``log_prompts``, ``explore`` and an admin key, in front of a fake
  OpenAI-compatible upstream that answers as the real model names; feedback through
  ``POST /v1/feedback``, the adapted folder written over the served one and loaded
  with ``POST /admin/reload``. Used for ``--server-streams`` (default: the paper's
  pair on one task, every exploration share): the server embeds every request
  without the cache, which is slow on a busy machine.
- ``store``: the same records written through the store API
  (`prefroute.gateway.store`), with the server's decision rule and exploration draws,
  for every other stream.

``--correction heads`` adapts with the logistic heads and their guard instead of the
gain correction; ``--guard-se Z`` (either correction) and ``--blends W,...`` (heads)
pass the guard rule under test to every ``prefroute adapt`` (``--no-length``: without
the prompt's log length, every adapted router of the run included); ``--summarize
a.json,b.json`` prints the cell counts of earlier runs (``--min-gap`` leaves out tasks
whose strong-weak gap is smaller); ``--hindsight-ks 200`` (heads only) also reports,
at those k, the best of the starting ranking and every candidate a guard can choose
(each penalty pair at blend weights 0.25, 0.5 and 1), picked on the evaluation
prompts: an optimistic bound for any rule that selects among them from the log.
``--outcome levels`` ablates the gain correction's outcome model (the levels alone, the
starting logit at face value, for the fit and the guard).

Usage::

    PREFROUTE_DATA_DIR=../shared/data OPENBLAS_NUM_THREADS=1 \\
        .venv/bin/python benchmarks/adaptation.py --json adaptation.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import hashlib
import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _adaptation_deploy
from _adaptation_deploy import ServerLog, StoreLog, load_cached, run_adapt
from _adaptation_tables import (
    fmt,
    multi_table,
    pair_table,
    pair_task_table,
    summary_table,
    target_table,
    unguarded_table,
)

from prefroute.config import resolve_data_dir
from prefroute.embed import get_embedder
from prefroute.embed.cache import CachedEmbedder
from prefroute.evals.bootstrap import (
    bootstrap_metrics,
    paired_difference,
    percentile_interval,
)
from prefroute.evals.multi import (
    cost_to_reach,
    default_knobs,
    load_golden,
    quality_at_cost,
)
from prefroute.routers.adapted import AdaptedRouter
from prefroute.routers.adapted_multi import AdaptedMultiModelRouter
from prefroute.routers.multi import MultiModelRouter
from prefroute.routers.policy import choose
from prefroute.train import difficulty as D
from prefroute.train.adapt import holdout_mask
from prefroute.types import GoldenRecord

KS = (0, 50, 100, 200, 500, 1000)
EXPLORES = (0.0, 0.1, 0.5)
N_REQUESTS = 1000
EVAL_SHARE = 0.4
CAP_PER_SOURCE = 1500
EMBEDDER = "minilm"
HINDSIGHT_BLENDS = (0.25, 0.5, 1.0)
# Options of every adapted router built here (beside `prefroute adapt`'s own).
HEADS: dict[str, Any] = {}


@dataclass(frozen=True)
class PairScenario:
    """A strong/weak pair and the tasks held out in turn."""

    name: str
    dataset: str
    strong: str
    weak: str
    tasks: tuple[str, ...]


PAIRS = (
    PairScenario(
        "paper",
        "routerbench",
        "gpt-4-1106-preview",
        "mistralai/mixtral-8x7b-chat",
        ("arc-challenge", "winogrande", "mbpp"),
    ),
    PairScenario(
        "rb-llama",
        "routerbench",
        "gpt-4-1106-preview",
        "meta/llama-2-70b-chat",
        ("arc-challenge", "winogrande", "mbpp"),
    ),
    PairScenario(
        "rdc-dolphin",
        "routerdc",
        "cognitivecomputations/dolphin-2.9-llama3-8b",
        "mistralai/Mistral-7B-v0.1",
        ("MATH_prealgebra", "gsm8k-train"),
    ),
    PairScenario(
        "llmr-qwen",
        "llmrouter",
        "qwen2.5-7b-instruct",
        "mistral-7b-instruct-v0.3",
        ("math", "gsm8k"),
    ),
)
MULTI_TASKS = ("arc-challenge", "winogrande", "mbpp")
# `--task-set dev`: the math pairs' development tasks (none of the benchmark's).
DEV_TASKS = {
    "rdc-dolphin": (
        "arc_easy_train",
        "cmmlu_train",
        "mbpp",
        "arc_challenge_train",
        "ceval",
    ),
    "llmr-qwen": (
        "mmlu",
        "commonsense_qa",
        "openbook_qa",
        "mbpp",
        "gpqa",
        "arc_challenge",
    ),
}


def task_key(task: str) -> str:
    """One name per task across the families (a held-out task leaves all of them)."""
    t = task.lower()
    for suffix in ("_train", "_test", "-train", "-test"):
        t = t.removesuffix(suffix)
    for key in ("arc", "math", "gsm8k", "mbpp", "winogra", "cmmlu", "ceval", "mmlu"):
        if t.startswith(key):
            return key
    if "humaneval" in t or "human_eval" in t or t == "javascript":
        return "humaneval"
    return t


def question(prompt: str) -> str:
    """The routed text: the question (few-shot prefix dropped), as training embeds."""
    return D.question_text(prompt)


def _hash01(text: str, salt: str) -> float:
    h = hashlib.blake2b(
        text.encode("utf-8", "surrogatepass"), digest_size=8, key=salt.encode()
    )
    return int.from_bytes(h.digest(), "little") / 2.0**64


# -- data and starting routers ---------------------------------------------------------


@dataclass
class Task:
    """A held-out task: its pool and evaluation prompts, golden labels and costs."""

    dataset: str
    name: str
    pool: list[str]
    evaluation: list[str]
    scores: dict[str, dict[str, float]]
    costs: dict[str, dict[str, float]] | None


def load_task(
    records: Sequence[GoldenRecord], dataset: str, name: str, split: int = 0
) -> Task:
    """Split one task's prompts into the traffic pool and the evaluation prompts
    (prompts graded for every model of the task only); `split` picks the hash salt
    of the split."""
    mine = [r for r in records if r.task == name]
    models = set().union(*(r.scores for r in mine))
    rows: dict[str, GoldenRecord] = {}
    for r in mine:
        if set(r.scores) == models and (r.costs is None or set(r.costs) >= models):
            rows.setdefault(question(r.prompt), r)
    texts = list(rows)
    held = holdout_mask(texts, EVAL_SHARE, seed=7 + split)
    costs = (
        {t: dict(rows[t].costs or {}) for t in texts}
        if all(r.costs for r in rows.values())
        else None
    )
    return Task(
        dataset,
        name,
        [t for t, h in zip(texts, held, strict=True) if not h],
        [t for t, h in zip(texts, held, strict=True) if h],
        {t: dict(rows[t].scores) for t in texts},
        costs,
    )


class Starts:
    """Starting routers per held-out task key, trained once and saved."""

    def __init__(self, data_dir: Path, work: Path, embedder: Any) -> None:
        self.data_dir = data_dir
        self.work = work
        self.embedder = embedder
        self._table: Any = None
        self._emb: Any = None
        self.folders: dict[str, Path] = {}

    def _load_table(self) -> None:
        table = D.build_table(
            self.data_dir, families=["routerbench", "routerdc", "llmrouter"]
        )
        seen: dict[str, int] = {}
        keep = np.zeros(len(table), dtype=bool)
        for i, source in enumerate(table.source):
            seen[source] = seen.get(source, 0) + 1
            keep[i] = seen[source] <= CAP_PER_SOURCE
        table = D.subset(table, keep)
        print(f"  starting-router table: {len(table)} prompts; embedding", flush=True)
        self._emb = np.asarray(self.embedder.embed(table.texts), dtype=np.float32)
        self._table = table

    def pair(self, held_out: str) -> Path:
        """The difficulty router trained without the task (folder)."""
        key = f"pair-{task_key(held_out)}"
        if key not in self.folders:
            if self._table is None:
                self._load_table()
            tasks = [task_key(r.task or r.source) for r in self._table.records]
            mask = np.array([t != task_key(held_out) for t in tasks])
            router = D.fit_difficulty(
                self._table,
                self._emb,
                mask=mask,
                embedder=self.embedder,
                recipe="floor",
            )
            folder = self.work / key
            router.save(folder)
            self.folders[key] = folder
        return self.folders[key]

    def multi(self, records: Sequence[GoldenRecord], held_out: str) -> Path:
        """mf-multi trained on RouterBench's other tasks (folder)."""
        key = f"multi-{task_key(held_out)}"
        if key not in self.folders:
            router = MultiModelRouter(
                embedder=self.embedder,
                dim=16,
                l2=3e-3,
                n_epochs=400,
                task_shrink=0.5,
                tail_chars=384,
            )
            train = [
                GoldenRecord(question(r.prompt), r.scores, r.source, r.task, r.costs)
                for r in records
                if task_key(r.task) != task_key(held_out)
            ]
            router.fit_multi(train)
            folder = self.work / key
            router.save(folder)
            self.folders[key] = folder
        return self.folders[key]


# -- metrics -----------------------------------------------------------------------


def pair_truth(task: Task, strong: str, weak: str) -> tuple[np.ndarray, np.ndarray]:
    """Golden quality of strong and weak on the evaluation prompts."""
    qs = np.array([task.scores[t][strong] for t in task.evaluation])
    qw = np.array([task.scores[t][weak] for t in task.evaluation])
    return qs, qw


def multi_metrics(
    router: Any, task: Task, models: list[str], budget: float, n_boot: int = 300
) -> dict[str, Any]:
    """On the evaluation prompts: the mean cost (share of the best single model's)
    at which the router's curve reaches that model's quality (inf: never), and the
    quality at the mean cost `budget` (interpolated hulls), each with a bootstrap
    sample over the prompts (same resamples for every router)."""
    quality = np.array([[task.scores[t][m] for m in models] for t in task.evaluation])
    assert task.costs is not None
    cost = np.array([[task.costs[t][m] for m in models] for t in task.evaluation])
    n = len(task.evaluation)
    predicted_q = router.score_models(task.evaluation, models)
    predicted_c = router.predict_costs(task.evaluation, models)
    rows = np.arange(n)
    picked = np.stack(
        [
            choose(predicted_q, predicted_c, knob, "utility")
            for knob in default_knobs(predicted_c, "utility")
        ]
    )
    counts = np.vstack(
        [np.ones(n), np.random.default_rng(0).multinomial(n, np.full(n, 1 / n), n_boot)]
    )
    cq = counts @ quality[rows, picked].T / n  # (1 + boot, knobs)
    cc = counts @ cost[rows, picked].T / n
    single_q = counts @ quality / n
    single_c = counts @ cost / n
    share = np.empty(len(counts))
    at_budget = np.empty(len(counts))
    for b in range(len(counts)):
        best = int(np.argmax(single_q[b]))
        reach = cost_to_reach(cc[b], cq[b], float(single_q[b, best]), interpolate=True)
        share[b] = reach / float(single_c[b, best])
        at_budget[b] = quality_at_cost(cc[b], cq[b], budget, interpolate=True)
    return {"cost_share": share, "quality_at_budget": at_budget}


def multi_singles(task: Task, models: list[str], budget: float) -> tuple[float, float]:
    """The same two figures for randomising between single models (their hull)."""
    quality = np.array([[task.scores[t][m] for m in models] for t in task.evaluation])
    assert task.costs is not None
    cost = np.array([[task.costs[t][m] for m in models] for t in task.evaluation])
    best = int(np.argmax(quality.mean(axis=0)))
    c, q = cost.mean(axis=0), quality.mean(axis=0)
    reach = cost_to_reach(c, q, float(q[best]), interpolate=True)
    return reach / float(c[best]), quality_at_cost(c, q, budget, interpolate=True)


def share_threshold(router: Any, prompts: Sequence[str], share: float = 0.5) -> float:
    """Threshold sending `share` of the prompts strong (score >= threshold)."""
    s = np.sort(np.asarray(router.score(list(prompts))))[::-1]
    k = max(1, round(share * len(s)))
    return float(s[k - 1])


# -- one stream --------------------------------------------------------------------


def stream_of(task: Task, seed: int) -> list[str]:
    """1,000 requests from the pool: a seeded permutation, cycled."""
    order = np.random.default_rng(seed).permutation(len(task.pool))
    return [task.pool[order[i % len(order)]] for i in range(N_REQUESTS)]


def pair_stream(
    scenario: PairScenario,
    task: Task,
    start: Path,
    explore: float,
    work: Path,
    embedder: Any,
    *,
    use_server: bool,
    ks: Sequence[int],
    hindsight_ks: Sequence[int] = (),
) -> dict[str, Any]:
    """Run one deployment; the deployed router's APGR at every k."""
    strong, weak = scenario.strong, scenario.weak
    stream = stream_of(task, seed=1)
    served = work / "served"
    shutil.copytree(start, served)
    deployed = load_cached(served, embedder)
    server = (
        ServerLog(work, served, strong, weak, explore, seed=3) if use_server else None
    )
    log = server.path if server is not None else work / "log.db"
    store = StoreLog(log, explore, seed=3, candidates=(strong, weak))

    def quality(prompt: str, model: str) -> float:
        return task.scores[prompt][model]

    qs, qw = pair_truth(task, strong, weak)
    scores = {"k=0": np.asarray(deployed.score(task.evaluation))}
    deployed_at: dict[int, bool] = {0: False}
    unguarded: dict[int, float] = {}
    hindsight: dict[int, float] = {}
    done = 0
    try:
        for k in [k for k in ks if k > 0]:
            batch = stream[done:k]
            threshold = share_threshold(deployed, task.pool)
            if server is not None:
                server.serve(batch, threshold, quality)
            else:
                s = np.asarray(deployed.score(batch))
                picks = [strong if v >= threshold else weak for v in s]
                store.serve(batch, picks, quality, None, threshold=threshold, scores=s)
            done = k
            report = work / f"adapt-{k}.json"
            written = run_adapt(start, log, served, seed=0, report=report)
            if written:
                deployed = load_cached(served, embedder)
                if server is not None:
                    server.reload()
            deployed_at[k] = written
            scores[f"k={k}"] = np.asarray(deployed.score(task.evaluation))
            unguarded[k] = _unguarded(scenario, task, start, log, report, embedder)
            if k in hindsight_ks:
                hindsight[k] = _hindsight(scenario, task, start, log, embedder)
    finally:
        if server is not None:
            server.close()
    boot = bootstrap_metrics(scores, qs, qw, n_resamples=500, seed=0)
    out: dict[str, Any] = {"path": "server" if use_server else "store", "k": {}}
    base_point = _apgr(scores["k=0"], qs, qw)
    for name, s in scores.items():
        k = int(name.split("=")[1])
        point = _apgr(s, qs, qw)
        lo, hi = percentile_interval(boot.routers[name]["APGR"])
        d = paired_difference(
            boot.routers[name]["APGR"], boot.routers["k=0"]["APGR"], point, base_point
        )
        out["k"][k] = {
            "apgr": point,
            "ci": [lo, hi],
            "diff": d["diff"],
            "diff_ci": d["diff_ci"],
            "written": deployed_at.get(k, False),
            "unguarded": unguarded.get(k, point),
        }
        if k in hindsight:
            out["k"][k]["hindsight"] = hindsight[k]
    return out


def _unguarded(
    scenario: PairScenario,
    task: Task,
    start: Path,
    log: Path,
    report: Path,
    embedder: Any,
) -> float:
    """APGR of the router adapting would have deployed without protection: the
    heads' candidate the guard found most promising, or the gain correction, fitted
    on the whole log and written whatever the held-out check says."""
    from prefroute.train.logdata import read_log

    heads = json.loads(report.read_text(encoding="utf-8"))["heads"]
    picked = heads.get("cv_penalties") or heads.get("penalties")
    router = _fit_on_log(
        scenario,
        load_cached(start, embedder),
        read_log(log),
        None if picked is None else (float(picked[0]), float(picked[1])),
    )
    qs, qw = pair_truth(task, scenario.strong, scenario.weak)
    return _apgr(np.asarray(router.score(task.evaluation)), qs, qw)


def _fit_on_log(
    scenario: PairScenario,
    start: Any,
    traffic: Any,
    penalties: tuple[float, float] | None,
    *,
    guard: bool = False,
    references: Sequence[Any] = (),
) -> AdaptedRouter:
    """The adapted router on the log's labels, without its guard: the heads at fixed
    penalties, or with `penalties` None the gain correction (with its guard when
    `guard`, which also judges the `references`' rankings)."""
    keep = np.isfinite(traffic.rewards)
    options = dict(HEADS)
    if penalties is not None:
        options["correction"] = "heads"
    else:
        options["guard"] = guard
    return AdaptedRouter(
        **options,
        base=start,
        strong_model=scenario.strong,
        weak_model=scenario.weak,
        penalties=penalties,
    ).fit_feedback(
        [p for p, k in zip(traffic.prompts, keep, strict=True) if k],
        [m for m, k in zip(traffic.routed, keep, strict=True) if k],
        traffic.rewards[keep],
        propensities=traffic.propensity[keep],
        unlabeled=traffic.unlabeled,
        references=references,
    )


def _hindsight(
    scenario: PairScenario, task: Task, start: Path, log: Path, embedder: Any
) -> float:
    """The best APGR on the evaluation prompts, chosen there in hindsight, among
    the starting ranking and every candidate the guard can pick (each penalty pair
    of the grids, blended at 0.25, 0.5 and 1): an upper bound for any rule that
    selects among them from the log."""
    from prefroute.routers._pair_heads import DIFFERENCE_GRID, OFF, SHARED_GRID
    from prefroute.train.logdata import read_log

    base = load_cached(start, embedder)
    traffic = read_log(log)
    qs, qw = pair_truth(task, scenario.strong, scenario.weak)
    best = _apgr(np.asarray(base.score(task.evaluation)), qs, qw)
    off = _fit_on_log(scenario, base, traffic, (OFF, OFF))
    assert off.coef_ is not None
    for shared in SHARED_GRID:
        for difference in DIFFERENCE_GRID:
            if (shared, difference) == (OFF, OFF):
                continue
            router = _fit_on_log(scenario, base, traffic, (shared, difference))
            assert router.coef_ is not None
            full = router.coef_.copy()
            for weight in HINDSIGHT_BLENDS:
                router.coef_ = off.coef_ + weight * (full - off.coef_)
                value = _apgr(np.asarray(router.score(task.evaluation)), qs, qw)
                best = max(best, value)
    return best


def _apgr(scores: np.ndarray, qs: np.ndarray, qw: np.ndarray) -> float:
    from prefroute.evals.metrics import exact_metrics, sort_scores

    return float(
        exact_metrics(sort_scores(scores), qs - qw, np.ones((1, len(qs))))["APGR"][0]
    )


def pair_ceiling(
    scenario: PairScenario, task: Task, start: Path, embedder: Any
) -> dict[str, float]:
    """The adapted router on every pool prompt with both models' labels (no guard),
    and the random router's expected APGR."""
    guarded, ceiling = ceiling_routers(scenario, task, load_cached(start, embedder))
    qs, qw = pair_truth(task, scenario.strong, scenario.weak)
    rand = [
        _apgr(np.array([_hash01(t, str(s)) for t in task.evaluation]), qs, qw)
        for s in range(20)
    ]
    return {
        "ceiling": _apgr(np.asarray(ceiling.score(task.evaluation)), qs, qw),
        "ceiling_guarded": _apgr(np.asarray(guarded.score(task.evaluation)), qs, qw),
        "random": float(np.mean(rand)),
        "gap": float(qs.mean() - qw.mean()),
    }


def ceiling_routers(
    scenario: PairScenario, task: Task, base: Any
) -> tuple[AdaptedRouter, AdaptedRouter]:
    """The adapted router on every pool prompt with both models' labels, with its
    guard and without it (the ceiling)."""
    pool = task.pool
    n = len(pool)
    prompts = pool + pool
    models = [scenario.strong] * n + [scenario.weak] * n
    rewards = [task.scores[p][m] for p, m in zip(prompts, models, strict=True)]
    requests = np.concatenate([np.arange(n), np.arange(n)])
    guarded = AdaptedRouter(
        **HEADS, base=base, strong_model=scenario.strong, weak_model=scenario.weak
    ).fit_feedback(prompts, models, rewards, requests=requests)
    # without the guard: the heads at the penalties it found most promising, the
    # gain correction as fitted
    picked = guarded.penalty_.cv_penalties if guarded.penalty_ is not None else None
    unguarded: dict[str, Any] = (
        {"guard": False} if picked is None else {"penalties": picked}
    )
    ceiling = AdaptedRouter(
        **HEADS,
        **unguarded,
        base=base,
        strong_model=scenario.strong,
        weak_model=scenario.weak,
    ).fit_feedback(prompts, models, rewards, requests=requests)
    return guarded, ceiling


def multi_stream(
    task: Task,
    start: Path,
    explore: float,
    work: Path,
    embedder: Any,
    ks: Sequence[int],
) -> dict[str, Any]:
    """One N-model deployment (store path); cost to match the best model at every k."""
    stream = stream_of(task, seed=1)
    served = work / "served"
    shutil.copytree(start, served)
    deployed = load_cached(served, embedder)
    models = list(deployed.models)
    assert task.costs is not None
    single_cost = np.array(
        [[task.costs[t][m] for m in models] for t in task.pool]
    ).mean(axis=0)
    target = float(np.median(single_cost))
    log = work / "log.db"
    store = StoreLog(log, explore, seed=3, candidates=tuple(models))
    costs = task.costs

    def quality(prompt: str, model: str) -> float:
        return task.scores[prompt][model]

    def cost(prompt: str, model: str) -> float:
        return costs[prompt][model]

    samples = {0: multi_metrics(deployed, task, models, target)}
    written_at = {0: False}
    done = 0
    for k in [k for k in ks if k > 0]:
        batch = stream[done:k]
        knob = deployed.calibrate(models=models, target_cost=target)
        picks = deployed.choose(batch, models=models, knob=knob)
        store.serve(batch, picks, quality, cost, knob=knob)
        done = k
        written = run_adapt(start, log, served, seed=0)
        if written:
            deployed = load_cached(served, embedder)
        samples[k] = multi_metrics(deployed, task, models, target)
        written_at[k] = written
    out: dict[str, Any] = {"path": "store", "budget": target, "k": {}}
    for k, sample in samples.items():
        cell: dict[str, Any] = {"written": written_at[k]}
        for metric, values in sample.items():
            base = samples[0][metric]
            finite = np.isfinite(values) & np.isfinite(base)
            with np.errstate(invalid="ignore"):
                diff = values[1:] - base[1:]
            cell[metric] = float(values[0])
            cell[f"{metric}_ci"] = list(percentile_interval(values[1:]))
            cell[f"{metric}_diff_ci"] = (
                list(percentile_interval(diff[finite[1:]]))
                if finite[1:].any()
                else [math.nan, math.nan]
            )
            cell[f"{metric}_never"] = float(np.mean(~np.isfinite(values[1:])))
        out["k"][k] = cell
    return out


def multi_ceiling(task: Task, start: Path, embedder: Any) -> dict[str, float]:
    """mf-multi-adapted on every pool prompt with every model's label; singles."""
    base = load_cached(start, embedder)
    models = list(base.models)
    prompts = [p for p in task.pool for _ in models]
    names = [m for _ in task.pool for m in models]
    rewards = [task.scores[p][m] for p, m in zip(prompts, names, strict=True)]
    ceiling = AdaptedMultiModelRouter.from_base(base).fit_feedback(
        prompts, names, rewards
    )
    assert task.costs is not None
    target = float(
        np.median(
            np.array([[task.costs[t][m] for m in models] for t in task.pool]).mean(
                axis=0
            )
        )
    )
    metrics = multi_metrics(ceiling, task, models, target, n_boot=0)
    singles = multi_singles(task, models, target)
    return {
        "ceiling": float(metrics["cost_share"][0]),
        "ceiling_quality_at_budget": float(metrics["quality_at_budget"][0]),
        "random": singles[0],
        "random_quality_at_budget": singles[1],
    }


# -- main --------------------------------------------------------------------------


def main() -> None:
    """Run every stream; print the tables; optionally write JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--pairs", default=",".join(p.name for p in PAIRS))
    ap.add_argument("--multi", default=",".join(MULTI_TASKS), help="'' to skip")
    ap.add_argument("--explore", default=",".join(str(e) for e in EXPLORES))
    ap.add_argument("--ks", default=",".join(str(k) for k in KS))
    ap.add_argument("--tasks", default="", help="only these held-out tasks")
    ap.add_argument(
        "--task-set",
        default="benchmark",
        choices=("benchmark", "dev"),
        help="the benchmark's held-out tasks, or the math pairs' development tasks",
    )
    ap.add_argument(
        "--splits",
        type=int,
        default=1,
        help="pool / evaluation splits per pair task (each a row of the per-task "
        "table; the pair tables average over tasks and splits); N-model tasks and "
        "server streams use the first split",
    )
    ap.add_argument(
        "--server-streams",
        default="paper:arc-challenge:0.1",
        help="PAIR:TASK:EXPLORE streams sent through the real server ('' for none)",
    )
    ap.add_argument(
        "--guard-se",
        type=float,
        default=None,
        help="`prefroute adapt --guard-se` of every adaptation (default: its own)",
    )
    ap.add_argument(
        "--blends", default=None, help="`prefroute adapt --blends` (default: its own)"
    )
    ap.add_argument(
        "--correction",
        default=None,
        choices=("gain", "heads"),
        help="`prefroute adapt --correction` of every adaptation (default: its own)",
    )
    ap.add_argument(
        "--outcome",
        default="slope",
        choices=("slope", "levels"),
        help="the gain correction's outcome model (fit and guard): the library's, "
        "with a slope on the starting logit learned from the log, or the levels "
        "alone, the starting logit at face value (ablation)",
    )
    ap.add_argument(
        "--no-length",
        action="store_true",
        help="heads without the prompt's log length (`prefroute adapt --no-length`)",
    )
    ap.add_argument(
        "--summarize",
        default="",
        help="print the cell summary of these JSON files of earlier runs "
        "(comma-separated) and exit",
    )
    ap.add_argument(
        "--min-gap",
        type=float,
        default=-math.inf,
        help="--summarize: leave out tasks whose strong-weak gap on the evaluation "
        "prompts is under this",
    )
    ap.add_argument(
        "--hindsight-ks",
        default="",
        help="ks at which to also report the best candidate chosen in hindsight "
        "on the evaluation prompts (pairs; slow)",
    )
    args = ap.parse_args()
    if args.summarize:
        runs = {
            f: json.loads(Path(f).read_text(encoding="utf-8"))["pairs"]
            for f in args.summarize.split(",")
        }
        print(summary_table(runs, args.min_gap))
        return
    started = time.time()
    if args.correction is not None:
        _adaptation_deploy.ADAPT_OPTIONS += ["--correction", args.correction]
        HEADS["correction"] = args.correction
    if args.guard_se is not None:
        _adaptation_deploy.ADAPT_OPTIONS += ["--guard-se", str(args.guard_se)]
    if args.blends is not None:
        _adaptation_deploy.ADAPT_OPTIONS += ["--blends", args.blends]
    if args.outcome == "levels":
        _adaptation_deploy.face_value_outcome()
    if args.no_length:
        _adaptation_deploy.ADAPT_OPTIONS += ["--no-length"]
        HEADS["length_feature"] = False
    hindsight_ks = [int(k) for k in args.hindsight_ks.split(",") if k]
    if hindsight_ks and args.correction != "heads":
        ap.error(
            "--hindsight-ks chooses among the heads' candidates: pass it with "
            "--correction heads"
        )
    data_dir = resolve_data_dir(args.data_dir)
    ks = [int(k) for k in args.ks.split(",")]
    explores = [float(e) for e in args.explore.split(",")]
    server_streams = {s for s in args.server_streams.split(",") if s}
    embedder = CachedEmbedder(get_embedder(EMBEDDER), memory_items=200_000)
    work_root = Path(tempfile.mkdtemp(prefix="prefroute-adaptation-"))
    starts = Starts(data_dir, work_root, embedder)
    golden = {
        name: load_golden(name, data_dir)
        for name in {p.dataset for p in PAIRS if p.name in args.pairs.split(",")}
        | ({"routerbench"} if args.multi else set())
    }
    scenarios = (
        PAIRS
        if args.task_set == "benchmark"
        else tuple(
            replace(p, tasks=DEV_TASKS[p.name]) for p in PAIRS if p.name in DEV_TASKS
        )
    )
    pairs_out: dict[str, Any] = {}
    for scenario in scenarios:
        if scenario.name not in args.pairs.split(","):
            continue
        pairs_out[scenario.name] = {}
        for task_name, split in [
            (t, s) for t in scenario.tasks for s in range(max(1, args.splits))
        ]:
            if args.tasks and task_name not in args.tasks.split(","):
                continue
            task = load_task(
                golden[scenario.dataset], scenario.dataset, task_name, split
            )
            start = starts.pair(task_name)
            label = task_name if args.splits <= 1 else f"{task_name} ({split + 1})"
            t0 = time.time()
            entry: dict[str, Any] = {
                "n_pool": len(task.pool),
                "n_eval": len(task.evaluation),
                "ceiling": pair_ceiling(scenario, task, start, embedder),
                "streams": {},
            }
            for explore in explores:
                work = Path(tempfile.mkdtemp(dir=work_root))
                entry["streams"][explore] = pair_stream(
                    scenario,
                    task,
                    start,
                    explore,
                    work,
                    embedder,
                    use_server=split == 0
                    and f"{scenario.name}:{task_name}:{explore:g}" in server_streams,
                    ks=ks,
                    hindsight_ks=hindsight_ks,
                )
            pairs_out[scenario.name][label] = entry
            print(
                f"{scenario.name} {label}: "
                + ", ".join(
                    f"e={e:g} " + " ".join(f"{s['k'][k]['apgr']:.3f}" for k in ks)
                    for e, s in entry["streams"].items()
                )
                + f"; ceiling {entry['ceiling']['ceiling']:.3f}"
                + f" ({time.time() - t0:.0f} s)",
                flush=True,
            )
    multi_out: dict[str, Any] = {}
    for task_name in [t for t in args.multi.split(",") if t]:
        if args.tasks and task_name not in args.tasks.split(","):
            continue
        task = load_task(golden["routerbench"], "routerbench", task_name)
        start = starts.multi(golden["routerbench"], task_name)
        t0 = time.time()
        entry = {"ceiling": multi_ceiling(task, start, embedder), "streams": {}}
        for explore in explores:
            work = Path(tempfile.mkdtemp(dir=work_root))
            entry["streams"][explore] = multi_stream(
                task, start, explore, work, embedder, ks
            )
        multi_out[task_name] = entry
        print(
            f"multi {task_name}: "
            + ", ".join(
                f"e={e:g} "
                + " ".join(
                    f"{fmt(s['k'][k]['cost_share'], True)}"
                    f"/{s['k'][k]['quality_at_budget']:.3f}"
                    for k in ks
                )
                for e, s in entry["streams"].items()
            )
            + f"; ceiling {fmt(entry['ceiling']['ceiling'], True)}"
            + f" ({time.time() - t0:.0f} s)",
            flush=True,
        )
    print("\n" + pair_table(pairs_out, ks) + "\n\n" + pair_task_table(pairs_out, ks))
    print("\nwithout the guard (deployed):\n" + unguarded_table(pairs_out, ks))
    if pairs_out:
        print("\n" + summary_table({"this run": pairs_out}))
    if 200 in ks and pairs_out:
        print("\nat k = 200:\n" + target_table(pairs_out, 200))
    if multi_out:
        print("\n" + multi_table(multi_out, ks))
    print(f"\ntotal {time.time() - started:.0f} s")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "pairs": pairs_out,
                    "multi": multi_out,
                    "ks": ks,
                    "adapt_options": _adaptation_deploy.ADAPT_OPTIONS,
                },
                indent=1,
                default=float,
            )
            + "\n",
            encoding="utf-8",
        )
    shutil.rmtree(work_root, ignore_errors=True)


if __name__ == "__main__":
    main()
