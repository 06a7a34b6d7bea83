"""classifier-ft: fine-tune (torch) -> ONNX export -> torch-free scoring and loading.

Most tests fine-tune a tiny random BERT (2 layers, width 32, MiniLM's tokenizer);
one fine-tunes the real all-MiniLM-L6-v2 on 64 RouterBench MBPP prompts
(the paper's pair, golden labels), 1 epoch at max length 64.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from _tiny_bert import make_tiny_bert
from prefroute.cli import build_app
from prefroute.data.battles import write_battles_jsonl
from prefroute.errors import ArtifactError, ConfigError
from prefroute.routers import get_router, load_router
from prefroute.routers.classifier_ft import FinetunedClassifierRouter
from prefroute.types import Battle

pytest.importorskip("torch", reason="the 'train' extra is not installed")

PAIR = ("gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1")


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


def _tiny_router(encoder: Path, **kw: object) -> FinetunedClassifierRouter:
    params: dict[str, object] = {
        "encoder": str(encoder),
        "max_length": 32,
        "batch_size": 8,
        "n_epochs": 2,
        "n_threads": 1,
        "strong_model": "strong-model",
        "weak_model": "weak-model",
    }
    params.update(kw)
    return FinetunedClassifierRouter(**params)  # type: ignore[arg-type]


def test_tiny_fit_records_training_and_separates_hard_from_easy(
    tiny_encoder: Path, tiny_battles: list[Battle], prompts: list[str]
) -> None:
    router = _tiny_router(tiny_encoder).fit(tiny_battles)
    h = router.history_
    assert h is not None
    assert h["steps"] == 4 and len(h["batch_loss"]) == 4 and h["device"] == "cpu"
    assert h["loss_before"] < h["loss_prior"]  # the linear probe learned
    assert h["export_max_abs_diff"] < 1e-4  # ONNX vs torch on probe prompts
    scores = router.score(prompts)
    assert scores[:6].mean() > scores[6:].mean()  # hard prompts first in `prompts`
    p = router.predict_proba(prompts)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(scores, p[:, 0] + 0.5 * p[:, 1], atol=1e-12)


def test_random_head_and_seed_change_the_model(
    tiny_encoder: Path, tiny_battles: list[Battle], prompts: list[str]
) -> None:
    a = _tiny_router(tiny_encoder, head_init="random", seed=0).fit(tiny_battles)
    b = _tiny_router(tiny_encoder, head_init="random", seed=1).fit(tiny_battles)
    assert not np.allclose(a.score(prompts), b.score(prompts))


def test_save_load_round_trip_without_pickle(
    tiny_encoder: Path, tiny_battles: list[Battle], prompts: list[str], tmp_path: Path
) -> None:
    router = _tiny_router(tiny_encoder, truncation="left").fit(tiny_battles)
    router.save(tmp_path / "ft")
    files = sorted(p.name for p in (tmp_path / "ft").iterdir())
    assert files == ["config.json", "model.onnx", "tokenizer.json", "training.json"]
    config = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert config["name"] == "classifier-ft"
    assert config["hyperparameters"]["truncation"] == "left"
    loaded = load_router(tmp_path / "ft")
    assert isinstance(loaded, FinetunedClassifierRouter)
    np.testing.assert_array_equal(loaded.score(prompts), router.score(prompts))
    assert loaded.history_ == json.loads(json.dumps(router.history_))
    # saving a loaded router again (into itself or elsewhere) keeps the model
    loaded.save(tmp_path / "ft")
    loaded.save(tmp_path / "copy")
    again = load_router(tmp_path / "copy")
    np.testing.assert_array_equal(again.score(prompts), router.score(prompts))


def test_loading_and_scoring_never_import_torch(
    tiny_encoder: Path, tiny_battles: list[Battle], prompts: list[str], tmp_path: Path
) -> None:
    router = _tiny_router(tiny_encoder).fit(tiny_battles)
    router.save(tmp_path / "ft")
    code = (
        "import json, sys\n"
        "from prefroute import load_router\n"
        f"r = load_router({str(tmp_path / 'ft')!r})\n"
        f"s = r.score({prompts!r})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print(json.dumps(s.tolist()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    scores = np.array(json.loads(out.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(scores, router.score(prompts), rtol=0, atol=1e-6)


def test_fit_without_torch_names_the_extra(
    tiny_encoder: Path, tiny_battles: list[Battle], tmp_path: Path
) -> None:
    path = tmp_path / "battles.jsonl"
    write_battles_jsonl(path, tiny_battles)
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # as if the 'train' extra were not installed\n"
        "from prefroute.data.battles import load_battles_jsonl\n"
        "from prefroute.errors import MissingDependencyError\n"
        "from prefroute.routers import get_router\n"
        f"r = get_router('classifier-ft', encoder={str(tiny_encoder)!r})\n"
        "try:\n"
        f"    r.fit(load_battles_jsonl({str(path)!r}))\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc.extra, '|', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("train |")
    assert "prefroute[train]" in out.stdout


def test_bad_settings_and_folders_raise(
    tiny_encoder: Path, tiny_battles: list[Battle], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="head_init"):
        _tiny_router(tiny_encoder, head_init="zeros").fit(tiny_battles)
    with pytest.raises(ConfigError, match="truncation"):
        _tiny_router(tiny_encoder, truncation="middle").fit(tiny_battles)
    with pytest.raises(ArtifactError, match="lacks"):
        _tiny_router(tmp_path).fit(tiny_battles)
    router = _tiny_router(tiny_encoder, n_epochs=1).fit(tiny_battles)
    router.save(tmp_path / "ft")
    (tmp_path / "ft" / "model.onnx").unlink()
    with pytest.raises(ArtifactError, match=r"model\.onnx"):
        load_router(tmp_path / "ft")


def test_cli_train_classifier_finetune(
    tiny_encoder: Path, tiny_battles: list[Battle], prompts: list[str], tmp_path: Path
) -> None:
    write_battles_jsonl(tmp_path / "battles.jsonl", tiny_battles)
    (tmp_path / "eval.txt").write_text("unrelated\n")
    recipe = {
        "seed": 1,
        "embedder": "hashing:64",
        "pair": {"strong": "strong-model", "weak": "weak-model"},
        "sources": [{"kind": "jsonl", "path": "battles.jsonl"}],
        "decontamination": {"benchmarks": [], "files": ["eval.txt"]},
        "tiers": {"n_tiers": 3},
        "routers": {"classifier-ft": {"max_length": 32, "n_threads": 1}},
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(
        build_app(),
        [
            "train",
            "classifier",
            "--finetune",
            "--recipe",
            str(tmp_path / "r.yaml"),
            "--out",
            str(tmp_path / "out"),
            "--data-dir",
            str(tmp_path),
            "--set",
            f"encoder={tiny_encoder}",
            "--set",
            "n_epochs=2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "saved classifier-ft" in result.output
    router = load_router(tmp_path / "out")
    assert isinstance(router, FinetunedClassifierRouter)
    assert (router.max_length, router.n_epochs, router.seed) == (32, 2, 1)
    scores = router.score(prompts)
    assert scores.shape == (len(prompts),) and np.all((scores >= 0) & (scores <= 1))
    args = ["--recipe", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "x")]
    bad = CliRunner().invoke(build_app(), ["train", "mf", "--finetune", *args])
    assert isinstance(bad.exception, ConfigError)
    assert "--finetune applies to the classifier" in str(bad.exception)


@pytest.mark.data
def test_minilm_finetune_on_routerbench_golden_labels(
    data_dir: Path, tmp_path: Path
) -> None:
    """The real encoder: the training loss drops below the linear probe's, the ONNX
    export matches torch, and the scores differ from the frozen-encoder probe's."""
    from prefroute.train.sources import load_source_battles

    battles = [
        b
        for b in load_source_battles("routerbench", data_dir)
        if {b.model_a, b.model_b} == set(PAIR) and len(b.prompt) < 600  # MBPP
    ][:64]
    assert len(battles) == 64
    kw = {"max_length": 64, "n_threads": 2, "tier_mode": "pair"}
    kw |= {"strong_model": PAIR[0], "weak_model": PAIR[1]}
    router = get_router("classifier-ft", lr=5e-5, **kw).fit(battles)
    h = router.history_
    assert h is not None
    assert h["loss_after"] < h["loss_before"] < h["loss_prior"]
    assert h["export_max_abs_diff"] < 1e-4
    prompts = [b.prompt for b in battles]
    scores = router.score(prompts)
    assert scores.std() > 0.05  # not a constant prior
    router.save(tmp_path / "ft")
    assert (tmp_path / "ft" / "model.onnx").stat().st_size > 80e6  # full MiniLM
    np.testing.assert_array_equal(load_router(tmp_path / "ft").score(prompts), scores)
