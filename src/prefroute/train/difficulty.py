"""Training table and recipes of the shipped `default` / `default-chat` routers.

`build_table` turns golden labels (per-model correctness, several model families) and
AlpacaEval judge preferences into one table of unique prompts with per-prompt targets;
`fit_difficulty` fits a `DifficultyRouter` recipe (`RECIPES`) on it; `train_from_recipe`
does both for a YAML/TOML training recipe (`prefroute train default --recipe FILE`).
The benchmarks (`train_default.py`, `table2.py`, `transfer.py`, the CV scripts) use the
same functions, so every number is computed from the same targets. Reads the data only
through ``prefroute.data``.

Targets (all in [0, 1], NaN = not labeled by that source):

- ``gap``: for golden records, the share of ordered model pairs (stronger, weaker)
  of that source family, ranked by the family's overall accuracy, in which the
  stronger model is right and the weaker wrong: "does capability matter here?".
- ``gap_pct``: ``gap`` as a percentile within its source file (item difficulty
  relative to its own task, free of task-level scale differences).
- ``fail``: share of the source's graded models that fail the prompt (raw, so
  between-task differences in difficulty are kept).
- ``fail_pct``: ``fail`` as a percentile within its source file.
- ``chat``: AlpacaEval: mean P(judge prefers gpt4_1106_preview) over the other
  generators on that instruction, as a percentile (open-ended chat difficulty);
  EloBench: gpt-4-turbo's mean credit against its opponents, as a percentile.
- ``pair``: RouterBench (and gemini-benchmark, when used): P(gpt-4-1106 right and
  Mixtral-8x7B wrong); AlpacaEval: the judge's preference for gpt4_1106_preview over
  Mixtral-8x7B (calibration target).
- ``topgap``: strong tier (the family's two best models) right and weak tier (the
  rest) wrong: mean(top two) * (1 - mean(rest)); ``topgap_pct`` its percentile
  within the source file.
- ``reasoning``: task type, 1 for math / code / logic-puzzle sources (GSM8K, MATH,
  SVAMP / MultiArith, MBPP, HumanEval, ODEX, CRUXEval, JavaScript, logic grid), 0
  for the open-ended chat prompts (AlpacaEval's instructions, EloBench's user
  questions), NaN otherwise (fit with class-balanced weights); ``task3`` the same
  with every other golden source (knowledge / commonsense QA, C-Eval, ...) at 0.5,
  so that the head is told to be flat within those task types; ``freeform`` is 1 for
  the math / code / logic sources and 0 for every other source, AlpacaEval included
  (fit with weights balancing the three ``task3`` groups).
- ``pair_gap`` (added on demand by `add_pair_target`): P(strong right and weak wrong)
  for one named pair, on the golden records that grade both models.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from prefroute.data.text import last_paragraph
from prefroute.types import FloatArray, GoldenRecord

if TYPE_CHECKING:
    from prefroute.train.recipe import Recipe

__all__ = [
    "RECIPES",
    "SHIPPED_HEADS",
    "DifficultyTraining",
    "Table",
    "add_pair_target",
    "balanced_weights",
    "build_table",
    "clean_table",
    "fit_difficulty",
    "recipe_heads",
    "subset",
    "task_group",
    "train_from_recipe",
]

STRONG = "gpt-4-1106-preview"
WEAK_RB = "mistralai/mixtral-8x7b-chat"
ALPACA_JUDGE = "weighted_alpaca_eval_gpt4_turbo"
ALPACA_STRONG = "gpt4_1106_preview"
ALPACA_WEAK = "Mixtral-8x7B-Instruct-v0.1_concise"
#: gemini-benchmark's spelling of the paper's weak model (`load_gemini_benchmark`).
WEAK_GB = "mixtral-8x7b-instruct-v0.1"
ELOBENCH_STRONG = "gpt-4-turbo"
#: `build_table` families of the original mixture (its default); the newer sources
#: join only when named.
DEFAULT_FAMILIES: tuple[str, ...] = (
    "routerbench",
    "routerdc",
    "llmrouter",
    "routeprofile",
    "alpaca",
)
#: Golden-label families (loader kind = family name) and the chat-prompt families.
GOLDEN_FAMILIES: tuple[str, ...] = (
    "routerbench",
    "routerdc",
    "llmrouter",
    "routeprofile",
    "gemini_benchmark",
    "crux",
)
CHAT_FAMILIES: tuple[str, ...] = ("alpaca", "elobench")


@dataclass
class Table:
    """Unique training prompts with their targets."""

    prompts: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # what gets embedded
    family: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    targets: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    records: list[GoldenRecord | None] = field(default_factory=list)

    def arrays(self) -> dict[str, FloatArray]:
        """Targets as arrays of shape (n,)."""
        return {k: np.asarray(v, dtype=np.float64) for k, v in self.targets.items()}

    def __len__(self) -> int:
        """Number of prompts."""
        return len(self.prompts)


def _percentile(values: Sequence[float] | FloatArray) -> FloatArray:
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    # average ranks over ties
    for v in np.unique(x):
        m = x == v
        ranks[m] = ranks[m].mean()
    return (ranks + 0.5) / len(x)


def task_group(source: str) -> str:
    """The task a training source belongs to, across families (for CV by task)."""
    s = source.split("/", 1)[-1].lower()
    for key, group in (
        ("arc_", "arc"),
        ("gsm8k", "gsm8k"),
        ("svamp", "math_word"),
        ("multiarith", "math_word"),
        ("math", "math"),
        ("mbpp", "code"),
        ("humaneval", "code"),
        ("human_eval", "code"),
        ("odex", "code"),
        ("crux", "code"),
        ("javascript", "code"),
        ("cmmlu", "zh_exam"),
        ("ceval", "zh_exam"),
        ("winogra", "winogrande"),
    ):
        if key in s:
            return group
    return s


REASONING_TASKS = ("gsm8k", "math", "math_word", "code", "agentverse-logicgrid")


def question_text(prompt: str) -> str:
    """The text to embed for a training prompt (see `last_paragraph`)."""
    return last_paragraph(prompt)


def _gap(records: Sequence[GoldenRecord]) -> FloatArray:
    models = sorted({m for r in records for m in r.scores})
    acc = {
        m: float(np.mean([r.scores[m] for r in records if m in r.scores]))
        for m in models
    }
    order = sorted(models, key=lambda m: acc[m])
    out = np.empty(len(records))
    for i, r in enumerate(records):
        ms = [m for m in order if m in r.scores]
        s = np.array([r.scores[m] for m in ms])
        n = len(ms)
        if n < 2:
            out[i] = np.nan
            continue
        # sum over weaker a < stronger b of s_b * (1 - s_a)
        fail_prefix = np.cumsum(1.0 - s)[:-1]
        out[i] = float((s[1:] * fail_prefix).sum()) / (n * (n - 1) / 2)
    return out


def build_table(
    data_dir: Path,
    *,
    families: Sequence[str] | None = None,
    paths: Mapping[str, Path] | None = None,
    extra: Sequence[tuple[str, str, Path]] = (),
) -> Table:
    """Load golden sources and chat prompts into one table of unique prompts.

    Args:
        data_dir: The data root.
        families: Subset of `GOLDEN_FAMILIES` and `CHAT_FAMILIES` ("alpaca",
            "elobench"); None for `DEFAULT_FAMILIES`. A prompt already in the table
            (an earlier family, in the order golden, alpaca, elobench) is not
            added again.
        paths: Where a family's files are (folder or file, as its loader takes),
            when not under `data_dir`.
        extra: More golden sources, each (family name, loader kind, path): e.g. a
            user's own labels in RouterDC's format, ``("mine", "routerdc", file)``.
            Their percentiles are taken within ``<name>/<task>``.

    Returns:
        The table (not yet decontaminated).
    """
    where = dict(paths or {})
    wanted = set(DEFAULT_FAMILIES if families is None else families)
    loaders = _golden_loaders()
    table = Table()
    seen: set[str] = set()
    sources = [(fam, fam, where.get(fam, data_dir)) for fam in loaders if fam in wanted]
    for fam, kind, path in [*sources, *extra]:
        records = [r for r in loaders[kind](path) if len(r.scores) >= 2]
        _add_golden(table, fam, records, seen)
    if "alpaca" in wanted:
        _add_alpaca(table, where.get("alpaca", data_dir), seen)
    if "elobench" in wanted:
        _add_elobench(table, where.get("elobench", data_dir), seen)
    _add_tier_targets(table)
    return table


def _golden_loaders() -> dict[str, Callable[[Path], list[GoldenRecord]]]:
    from prefroute.data.golden import (
        load_crux,
        load_gemini_benchmark,
        load_llmrouter,
        load_routeprofile,
        load_routerbench,
        load_routerdc,
    )

    return {
        "routerbench": load_routerbench,
        "routerdc": load_routerdc,
        "llmrouter": load_llmrouter,
        "routeprofile": load_routeprofile,
        "gemini_benchmark": load_gemini_benchmark,
        "crux": load_crux,
    }


def _add_golden(
    table: Table, fam: str, records: Sequence[GoldenRecord], seen: set[str]
) -> None:
    """Append one family's records (prompts not already in the table)."""
    gap = _gap(records)
    fail = np.array([1.0 - float(np.mean(list(r.scores.values()))) for r in records])
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_source[_source_key(fam, r)].append(i)
    gap_pct = np.empty(len(records))
    fail_pct = np.empty(len(records))
    for idx in by_source.values():
        gap_pct[idx] = _percentile(gap[idx])
        fail_pct[idx] = _percentile(fail[idx])
    for i, r in enumerate(records):
        if r.prompt in seen:
            continue
        seen.add(r.prompt)
        table.prompts.append(r.prompt)
        table.texts.append(question_text(r.prompt))
        table.family.append(fam)
        table.source.append(_source_key(fam, r))
        table.records.append(r)
        table.targets["gap"].append(float(gap[i]))
        table.targets["gap_pct"].append(float(gap_pct[i]))
        table.targets["fail_pct"].append(float(fail_pct[i]))
        table.targets["fail"].append(float(fail[i]))
        table.targets["chat"].append(np.nan)
        weak = {"routerbench": WEAK_RB, "gemini_benchmark": WEAK_GB}.get(fam, "")
        pair = (
            r.scores[STRONG] * (1.0 - r.scores[weak])
            if STRONG in r.scores and weak in r.scores
            else np.nan
        )
        table.targets["pair"].append(pair)


def _family_ranking(table: Table) -> dict[str, list[str]]:
    """Models of each family, best first (mean score over the family's prompts)."""
    acc: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for fam, r in zip(table.family, table.records, strict=True):
        if r is not None:
            for m, v in r.scores.items():
                acc[fam][m].append(v)
    return {
        fam: sorted(ms, key=lambda m: -float(np.mean(ms[m]))) for fam, ms in acc.items()
    }


def _add_tier_targets(table: Table) -> None:
    """Add ``topgap``, ``topgap_pct`` and ``reasoning`` (module docstring)."""
    n = len(table)
    ranking = _family_ranking(table)
    topgap = np.full(n, np.nan)
    for i, (fam, r) in enumerate(zip(table.family, table.records, strict=True)):
        if r is None:
            continue
        order = [m for m in ranking[fam] if m in r.scores]
        if len(order) < 3:
            continue
        top = float(np.mean([r.scores[m] for m in order[:2]]))
        rest = float(np.mean([r.scores[m] for m in order[2:]]))
        topgap[i] = top * (1.0 - rest)
    topgap_pct = np.full(n, np.nan)
    src = np.asarray(table.source)
    for s in sorted(set(table.source)):
        idx = np.flatnonzero((src == s) & np.isfinite(topgap))
        if len(idx):
            topgap_pct[idx] = _percentile(topgap[idx])
    groups = np.array([task_group(s) for s in table.source])
    families = np.asarray(table.family)
    is_chat = np.isin(families, CHAT_FAMILIES)
    reasoning = np.where(
        np.isin(groups, REASONING_TASKS),
        1.0,
        np.where(is_chat, 0.0, np.nan),
    )
    table.targets["topgap"] = [float(v) for v in topgap]
    table.targets["topgap_pct"] = [float(v) for v in topgap_pct]
    table.targets["reasoning"] = [float(v) for v in reasoning]
    task3 = np.where(np.isnan(reasoning) & ~is_chat, 0.5, reasoning)
    table.targets["task3"] = [float(v) for v in task3]
    # free-form reasoning (math / code / logic) vs everything else, chat and every
    # other golden task (multiple-choice QA, short-answer QA, ...) alike
    freeform = np.where(np.isnan(task3), np.nan, (task3 == 1.0).astype(float))
    table.targets["freeform"] = [float(v) for v in freeform]


def add_pair_target(
    table: Table, strong: str, weak: str, name: str = "pair_gap"
) -> int:
    """Add the target P(`strong` right and `weak` wrong) for one model pair.

    Set on every golden record that grades both models (names compared after
    `canonical_model_name`), NaN elsewhere: the label of a router retrained for a
    pair (docs/results.md, "Transfer").

    Args:
        table: The table (changed in place).
        strong: Strong model name.
        weak: Weak model name.
        name: Target name.

    Returns:
        Number of prompts labeled.
    """
    from prefroute.data.models import canonical_model_name

    s_name, w_name = canonical_model_name(strong), canonical_model_name(weak)
    values: list[float] = []
    for record in table.records:
        scores = (
            {canonical_model_name(m): v for m, v in record.scores.items()}
            if record is not None
            else {}
        )
        if s_name in scores and w_name in scores:
            values.append(float(scores[s_name]) * (1.0 - float(scores[w_name])))
        else:
            values.append(np.nan)
    table.targets[name] = values
    return int(np.isfinite(values).sum())


def balanced_weights(target: FloatArray) -> FloatArray:
    """Weights giving each distinct value of a class target (NaN ignored) equal
    total weight; the weights of labeled rows sum to their number."""
    w = np.ones(len(target))
    labeled = np.isfinite(target)
    values = np.unique(target[labeled])
    for v in values:
        m = target == v
        w[m] = labeled.sum() / (len(values) * m.sum())
    return w


def _source_key(family: str, record: GoldenRecord) -> str:
    if family in ("llmrouter", "routeprofile") and record.task:
        return f"{family}/{record.task}"
    if family not in ("routerbench", "routerdc"):  # newer and users' sources
        return f"{family}/{record.task or 'all'}"
    return record.source or family


def _add_alpaca(table: Table, data_dir: Path, seen: set[str]) -> None:
    from prefroute.data.battles import load_alpaca_eval

    battles = load_alpaca_eval(data_dir, annotators={ALPACA_JUDGE})
    strong_credit: dict[str, list[float]] = defaultdict(list)
    pair: dict[str, float] = {}
    for b in battles:
        if b.model_a != ALPACA_STRONG:
            continue
        strong_credit[b.prompt].append(b.credit_a)
        if b.model_b == ALPACA_WEAK:
            pair[b.prompt] = b.credit_a
    prompts = [p for p in strong_credit if p not in seen]
    chat = _percentile([float(np.mean(strong_credit[p])) for p in prompts])
    for p, c in zip(prompts, chat, strict=True):
        seen.add(p)
        table.prompts.append(p)
        table.texts.append(p)
        table.family.append("alpaca")
        table.source.append("alpaca")
        table.records.append(None)
        for key in ("gap", "gap_pct", "fail_pct", "fail"):
            table.targets[key].append(np.nan)
        table.targets["chat"].append(float(c))
        table.targets["pair"].append(pair.get(p, np.nan))


def _add_elobench(table: Table, data_dir: Path, seen: set[str]) -> None:
    """EloBench's questions as chat prompts (`reasoning` 0), with ``chat`` =
    gpt-4-turbo's mean credit against its opponents as a percentile (NaN where it
    did not battle)."""
    from prefroute.data.elobench import load_elobench

    credit: dict[str, list[float]] = defaultdict(list)
    questions: dict[str, None] = {}
    for b in load_elobench(data_dir):
        questions.setdefault(b.prompt, None)
        if b.model_a == ELOBENCH_STRONG:
            credit[b.prompt].append(b.credit_a)
        elif b.model_b == ELOBENCH_STRONG:
            credit[b.prompt].append(1.0 - b.credit_a)
    prompts = [p for p in questions if p not in seen]
    judged = [p for p in prompts if p in credit]
    chat = dict(
        zip(
            judged,
            _percentile([float(np.mean(credit[p])) for p in judged]),
            strict=True,
        )
    )
    for p in prompts:
        seen.add(p)
        table.prompts.append(p)
        table.texts.append(p)
        table.family.append("elobench")
        table.source.append("elobench")
        table.records.append(None)
        for key in ("gap", "gap_pct", "fail_pct", "fail", "pair"):
            table.targets[key].append(np.nan)
        table.targets["chat"].append(float(chat.get(p, np.nan)))


# Recipes. "cv" is the one chosen by leave-one-source-out cross-validation on the
# training sources (docs/results.md); "floor" (percentile failure share, weakly
# regularised) is what `default` ships. `heads` is a tuple of head names (weight 1
# each) or a mapping name -> weight in the rank average; `head_alphas` overrides
# `alpha` per head; heads named in `balanced` are fit with class-balanced sample
# weights; heads in `raw_heads` enter the average as clipped predictions, not
# percentiles; a head in `balance_by` is weighted to balance the classes of another
# target.
RECIPES: dict[str, dict[str, Any]] = {
    "cv": {"heads": ("fail",), "alpha": 100.0, "length_weight": 1.0},
    "fail-only": {"heads": ("fail",), "alpha": 100.0, "length_weight": 0.0},
    "floor": {"heads": ("fail_pct",), "alpha": 1.0, "length_weight": 1.0},
    # floor + a task-type head (math/code/logic sources vs AlpacaEval chat), chosen
    # by benchmarks/cv_quality.py
    "floor-reasoning": {
        "heads": {"fail_pct": 1.0, "reasoning": 1.0},
        "alpha": 1.0,
        "head_alphas": {"reasoning": 10.0},
        "balanced": ("reasoning",),
        "length_weight": 1.0,
    },
    # third/fourth CV rounds (designed after floor-reasoning lost on MMLU): the
    # task-type head on a probability scale; task3 also labels knowledge QA 0.5
    "floor-reasoning-raw": {
        "heads": {"fail_pct": 1.0, "reasoning": 1.0},
        "alpha": 1.0,
        "head_alphas": {"reasoning": 10.0},
        "balanced": ("reasoning",),
        "raw_heads": ("reasoning",),
        "length_weight": 1.0,
    },
    "floor-task3": {
        "heads": {"fail_pct": 1.0, "task3": 1.0},
        "alpha": 1.0,
        "head_alphas": {"task3": 10.0},
        "balanced": ("task3",),
        "raw_heads": ("task3",),
        "length_weight": 1.0,
    },
    # sixth round: free-form reasoning vs everything else (multiple-choice QA at 0)
    "floor-freeform": {
        "heads": {"fail_pct": 1.0, "freeform": 1.0},
        "alpha": 1.0,
        "head_alphas": {"freeform": 10.0},
        "balance_by": {"freeform": "task3"},
        "length_weight": 1.0,
    },
    # the floor plus a head for one pair's own label, P(strong right and weak
    # wrong) (`add_pair_target`; the recipe's `pair`): retraining for a pair
    "floor-pair": {
        "heads": {"fail_pct": 1.0, "pair_gap": 1.0},
        "alpha": 1.0,
        "head_alphas": {"pair_gap": 100.0},
        "length_weight": 1.0,
    },
    # that pair head alone (benchmarks/transfer.py's "retrained")
    "pair": {"heads": ("pair_gap",), "alpha": 100.0, "length_weight": 0.0},
    # the best CV mean of the second round (rank-average weights 1 : 2 : 2)
    "floor-reasoning-2": {
        "heads": {"fail_pct": 1.0, "reasoning": 2.0},
        "alpha": 1.0,
        "head_alphas": {"reasoning": 10.0},
        "balanced": ("reasoning",),
        "length_weight": 2.0,
    },
}
HEADS: tuple[str, ...] = RECIPES["cv"]["heads"]
ALPHA: float = RECIPES["cv"]["alpha"]
LENGTH_WEIGHT: float = RECIPES["cv"]["length_weight"]
# Head used when a training mixture has no golden labels (judge battles only).
FALLBACK_HEAD = "chat"
CALIBRATION = "pair"


def recipe_heads(recipe: str) -> dict[str, float]:
    """Head name -> rank-average weight of a recipe."""
    heads = RECIPES[recipe]["heads"]
    if isinstance(heads, dict):
        return {str(k): float(v) for k, v in heads.items()}
    return dict.fromkeys(heads, 1.0)


def clean_table(
    data_dir: Path,
    embedder: Any,
    *,
    table: Table | None = None,
    eval_prompts: Sequence[str] | None = None,
    threshold: float = 0.95,
    progress: Callable[[int], None] | None = None,
    decontamination_embedder: Any = None,
) -> tuple[Table, FloatArray]:
    """`build_table`, decontaminated against every evaluation prompt, and embedded.

    Args:
        data_dir: The data root.
        embedder: Embedder (a `MemoEmbedder` so the decontamination pass is reused).
        table: The table to clean (default: `build_table(data_dir)`).
        eval_prompts: Prompts no training prompt may come within `threshold` cosine
            of (default: every MMLU, MT Bench and GSM8K prompt under `data_dir`).
        threshold: Cosine above which a training prompt is dropped.
        progress: Called with the number of training prompts just checked.
        decontamination_embedder: Embedder of the similarity test; None: `embedder`.

    Returns:
        (table restricted to clean prompts, embeddings of its texts (n, dim)).
    """
    from prefroute.data.benchmarks import load_eval_prompts
    from prefroute.train.decontam import contaminated_prompts

    if table is None:
        table = build_table(data_dir)
    if eval_prompts is None:
        eval_prompts = load_eval_prompts(data_dir)
    bad = contaminated_prompts(
        table.texts,
        eval_prompts,
        embedder if decontamination_embedder is None else decontamination_embedder,
        threshold=threshold,
        progress=progress,
    )
    keep = [t not in bad for t in table.texts]
    table = subset(table, np.asarray(keep))
    return table, np.asarray(embedder.embed(table.texts), dtype=np.float32)


def subset(table: Table, mask: npt.NDArray[np.bool_]) -> Table:
    """Rows of `table` where `mask` is True."""
    idx = np.flatnonzero(mask)
    out = Table()
    out.prompts = [table.prompts[i] for i in idx]
    out.texts = [table.texts[i] for i in idx]
    out.family = [table.family[i] for i in idx]
    out.source = [table.source[i] for i in idx]
    out.records = [table.records[i] for i in idx]
    for k, v in table.targets.items():
        out.targets[k] = [v[i] for i in idx]
    return out


def fit_difficulty(
    table: Table,
    emb: FloatArray,
    *,
    families: Sequence[str] | None = None,
    mask: npt.NDArray[np.bool_] | None = None,
    embedder: Any = "minilm",
    recipe: str = "cv",
) -> Any:
    """Fit the default recipe on the rows of the given families (and mask).

    Heads without any labeled row in the selection are left out; with no
    calibration label in the selection the heads' mean target is used.
    """
    from prefroute.routers.difficulty import DifficultyRouter

    spec = RECIPES[recipe]
    head_weights = recipe_heads(recipe)
    sel = np.ones(len(table), dtype=bool) if mask is None else mask.copy()
    if families is not None:
        sel &= np.isin(np.asarray(table.family), list(families))
    arrays = {k: v[sel] for k, v in table.arrays().items()}
    texts = [t for t, s in zip(table.texts, sel, strict=True) if s]
    used = [
        h
        for h in head_weights
        if np.isfinite(arrays[h]).sum() >= 2
        and np.unique(arrays[h][np.isfinite(arrays[h])]).size >= 2
    ]
    if not used:
        used = [FALLBACK_HEAD]
    cal = arrays[CALIBRATION]
    balanced = set(spec.get("balanced", ()))
    balance_by = dict(spec.get("balance_by", {}))
    weights = {
        h: balanced_weights(arrays[balance_by[h]])
        if h in balance_by
        else balanced_weights(arrays[h])
        if h in balanced
        else np.ones(len(texts))
        for h in used
    }
    router = DifficultyRouter(
        embedder=embedder,
        alpha=spec["alpha"],
        length_weight=spec["length_weight"],
        head_weights={h: head_weights.get(h, 1.0) for h in used}
        if isinstance(spec["heads"], dict)
        else None,
        head_alphas={h: a for h, a in spec.get("head_alphas", {}).items() if h in used}
        or None,
        raw_heads=[h for h in spec.get("raw_heads", ()) if h in used] or None,
    )
    return router.fit_targets(
        texts,
        {h: arrays[h] for h in used},
        weights=weights,
        calibration=cal if np.isfinite(cal).sum() >= 2 else None,
        embeddings=emb[sel],
    )


# -- training from a recipe file (`prefroute train default --recipe FILE`) ----------

#: Head recipe (a key of `RECIPES`) of each shipped difficulty checkpoint.
SHIPPED_HEADS: dict[str, str] = {"default": "floor", "default-chat": "floor-reasoning"}
# recipe source kind -> `build_table` family
_FAMILY_OF_KIND = {
    **{fam: fam for fam in GOLDEN_FAMILIES},
    "alpaca_eval": "alpaca",
    "elobench": "elobench",
}


@dataclass
class DifficultyTraining:
    """What `train_from_recipe` fitted, with the counts for its summary."""

    router: Any
    heads: str
    n_prompts: int
    n_decontaminated: int
    by_family: dict[str, int]

    def summary(self) -> str:
        """Human-readable summary: prompts per family, decontamination, heads."""
        lines = [
            f"{self.n_prompts} training prompts after decontamination "
            f"({self.n_decontaminated} dropped)"
        ]
        lines += [f"  {fam}: {n}" for fam, n in sorted(self.by_family.items())]
        weights = getattr(self.router, "head_weights", None) or {}
        heads = ", ".join(
            f"{h} x{weights.get(h, 1.0):g}" for h in getattr(self.router, "heads_", [])
        )
        lines.append(f"recipe {self.heads!r}: heads {heads}, plus log length")
        return "\n".join(lines)


def train_from_recipe(
    recipe: Recipe,
    data_dir: Path,
    embedder: Any,
    *,
    heads: str = "floor",
    progress: Callable[[str, int, int | None], None] | None = None,
) -> DifficultyTraining:
    """Fit a shipped-style difficulty router from a training recipe.

    The recipe's golden-label sources give the per-prompt targets (share of a
    family's models that fail a prompt, as a percentile within its source file;
    the task type for the `reasoning` head); its AlpacaEval source gives the chat
    side of the task-type head and the calibration to P(strong model needed);
    its decontamination section names the evaluation prompts kept out.

    Args:
        recipe: The training recipe.
        data_dir: The data root (relative source paths resolve against it).
        embedder: Training embedder of spec ``recipe.embedder`` (a `MemoEmbedder`
            lets decontamination and fitting share the vectors).
        heads: A key of `RECIPES` (``floor`` = `default`, ``floor-reasoning`` =
            `default-chat`).
        progress: Called as ``progress(stage, done, total)``: with done 0 when a
            stage starts (total None when unknown), then with the prompts done.

    Returns:
        The fitted router (scoring with ``recipe.serve_embedder`` when set) and
        counts.

    Raises:
        ConfigError: Unknown head recipe, a source kind these routers cannot use,
            per-source weights or filters, or no golden-label source.
    """
    from prefroute.errors import ConfigError
    from prefroute.train.pipeline import (
        _source_path,
        collect_eval_prompts,
        decontamination_embedder,
        embedding_stage,
    )

    def stage(name: str, total: int | None = None) -> None:
        if progress is not None:
            progress(name, 0, total)

    if heads not in RECIPES:
        raise ConfigError(
            f"unknown head recipe {heads!r}; expected one of {sorted(RECIPES)}"
        )
    families: list[str] = []
    paths: dict[str, Path] = {}
    extra: list[tuple[str, str, Path]] = []
    for spec in recipe.sources:
        if spec.weight == 0:
            continue
        if spec.kind not in _FAMILY_OF_KIND:
            raise ConfigError(
                f"source {spec.label!r} of kind {spec.kind!r}: the difficulty routers "
                f"learn from golden labels ({', '.join(GOLDEN_FAMILIES)}) and chat "
                "prompts (alpaca_eval, elobench); give it weight 0"
            )
        filters = (spec.max_battles, spec.include_tasks, spec.exclude_tasks)
        if spec.weight != 1.0 or any(filters) or spec.models or spec.annotators:
            raise ConfigError(
                f"source {spec.label!r}: the difficulty routers take every source "
                "whole (weight 1 or 0, no filters)"
            )
        family = _FAMILY_OF_KIND[spec.kind]
        if spec.name and spec.name != spec.kind and family not in CHAT_FAMILIES:
            # a named golden source (e.g. the user's own labels): its own family
            extra.append((spec.name, spec.kind, _source_path(spec, recipe, data_dir)))
            continue
        families.append(family)
        if spec.path is not None:
            paths[family] = _source_path(spec, recipe, data_dir)
    if not extra and not set(families) - set(CHAT_FAMILIES):
        raise ConfigError(
            "the difficulty routers need at least one golden-label source"
        )
    stage("loading sources")
    table = build_table(data_dir, families=families, paths=paths, extra=extra)
    if "pair_gap" in recipe_heads(heads):
        if recipe.pair is None:
            raise ConfigError(
                f"head recipe {heads!r} learns the recipe's own pair: give the "
                "recipe a 'pair: {strong: ..., weak: ...}'"
            )
        if add_pair_target(table, recipe.pair.strong, recipe.pair.weak) < 2:
            raise ConfigError(
                f"no golden source grades both {recipe.pair.strong!r} and "
                f"{recipe.pair.weak!r}; head recipe {heads!r} needs their labels"
            )
    decon = recipe.decontamination
    eval_prompts = collect_eval_prompts(recipe, data_dir) if decon.enabled else []

    def step(n: int) -> None:
        if progress is not None:
            progress("decontaminating", n, len(table))

    decon_embedder = decontamination_embedder(recipe, embedder)
    with embedding_stage(decon_embedder, [*eval_prompts, *table.texts], progress):
        stage("decontaminating", len(table))
        clean, emb = clean_table(
            data_dir,
            embedder,
            table=table,
            eval_prompts=eval_prompts,
            threshold=decon.threshold,
            progress=step,
            decontamination_embedder=decon_embedder,
        )
    stage(f"fitting {heads}")
    router = fit_difficulty(clean, emb, embedder=recipe.embedder, recipe=heads)
    if recipe.serve_embedder and recipe.serve_embedder != recipe.embedder:
        router = router.with_embedder(recipe.serve_embedder)
    by_family: dict[str, int] = defaultdict(int)
    for fam in clean.family:
        by_family[fam] += 1
    return DifficultyTraining(
        router=router,
        heads=heads,
        n_prompts=len(clean),
        n_decontaminated=len(table) - len(clean),
        by_family=dict(by_family),
    )
