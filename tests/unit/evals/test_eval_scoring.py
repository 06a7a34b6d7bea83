"""Batch scoring helpers: prompts from records, JSONL streams, score files, cache."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from prefroute.errors import DataError
from prefroute.evals.harness import score_router_on_benchmark
from prefroute.evals.scoring import (
    prompt_from_record,
    read_scores_jsonl,
    score_jsonl_stream,
    scores_for_benchmark,
)
from prefroute.routers.random import RandomRouter
from prefroute.types import BenchmarkSet, ModelPair


def test_prompt_field_is_used() -> None:
    assert prompt_from_record({"prompt": "hi"}) == "hi"


def test_messages_route_on_the_last_user_turn() -> None:
    record = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "second"},
                    {"type": "image_url", "image_url": {"url": "x"}},
                    {"type": "text", "text": "part"},
                ],
            },
        ]
    }
    assert prompt_from_record(record) == "second\npart"


def test_record_without_prompt_names_its_location() -> None:
    with pytest.raises(DataError, match=r"in\.jsonl line 4"):
        prompt_from_record({"body": "x"}, "in.jsonl line 4")


def test_stream_adds_scores_in_batches() -> None:
    source = io.StringIO(
        "".join(json.dumps({"prompt": f"p{i}", "id": i}) + "\n" for i in range(5))
        + "\n"
    )
    sink = io.StringIO()
    batches: list[int] = []
    n = score_jsonl_stream(
        RandomRouter(), source, sink, batch_size=2, on_batch=batches.append
    )
    rows = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert n == 5 and batches == [2, 2, 1]
    assert [r["id"] for r in rows] == list(range(5))
    expected = RandomRouter().score([f"p{i}" for i in range(5)])
    np.testing.assert_allclose([r["score"] for r in rows], expected)


def test_stream_keeps_non_ascii_and_escapes_lone_surrogates(tmp_path: Path) -> None:
    # "\ud800" is legal JSON but has no UTF-8 form: written back escaped, not a crash
    source = io.StringIO('{"prompt": "caf\u00e9"}\n{"prompt": "a\\ud800b"}\n')
    out = tmp_path / "out.jsonl"
    with out.open("w", encoding="utf-8") as sink:
        assert score_jsonl_stream(RandomRouter(), source, sink) == 2
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith('{"prompt": "caf\u00e9"')  # non-ASCII kept as is
    assert "\\ud800" in lines[1]
    assert [json.loads(line)["prompt"] for line in lines] == ["caf\u00e9", "a\ud800b"]


def test_bad_json_names_the_line() -> None:
    source = io.StringIO('{"prompt": "a"}\n{not json\n')
    with pytest.raises(DataError, match=r"f\.jsonl:2: invalid JSON"):
        score_jsonl_stream(RandomRouter(), source, io.StringIO(), name="f.jsonl")


def _bench() -> BenchmarkSet:
    return BenchmarkSet(
        "tiny",
        ["a", "b", "c"],
        np.array([1.0, 0, 1]),
        np.array([0.0, 0, 1]),
        ModelPair("s", "w"),
    )


def test_score_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        "".join(
            json.dumps({"prompt": p, "score": s}) + "\n"
            for p, s in [("c", 0.3), ("a", 0.1), ("b", 0.2), ("z", 1)]
        )
    )
    scores = scores_for_benchmark(read_scores_jsonl(path), _bench(), str(path))
    np.testing.assert_allclose(scores, [0.1, 0.2, 0.3])


def test_score_file_missing_prompts_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"prompt": "a", "score": 0.5}) + "\n")
    with pytest.raises(DataError, match="lacks scores for 2 of 3"):
        scores_for_benchmark(read_scores_jsonl(path), _bench(), str(path))


def test_score_file_needs_numeric_scores(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"prompt": "a", "score": "high"}) + "\n")
    with pytest.raises(DataError, match=":1: expected a numeric 'score'"):
        read_scores_jsonl(path)


def test_saved_router_scores_are_cached(tmp_path: Path) -> None:
    folder = tmp_path / "router"
    RandomRouter(seed=4).save(folder)
    cache = tmp_path / "cache"
    first = score_router_on_benchmark(str(folder), _bench(), cache_root=cache)
    files = list((cache / "scores").glob("*.npy"))
    assert len(files) == 1
    # Overwrite the cache with sentinel values: a second call must read them back.
    np.save(files[0], np.array([7.0, 8.0, 9.0]))
    again = score_router_on_benchmark(str(folder), _bench(), cache_root=cache)
    np.testing.assert_allclose(again, [7.0, 8.0, 9.0])
    np.testing.assert_allclose(first, RandomRouter(seed=4).score(["a", "b", "c"]))
    # A different router folder gets a different key.
    RandomRouter(seed=5).save(tmp_path / "other")
    score_router_on_benchmark(str(tmp_path / "other"), _bench(), cache_root=cache)
    assert len(list((cache / "scores").glob("*.npy"))) == 2
