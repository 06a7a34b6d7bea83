"""From a recipe to battles to a fitted router.

`build_battles` loads every source of a recipe, applies its filters and weights,
decontaminates against the evaluation prompts, and returns a summary;
`train_router` then fits a registered router on the result. Both are
deterministic for a given recipe seed.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prefroute._npz import write_npz
from prefroute.embed.base import Embedder, embedding_progress
from prefroute.errors import ConfigError, DataError
from prefroute.routers.base import Router
from prefroute.train.decontam import (
    DecontaminationReport,
    decontaminate,
    load_eval_prompt_file,
)
from prefroute.train.ratings import Ratings, fit_ratings
from prefroute.train.recipe import Recipe, SourceSpec
from prefroute.train.sources import load_source_battles
from prefroute.types import Battle, FloatArray

__all__ = [
    "EMBED_STAGE",
    "MemoEmbedder",
    "TrainingData",
    "build_battles",
    "collect_eval_prompts",
    "decontamination_embedder",
    "embedding_stage",
    "train_router",
    "training_embedder",
]

logger = logging.getLogger(__name__)

#: Progress callback: (stage description, units done now, total units or None).
#: A stage starts with done 0; later calls add `done` units. A description may add
#: details after a colon ("embedding: 35,535 prompts ..."): the part before the
#: colon names the stage, and later calls of the stage may give that part alone.
Progress = Callable[[str, int, int | None], None]

#: Name of the stage that embeds prompts (see `embedding_stage`).
EMBED_STAGE = "embedding"


@contextlib.contextmanager
def embedding_stage(
    embedder: Embedder | None, texts: Sequence[str], progress: Progress | None
) -> Iterator[None]:
    """Report the embedding work done inside the block.

    Says up front how many distinct texts the block embeds and how many of them
    are cached already (`n_cached` of the embedder, when it has one), then counts
    the texts the model embeds as it goes (`embedding_progress`).

    Args:
        embedder: The embedder the block uses (None: nothing is reported).
        texts: Every text the block embeds.
        progress: Progress callback (None: nothing is reported).

    Yields:
        Nothing.
    """
    if progress is None or embedder is None:
        yield
        return
    unique = list(dict.fromkeys(texts))
    counter = getattr(embedder, "n_cached", None)
    n_cached = int(counter(unique)) if callable(counter) else 0
    n_new = len(unique) - n_cached
    progress(
        f"{EMBED_STAGE}: {len(unique):,} prompts with {embedder.spec} "
        f"({n_cached:,} cached, {n_new:,} to embed)",
        0,
        n_new,
    )
    with embedding_progress(embedder, lambda n: progress(EMBED_STAGE, n, n_new)):
        yield


class MemoEmbedder:
    """Wraps an embedder with an in-memory memo, so decontamination and fitting
    embed each prompt once. `spec` is the inner embedder's, so a router trained with
    it saves the plain spec."""

    def __init__(self, inner: Embedder) -> None:
        """Wrap `inner`.

        Args:
            inner: The embedder doing the work.
        """
        self.inner = inner
        self.spec = inner.spec
        self.dim = inner.dim
        self._memo: dict[str, np.ndarray] = {}
        #: Called with the number of texts the inner embedder just embedded, when
        #: it reports none itself (see `prefroute.embed.base.embedding_progress`).
        self.on_embedded: Callable[[int], None] | None = None

    def n_cached(self, texts: Sequence[str]) -> int:
        """How many distinct texts of `texts` need no model call: memoised, or
        cached by the inner embedder (`CachedEmbedder.n_cached`).

        Args:
            texts: Texts that are about to be embedded.

        Returns:
            The number of distinct texts already available.
        """
        unique = list(dict.fromkeys(texts))
        rest = [t for t in unique if t not in self._memo]
        counter = getattr(self.inner, "n_cached", None)
        in_inner = int(counter(rest)) if callable(counter) and rest else 0
        return len(unique) - len(rest) + in_inner

    def load_store(self, path: Path) -> int:
        """Preload vectors saved by `save_store` (same embedder spec only).

        Args:
            path: An ``.npz`` with arrays ``spec``, ``texts_json`` and ``vectors``.

        Returns:
            Vectors loaded (0 when the file is absent or holds another spec).
        """
        if not path.is_file():
            return 0
        with np.load(path, allow_pickle=False) as data:
            if str(data["spec"]) != self.spec:
                logger.warning(
                    "%s holds %s embeddings, not %s; ignored",
                    path,
                    data["spec"],
                    self.spec,
                )
                return 0
            texts = json.loads(data["texts_json"].tobytes().decode("utf-8"))
            vectors = data["vectors"]
            self._memo.update(zip(texts, vectors, strict=True))
            return len(texts)

    def save_store(self, path: Path) -> None:
        """Write every memoised vector to `path` (``.npz``, no pickle)."""
        texts = list(self._memo)
        vectors = (
            np.stack([self._memo[t] for t in texts])
            if texts
            else np.zeros((0, self.dim))
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        write_npz(
            path,
            {
                "spec": np.array(self.spec),
                # Texts as one UTF-8 JSON blob: a fixed-width str array would pad
                # every text to the longest one.
                "texts_json": np.frombuffer(
                    json.dumps(texts).encode("utf-8"), dtype=np.uint8
                ),
                "vectors": vectors.astype(np.float32),
            },
            compress=False,
        )

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Embed texts, reusing memoised rows: (len(texts), dim) float32."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            stats = getattr(self.inner, "stats", None)  # a CachedEmbedder's counters
            misses_before = getattr(stats, "misses", 0)
            vecs = np.asarray(self.inner.embed(missing), dtype=np.float32)
            self._memo.update(zip(missing, vecs, strict=True))
            n_new = (
                getattr(stats, "misses", 0) - misses_before
                if stats is not None
                else len(missing)
            )
            if self.on_embedded is not None and n_new > 0:
                self.on_embedded(n_new)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = self._memo[t]
        return out


def decontamination_embedder(recipe: Recipe, embedder: Embedder) -> Embedder:
    """The embedder of the recipe's decontamination test: `embedder`, unless the
    recipe's ``decontamination.embedder`` names another spec (then that one, made
    by `training_embedder`).

    Args:
        recipe: The recipe.
        embedder: The training embedder.

    Returns:
        The embedder to compare training and evaluation prompts with.
    """
    spec = recipe.decontamination.embedder
    if spec is None or spec == embedder.spec:
        return embedder
    return training_embedder(spec)


def training_embedder(spec: str, *, inner: Embedder | None = None) -> MemoEmbedder:
    """The embedder for training: `spec`, on-disk cached when the cache exists
    (not for the model-free "hashing" and the table lookup "minilm-static", which
    compute faster than a cache answers), memoised in memory.

    Args:
        spec: Embedder spec (e.g. "minilm", "hashing:256").
        inner: What computes the vectors of `spec` (default: `get_embedder(spec)`;
            `--engine ray` passes an `EngineEmbedder`).

    Returns:
        The embedder.
    """
    from prefroute.embed import get_embedder

    if inner is None:
        inner = get_embedder(spec)
    try:
        from prefroute.embed.cache import CachedEmbedder
    except ImportError:
        pass
    else:
        if spec.partition(":")[0] not in ("hashing", "minilm-static"):
            inner = CachedEmbedder(inner)
    return MemoEmbedder(inner)


@dataclass
class TrainingData:
    """Battles ready for training, and what went into them.

    Attributes:
        battles: Decontaminated, weighted battles.
        by_source: Source name -> battles kept.
        decontamination: Decontamination report (None when disabled).
        ratings: Bradley-Terry leaderboard with tiers over all battles.
    """

    battles: list[Battle]
    by_source: dict[str, int] = field(default_factory=dict)
    decontamination: DecontaminationReport | None = None
    ratings: Ratings | None = None

    def summary(self) -> str:
        """A plain-text summary: battles per source, decontamination, models, tiers."""
        lines = [f"battles: {len(self.battles)}"]
        lines += [f"  {src}: {n}" for src, n in sorted(self.by_source.items())]
        d = self.decontamination
        if d is not None:
            lines.append(
                f"decontamination (cosine > {d.threshold}): dropped "
                f"{d.n_dropped_prompts} of {d.n_train_prompts} prompts "
                f"({d.n_dropped_battles} battles) against {d.n_eval_prompts} "
                "evaluation prompts"
            )
        if self.ratings is not None:
            r = self.ratings
            lines.append(f"models: {len(r.models)}, tiers: {int(r.tiers.max()) + 1}")
            for t in range(int(r.tiers.max()) + 1):
                members = [
                    m for m, tt in zip(r.models, r.tiers, strict=True) if tt == t
                ]
                lines.append(f"  tier {t}: {', '.join(members)}")
        return "\n".join(lines)


def _source_path(spec: SourceSpec, recipe: Recipe, data_dir: Path) -> Path:
    if spec.path is None:
        if spec.kind in ("arena_55k", "arena_33k", "jsonl", "log"):
            raise ConfigError(
                f"source {spec.label!r} of kind {spec.kind!r} needs a 'path'"
            )
        return data_dir
    path = Path(spec.path).expanduser()
    if path.is_absolute():
        return path
    base = (
        data_dir
        if spec.kind not in ("arena_55k", "arena_33k", "jsonl", "log")
        else Path(recipe.base_dir)
    )
    return base / path


def _source_target(spec: SourceSpec, recipe: Recipe, data_dir: Path) -> Path | str:
    """`_source_path`, but a request log may also be a URL (kept as given)."""
    if spec.kind == "log" and spec.path is not None and "://" in spec.path:
        return spec.path
    return _source_path(spec, recipe, data_dir)


def _filter(battles: list[Battle], spec: SourceSpec, seed: int) -> list[Battle]:
    if spec.prompt_text == "last_paragraph":
        from dataclasses import replace

        from prefroute.data.text import last_paragraph

        battles = [replace(b, prompt=last_paragraph(b.prompt)) for b in battles]
    if spec.models:
        keep = set(spec.models)
        battles = [b for b in battles if b.model_a in keep and b.model_b in keep]
    if spec.max_battles is not None and len(battles) > spec.max_battles:
        rng = np.random.default_rng([seed, len(battles)])
        idx = np.sort(rng.choice(len(battles), size=spec.max_battles, replace=False))
        battles = [battles[i] for i in idx]
    return battles


def collect_eval_prompts(recipe: Recipe, data_dir: Path) -> list[str]:
    """Every evaluation prompt the recipe's decontamination names.

    Args:
        recipe: The recipe.
        data_dir: Data root holding ``routellm-evals/``.

    Returns:
        Unique prompts (built-in benchmarks, all turns, plus the named files).

    Raises:
        DataError: A named benchmark or file cannot be read.
    """
    from prefroute.data import benchmarks as bm

    spec = recipe.decontamination
    prompts: dict[str, None] = {}
    if spec.benchmarks:
        names = {bm._canonical_benchmark(n) for n in spec.benchmarks}
        if names >= set(bm.BENCHMARKS):
            prompts.update(dict.fromkeys(bm.load_eval_prompts(data_dir)))
        else:
            for name in sorted(names):
                folder = bm.benchmark_dir(name, data_dir)
                if name == "mt-bench":
                    for _, _, turns in bm._read_questions(folder):
                        prompts.update(dict.fromkeys(turns))
                else:
                    bench = bm.load_benchmark(name, data_dir)
                    prompts.update(dict.fromkeys(bench.prompts))
                    prompts.update(dict.fromkeys(bm.load_contaminated_prompts(folder)))
    for file in spec.files:
        path = Path(file).expanduser()
        path = path if path.is_absolute() else Path(recipe.base_dir) / path
        prompts.update(dict.fromkeys(load_eval_prompt_file(path)))
    return list(prompts)


def build_battles(
    recipe: Recipe,
    data_dir: Path,
    embedder: Embedder | None,
    *,
    progress: Progress | None = None,
    n_bootstrap: int = 0,
) -> TrainingData:
    """Load, filter, weight and decontaminate the recipe's battles; fit ratings.

    Args:
        recipe: The recipe.
        data_dir: Data root.
        embedder: The training embedder: the decontamination similarity test
            runs on it unless the recipe names another (`decontamination_embedder`);
            may be None only when the recipe disables decontamination.
        progress: Optional progress callback.
        n_bootstrap: Bootstrap resamples for the ratings' intervals.

    Returns:
        The training data with its summary.

    Raises:
        DataError: A source yields nothing, or nothing is left.
    """
    battles: list[Battle] = []
    for spec in recipe.sources:
        if spec.weight == 0:
            continue
        if progress:
            progress(f"loading {spec.label}", 0, None)
        loaded = load_source_battles(
            spec.kind,
            _source_target(spec, recipe, data_dir),
            weight=spec.weight,
            name=spec.label,
            annotators=spec.annotators,
            include_tasks=spec.include_tasks,
            exclude_tasks=spec.exclude_tasks,
        )
        loaded = _filter(loaded, spec, recipe.seed)
        if not loaded:
            raise DataError(
                f"source {spec.label!r} yields no battles after its filters"
            )
        battles.extend(loaded)
    report = None
    dc = recipe.decontamination
    if dc.enabled:
        if embedder is None:
            raise ConfigError("decontamination needs an embedder; got None")
        eval_prompts = collect_eval_prompts(recipe, data_dir)
        n_unique = len({b.prompt for b in battles})

        def step(n: int) -> None:
            if progress:
                progress("decontaminating", n, n_unique)

        decon_embedder = decontamination_embedder(recipe, embedder)
        to_embed = [*eval_prompts, *(b.prompt for b in battles)]
        with embedding_stage(decon_embedder, to_embed, progress):
            if progress:
                progress("decontaminating", 0, n_unique)
            battles, report = decontaminate(
                battles,
                eval_prompts,
                decon_embedder,
                threshold=dc.threshold,
                progress=step,
            )
    else:
        logger.warning(
            "decontamination disabled: evaluation prompts may reach training"
        )
    if not battles:
        raise DataError("no battles left after decontamination")
    by_source = dict(Counter(b.source for b in battles))
    ratings = fit_ratings(
        battles, n_tiers=recipe.tiers.n_tiers, n_bootstrap=n_bootstrap, seed=recipe.seed
    )
    return TrainingData(battles, by_source, report, ratings)


def train_router(
    name: str,
    recipe: Recipe,
    data: TrainingData,
    embedder: Embedder,
    *,
    on_progress: Progress | None = None,
    **overrides: Any,
) -> Router:
    """Fit a registered router on prepared training data.

    Hyperparameters: the recipe's ``routers[name]`` section, then `overrides`;
    ``seed``, ``embedder``, ``strong_model``/``weak_model`` (from the recipe pair)
    and tier settings are filled in when the router accepts them.

    Args:
        name: Registered router name.
        recipe: The recipe.
        data: From `build_battles`.
        embedder: Embedder injected into the router.
        on_progress: Progress callback: stage ``fitting <name>``, counted in
            epochs for routers with an ``on_epoch`` hook (mf, classifier).
        **overrides: Hyperparameter overrides.

    Returns:
        The fitted router.
    """
    import inspect

    from prefroute.routers.registry import get_router_class

    cls = get_router_class(name)
    accepted = {
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    params: dict[str, Any] = {}
    defaults: dict[str, Any] = {"seed": recipe.seed, "embedder": embedder}
    if recipe.pair is not None:
        defaults |= {"strong_model": recipe.pair.strong, "weak_model": recipe.pair.weak}
    defaults |= {"n_tiers": recipe.tiers.n_tiers, "min_tier_gap": recipe.tiers.min_gap}
    params.update({k: v for k, v in defaults.items() if k in accepted})
    params.update(recipe.routers.get(name, {}))
    params.update(overrides)
    unknown = set(params) - accepted
    if unknown:
        raise ConfigError(
            f"router {name!r} has no hyperparameters {sorted(unknown)}; "
            f"it accepts {sorted(accepted)}"
        )
    router = cls(**params)
    if on_progress is not None:
        # routers fitted by epochs declare an `on_epoch` hook (mf, classifier)
        n_epochs = getattr(router, "n_epochs", None)
        total = (
            n_epochs if hasattr(cls, "on_epoch") and isinstance(n_epochs, int) else None
        )
        unit = f": {total} epochs over {len(data.battles):,} battles" if total else ""
        on_progress(f"fitting {name}{unit}", 0, total)
        if total:
            report = on_progress
            router.on_epoch = lambda n: report(f"fitting {name}", n, total)  # type: ignore[attr-defined]
    router.fit(data.battles)
    if recipe.serve_embedder and "embedder" in accepted and "embedder" not in overrides:
        router = _serve_with(router, recipe.serve_embedder, embedder)
    return router


def _serve_with(router: Router, spec: str, trained_on: Embedder) -> Router:
    """`router` scoring with the embedder `spec` (checked: same dimension)."""
    from prefroute.embed import get_embedder

    serving = get_embedder(spec)
    probe = ["dimension probe"]
    got, want = serving.embed(probe).shape[1], trained_on.embed(probe).shape[1]
    if got != want:
        raise ConfigError(
            f"serve_embedder {spec!r} gives {got}-dimensional vectors; the router was "
            f"trained on {want}-dimensional ones"
        )
    return router.with_embedder(serving)
