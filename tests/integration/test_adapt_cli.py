"""`prefroute adapt` and `prefroute eval --log` end to end, on small logs written in
the test through the store API (the records the server writes)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1]))

from _adapt_synth import STRONG, WEAK, make_prompts, truth, write_log
from prefroute.cli import build_app
from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError, DataError
from prefroute.routers.adapted import AdaptedRouter
from prefroute.routers.adapted_multi import AdaptedMultiModelRouter
from prefroute.routers.mf import MFRouter
from prefroute.routers.multi import MultiModelRouter
from prefroute.routers.registry import load_router
from prefroute.types import Battle, GoldenRecord


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture(scope="module")
def start(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A starting pair router (mf on the log's two models, hashing embedder)."""
    prompts = make_prompts(120, seed=50, tag="train")
    q = truth(prompts)
    battles = [
        Battle(p, STRONG, WEAK, "a" if qs > qw + 0.2 else "tie")
        for p, (qs, qw) in zip(prompts, q, strict=True)
    ]
    router = MFRouter(
        embedder=HashingEmbedder(dim=64),
        dim=4,
        n_epochs=60,
        strong_model=STRONG,
        weak_model=WEAK,
    ).fit(battles)
    folder = tmp_path_factory.mktemp("start") / "mf"
    router.save(folder)
    return folder


def _pair_log(path: Path, n: int, *, explore: float, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    prompts = make_prompts(n, seed=seed)
    q = truth(prompts)
    policy = np.where(rng.random(n) < 0.5, 0, 1)
    flip = rng.random(n) < explore
    action = np.where(flip, 1 - policy, policy)
    propensity = np.where(flip, explore, 1 - explore)
    names = [STRONG, WEAK]
    rewards = (rng.random(n) < q[np.arange(n), action]).astype(float)
    write_log(
        path,
        prompts,
        [names[a] for a in action],
        propensity,
        rewards,
        policy=[names[a] for a in policy],
        costs=np.where(action == 0, 0.01, 0.001),
    )
    return path


def test_adapt_writes_a_router_folder_that_loads_and_calibrates(
    start: Path, tmp_path: Path
) -> None:
    log = _pair_log(tmp_path / "log.db", 240, explore=0.3)
    out = tmp_path / "adapted"
    report = tmp_path / "check.json"
    args = ["--router", str(start), "--log", str(log), "--out", str(out)]
    code, text = _run("adapt", *args, "--bootstrap", "100", "--json", str(report))
    check = json.loads(report.read_text())
    assert check["mode"] == "pair" and check["models"] == [STRONG, WEAK]
    assert check["n_labels"] == 240 and check["n_holdout"] > 40
    assert "before" in text and "after" in text and "APGR" in text
    assert code == (0 if check["is_not_worse"] else 1)
    if code:
        assert "not written" in text and not out.exists()
        code, text = _run("adapt", *args, "--bootstrap", "200", "--force")
        assert code == 0, text
    router = load_router(out)
    assert isinstance(router, AdaptedRouter)
    assert isinstance(router.base, MFRouter)
    scores = router.score(make_prompts(5, seed=9))
    assert np.all((scores >= 0) & (scores <= 1))
    prompts_file = tmp_path / "prompts.txt"
    prompts_file.write_text("\n".join(make_prompts(50, seed=11)) + "\n")
    code, text = _run(
        "calibrate", "--router", str(out), "--strong-share", "0.3",
        "--prompts", str(prompts_file),
    )  # fmt: skip
    assert code == 0, text
    assert "threshold" in text


def test_adapt_replaces_an_existing_router_folder(start: Path, tmp_path: Path) -> None:
    log = _pair_log(tmp_path / "log.db", 120, explore=0.2, seed=3)
    out = tmp_path / "served"
    base = ["adapt", "--router", str(start), "--log", str(log), "--out", str(out)]
    assert _run(*base, "--force", "--bootstrap", "50")[0] == 0
    first = (out / "arrays.npz").read_bytes()
    _pair_log(tmp_path / "log.db", 150, explore=0.2, seed=4)  # more traffic
    assert _run(*base, "--force", "--bootstrap", "50", "--router", str(out))[0] == 0
    assert (out / "arrays.npz").read_bytes() != first
    assert isinstance(load_router(out).base, MFRouter)  # restarted from the start
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".served")]


def test_adapt_with_a_lenient_guard_reports_its_blend(
    start: Path, tmp_path: Path
) -> None:
    log = _pair_log(tmp_path / "log.db", 240, explore=0.3, seed=5)
    out = tmp_path / "adapted"
    report = tmp_path / "check.json"
    code, text = _run(
        "adapt", "--router", str(start), "--log", str(log), "--out", str(out),
        "--correction", "heads", "--guard-se", "1", "--blends", "0.25,0.5,1",
        "--bootstrap", "100",
        "--json", str(report),
    )  # fmt: skip
    check = json.loads(report.read_text())
    assert check["heads"]["blend"] in (0.0, 0.25, 0.5, 1.0)
    blend = check["heads"]["blend"]
    assert check["heads"]["keeps_ranking"] == (blend == 0.0)
    assert ("blended at weight" in text) == (0.0 < blend < 1.0)
    assert code == (0 if check["is_not_worse"] else 1)
    assert out.exists() == (code == 0)
    if code == 0:
        router = load_router(out)
        assert isinstance(router, AdaptedRouter)
        assert router.guard_z == 1.0 and list(router.blends) == [0.25, 0.5, 1.0]


@pytest.mark.parametrize("length", [True, False])
def test_adapt_heads_see_the_prompt_length_unless_told_not_to(
    start: Path, tmp_path: Path, length: bool
) -> None:
    log = _pair_log(tmp_path / "log.db", 240, explore=0.3, seed=6)
    out = tmp_path / "adapted"
    code, _ = _run(
        "adapt", "--router", str(start), "--log", str(log), "--out", str(out),
        "--bootstrap", "50", "--force", *([] if length else ["--no-length"]),
    )  # fmt: skip
    assert code == 0
    router = load_router(out)
    assert isinstance(router, AdaptedRouter)
    assert router.length_feature is length
    assert (router.length_stats_ is not None) is length


@pytest.mark.parametrize("blends", ["0,1", "0.5,2", "half", ""])
def test_adapt_refuses_bad_blends(start: Path, tmp_path: Path, blends: str) -> None:
    log = _pair_log(tmp_path / "log.db", 30, explore=0.2)
    with pytest.raises(ConfigError, match="--blends"):
        _run(
            "adapt", "--router", str(start), "--log", str(log),
            "--out", str(tmp_path / "x"), "--correction", "heads", "--blends", blends,
        )  # fmt: skip


def test_adapt_with_too_few_held_out_labels_writes_nothing(
    start: Path, tmp_path: Path
) -> None:
    log = _pair_log(tmp_path / "log.db", 12, explore=0.2)
    out = tmp_path / "adapted"
    code, text = _run(
        "adapt", "--router", str(start), "--log", str(log), "--out", str(out)
    )
    assert code == 1
    assert "too few to tell" in text and "--force" in text
    assert not out.exists()


def test_adapt_refuses_a_log_without_feedback(start: Path, tmp_path: Path) -> None:
    log = tmp_path / "log.db"
    write_log(log, make_prompts(5, seed=1), [STRONG] * 5, [1.0] * 5, None)
    with pytest.raises(DataError, match="no labelled request"):
        _run("adapt", "--router", str(start), "--log", str(log), "--out", "x")
    with pytest.raises(DataError, match="no request log"):
        _run("adapt", "--router", str(start), "--log", str(tmp_path / "nope.db"),
             "--out", "x")  # fmt: skip


def test_eval_log_estimates_routers_and_compares_them(
    start: Path, tmp_path: Path
) -> None:
    log = _pair_log(tmp_path / "log.db", 300, explore=0.5)
    out = tmp_path / "eval.json"
    code, text = _run(
        "eval", "--log", str(log), "--routers", f"{start},random",
        "--bootstrap", "200", "--json", str(out),
    )  # fmt: skip
    assert code == 0, text
    assert "APGR" in text and "quality @" in text
    report = json.loads(out.read_text())
    assert report["kind"] == "pair" and report["n"] == 300
    assert set(report["routers"]) == {str(start), "random"}
    assert report["reference"] == str(start)
    strong = report["strong_quality"]
    assert (
        strong["low"] <= truth(make_prompts(300, seed=0))[:, 0].mean() <= strong["high"]
    )
    cost = report["at_share"]["random"]["cost"]["value"]
    assert 0.001 < cost < 0.01


def test_eval_log_without_exploration_warns(start: Path, tmp_path: Path) -> None:
    log = _pair_log(tmp_path / "log.db", 100, explore=0.0)
    code, text = _run(
        "eval", "--log", str(log), "--routers", "random", "--bootstrap", "50"
    )
    assert code == 0
    assert "no exploration" in text and "only the logging policy" in text


def test_eval_log_with_too_few_labels_or_bad_options_fails_clearly(
    start: Path, tmp_path: Path
) -> None:
    log = _pair_log(tmp_path / "log.db", 6, explore=0.5)
    with pytest.raises(DataError, match="at least 10"):
        _run("eval", "--log", str(log), "--routers", "random")
    with pytest.raises(ConfigError, match="not both"):
        _run("eval", "--log", str(log), "--benchmark", "mmlu", "--routers", "random")
    with pytest.raises(ConfigError, match="--split"):
        _run("eval", "--log", str(log), "--routers", "random", "--split", "task")
    with pytest.raises(ConfigError, match="--log"):
        _run("eval", "--benchmark", "mmlu", "--routers", "random", "--method", "ipw")


# -- N models ----------------------------------------------------------------------


def _golden(task: str, n: int, good: str) -> list[GoldenRecord]:
    rng = np.random.default_rng(len(task) + n)
    return [
        GoldenRecord(
            f"{task} question {i} about {task} things",
            {m: float(rng.random() < (0.85 if m == good else 0.4)) for m in "abc"},
            task=task,
            costs={"a": 0.01, "b": 0.01, "c": 0.002},
        )
        for i in range(n)
    ]


def test_adapt_and_eval_an_n_model_log(tmp_path: Path) -> None:
    emb = HashingEmbedder(dim=64)
    start = MultiModelRouter(embedder=emb, dim=4, n_epochs=100)
    start.fit_multi(_golden("alpha", 120, good="a"))
    folder = tmp_path / "multi"
    start.save(folder)
    new = _golden("beta", 200, good="b")
    rng = np.random.default_rng(1)
    picked = rng.choice(["a", "b", "c"], len(new))
    write_log(
        tmp_path / "log.db",
        [r.prompt for r in new],
        [str(m) for m in picked],
        np.full(len(new), 1 / 3),
        [r.scores[m] for r, m in zip(new, picked, strict=True)],
        candidates=("a", "b", "c"),
        costs=[0.002 if m == "c" else 0.01 for m in picked],
    )
    out = tmp_path / "adapted"
    code, text = _run(
        "adapt", "--router", str(folder), "--log", str(tmp_path / "log.db"),
        "--out", str(out), "--bootstrap", "100", "--force",
    )  # fmt: skip
    assert code == 0, text
    assert "multi log" in text and "quality" in text
    adapted = load_router(out, embedder=emb)
    assert isinstance(adapted, AdaptedMultiModelRouter)
    q = adapted.score_models([r.prompt for r in new[:50]], ["a", "b"]).mean(axis=0)
    assert q[1] > q[0]
    code, text = _run(
        "eval", "--log", str(tmp_path / "log.db"),
        "--routers", f"{folder},{out}", "--bootstrap", "100",
    )  # fmt: skip
    assert code == 0, text
    assert "matched cost" in text


def test_adapt_fits_the_gain_correction_by_default(start: Path, tmp_path: Path) -> None:
    log = _pair_log(tmp_path / "log.db", 240, explore=0.3, seed=5)
    out = tmp_path / "adapted"
    report = tmp_path / "check.json"
    code, text = _run(
        "adapt", "--router", str(start), "--log", str(log), "--out", str(out),
        "--bootstrap", "100", "--json", str(report), "--force",
    )  # fmt: skip
    assert code == 0
    heads = json.loads(report.read_text())["heads"]
    assert heads["correction"] == "gain" and heads["gain_penalty"] == 30.0
    assert heads["requests"] == 240 and heads["guard_z"] == 1.0
    assert heads["guard_se"] > 0
    used = heads["guard_gain"] - heads["guard_se"] > 0
    assert heads["keeps_ranking"] is (not used)
    assert any(heads["slopes"]) is used
    assert ("gain correction on 240 requests" in text) is used
    assert ("the guard kept it" in text) is not used
    router = load_router(out)
    assert isinstance(router, AdaptedRouter) and router.correction == "gain"
    assert router.gain_ is not None and list(router.gain_) == heads["slopes"]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (["--blends", "0.5,1"], "--correction heads"),
        (["--correction", "linear"], "--correction"),
    ],
)
def test_adapt_refuses_options_of_the_other_correction(
    start: Path, tmp_path: Path, options: list[str], match: str
) -> None:
    log = _pair_log(tmp_path / "log.db", 30, explore=0.2)
    with pytest.raises(ConfigError, match=match):
        _run(
            "adapt", "--router", str(start), "--log", str(log),
            "--out", str(tmp_path / "x"), *options,
        )  # fmt: skip
    assert not (tmp_path / "x").exists()
