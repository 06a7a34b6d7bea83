"""CachedEmbedder: each (spec, text) reaches the inner embedder once, across instances
and processes; results are bit-identical."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from prefroute.embed import Embedder
from prefroute.embed.cache import CachedEmbedder
from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError
from prefroute.types import FloatArray


class CountingEmbedder:
    """HashingEmbedder that records every text it is asked to embed."""

    def __init__(self, dim: int = 32) -> None:
        self._inner = HashingEmbedder(dim=dim)
        self.spec = self._inner.spec
        self.dim = dim
        self.seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> FloatArray:
        self.seen.extend(texts)
        return self._inner.embed(texts)


TEXTS = ["what is 2 + 2?", "write a sonnet", "", "naïve café 😀", "write a sonnet"]


def test_is_an_embedder_with_the_inner_spec(tmp_path: Path) -> None:
    cached = CachedEmbedder(CountingEmbedder(), tmp_path)
    assert isinstance(cached, Embedder)
    assert (cached.spec, cached.dim) == ("hashing:32", 32)


def test_second_call_does_not_reach_the_inner_embedder(tmp_path: Path) -> None:
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner, tmp_path)
    first = cached.embed(TEXTS)
    assert sorted(inner.seen) == sorted(set(TEXTS))  # duplicates embedded once
    inner.seen.clear()
    second = cached.embed(TEXTS)
    assert inner.seen == []
    assert np.array_equal(first, second)
    assert np.array_equal(first, HashingEmbedder(dim=32).embed(TEXTS))


def test_a_new_revision_of_the_same_spec_is_not_served_old_vectors(
    tmp_path: Path,
) -> None:
    old = CountingEmbedder()
    old.cache_key = "hashing:32@1"  # type: ignore[attr-defined]
    CachedEmbedder(old, tmp_path).embed(TEXTS)
    new = CountingEmbedder()
    new.cache_key = "hashing:32@2"  # type: ignore[attr-defined]
    cached = CachedEmbedder(new, tmp_path)
    cached.embed(TEXTS)
    assert sorted(new.seen) == sorted(set(TEXTS))  # all embedded again
    assert cached.spec == "hashing:32"  # routers still record the plain spec


def test_dq8_cache_key_names_the_graph_version() -> None:
    from prefroute.embed._minilm_graph import GRAPH_VERSION
    from prefroute.embed.onnx import OnnxEmbedder

    assert OnnxEmbedder(variant="dq8").cache_key == f"minilm-dq8@g{GRAPH_VERSION}"
    assert OnnxEmbedder(variant="fp32").cache_key == "minilm"


def test_cache_survives_a_new_instance(tmp_path: Path) -> None:
    first = CachedEmbedder(CountingEmbedder(), tmp_path).embed(TEXTS)
    inner = CountingEmbedder()
    again = CachedEmbedder(inner, tmp_path).embed(TEXTS)
    assert inner.seen == []
    assert np.array_equal(first, again)


def test_only_new_texts_are_embedded(tmp_path: Path) -> None:
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner, tmp_path)
    cached.embed(["a", "b"])
    inner.seen.clear()
    out = cached.embed(["b", "c", "a"])
    assert inner.seen == ["c"]
    assert np.array_equal(out, HashingEmbedder(dim=32).embed(["b", "c", "a"]))


def test_specs_do_not_share_entries(tmp_path: Path) -> None:
    CachedEmbedder(CountingEmbedder(dim=32), tmp_path).embed(TEXTS)
    other = CountingEmbedder(dim=16)
    out = CachedEmbedder(other, tmp_path).embed(TEXTS)
    assert out.shape == (len(TEXTS), 16)
    assert sorted(other.seen) == sorted(set(TEXTS))


def test_memory_only_mode_writes_no_file(tmp_path: Path) -> None:
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner, tmp_path / "cache", use_disk=False)
    cached.embed(TEXTS)
    cached.embed(TEXTS)
    assert len(inner.seen) == len(set(TEXTS))
    assert not (tmp_path / "cache").exists()
    assert cached.stats.memory_hits == len(TEXTS)


def test_lru_evicts_the_oldest_texts(tmp_path: Path) -> None:
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner, tmp_path, memory_items=2, use_disk=False)
    cached.embed(["a"])
    cached.embed(["b"])
    cached.embed(["c"])  # evicts "a"
    inner.seen.clear()
    cached.embed(["c", "b", "a"])
    assert inner.seen == ["a"]


def test_stats_count_each_tier(tmp_path: Path) -> None:
    CachedEmbedder(CountingEmbedder(), tmp_path).embed(["x"])
    cached = CachedEmbedder(CountingEmbedder(), tmp_path)
    cached.embed(["x", "y"])
    cached.embed(["x"])
    assert (cached.stats.disk_hits, cached.stats.misses, cached.stats.memory_hits) == (
        1,
        1,
        1,
    )


def test_empty_input_gives_empty_matrix(tmp_path: Path) -> None:
    assert CachedEmbedder(CountingEmbedder(), tmp_path).embed([]).shape == (0, 32)


def test_returned_arrays_do_not_alias_the_cache(tmp_path: Path) -> None:
    cached = CachedEmbedder(CountingEmbedder(), tmp_path)
    out = cached.embed(["a"])
    out[:] = 0.0
    assert np.linalg.norm(cached.embed(["a"])) == pytest.approx(1.0)


def test_constructing_does_no_io(tmp_path: Path) -> None:
    CachedEmbedder(CountingEmbedder(), tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_negative_memory_items_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="memory_items"):
        CachedEmbedder(CountingEmbedder(), tmp_path, memory_items=-1)


def test_concurrent_processes_share_one_cache(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from prefroute.embed.cache import CachedEmbedder\n"
        "from prefroute.embed.hashing import HashingEmbedder\n"
        "c = CachedEmbedder(HashingEmbedder(dim=32), sys.argv[1])\n"
        "for i in range(40):\n"
        "    c.embed([f'{sys.argv[2]}-{i}', f'shared-{i}'])\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), tag])
        for tag in ("p", "q")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    inner = CountingEmbedder()
    texts = [f"{tag}-{i}" for tag in ("p", "q", "shared") for i in range(40)]
    out = CachedEmbedder(inner, tmp_path).embed(texts)
    assert inner.seen == []
    assert np.array_equal(out, HashingEmbedder(dim=32).embed(texts))


def test_threads_get_identical_results(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    cached = CachedEmbedder(CountingEmbedder(), tmp_path)
    batches = [[f"text {(i + j) % 12}" for j in range(5)] for i in range(24)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(cached.embed, batches))
    reference = HashingEmbedder(dim=32)
    for batch, out in zip(batches, results, strict=True):
        assert np.array_equal(out, reference.embed(batch))


def test_n_cached_counts_distinct_texts_in_memory_and_on_disk(tmp_path: Path) -> None:
    first = CachedEmbedder(CountingEmbedder(), tmp_path)
    first.embed(["a", "b"])
    first.close()
    fresh = CachedEmbedder(CountingEmbedder(), tmp_path)  # empty memory, same file
    fresh.embed(["c"])
    assert fresh.n_cached(["a", "b", "c", "d", "a"]) == 3
    assert isinstance(fresh.inner, CountingEmbedder)
    assert fresh.inner.seen == ["c"]  # counting embedded nothing
    fresh.close()
