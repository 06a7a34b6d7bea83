"""Evaluation of routing among N models: cost-quality curves, AIQ, cross-validation.

A golden table holds, for every prompt, each model's true quality and true cost
(RouterBench: 0/1 correctness and USD per query). A router is cross-validated by
splitting prompts (random K-fold, or leave-one-task-out): each fold's router is fitted
on the other folds and predicts quality and cost on its own prompts, never on training
prompts. Sweeping the policy knob over the pooled out-of-fold predictions gives the
router's curve of (mean true cost, mean true quality), compared with:

- every single model (a point each) and the random mix of models (the upper hull of
  those points: flip a biased coin between two models);
- the two-model router on the best pair (the same predictions restricted to 2 models);
- the task oracle (each task's true mean quality per model, in-sample: the best any
  router that only recognises the task can do);
- the oracle (the true qualities routed with the same policy).

Summaries: AIQ (RouterBench's average improvement in quality: area under the
non-decreasing upper convex hull of the curve over the cost range of the single models,
divided by that range; every curve's hull runs through the cheapest single model, which
any deployment can fall back to, so a curve that cannot get that cheap is not credited
below its reach), the cost to match the best single model's quality, and the best
quality at the cheapest model's cost.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prefroute.errors import ConfigError, DataError, MissingDependencyError
from prefroute.routers.policy import (
    ModelPrice,
    Policy,
    choose,
    estimate_costs,
    estimate_input_tokens,
)
from prefroute.types import FloatArray, GoldenRecord

__all__ = [
    "BENCHMARKS",
    "CurveSummary",
    "GoldenTable",
    "MultiEvalResult",
    "aiq",
    "benchmark_prices",
    "cost_to_reach",
    "cross_validate_multi",
    "curve",
    "default_knobs",
    "evaluate_predictions",
    "fold_ids",
    "golden_table",
    "json_safe",
    "load_golden",
    "load_prices_file",
    "plot_multi_eval",
    "quality_at_cost",
    "upper_hull",
]

BENCHMARKS: tuple[str, ...] = ("routerbench", "routerdc", "llmrouter")


# -- data ------------------------------------------------------------------------


def load_golden(
    benchmark: str, data_dir: Path | None = None, *, canonical: bool = False
) -> list[GoldenRecord]:
    """Golden records of a multi-model benchmark (via `prefroute.data.golden`).

    Args:
        benchmark: "routerbench" (11 models, USD per query), "routerdc" (7 models),
            "llmrouter" (9 open models, priced by `benchmark_prices`), or a user's
            own .json / .jsonl file (prompt, scores and optionally costs per model;
            `prefroute.data.golden.load_golden_file`).
        data_dir: The data directory (holding `routerbench/`, `routerdc-7model/`);
            None for the configured one.
        canonical: Rename models to canonical spellings (so RouterBench's
            "mistralai/mixtral-8x7b-chat" matches battles' Mixtral names).

    Returns:
        Records with per-model quality (and costs for RouterBench).

    Raises:
        ConfigError: Unknown benchmark.
        DataError: Missing or malformed files.
    """
    from prefroute.data import golden

    if Path(benchmark).suffix in (".json", ".jsonl"):
        return golden.load_golden_file(benchmark, canonical=canonical)
    if benchmark == "routerbench":
        return golden.load_routerbench(data_dir, canonical=canonical)
    if benchmark == "routerdc":
        return golden.load_routerdc(data_dir, canonical=canonical)
    if benchmark == "llmrouter":
        return golden.load_llmrouter(data_dir, canonical=canonical)
    raise ConfigError(f"benchmark must be one of {BENCHMARKS}, got {benchmark!r}")


def benchmark_prices(
    benchmark: str, data_dir: Path | None = None, *, canonical: bool = False
) -> dict[str, ModelPrice] | None:
    """The prices a built-in benchmark without per-query costs is evaluated with.

    Only "llmrouter" has them: the USD per 1M input / output tokens its authors list
    (``default_llm.json``), with `ModelPrice`'s default expected output length.

    Args:
        benchmark: Benchmark name or file.
        data_dir: The data directory; None for the configured one.
        canonical: Canonical model names (as `load_golden`).

    Returns:
        Model -> price, or None.
    """
    if benchmark != "llmrouter":
        return None
    from prefroute.data.golden import load_llmrouter_prices

    listed = load_llmrouter_prices(data_dir, canonical=canonical)
    return {m: ModelPrice.from_mapping(p) for m, p in listed.items()}


def load_prices_file(path: Path | str) -> dict[str, ModelPrice]:
    """Model prices from a YAML or JSON file (YAML is a superset of JSON).

    Each model maps to a number (USD per query) or to `ModelPrice` keys, e.g.::

        gpt-4o: {input_per_mtok: 2.5, output_per_mtok: 10}
        my-local-model: 0.0001

    Args:
        path: The file.

    Returns:
        Model -> price.

    Raises:
        ConfigError: Unreadable file, not a mapping, or a bad price.
    """
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read prices {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"prices {str(path)!r} must map model names to prices")
    out: dict[str, ModelPrice] = {}
    for model, value in data.items():
        where = f"prices {str(path)!r}, model {model!r}"
        if isinstance(value, bool) or not isinstance(value, dict | int | float):
            raise ConfigError(
                f"{where}: expected USD per query or a mapping of "
                f"{sorted(ModelPrice.__slots__)}, got {value!r}"
            )
        try:
            out[str(model)] = (
                ModelPrice.from_mapping(value)
                if isinstance(value, dict)
                else ModelPrice(per_query=float(value))
            )
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    return out


@dataclass(frozen=True)
class GoldenTable:
    """Prompts x models tables of true quality and cost.

    Attributes:
        prompts: Prompt texts, shape (n,).
        tasks: Task per prompt, shape (n,).
        models: Model names, shape (m,).
        quality: True quality in [0, 1], shape (n, m).
        cost: True USD per query, shape (n, m) (ones when the data has no costs).
        records: The source records, one per prompt.
        cost_source: "measured" (the records' own costs), "prices" (computed from
            given prices and each prompt's length: known before routing, so routers
            are given it), or "unit" (no costs: every model costs 1).
    """

    prompts: list[str]
    tasks: list[str]
    models: list[str]
    quality: FloatArray
    cost: FloatArray
    records: list[GoldenRecord] = field(repr=False)
    cost_source: str = "measured"


def golden_table(
    records: Sequence[GoldenRecord],
    *,
    prices: Mapping[str, float | ModelPrice] | None = None,
) -> GoldenTable:
    """Keep the prompts that have every model's quality (and cost), deduplicated.

    Args:
        records: Golden records.
        prices: Model -> price to use where records carry no costs (e.g. RouterDC,
            LLMRouter): USD per query, or a `ModelPrice` (per-token prices are
            applied to each prompt's estimated input tokens plus the price's
            expected output tokens). None leaves cost-less data at 1 per query for
            every model. Records' own costs always win.

    Returns:
        The table.

    Raises:
        DataError: No complete rows.
        ConfigError: A model without a price.
    """
    models = sorted({m for r in records for m in r.scores})
    has_costs = any(r.costs for r in records)
    seen: set[str] = set()
    rows: list[GoldenRecord] = []
    for record in records:
        if record.prompt in seen or set(record.scores) != set(models):
            continue
        if has_costs and not (record.costs and set(models) <= set(record.costs)):
            continue
        seen.add(record.prompt)
        rows.append(record)
    if not rows:
        raise DataError(f"no prompt has a score for all of {models}")
    quality = np.array([[r.scores[m] for m in models] for r in rows], dtype=np.float64)
    source = "measured"
    cost: FloatArray
    if has_costs:
        cost = np.array(
            [[r.costs[m] for m in models] for r in rows if r.costs], dtype=np.float64
        )
    elif prices is not None:
        missing = [m for m in models if m not in prices]
        if missing:
            raise ConfigError(
                f"no price for models {missing}; priced: {sorted(prices)}"
            )
        as_price = [
            p if isinstance(p, ModelPrice) else ModelPrice(per_query=float(p))
            for p in (prices[m] for m in models)
        ]
        cost = estimate_costs(as_price, estimate_input_tokens([r.prompt for r in rows]))
        source = "prices"
    else:
        cost = np.ones_like(quality)
        source = "unit"
    return GoldenTable(
        prompts=[r.prompt for r in rows],
        tasks=[r.task or r.source for r in rows],
        models=models,
        quality=quality,
        cost=cost,
        records=rows,
        cost_source=source,
    )


def fold_ids(
    n: int, *, n_folds: int = 5, seed: int = 0, groups: Sequence[str] | None = None
) -> np.ndarray:
    """Fold number per prompt: random K-fold, or one fold per group.

    Args:
        n: Number of prompts.
        n_folds: Folds for the random split.
        seed: Shuffle seed.
        groups: Group per prompt (e.g. task); when given, each group is a fold
            (leave-one-group-out) and `n_folds` is ignored.

    Returns:
        Integer fold per prompt, shape (n,).
    """
    if groups is not None:
        names = sorted(set(groups))
        if len(names) < 2:
            raise ConfigError(f"leave-one-group-out needs >= 2 groups, got {names}")
        index = {g: i for i, g in enumerate(names)}
        return np.array([index[g] for g in groups])
    if n_folds < 2 or n_folds > n:
        raise ConfigError(f"n_folds must be in [2, {n}], got {n_folds!r}")
    perm = np.random.default_rng(seed).permutation(n)
    out = np.empty(n, dtype=np.int64)
    out[perm] = np.arange(n) % n_folds
    return out


# -- curves and summaries --------------------------------------------------------


def default_knobs(cost: FloatArray, policy: Policy, n: int = 81) -> list[float]:
    """A knob grid spanning best-quality to cheapest.

    Args:
        cost: Costs, to scale lam (quality per USD).
        policy: "utility" or "tolerance".
        n: Grid size.

    Returns:
        Increasing knob values (lam grid ends with inf).
    """
    if policy == "tolerance":
        return [float(t) for t in np.linspace(0.0, 1.0, n)]
    scale = float(np.mean(cost)) or 1.0
    grid = np.logspace(-3, 3, n - 2) / scale
    return [0.0, *(float(v) for v in grid), math.inf]


def curve(
    predicted_quality: FloatArray,
    predicted_cost: FloatArray,
    true_quality: FloatArray,
    true_cost: FloatArray,
    knobs: Sequence[float],
    policy: Policy = "utility",
) -> FloatArray:
    """Route with predictions at each knob; measure the true mean cost and quality.

    Args:
        predicted_quality: Shape (n, m).
        predicted_cost: Shape (n, m) or (m,).
        true_quality: Shape (n, m).
        true_cost: Shape (n, m).
        knobs: Knob values.
        policy: "utility" or "tolerance".

    Returns:
        Shape (len(knobs), 3): knob, mean true cost, mean true quality.
    """
    rows = np.arange(true_quality.shape[0])
    out = np.empty((len(knobs), 3))
    for i, knob in enumerate(knobs):
        idx = choose(predicted_quality, predicted_cost, knob, policy)
        out[i] = (knob, true_cost[rows, idx].mean(), true_quality[rows, idx].mean())
    return out


def upper_hull(costs: FloatArray, qualities: FloatArray) -> FloatArray:
    """The non-decreasing upper convex hull of (cost, quality) points.

    Any point on it is reachable by randomising between two routing decisions.

    Args:
        costs: Shape (k,).
        qualities: Shape (k,).

    Returns:
        Hull vertices sorted by cost, shape (h, 2), quality non-decreasing.
    """
    pts = sorted(
        zip(np.asarray(costs, float), np.asarray(qualities, float), strict=True)
    )
    # Keep only points that improve quality over everything cheaper (non-decreasing).
    frontier: list[tuple[float, float]] = []
    for c, q in pts:
        if frontier and q <= frontier[-1][1]:
            continue
        if frontier and c == frontier[-1][0]:
            frontier[-1] = (c, q)
            continue
        frontier.append((c, q))
    hull: list[tuple[float, float]] = []
    for p in frontier:
        while len(hull) >= 2:
            (c1, q1), (c2, q2) = hull[-2], hull[-1]
            # Drop the middle point when it lies on or below the chord.
            if (q2 - q1) * (p[0] - c1) <= (p[1] - q1) * (c2 - c1):
                hull.pop()
            else:
                break
        hull.append(p)
    return np.array(hull, dtype=np.float64).reshape(-1, 2)


def _hull_value(hull: FloatArray, at: FloatArray) -> FloatArray:
    # Flat before the cheapest vertex and after the best one (non-decreasing).
    return np.interp(at, hull[:, 0], hull[:, 1])


def aiq(
    costs: FloatArray,
    qualities: FloatArray,
    cost_range: tuple[float, float],
    *,
    start: tuple[float, float] | None = None,
) -> float:
    """Average quality over a cost range under the non-decreasing convex hull.

    RouterBench's AIQ: integral of the hull from c_lo to c_hi, divided by
    (c_hi - c_lo). A curve that cannot get as cheap as c_lo (a pair of dear
    models, one single model) must not be credited with its cheapest quality
    below its reach: pass `start`, the point every deployment can fall back to
    (the cheapest single model: send everything there, or mix with it), and the
    hull runs through it. Without `start` the hull is held flat at its cheapest
    point's quality below that point.

    Args:
        costs: Curve costs, shape (k,).
        qualities: Curve qualities, shape (k,).
        cost_range: (c_lo, c_hi), usually the cheapest and dearest single model.
        start: (cost, quality) added to the curve before taking the hull.

    Returns:
        The AIQ.
    """
    lo, hi = cost_range
    if not hi > lo:
        raise ConfigError(f"cost_range must have hi > lo, got {cost_range!r}")
    if start is not None:
        costs = np.append(np.asarray(costs, float), start[0])
        qualities = np.append(np.asarray(qualities, float), start[1])
    hull = upper_hull(costs, qualities)
    grid = np.linspace(lo, hi, 2001)
    return float(np.trapezoid(_hull_value(hull, grid), grid) / (hi - lo))


def cost_to_reach(
    costs: FloatArray,
    qualities: FloatArray,
    target: float,
    *,
    interpolate: bool = False,
) -> float:
    """Lowest cost at which the curve reaches `target` quality.

    Args:
        costs: Curve costs, shape (k,).
        qualities: Curve qualities, shape (k,).
        target: Quality to reach.
        interpolate: Use the hull (randomising between two knobs) instead of the
            measured points only.

    Returns:
        The cost, or inf when never reached.
    """
    c = np.asarray(costs, float)
    q = np.asarray(qualities, float)
    ok = q >= target - 1e-12
    if not interpolate:
        return float(c[ok].min()) if np.any(ok) else math.inf
    hull = upper_hull(c, q)
    if hull[-1, 1] < target - 1e-12:
        return math.inf
    if hull[0, 1] >= target:
        return float(hull[0, 0])
    j = int(np.argmax(hull[:, 1] >= target - 1e-12))
    (c1, q1), (c2, q2) = hull[j - 1], hull[j]
    return float(c1 + (target - q1) * (c2 - c1) / (q2 - q1))


def quality_at_cost(
    costs: FloatArray,
    qualities: FloatArray,
    budget: float,
    *,
    interpolate: bool = False,
) -> float:
    """Best quality of the curve at mean cost <= budget.

    Args:
        costs: Curve costs, shape (k,).
        qualities: Curve qualities, shape (k,).
        budget: Mean USD per query.
        interpolate: Use the hull instead of the measured points only.

    Returns:
        The quality, or nan when no point is that cheap.
    """
    c = np.asarray(costs, float)
    q = np.asarray(qualities, float)
    if not interpolate:
        ok = c <= budget * (1 + 1e-9)
        return float(q[ok].max()) if np.any(ok) else math.nan
    hull = upper_hull(c, q)
    if budget < hull[0, 0] * (1 - 1e-9):
        return math.nan
    return float(_hull_value(hull, np.array([budget]))[0])


@dataclass
class CurveSummary:
    """One method's curve and summaries.

    Attributes:
        name: Method name.
        points: Shape (k, 2): mean cost, mean quality.
        aiq: AIQ over the single models' cost range.
        cost_to_match_best: Cost (measured points) to reach the best single model's
            quality; inf if never.
        cost_to_match_best_hull: The same on the hull (randomising two knobs).
        quality_at_cheapest: Best quality at the cheapest model's mean cost.
        quality_at_40pct: Best quality (hull) at 40% of the best model's mean cost.
    """

    name: str
    points: FloatArray
    aiq: float
    cost_to_match_best: float
    cost_to_match_best_hull: float
    quality_at_cheapest: float
    quality_at_40pct: float

    def as_dict(self, best_cost: float) -> dict[str, Any]:
        """JSON-ready summary; costs also as a share of the best model's cost."""
        return {
            "name": self.name,
            "aiq": self.aiq,
            "cost_to_match_best": self.cost_to_match_best,
            "cost_to_match_best_share": self.cost_to_match_best / best_cost,
            "cost_to_match_best_hull": self.cost_to_match_best_hull,
            "cost_to_match_best_hull_share": self.cost_to_match_best_hull / best_cost,
            "quality_at_cheapest": self.quality_at_cheapest,
            "quality_at_40pct": self.quality_at_40pct,
            "points": [[float(c), float(q)] for c, q in self.points],
        }


@dataclass
class MultiEvalResult:
    """Result of `cross_validate_multi`.

    Attributes:
        benchmark: Name.
        split: "random" or "task".
        n_prompts: Prompts evaluated (each scored by a router not trained on it).
        models: Model names.
        single: Model -> (mean cost, mean quality).
        best_model: Highest-quality single model.
        cheapest_model: Cheapest single model.
        methods: Method name -> its curve summary (router, random mix, best pair,
            paper pair when present, task oracle when there are tasks, oracle).
        best_pair: The pair of the two-model baseline.
        predicted_quality: Out-of-fold predicted quality, shape (n, m).
        predicted_cost: Out-of-fold predicted cost, shape (n, m).
        cost_source: The table's `GoldenTable.cost_source` ("unit": costs are 1 per
            query, not USD).
    """

    benchmark: str
    split: str
    n_prompts: int
    models: list[str]
    single: dict[str, tuple[float, float]]
    best_model: str
    cheapest_model: str
    methods: dict[str, CurveSummary]
    best_pair: tuple[str, str]
    predicted_quality: FloatArray = field(repr=False)
    predicted_cost: FloatArray = field(repr=False)
    cost_source: str = "measured"

    @property
    def cost_unit(self) -> str:
        """What the costs are counted in: "USD", or "unit" (1 per query)."""
        return "unit" if self.cost_source == "unit" else "USD"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        best_cost = self.single[self.best_model][0]
        return {
            "benchmark": self.benchmark,
            "split": self.split,
            "n_prompts": self.n_prompts,
            "cost_source": self.cost_source,
            "cost_unit": self.cost_unit,
            "single": {
                m: {"cost": c, "quality": q} for m, (c, q) in self.single.items()
            },
            "best_model": self.best_model,
            "cheapest_model": self.cheapest_model,
            "best_pair": list(self.best_pair),
            "methods": {k: v.as_dict(best_cost) for k, v in self.methods.items()},
        }


def _summarise(
    name: str,
    points: FloatArray,
    *,
    cost_range: tuple[float, float],
    best_quality: float,
    best_cost: float,
    cheapest_cost: float,
    cheapest_quality: float,
) -> CurveSummary:
    c, q = points[:, 0], points[:, 1]
    return CurveSummary(
        name=name,
        points=points,
        aiq=aiq(c, q, cost_range, start=(cheapest_cost, cheapest_quality)),
        cost_to_match_best=cost_to_reach(c, q, best_quality),
        cost_to_match_best_hull=cost_to_reach(c, q, best_quality, interpolate=True),
        quality_at_cheapest=quality_at_cost(c, q, cheapest_cost, interpolate=True),
        quality_at_40pct=quality_at_cost(c, q, 0.4 * best_cost, interpolate=True),
    )


RouterFactory = Callable[[], Any]


def cross_validate_multi(
    table: GoldenTable,
    make_router: RouterFactory,
    *,
    benchmark: str = "",
    split: str = "random",
    n_folds: int = 5,
    seed: int = 0,
    policy: Policy = "utility",
    use_true_mean_cost: bool = False,
    pair: tuple[str, str] | None = None,
    fit_extra: Callable[[Any, list[GoldenRecord]], Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MultiEvalResult:
    """Cross-validate a multi-model router on a golden table.

    Args:
        table: Prompts with every model's true quality and cost.
        make_router: Returns a fresh unfitted `MultiModelRouter` (or any object with
            `fit_multi(golden)`, `score_models(prompts, models)` and
            `predict_costs(prompts, models)`).
        benchmark: Name for the report.
        split: "random" (K-fold over prompts) or "task" (leave-one-task-out).
        n_folds: Folds for the random split.
        seed: Fold shuffle seed.
        policy: Policy swept for every router curve.
        use_true_mean_cost: Route with each model's mean training cost per query
            instead of the router's cost model (always so for data without costs;
            ignored for costs computed from prices, which routers get exactly).
        pair: An extra two-model baseline to report (e.g. the paper's pair).
        fit_extra: Called as ``fit_extra(router, train_records)`` instead of
            ``router.fit_multi(train_records)`` (e.g. to add battles).
        progress: Called with (fold done, n folds).

    Returns:
        The result; every prediction comes from a router not trained on the prompt.
    """
    if split not in ("random", "task"):
        raise ConfigError(f"split must be 'random' or 'task', got {split!r}")
    n, m = table.quality.shape
    folds = fold_ids(
        n, n_folds=n_folds, seed=seed, groups=table.tasks if split == "task" else None
    )
    # Cost-less data (RouterDC): route on each model's mean cost instead; costs
    # computed from listed prices depend only on the prompt, so routers get them.
    has_costs = table.cost_source == "measured"
    pred_q = np.zeros((n, m))
    pred_c = np.zeros((n, m))
    fold_list = sorted(set(folds.tolist()))
    for done, fold in enumerate(fold_list, start=1):
        test = np.flatnonzero(folds == fold)
        train = np.flatnonzero(folds != fold)
        router = make_router()
        train_records = [table.records[i] for i in train]
        if fit_extra is not None:
            fit_extra(router, train_records)
        else:
            router.fit_multi(train_records)
        test_prompts = [table.prompts[i] for i in test]
        pred_q[test] = router.score_models(test_prompts, table.models)
        if table.cost_source == "prices":
            pred_c[test] = table.cost[test]
        elif use_true_mean_cost or not has_costs:
            pred_c[test] = table.cost[train].mean(axis=0)
        else:
            pred_c[test] = router.predict_costs(test_prompts, table.models)
        if progress is not None:
            progress(done, len(fold_list))
    return evaluate_predictions(
        table,
        pred_q,
        pred_c,
        benchmark=benchmark,
        split=split,
        policy=policy,
        pair=pair,
    )


def evaluate_predictions(
    table: GoldenTable,
    predicted_quality: FloatArray,
    predicted_cost: FloatArray,
    *,
    benchmark: str = "",
    split: str = "",
    policy: Policy = "utility",
    pair: tuple[str, str] | None = None,
) -> MultiEvalResult:
    """Curves and summaries from (out-of-fold) predictions.

    Args:
        table: True quality and cost.
        predicted_quality: Shape (n, m).
        predicted_cost: Shape (n, m).
        benchmark: Name for the report.
        split: Split name for the report.
        policy: Policy swept.
        pair: An extra two-model baseline to report.

    Returns:
        The result.
    """
    q_true, c_true = table.quality, table.cost
    models = table.models
    mean_c, mean_q = c_true.mean(axis=0), q_true.mean(axis=0)
    single = {mod: (float(mean_c[j]), float(mean_q[j])) for j, mod in enumerate(models)}
    best = int(np.lexsort((mean_c, -mean_q))[0])
    cheapest = int(np.lexsort((-mean_q, mean_c))[0])
    cost_range = (float(mean_c.min()), float(mean_c.max()))
    if not cost_range[1] > cost_range[0]:
        cost_range = (cost_range[0], cost_range[0] + 1.0)
    knobs = default_knobs(predicted_cost, policy)

    def run(cols: list[int], q_pred: FloatArray, c_pred: FloatArray) -> FloatArray:
        pts = curve(
            q_pred[:, cols],
            c_pred[:, cols],
            q_true[:, cols],
            c_true[:, cols],
            knobs,
            policy,
        )
        return pts[:, 1:]

    def summarise(name: str, points: FloatArray) -> CurveSummary:
        return _summarise(
            name,
            points,
            cost_range=cost_range,
            best_quality=float(mean_q[best]),
            best_cost=float(mean_c[best]),
            cheapest_cost=float(mean_c[cheapest]),
            cheapest_quality=float(mean_q[cheapest]),
        )

    all_cols = list(range(len(models)))
    methods: dict[str, CurveSummary] = {}
    methods["router"] = summarise(
        "router", run(all_cols, predicted_quality, predicted_cost)
    )
    methods["random-mix"] = summarise("random-mix", np.column_stack([mean_c, mean_q]))
    best_pair_summary: CurveSummary | None = None
    best_pair: tuple[str, str] = (models[best], models[cheapest])
    for i, j in itertools.combinations(all_cols, 2):
        s = summarise("pair", run([i, j], predicted_quality, predicted_cost))
        if best_pair_summary is None or s.aiq > best_pair_summary.aiq:
            best_pair_summary, best_pair = s, (models[i], models[j])
    assert best_pair_summary is not None
    best_pair_summary.name = f"best pair {best_pair[0]} / {best_pair[1]}"
    methods["best-pair"] = best_pair_summary
    if pair is not None and all(p in models for p in pair):
        cols = [models.index(pair[0]), models.index(pair[1])]
        methods["pair"] = summarise(
            f"given pair {pair[0]} / {pair[1]}",
            run(cols, predicted_quality, predicted_cost),
        )
    tasks = np.asarray(table.tasks)
    if len(set(table.tasks)) > 1:
        # Upper bound for any router that only recognises the task: each task's true
        # mean quality and cost per model (in-sample).
        task_q, task_c = np.empty_like(q_true), np.empty_like(c_true)
        for name in set(table.tasks):
            rows = tasks == name
            task_q[rows], task_c[rows] = (
                q_true[rows].mean(axis=0),
                c_true[rows].mean(axis=0),
            )
        methods["task-oracle"] = summarise("task oracle", run(all_cols, task_q, task_c))
    methods["oracle"] = summarise("oracle", run(all_cols, q_true, c_true))
    return MultiEvalResult(
        benchmark=benchmark,
        split=split,
        n_prompts=len(table.prompts),
        models=list(models),
        single=single,
        best_model=models[best],
        cheapest_model=models[cheapest],
        methods=methods,
        best_pair=best_pair,
        predicted_quality=predicted_quality,
        predicted_cost=predicted_cost,
        cost_source=table.cost_source,
    )


def json_safe(value: Any) -> Any:
    """`value` with non-finite floats as None (an unreachable cost is inf): strict
    JSON has no Infinity / NaN. Use on `MultiEvalResult.as_dict()` before
    ``json.dumps(..., allow_nan=False)``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def plot_multi_eval(result: MultiEvalResult, path: Path, *, title: str = "") -> None:
    """Save the cost-quality plot (log cost axis) as a small PNG.

    Args:
        result: From `cross_validate_multi`.
        path: PNG path (parent created).
        title: Plot title.

    Raises:
        MissingDependencyError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError(
            "matplotlib", "plots", "cost-quality plots"
        ) from exc
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    styles = {
        "router": ("tab:blue", "-", "mf-multi router"),
        "router-mf": ("tab:cyan", "--", "mf-multi, factorisation only"),
        "best-pair": ("tab:orange", "--", None),
        "pair": ("tab:purple", ":", None),
        "random-mix": ("tab:gray", "-.", "random mix (hull of single models)"),
        "task-oracle": ("tab:red", ":", "task oracle (in-sample)"),
        "oracle": ("tab:green", "-", "oracle"),
    }
    for key, summary in result.methods.items():
        color, style, label = styles.get(key, ("black", "-", None))
        if key == "random-mix":
            pts = upper_hull(summary.points[:, 0], summary.points[:, 1])
        else:
            pts = summary.points[np.argsort(summary.points[:, 0], kind="stable")]
        ax.plot(
            pts[:, 0],
            pts[:, 1],
            linestyle=style,
            color=color,
            marker="." if key in ("router", "oracle") else None,
            markersize=3,
            label=f"{label or summary.name} (AIQ {summary.aiq:.3f})",
        )
    for mod, (c, q) in result.single.items():
        ax.scatter([c], [q], s=14, color="black", zorder=3)
        ax.annotate(
            mod.split("/")[-1],
            (c, q),
            fontsize=6,
            xytext=(2, 2),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_xlabel(
        "mean cost per query (USD, log scale)"
        if result.cost_unit == "USD"
        else "mean cost per query (units: every model costs 1)"
    )
    ax.set_ylabel("mean quality (accuracy)")
    ax.set_title(
        title or f"{result.benchmark} ({result.split} split, out-of-fold)", fontsize=9
    )
    ax.legend(fontsize=6, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
