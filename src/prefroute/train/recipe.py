"""Training recipes: which sources, with what weights and filters, a seed,
decontamination and tier settings, and router hyperparameters.

A recipe is a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file::

    seed: 0
    embedder: minilm
    pair: {strong: gpt-4-1106-preview, weak: mistralai/Mixtral-8x7B-Instruct-v0.1}
    sources:
      - kind: routerbench
        weight: 1.0
      - kind: alpaca_eval
        weight: 0.1
        annotators: [weighted_alpaca_eval_gpt4_turbo]
      - kind: elobench        # GPT-4-judged battles on real user questions
        weight: 0.1
      - kind: jsonl
        path: my_battles.jsonl
        max_battles: 5000
      - kind: log                 # your own traffic's feedback (see `prefroute adapt`)
        path: requests.db         # or postgresql://...
    decontamination: {threshold: 0.95, benchmarks: [mmlu, mt-bench, gsm8k], files: []}
    tiers: {n_tiers: 10}
    routers:
      mf: {dim: 64}
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prefroute.errors import ConfigError
from prefroute.train.sources import SOURCE_KINDS

__all__ = [
    "DecontaminationSpec",
    "PairSpec",
    "Recipe",
    "SourceSpec",
    "TierSpec",
    "load_recipe",
    "parse_recipe",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class SourceSpec(BaseModel):
    """One data source of a recipe.

    Attributes:
        kind: Source kind (see `prefroute.train.sources.SOURCE_KINDS`): golden
            labels ``routerbench``, ``routerdc``, ``llmrouter``, ``routeprofile``,
            ``gemini_benchmark`` (the paper's pair on SVAMP, MultiArith, HumanEval,
            ODEX), ``crux`` (CRUXEval, 26 validated models); judge battles
            ``alpaca_eval``, ``elobench`` (GPT-4-judged, real user questions);
            ``arena_55k``, ``arena_33k`` and ``jsonl`` files.
        name: Name in summaries (default: kind).
        path: File or folder; relative paths resolve against the data dir (golden,
            alpaca, elobench) or the recipe's folder (arena, jsonl, log).
            Default: the data dir. A `log` source is a request log: a SQLite
            file or a ``postgresql://`` URL.
        weight: Multiplies each battle's weight (0 disables the source).
        max_battles: Keep at most this many battles (a seeded sample).
        include_tasks: Keep only prompts whose task (golden sources) is listed.
        exclude_tasks: Drop prompts whose task is listed.
        annotators: AlpacaEval: keep only these judges.
        models: Keep only battles whose two models are both listed (empty = all).
        prompt_text: "full", or "last_paragraph" to train on each prompt's last
            paragraph when it has more than two (few-shot blocks such as RouterBench's
            ARC / Winogrande rows, whose shared examples fill the embedder's 256
            tokens and would make every row of a task one vector).
    """

    model_config = _FROZEN

    kind: str
    name: str = ""
    path: str | None = None
    weight: float = Field(default=1.0, ge=0.0)
    max_battles: int | None = Field(default=None, ge=1)
    include_tasks: tuple[str, ...] = ()
    exclude_tasks: tuple[str, ...] = ()
    annotators: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    prompt_text: Literal["full", "last_paragraph"] = "full"

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in SOURCE_KINDS:
            raise ValueError(f"kind must be one of {list(SOURCE_KINDS)}, got {value!r}")
        return value

    @property
    def label(self) -> str:
        """Name shown in summaries and stamped on battles."""
        return self.name or self.kind


class DecontaminationSpec(BaseModel):
    """Which evaluation prompts must never reach training.

    Attributes:
        threshold: Drop a training prompt whose cosine similarity to any evaluation
            prompt is above this.
        benchmarks: Built-in evaluation sets ("mmlu", "mt-bench", "gsm8k").
        files: Extra files of evaluation prompts (one per line, or JSONL with a
            "prompt"/"question"/"turns" field).
        enabled: Set False only for experiments; training then warns.
        embedder: Embedder spec of the similarity test; None: the recipe's
            embedder. The threshold reads as "near duplicate" in a contextual
            space such as MiniLM's, not in a token-table one (``minilm-static``
            puts unrelated math prompts above 0.95), so the shipped recipes fix
            it to ``minilm`` whatever embedder the router trains on.
    """

    model_config = _FROZEN

    threshold: float = Field(default=0.95, gt=0.0, le=1.0)
    benchmarks: tuple[str, ...] = ("mmlu", "mt-bench", "gsm8k")
    files: tuple[str, ...] = ()
    enabled: bool = True
    embedder: str | None = None


class TierSpec(BaseModel):
    """Grouping of models into tiers by rating (the paper uses 10).

    Attributes:
        n_tiers: Number of tiers.
        min_gap: Minimum tier difference for a battle to become a strong/weak label.
    """

    model_config = _FROZEN

    n_tiers: int = Field(default=10, ge=1)
    min_gap: int = Field(default=1, ge=1)


class PairSpec(BaseModel):
    """The strong/weak model pair the shipped router scores."""

    model_config = _FROZEN

    strong: str
    weak: str


class Recipe(BaseModel):
    """A full training recipe.

    Attributes:
        seed: Seed for sampling and router training.
        embedder: Embedder spec for training (and the saved router, unless
            `serve_embedder` is set).
        serve_embedder: Embedder spec the saved router scores with, when it differs
            from the training one: a drop-in of the same dimension, e.g. train on
            exact ``minilm`` vectors and serve with the 2x cheaper ``minilm-dq8``.
        pair: Default strong/weak pair (routers that score a pair).
        sources: Data sources, at least one.
        decontamination: Evaluation prompts to keep out.
        tiers: Tier grouping.
        routers: Router name -> hyperparameter overrides.
        base_dir: Folder of the recipe file (for relative paths); not user-set.
    """

    model_config = _FROZEN

    seed: int = 0
    embedder: str = "minilm"
    serve_embedder: str | None = None
    pair: PairSpec | None = None
    sources: tuple[SourceSpec, ...] = Field(min_length=1)
    decontamination: DecontaminationSpec = DecontaminationSpec()
    tiers: TierSpec = TierSpec()
    routers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    base_dir: str = "."


def parse_recipe(
    data: Any, *, base_dir: Path | str = ".", where: str = "recipe"
) -> Recipe:
    """Validate a parsed recipe mapping.

    Args:
        data: The mapping read from YAML/TOML.
        base_dir: Folder that relative paths resolve against.
        where: Name for error messages.

    Returns:
        The recipe.

    Raises:
        ConfigError: Not a mapping, unknown keys, bad values (the message names the
            field, what was expected and what came).
    """
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where}: expected a mapping at top level, got {type(data).__name__}"
        )
    try:
        return Recipe.model_validate({**data, "base_dir": str(base_dir)})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            f" (got {err.get('input')!r})"
            for err in exc.errors()
        )
        raise ConfigError(f"{where}: invalid recipe: {problems}") from None


def load_recipe(path: Path | str) -> Recipe:
    """Read a recipe file (.yaml, .yml or .toml).

    Args:
        path: The file.

    Returns:
        The recipe (relative paths resolve against the file's folder).

    Raises:
        ConfigError: Missing file, unknown extension, syntax error or bad values.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read recipe {str(path)!r}: {exc}") from exc
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        else:
            raise ConfigError(
                f"recipe must end in .yaml, .yml or .toml, got {path.name!r}"
            )
    except ConfigError:
        raise
    except Exception as exc:  # yaml.YAMLError / tomllib.TOMLDecodeError
        raise ConfigError(f"cannot parse recipe {str(path)!r}: {exc}") from exc
    return parse_recipe(data, base_dir=path.resolve().parent, where=str(path))
