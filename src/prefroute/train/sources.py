"""Turn every data source into battles.

- Golden labels (RouterBench, RouterDC, ulab LLMRouter/RouteProfile,
  gemini-benchmark, ZeroEval CRUXEval): on a prompt,
  model X correct and Y wrong = X wins; both right = "tie"; both wrong =
  "tie_bothbad". Fractional scores (RouterDC averages 10 samples) keep a soft label
  ``p_a = (1 + s_a - s_b) / 2``.
- AlpacaEval judge annotations: ``preference`` in [1, 2] (2 = the listed model,
  ``generator_2``, preferred) becomes the soft label ``p_a = 2 - preference`` with
  A = ``generator_1`` (the baseline).
- EloBench's GPT-4-judged battles (`prefroute.data.elobench`), hard labels.
- Arena files and our own battle JSONL through `prefroute.data.battles` loaders.
- A request log (`kind: log`, a SQLite file or a ``postgresql://`` URL): the feedback
  on your own traffic (`prefroute.train.logdata.log_battles`): judge labels as they
  are, and every two models that answered the same prompt (exploration, repeated
  prompts) as a golden-label battle. A prompt answered by one model gives none.

Model names are canonicalised (`prefroute.data.models.canonical_model_name`) so the
paper's pair is the same pair in every source.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from prefroute.data.models import canonical_model_name
from prefroute.errors import ConfigError
from prefroute.types import Battle, GoldenRecord, Winner

__all__ = [
    "GOLDEN_SOURCES",
    "SOURCE_KINDS",
    "golden_to_battles",
    "load_golden",
    "load_source_battles",
]

#: Golden-label source kinds and their loaders in `prefroute.data.golden`.
GOLDEN_SOURCES: dict[str, str] = {
    "routerbench": "load_routerbench",
    "routerdc": "load_routerdc",
    "llmrouter": "load_llmrouter",
    "routeprofile": "load_routeprofile",
    "gemini_benchmark": "load_gemini_benchmark",
    "crux": "load_crux",
}
#: Every source kind a recipe may name.
SOURCE_KINDS: tuple[str, ...] = (
    *GOLDEN_SOURCES,
    "alpaca_eval",
    "elobench",
    "arena_55k",
    "arena_33k",
    "jsonl",
    "log",
)
_TIE_CUT = 0.5


def golden_to_battles(
    records: Iterable[GoldenRecord], *, weight: float = 1.0, source: str | None = None
) -> list[Battle]:
    """Expand golden labels into one battle per pair of models on each prompt.

    Args:
        records: Golden records (per-model quality in [0, 1] on a prompt).
        weight: Weight given to every battle.
        source: Source name to stamp on battles; default each record's source.

    Returns:
        Battles, ``model_a`` < ``model_b`` in the record's model order. Winner: the
        higher score; equal scores are "tie" when both >= 0.5 else "tie_bothbad".
        ``p_a`` is set only for fractional scores.
    """
    out: list[Battle] = []
    for rec in records:
        items = [
            (m, float(s)) for m, s in rec.scores.items() if math.isfinite(float(s))
        ]
        src = source if source is not None else rec.source
        for (ma, sa), (mb, sb) in itertools.combinations(items, 2):
            winner: Winner
            if sa > sb:
                winner = "a"
            elif sb > sa:
                winner = "b"
            else:
                winner = "tie" if sa >= _TIE_CUT else "tie_bothbad"
            is_binary = sa in (0.0, 1.0) and sb in (0.0, 1.0)
            p_a = None if is_binary else 0.5 * (1.0 + sa - sb)
            out.append(Battle(rec.prompt, ma, mb, winner, src, weight, p_a))
    return out


def load_golden(kind: str, path: Path) -> list[GoldenRecord]:
    """Load golden records of one source kind with canonical model names.

    Args:
        kind: One of `GOLDEN_SOURCES`.
        path: Data root, source folder or file, as the loader accepts.

    Returns:
        The records.

    Raises:
        ConfigError: Unknown kind.
    """
    if kind not in GOLDEN_SOURCES:
        raise ConfigError(
            f"unknown golden source {kind!r}; expected one of {list(GOLDEN_SOURCES)}"
        )
    from prefroute.data import golden

    loader = getattr(golden, GOLDEN_SOURCES[kind])
    records: list[GoldenRecord] = loader(path, canonical=True)
    return records


def _reweight(battles: Iterable[Battle], weight: float, source: str) -> list[Battle]:
    return [
        Battle(
            b.prompt,
            canonical_model_name(b.model_a),
            canonical_model_name(b.model_b),
            b.winner,
            source or b.source,
            b.weight * weight,
            b.p_a,
        )
        for b in battles
    ]


def load_source_battles(
    kind: str,
    path: Path | str,
    *,
    weight: float = 1.0,
    name: str = "",
    annotators: Sequence[str] = (),
    include_tasks: Sequence[str] = (),
    exclude_tasks: Sequence[str] = (),
) -> list[Battle]:
    """Load one recipe source as battles.

    Args:
        kind: One of `SOURCE_KINDS`.
        path: Data root (golden, alpaca, elobench), the file (arena, jsonl) or
            the request log's file or URL (log).
        weight: Multiplies every battle's weight.
        name: Source name stamped on battles (default: kind or the loader's).
        annotators: AlpacaEval annotators to keep (empty = all).
        include_tasks: Golden sources: keep only records of these tasks.
        exclude_tasks: Golden sources: drop records of these tasks.

    Returns:
        Battles.

    Raises:
        ConfigError: Unknown kind.
        DataError: Missing or malformed data.
    """
    if kind == "log":
        from prefroute.train.logdata import log_battles, read_log

        return log_battles(read_log(path), weight=weight, source=name or kind)
    path = Path(path)
    if kind in GOLDEN_SOURCES:
        records = [
            r
            for r in load_golden(kind, path)
            if (not include_tasks or r.task in include_tasks)
            and r.task not in exclude_tasks
        ]
        return golden_to_battles(records, weight=weight, source=name or kind)
    if kind == "alpaca_eval":
        from prefroute.data.battles import load_alpaca_eval

        loaded_ae = load_alpaca_eval(
            path, annotators=annotators or None, canonical=True
        )
        return _reweight(
            (b for b in loaded_ae if b.model_a != b.model_b), weight, name or kind
        )
    if kind == "elobench":
        from prefroute.data.elobench import load_elobench

        loaded_eb = load_elobench(path, canonical=True)
        return _reweight(
            (b for b in loaded_eb if b.model_a != b.model_b), weight, name or kind
        )
    if kind in ("arena_55k", "arena_33k", "jsonl"):
        from prefroute.data import battles as loaders

        fn = {
            "arena_55k": "load_arena_55k",
            "arena_33k": "load_arena_33k",
            "jsonl": "load_battles_jsonl",
        }[kind]
        loaded: list[Battle] = getattr(loaders, fn)(path)
        return _reweight(loaded, weight, name or kind)
    raise ConfigError(
        f"unknown source kind {kind!r}; expected one of {list(SOURCE_KINDS)}"
    )
