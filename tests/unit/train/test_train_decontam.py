"""Decontamination drops planted duplicates and near-duplicate paraphrases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import DataError
from prefroute.train.decontam import decontaminate, load_eval_prompt_file
from prefroute.types import Battle

EVAL = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many "
    "clips in May. How many clips did Natalia sell altogether in April and May?",
    "Compose an engaging travel blog post about a recent trip to Hawaii, highlighting "
    "cultural experiences and must-see attractions. Describe the beaches, the food "
    "markets, the volcano hike at dawn, the music and dance you saw, the people you "
    "met on the road, and give practical tips on transport, budget and the best "
    "season to visit, in a warm and personal tone that readers will enjoy.",
]


def _battles(prompts: list[str]) -> list[Battle]:
    return [Battle(p, "x", "y", "a", source="s") for p in prompts]


def test_planted_duplicate_is_dropped() -> None:
    train = ["What is 2 + 2?", "  " + EVAL[0].upper() + " "]
    kept, report = decontaminate(_battles(train), EVAL, HashingEmbedder(dim=256))
    assert [b.prompt for b in kept] == ["What is 2 + 2?"]
    assert report.n_dropped_prompts == 1
    assert report.dropped_by_source == {"s": 1}


def test_near_duplicate_paraphrase_is_dropped() -> None:
    emb = HashingEmbedder(dim=1024)
    paraphrase = EVAL[1].replace("engaging", "captivating")
    cos = float(emb.embed([paraphrase])[0] @ emb.embed([EVAL[1]])[0])
    assert 0.95 < cos < 1.0
    kept, report = decontaminate(
        _battles([paraphrase, "Tell me a joke about cats."]), EVAL, emb
    )
    assert [b.prompt for b in kept] == ["Tell me a joke about cats."]
    assert report.n_dropped_battles == 1


def test_unrelated_prompts_are_kept() -> None:
    train = ["Translate good morning into Spanish.", "Name three prime numbers."]
    kept, report = decontaminate(_battles(train), EVAL, HashingEmbedder(dim=256))
    assert len(kept) == 2
    assert report.n_dropped_prompts == 0


def test_no_eval_prompt_reaches_training_at_threshold() -> None:
    emb = HashingEmbedder(dim=256)
    rng = np.random.default_rng(0)
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
    ]
    eval_prompts = [" ".join(rng.choice(words, size=12)) for _ in range(30)]
    train = [*eval_prompts[::2], "something else entirely"]
    kept, _ = decontaminate(_battles(train), eval_prompts, emb)
    assert not {b.prompt for b in kept} & set(eval_prompts)


def test_eval_prompt_file_formats(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("first prompt\n\nsecond prompt\n")
    (tmp_path / "b.jsonl").write_text('{"prompt": "p1"}\n{"turns": ["t1", "t2"]}\n')
    assert load_eval_prompt_file(tmp_path / "a.txt") == [
        "first prompt",
        "second prompt",
    ]
    assert load_eval_prompt_file(tmp_path / "b.jsonl") == ["p1", "t1", "t2"]


def test_eval_prompt_file_without_prompt_field(tmp_path: Path) -> None:
    (tmp_path / "c.jsonl").write_text('{"text": "x"}\n')
    with pytest.raises(DataError, match="expected a 'prompt'"):
        load_eval_prompt_file(tmp_path / "c.jsonl")
