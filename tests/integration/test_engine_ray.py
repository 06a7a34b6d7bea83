"""`--engine ray` gives what the local engine gives: score, eval, train embeddings,
and the log embeddings of adapt and eval --log.

A private Ray cluster on 127.0.0.1 (its own temp dir, no dashboard, 2 CPUs),
started once for the module; slow (Ray's start-up alone takes 10-30 s here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))

from _adapt_synth import STRONG, WEAK, write_log
from prefroute.engine import LocalEngine
from prefroute.engine.embed import EngineEmbedder
from prefroute.engine.jobs import score_prompts_on

pytest.importorskip("ray", reason="the ray extra is not installed")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
# loopback only, no sign-in prompts, nothing from the outside
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}

VOCABULARY = (
    "the a cat dog prove integral sum write python code explain why how many is what "
    "derivative poem haiku translate french summarise contract"
)
WORDS = VOCABULARY.split()


def texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        " ".join(rng.choice(WORDS, size=int(rng.integers(2, 80)))) for _ in range(n)
    ]


@pytest.fixture(scope="module")
def ray_engine() -> Iterator[object]:
    os.environ.update(RAY_ENV)
    from prefroute.engine.ray import RayEngine

    engine = RayEngine(n_actors=2, num_cpus=2)
    yield engine
    engine.close()


@pytest.mark.parametrize("router", ["mf", "random:seed=3"])
def test_ray_scores_equal_local_scores(ray_engine: object, router: str) -> None:
    prompts = texts(700)
    local = score_prompts_on(LocalEngine(), router, prompts, batch_size=128)
    on_ray = score_prompts_on(ray_engine, router, prompts, batch_size=128)  # type: ignore[arg-type]
    assert on_ray.shape == (700,)
    assert np.array_equal(local, on_ray)


@pytest.mark.parametrize("spec", ["minilm", "minilm-dq8"])
def test_ray_embeddings_equal_one_local_embed_call(
    ray_engine: object, spec: str
) -> None:
    from prefroute.embed import get_embedder

    batch = texts(500, seed=1)
    local = get_embedder(spec).embed(batch)
    on_ray = EngineEmbedder(spec, ray_engine, chunk_size=128).embed(batch)  # type: ignore[arg-type]
    assert on_ray.dtype == np.float32
    assert np.array_equal(local, on_ray)


def test_score_cli_with_ray_engine_writes_the_local_bytes(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    rows = [{"prompt": t, "id": i} for i, t in enumerate(texts(300, seed=2))]
    rows.append({"messages": [{"role": "user", "content": "prove it, please"}]})
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {**os.environ, **RAY_ENV, "PYTHONPATH": str(ROOT / "src")}
    outputs = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.jsonl"
        extra = ["--ray-actors", "2"] if engine == "ray" else []
        done = subprocess.run(
            [
                *(sys.executable, "-m", "prefroute.cli", "score", str(source)),
                *("-r", "mf", "-o", str(out), "--batch-size", "64"),
                *("--engine", engine, *extra),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outputs[engine] = out.read_bytes()
    assert outputs["ray"] == outputs["local"]
    assert outputs["local"].count(b"\n") == 301


def _cli(args: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    # each run its own embedding cache: every vector is computed by that engine
    env = {
        **os.environ,
        **RAY_ENV,
        "PYTHONPATH": str(ROOT / "src"),
        "PREFROUTE_CACHE_DIR": str(cache),
    }
    return subprocess.run(
        [sys.executable, "-m", "prefroute.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def test_adapt_and_eval_log_with_ray_engine_match_the_local_engine(
    tmp_path: Path,
) -> None:
    from prefroute.routers.mf import MFRouter
    from prefroute.types import Battle

    # fp32 MiniLM: its vectors depend on which texts share a batch, so equal
    # outputs mean the engine embedded exactly the texts of the local call
    train = texts(120, seed=4)
    start = tmp_path / "start"
    MFRouter(
        embedder="minilm", dim=4, n_epochs=30, strong_model=STRONG, weak_model=WEAK
    ).fit(
        [Battle(t, STRONG, WEAK, "a" if len(t) > 200 else "tie") for t in train]
    ).save(start)
    rng = np.random.default_rng(5)
    prompts = texts(300, seed=6)
    routed = [STRONG if len(p) > 200 or rng.random() < 0.3 else WEAK for p in prompts]
    rewards = [
        float(m == STRONG or len(p) < 150) for p, m in zip(prompts, routed, strict=True)
    ]
    log = tmp_path / "log.db"
    write_log(log, prompts, routed, [0.7] * len(prompts), rewards)
    folders, reports = {}, {}
    engines = {"local": ["--engine", "local"], "ray": ["--engine", "ray"]}
    engines["ray"] += ["--ray-actors", "2"]
    for engine, extra in engines.items():
        out = tmp_path / f"adapted-{engine}"
        done = _cli(
            [
                *("adapt", "--router", str(start), "--log", str(log)),
                *("--out", str(out), "--force", "--bootstrap", "50", *extra),
            ],
            tmp_path / f"cache-{engine}",
        )
        assert done.returncode == 0, done.stderr[-2000:]
        folders[engine] = {
            str(f.relative_to(out)): f.read_bytes()
            for f in sorted(out.rglob("*"))
            if f.is_file()
        }
    assert {"config.json", "arrays.npz", "base/config.json"} <= set(folders["local"])
    assert folders["ray"] == folders["local"]
    both = f"{start},{tmp_path / 'adapted-local'}"
    for engine, extra in engines.items():
        report = tmp_path / f"eval-{engine}.json"
        done = _cli(
            [
                *("eval", "--log", str(log), "--routers", both),
                *("--bootstrap", "50", "--json", str(report), *extra),
            ],
            tmp_path / f"cache-eval-{engine}",
        )
        assert done.returncode == 0, done.stderr[-2000:]
        reports[engine] = report.read_text()
    assert str(start) in json.loads(reports["local"])["routers"]
    assert reports["ray"] == reports["local"]
