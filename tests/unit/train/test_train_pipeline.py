"""End to end: a recipe over a tiny real subset trains and saves every router."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from prefroute.cli import build_app
from prefroute.data.battles import write_battles_jsonl
from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError
from prefroute.routers import load_router
from prefroute.train.pipeline import MemoEmbedder, build_battles, train_router
from prefroute.train.recipe import parse_recipe
from prefroute.types import Battle


@pytest.fixture()
def battles_file(tmp_path: Path, tiny_battles: list[Battle]) -> Path:
    path = tmp_path / "battles.jsonl"
    write_battles_jsonl(path, tiny_battles)
    return path


def _recipe(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {
        "seed": 1,
        "embedder": "hashing:64",
        "pair": {"strong": "strong-model", "weak": "weak-model"},
        "sources": [{"kind": "jsonl", "path": "battles.jsonl"}],
        "decontamination": {"benchmarks": [], "files": ["eval.txt"]},
        "tiers": {"n_tiers": 3},
        **extra,
    }


def test_recipe_decontaminates_user_eval_file(
    tmp_path: Path, battles_file: Path, tiny_battles: list[Battle]
) -> None:
    (tmp_path / "eval.txt").write_text(tiny_battles[0].prompt + "\n")
    recipe = parse_recipe(_recipe(tmp_path), base_dir=tmp_path)
    data = build_battles(recipe, tmp_path, MemoEmbedder(HashingEmbedder(dim=64)))
    assert data.decontamination is not None
    assert data.decontamination.n_dropped_prompts == 1
    assert tiny_battles[0].prompt not in {b.prompt for b in data.battles}
    assert "tier 0" in data.summary()


@pytest.mark.parametrize("name", ["mf", "sw_ranking", "classifier"])
def test_training_is_deterministic(
    tmp_path: Path, battles_file: Path, name: str, prompts: list[str]
) -> None:
    (tmp_path / "eval.txt").write_text("unrelated\n")
    recipe = parse_recipe(
        _recipe(tmp_path, routers={"mf": {"n_epochs": 30}}), base_dir=tmp_path
    )
    emb = MemoEmbedder(HashingEmbedder(dim=64))
    data = build_battles(recipe, tmp_path, emb)
    a = train_router(name, recipe, data, emb).score(prompts)
    b = train_router(name, recipe, data, emb).score(prompts)
    np.testing.assert_array_equal(a, b)


def test_cli_train_saves_loadable_router(tmp_path: Path, battles_file: Path) -> None:
    import yaml

    (tmp_path / "eval.txt").write_text("unrelated\n")
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(_recipe(tmp_path)))
    result = CliRunner().invoke(
        build_app(),
        [
            "train",
            "mf",
            "--recipe",
            str(tmp_path / "r.yaml"),
            "--out",
            str(tmp_path / "out"),
            "--data-dir",
            str(tmp_path),
            "--set",
            "n_epochs=20",
            "--embedding-store",
            str(tmp_path / "store.npz"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "battles: " in result.output
    router = load_router(tmp_path / "out")
    assert router.score(["hello"]).shape == (1,)
    assert (tmp_path / "store.npz").is_file()


def test_cli_ratings_prints_leaderboard(tmp_path: Path, battles_file: Path) -> None:
    import yaml

    (tmp_path / "r.yaml").write_text(yaml.safe_dump(_recipe(tmp_path)))
    result = CliRunner().invoke(
        build_app(),
        [
            "ratings",
            "--recipe",
            str(tmp_path / "r.yaml"),
            "--data-dir",
            str(tmp_path),
            "--bootstrap",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    out = result.output
    # mid-model beats weak-model every time; weak-model wins or ties most easy prompts
    assert out.index("mid-model") < out.index("weak-model")
    assert out.index("strong-model") < out.index("weak-model")
    assert "3 models, 96 battles" in out


def test_memo_store_round_trip(tmp_path: Path) -> None:
    emb = MemoEmbedder(HashingEmbedder(dim=32))
    x = emb.embed(["a b", "c d"])
    emb.save_store(tmp_path / "s.npz")
    other = MemoEmbedder(HashingEmbedder(dim=32))
    assert other.load_store(tmp_path / "s.npz") == 2
    np.testing.assert_array_equal(other.embed(["c d", "a b"]), x[::-1])


def test_serve_embedder_replaces_the_saved_embedder(
    tmp_path: Path, battles_file: Path, prompts: list[str]
) -> None:
    (tmp_path / "eval.txt").write_text("unrelated\n")
    emb = MemoEmbedder(HashingEmbedder(dim=64))
    base = parse_recipe(_recipe(tmp_path), base_dir=tmp_path)
    data = build_battles(base, tmp_path, emb)
    plain = train_router("mf", base, data, emb, n_epochs=20)
    served = train_router(
        "mf",
        parse_recipe(_recipe(tmp_path, serve_embedder="hashing:64"), base_dir=tmp_path),
        data,
        emb,
        n_epochs=20,
    )
    # same learned state, other embedder object: hashing:64 is the training one
    np.testing.assert_array_equal(plain.score(prompts), served.score(prompts))
    served.save(tmp_path / "out")
    assert '"__embedder__": "hashing:64"' in (tmp_path / "out/config.json").read_text()
    with pytest.raises(ConfigError, match="32-dimensional"):
        train_router(
            "mf",
            parse_recipe(
                _recipe(tmp_path, serve_embedder="hashing:32"), base_dir=tmp_path
            ),
            data,
            emb,
            n_epochs=20,
        )


def test_last_paragraph_source_trains_on_the_question(
    tmp_path: Path, tiny_battles: list[Battle]
) -> None:
    preamble = "Example one.\n\nExample two.\n\n"
    few_shot = [
        Battle(preamble + b.prompt, b.model_a, b.model_b, b.winner, b.source)
        for b in tiny_battles
    ]
    write_battles_jsonl(tmp_path / "battles.jsonl", few_shot)
    (tmp_path / "eval.txt").write_text("unrelated\n")
    emb = MemoEmbedder(HashingEmbedder(dim=64))
    source = {"kind": "jsonl", "path": "battles.jsonl", "prompt_text": "last_paragraph"}
    recipe = parse_recipe(_recipe(tmp_path, sources=[source]), base_dir=tmp_path)
    prompts = {b.prompt for b in build_battles(recipe, tmp_path, emb).battles}
    assert prompts == {b.prompt for b in tiny_battles}
    full = parse_recipe(_recipe(tmp_path), base_dir=tmp_path)
    assert all(
        p.startswith("Example one.")
        for p in {b.prompt for b in build_battles(full, tmp_path, emb).battles}
    )


def test_embedding_stage_says_what_is_cached_then_counts_the_rest() -> None:
    from prefroute.train.pipeline import embedding_stage

    emb = MemoEmbedder(HashingEmbedder(dim=16))
    emb.embed(["a", "b"])
    calls: list[tuple[str, int, int | None]] = []
    texts = ["a", "b", "c", "d", "e", "c"]
    with embedding_stage(emb, texts, lambda *call: calls.append(call)):
        emb.embed(texts)
        emb.embed(["a", "e"])  # memoised: nothing new
    assert calls[0] == (
        "embedding: 5 prompts with hashing:16 (2 cached, 3 to embed)",
        0,
        3,
    )
    assert sum(done for _, done, _ in calls[1:]) == 3
    assert all(stage == "embedding" for stage, _, _ in calls[1:])
    assert emb.on_embedded is None


def test_cli_train_reports_embedding_and_epochs_unless_quiet(
    tmp_path: Path, battles_file: Path
) -> None:
    import yaml

    (tmp_path / "eval.txt").write_text("unrelated\n")
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(_recipe(tmp_path)))
    args = ["train", "mf", "--recipe", str(tmp_path / "r.yaml"), "--data-dir"]
    args += [str(tmp_path), "--set", "n_epochs=7"]
    loud = CliRunner().invoke(build_app(), [*args, "--out", str(tmp_path / "a")])
    assert loud.exit_code == 0, loud.output
    text = " ".join(loud.output.split())
    n_prompts = len({b.prompt for b in _read_battles(battles_file)}) + 1
    assert f"embedding: {n_prompts} prompts with hashing:64 (0 cached," in text
    assert "fitting mf: 7 epochs over 96 battles" in text
    assert "fitting mf: done, 7 in" in text  # off a terminal: a line per stage end
    assert "saved mf to" in text
    quiet = CliRunner().invoke(build_app(), ["-q", *args, "--out", str(tmp_path / "b")])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.output == ""
    assert (tmp_path / "b" / "config.json").is_file()


def _read_battles(path: Path) -> list[Battle]:
    from prefroute.data.battles import load_battles_jsonl

    return load_battles_jsonl(path)


def test_cli_ratings_never_cuts_model_names(tmp_path: Path) -> None:
    import yaml

    prefix = "cognitivecomputations/dolphin-2.9-a-rather-long-model-name"
    names = [f"{prefix}-llama3-8b", f"{prefix}-mistral-7b", "short"]
    battles = [
        Battle(f"prompt {i}", names[i % 3], names[(i + 1) % 3], "a", source="t")
        for i in range(60)
    ]
    write_battles_jsonl(tmp_path / "battles.jsonl", battles)
    (tmp_path / "r.yaml").write_text(
        yaml.safe_dump({**_recipe(tmp_path), "pair": None})
    )
    args = ["ratings", "--recipe", str(tmp_path / "r.yaml"), "--data-dir"]
    result = CliRunner().invoke(
        build_app(), [*args, str(tmp_path)], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    # a name wider than its column folds onto the next line: rejoin the cells
    joined = "".join(
        line.split("│")[2].strip()
        for line in result.stdout.splitlines()
        if line.count("│") > 3
    )
    for name in names:
        assert name in joined
