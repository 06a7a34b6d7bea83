"""Build an ONNX graph of a BERT sentence encoder straight from safetensors.

The graph is BERT (post-LN, exact GELU) + attention-masked mean pooling + L2
normalisation, i.e. what sentence-transformers runs for all-MiniLM-L6-v2, so no torch
is needed. Two flavours of the same maths:

- portable (``fused=False``): standard ONNX ops only (opset 18: LayerNormalization,
  GELU written with Erf, additive attention mask), runs on any ONNX runtime;
- fused (``fused=True``, what prefroute runs): ONNX Runtime's CPU contrib kernels
  ``Attention``, ``SkipLayerNormalization`` and ``BiasGelu`` (com.microsoft), the
  graph ORT's own transformer optimiser would produce, about half the latency for
  short prompts because far fewer small ops run;
- dq8 (``fused=True, int8_outliers=...``, what "minilm-dq8" runs): the fused graph
  with every dense layer in ORT ``DynamicQuantizeMatMul`` (uint8 activations with
  one scale per run, int8 weights with one scale per output column), except a few
  outlier input channels that are multiplied in fp32 on the side (channels are
  reordered so that they come last and one ``Split`` separates them); attention runs
  in ``MultiHeadAttention`` on the int8-projected Q, K, V, without a padding mask
  (dq8 runs one unpadded text per call).

Inputs: ``input_ids`` and ``attention_mask`` (int64, ``(batch, seq)``); output
``sentence_embedding`` (float32, ``(batch, hidden)``). Token type ids are always 0 for
single-text encoding, so the type-0 embedding is folded into the position table.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GRAPH_VERSION", "build_bert_sentence_onnx"]

#: Bumped whenever the emitted graph changes, so cached model files are rebuilt.
GRAPH_VERSION = 7
_OPSET = 18
_MS = "com.microsoft"
_BLOCK = 32  # int8 weight block: min cosine 0.998 to fp32 (0.995 with 128)
# dq8 weights are stored as uint8 with zero point 128 (values 1..255 = int8 -127..127):
# without AVX-512 VNNI, ORT's uint8 x int8 kernel sums pairs of products in int16
# (vpmaddubsw), which saturates (255 * 127 * 2 > 32767) and gave min cosine 0.947 on
# an AVX2-only CPU; its uint8 x uint8 kernel widens to int16 first and is exact, so
# every CPU computes the same int32 products.
_DQ_WMAX = 127.0


def _outlier_layout(
    tensors: Mapping[str, np.ndarray],
    prefix: str,
    n_layers: int,
    outliers: Mapping[str, Sequence[int]],
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, int]]:
    """Reorder channels so that every site's fp32 outlier channels come last.

    The hidden channels of a BERT are in no particular order: permuting them in every
    weight that reads or writes the residual stream (and in the LayerNorms, which
    are per-channel) gives the same model with permuted hidden states. The same holds
    for each layer's FFN channels. With the outliers at the end, a dq8 dense layer
    takes its int8 and fp32 inputs with one ``Split`` instead of a masking ``Mul``
    plus a ``Gather``. All qkv / inter sites share the hidden stream, so each keeps
    the union of their outlier channels in fp32 (4 for all-MiniLM-L6-v2).

    Returns:
        (permuted tensors keyed like ``tensors``, the hidden permutation ``perm``
        (new channel j is old channel ``perm[j]``), site -> number of trailing fp32
        channels).
    """

    def order(size: int, last: set[int]) -> np.ndarray:
        head = [c for c in range(size) if c not in last]
        return np.asarray(head + sorted(last), dtype=np.int64)

    t = {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}

    def get(name: str) -> np.ndarray:
        return t[prefix + name]

    def put(name: str, value: np.ndarray) -> None:
        t[prefix + name] = np.ascontiguousarray(value)

    hidden = get("embeddings.word_embeddings.weight").shape[1]
    shared = {
        int(c) for site, cs in outliers.items() if not site.endswith(".ffn") for c in cs
    }
    perm = order(hidden, shared)
    for name in (
        "embeddings.word_embeddings.weight",
        "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight",
    ):
        put(name, get(name)[:, perm])
    put("embeddings.LayerNorm.weight", get("embeddings.LayerNorm.weight")[perm])
    put("embeddings.LayerNorm.bias", get("embeddings.LayerNorm.bias")[perm])
    n_tail = {}
    for i in range(n_layers):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            put(
                f"{p}attention.self.{n}.weight",
                get(f"{p}attention.self.{n}.weight")[:, perm],
            )
        put(
            f"{p}attention.output.dense.weight",
            get(f"{p}attention.output.dense.weight")[perm],
        )
        for n in (
            "attention.output.dense.bias",
            "attention.output.LayerNorm.weight",
            "attention.output.LayerNorm.bias",
            "output.dense.bias",
            "output.LayerNorm.weight",
            "output.LayerNorm.bias",
        ):
            put(p + n, get(p + n)[perm])
        inner = get(f"{p}intermediate.dense.weight").shape[0]
        ffn_outliers = {int(c) for c in outliers.get(f"{i}.ffn", ())}
        perm_i = order(inner, ffn_outliers)
        put(
            f"{p}intermediate.dense.weight",
            get(f"{p}intermediate.dense.weight")[perm_i][:, perm],
        )
        put(f"{p}intermediate.dense.bias", get(f"{p}intermediate.dense.bias")[perm_i])
        put(f"{p}output.dense.weight", get(f"{p}output.dense.weight")[perm][:, perm_i])
        n_tail[f"{i}.qkv"] = n_tail[f"{i}.inter"] = len(shared)
        n_tail[f"{i}.ffn"] = len(ffn_outliers)
    return t, perm, n_tail


def build_bert_sentence_onnx(
    model_dir: Path,
    out_path: Path,
    *,
    fused: bool,
    int8_weights: bool = False,
    int8_outliers: Mapping[str, Sequence[int]] | None = None,
) -> None:
    """Write ``out_path`` (an ONNX model) built from ``model_dir``.

    Args:
        model_dir: Folder with ``config.json`` and ``model.safetensors`` (a BertModel).
        out_path: Where to write the model (atomically: temp file + rename).
        fused: Use ONNX Runtime contrib ops (faster) instead of standard ops only.
        int8_weights: Store the dense layers' weights as int8 (symmetric, one scale
            per block of 32 inputs) in ORT ``MatMulNBits`` ops with
            ``accuracy_level=4``, which also quantise activations per block and run
            int8 dot products (VNNI); the QKV projection inside a fused
            ``Attention`` stays fp32.
        int8_outliers: With ``fused``: build the dq8 graph. Maps ``"<layer>.qkv"``,
            ``"<layer>.inter"``, ``"<layer>.ffn"`` to the input channels kept in
            fp32 (see `prefroute.embed._minilm_dq8`). Activations are quantised
            with one scale per run, so run one text per call for vectors that do
            not depend on the other texts of a batch.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    config: dict[str, Any] = json.loads((model_dir / "config.json").read_text())
    tensors: Mapping[str, np.ndarray] = load_file(str(model_dir / "model.safetensors"))
    prefix = "bert." if any(k.startswith("bert.") for k in tensors) else ""
    perm: np.ndarray | None = None
    n_tail: dict[str, int] = {}
    if fused and int8_outliers is not None:
        tensors, perm, n_tail = _outlier_layout(
            tensors, prefix, int(config["num_hidden_layers"]), int8_outliers
        )

    def w(name: str) -> np.ndarray:
        return np.ascontiguousarray(tensors[prefix + name], dtype=np.float32)

    hidden = int(config["hidden_size"])
    n_heads = int(config["num_attention_heads"])
    n_layers = int(config["num_hidden_layers"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    head_dim = hidden // n_heads

    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def node(
        op: str, inputs: list[str], out: str, domain: str = "", **attrs: Any
    ) -> str:
        nodes.append(
            helper.make_node(op, inputs, [out], name=out, domain=domain, **attrs)
        )
        return out

    def weight_t(name: str, weight: np.ndarray) -> str:
        # torch Linear stores (out, in); MatMul wants (in, out).
        return const(name, np.ascontiguousarray(weight.T))

    def matmul(x: str, weight: np.ndarray, name: str) -> str:
        """x @ weight.T for a torch-layout (out, in) weight."""
        if not int8_weights:
            return node("MatMul", [x, weight_t(f"{name}.wT", weight)], name)
        n_out, n_in = weight.shape
        blocks = weight.reshape(n_out, n_in // _BLOCK, _BLOCK)
        scale = np.abs(blocks).max(axis=-1) / 127.0
        scale[scale == 0] = 1.0
        # Stored unsigned with the default zero point 128 (= 2 ** (bits - 1)).
        q = np.clip(np.round(blocks / scale[..., None]), -127, 127) + 128
        return node(
            "MatMulNBits",
            [
                x,
                const(f"{name}.q8", q.astype(np.uint8)),
                const(f"{name}.scale", scale.astype(np.float32).reshape(-1)),
            ],
            name,
            domain=_MS,
            K=n_in,
            N=n_out,
            bits=8,
            block_size=_BLOCK,
            accuracy_level=4,
        )

    def dq_matmul(
        x: str, weight: np.ndarray, bias: np.ndarray, name: str, site: str | None
    ) -> str:
        """x @ weight.T + bias with dynamic uint8 x and per-column int8 weights; the
        last ``n_tail[site]`` input channels (the outliers, see `_outlier_layout`)
        are split off and multiplied in fp32."""
        w_t = np.ascontiguousarray(weight.T)  # (in, out)
        k = n_tail.get(site, 0) if site is not None else 0
        n_main = w_t.shape[0] - k
        w_main = w_t[:n_main]
        scale = np.abs(w_main).max(axis=0) / _DQ_WMAX
        scale[scale == 0] = 1.0
        q = np.clip(np.round(w_main / scale), -_DQ_WMAX, _DQ_WMAX).astype(np.int8)
        x_main = x
        if k:
            x_main, x_out = f"{name}.xm", f"{name}.xo"
            nodes.append(
                helper.make_node(
                    "Split",
                    [x, const(f"{name}.split", np.array([n_main, k], np.int64))],
                    [x_main, x_out],
                    name=f"{name}.split",
                    axis=-1,
                )
            )
        main = node(
            "DynamicQuantizeMatMul",
            [
                x_main,
                const(f"{name}.wq", (q.astype(np.int16) + 128).astype(np.uint8)),
                const(f"{name}.ws", scale.astype(np.float32)),
                const(f"{name}.wzp", np.full(w_t.shape[1], 128, np.uint8)),
                const(f"{name}.b", bias),
            ],
            f"{name}.main" if k else name,
            domain=_MS,
        )
        if not k:
            return main
        side = node(
            "MatMul",
            [x_out, const(f"{name}.wo", np.ascontiguousarray(w_t[n_main:]))],
            f"{name}.side",
        )
        return node("Add", [main, side], name)

    def linear(x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        mm = matmul(x, weight, f"{name}.mm")
        return node("Add", [mm, const(f"{name}.b", bias)], f"{name}.out")

    def ln_params(name: str) -> tuple[str, str]:
        return (
            const(f"{name}.gamma", w(f"{name}.weight")),
            const(f"{name}.beta", w(f"{name}.bias")),
        )

    def layer_norm(x: str, name: str, out: str) -> str:
        g, b = ln_params(name)
        return node("LayerNormalization", [x, g, b], out, axis=-1, epsilon=eps)

    def fused_tail(
        i: int,
        ctx: str,
        x: str,
        mm: Callable[[str, np.ndarray, np.ndarray, str, str | None], str],
    ) -> str:
        """Layer `i` after attention: output projection, residual LayerNorm, GELU
        feed-forward, residual LayerNorm. `mm(x, weight, bias, name, site)` makes
        the dense products (fp32, or int8 with outlier `site`s), bias included.

        The residual sums are a plain Add + LayerNormalization: ORT 1.32's CPU
        ``SkipLayerNormalization`` took ~85 us on a (1, 32, 384) input against
        ~20 us for the pair, a sixth of the dq8 graph's time for one prompt."""
        p = f"encoder.layer.{i}"
        attn = mm(
            ctx,
            w(f"{p}.attention.output.dense.weight"),
            w(f"{p}.attention.output.dense.bias"),
            f"{p}.ao",
            None,
        )
        res1 = node("Add", [attn, x], f"{p}.res1")
        x = layer_norm(res1, f"{p}.attention.output.LayerNorm", f"{p}.ln1")
        inter = mm(
            x,
            w(f"{p}.intermediate.dense.weight"),
            w(f"{p}.intermediate.dense.bias"),
            f"{p}.inter",
            f"{i}.inter",
        )
        gelu = node("Gelu", [inter], f"{p}.gelu", domain=_MS)
        ffn = mm(
            gelu,
            w(f"{p}.output.dense.weight"),
            w(f"{p}.output.dense.bias"),
            f"{p}.ffn",
            f"{i}.ffn",
        )
        res2 = node("Add", [ffn, x], f"{p}.res2")
        return layer_norm(res2, f"{p}.output.LayerNorm", f"{p}.ln2")

    # --- embeddings ---------------------------------------------------------------
    word = const("word_embeddings", w("embeddings.word_embeddings.weight"))
    type0 = w("embeddings.token_type_embeddings.weight")[0]
    pos = const("pos_plus_type0", w("embeddings.position_embeddings.weight") + type0)
    i0 = const("i64_0", np.array([0], dtype=np.int64))
    i1 = const("i64_1", np.array([1], dtype=np.int64))
    i2 = const("i64_2", np.array([2], dtype=np.int64))
    shape = node("Shape", ["input_ids"], "ids_shape")
    seq_len = node("Slice", [shape, i1, i2], "seq_len")
    pos_slice = node("Slice", [pos, i0, seq_len, i0], "pos_slice")
    tok = node("Gather", [word, "input_ids"], "tok_emb")
    x = layer_norm(
        node("Add", [tok, pos_slice], "emb_sum"), "embeddings.LayerNorm", "emb_ln"
    )
    mask_f = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)

    if fused:
        if int8_outliers is None:  # dq8's attention runs without a padding mask
            mask_i32 = node(
                "Cast", ["attention_mask"], "mask_i32", to=TensorProto.INT32
            )
    else:
        # Additive attention bias, 0 keep / -1e4 drop, as HF BERT and ORT's Attention.
        inv = node(
            "Sub", [const("f_one", np.array(1.0, np.float32)), mask_f], "mask_inv"
        )
        bias2d = node(
            "Mul", [inv, const("f_neg", np.array(-1e4, np.float32))], "bias2d"
        )
        axes12 = const("axes_1_2", np.array([1, 2], np.int64))
        attn_bias = node("Unsqueeze", [bias2d, axes12], "attn_bias")
        shape_bshd = const("shape_bshd", np.array([0, 0, n_heads, head_dim], np.int64))
        shape_bsh = const("shape_bsh", np.array([0, 0, hidden], np.int64))
        scale = const("attn_scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
        half = const("f_half", np.array(0.5, np.float32))
        inv_sqrt2 = const("f_inv_sqrt2", np.array(1.0 / math.sqrt(2.0), np.float32))

    for i in range(n_layers):
        p = f"encoder.layer.{i}"
        # One (hidden, 3*hidden) QKV projection instead of three.
        names = ("query", "key", "value")
        wqkv = np.concatenate([w(f"{p}.attention.self.{n}.weight") for n in names])
        bqkv = np.concatenate([w(f"{p}.attention.self.{n}.bias") for n in names])
        w_out, b_out = (
            w(f"{p}.attention.output.dense.weight"),
            w(f"{p}.attention.output.dense.bias"),
        )
        w_in, b_in = (
            w(f"{p}.intermediate.dense.weight"),
            w(f"{p}.intermediate.dense.bias"),
        )
        w_ffn, b_ffn = w(f"{p}.output.dense.weight"), w(f"{p}.output.dense.bias")

        if fused and int8_outliers is not None:
            qkv = dq_matmul(x, wqkv, bqkv, f"{p}.qkv", f"{i}.qkv")
            q_, k_, v_ = (f"{p}.q", f"{p}.k", f"{p}.v")
            nodes.append(
                helper.make_node(
                    "Split",
                    [qkv],
                    [q_, k_, v_],
                    name=f"{p}.split",
                    axis=-1,
                    num_outputs=3,
                )
            )
            ctx = node(
                "MultiHeadAttention",
                # QKV bias: in the matmul. No key padding mask: dq8 runs one
                # unpadded text per call (attention_mask only weights the pooling).
                [q_, k_, v_],
                f"{p}.ctx",
                domain=_MS,
                num_heads=n_heads,
            )
            x = fused_tail(i, ctx, x, dq_matmul)
            continue

        if fused:
            ctx = node(
                "Attention",
                [x, weight_t(f"{p}.qkv.wT", wqkv), const(f"{p}.qkv.b", bqkv), mask_i32],
                f"{p}.ctx",
                domain=_MS,
                num_heads=n_heads,
            )
            x = fused_tail(
                i, ctx, x, lambda a, wt, b, name, _site: linear(a, wt, b, name)
            )
            continue

        qkv = linear(x, wqkv, bqkv, f"{p}.qkv")
        q_, k_, v_ = (f"{p}.q", f"{p}.k", f"{p}.v")
        nodes.append(
            helper.make_node(
                "Split", [qkv], [q_, k_, v_], name=f"{p}.split", axis=-1, num_outputs=3
            )
        )

        def heads(t: str, perm: list[int], name: str) -> str:
            return node(
                "Transpose",
                [node("Reshape", [t, shape_bshd], f"{name}4")],
                name,
                perm=perm,
            )

        q = heads(q_, [0, 2, 1, 3], f"{p}.qT")
        k = heads(k_, [0, 2, 3, 1], f"{p}.kT")
        v = heads(v_, [0, 2, 1, 3], f"{p}.vT")
        scores = node("Mul", [node("MatMul", [q, k], f"{p}.qk"), scale], f"{p}.scores")
        masked = node("Add", [scores, attn_bias], f"{p}.masked")
        probs = node("Softmax", [masked], f"{p}.probs", axis=-1)
        ctx = node("MatMul", [probs, v], f"{p}.ctx")
        ctx_t = node("Transpose", [ctx], f"{p}.ctxT", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx_t, shape_bsh], f"{p}.ctx3")
        attn = linear(ctx, w_out, b_out, f"{p}.attn_out")
        res1 = node("Add", [attn, x], f"{p}.res1")
        x = layer_norm(res1, f"{p}.attention.output.LayerNorm", f"{p}.ln1")
        inter = linear(x, w_in, b_in, f"{p}.inter")
        # Exact GELU: 0.5 * x * (1 + erf(x / sqrt(2))).
        erf = node("Erf", [node("Mul", [inter, inv_sqrt2], f"{p}.gelu_s")], f"{p}.erf")
        one_p = node("Add", [erf, "f_one"], f"{p}.gelu_1p")
        gelu = node(
            "Mul", [node("Mul", [inter, half], f"{p}.gelu_h"), one_p], f"{p}.gelu"
        )
        ffn = linear(gelu, w_ffn, b_ffn, f"{p}.ffn")
        res2 = node("Add", [ffn, x], f"{p}.res2")
        x = layer_norm(res2, f"{p}.output.LayerNorm", f"{p}.ln2")

    # --- masked mean pooling + L2 normalisation (sentence-transformers) ---
    mask3 = node("Unsqueeze", [mask_f, i2], "mask3")
    masked_tokens = node("Mul", [x, mask3], "masked_tokens")
    summed = node("ReduceSum", [masked_tokens, i1], "tok_sum", keepdims=0)
    count = node("ReduceSum", [mask_f, i1], "tok_count", keepdims=1)
    eps9 = const("f_eps9", np.array(1e-9, np.float32))
    mean = node("Div", [summed, node("Max", [count, eps9], "tok_count_c")], "mean")
    norm = node("ReduceL2", [mean, i1], "l2", keepdims=1)
    eps12 = const("f_eps12", np.array(1e-12, np.float32))
    out = "sentence_embedding" if perm is None else "unit"
    unit = node("Div", [mean, node("Max", [norm, eps12], "l2_c")], out)
    if perm is not None:  # back to the model's own channel order
        inverse = np.argsort(perm).astype(np.int64)
        node(
            "Gather", [unit, const("unpermute", inverse)], "sentence_embedding", axis=1
        )

    graph = helper.make_graph(
        nodes,
        "bert_sentence_encoder",
        [
            helper.make_tensor_value_info(
                "input_ids", TensorProto.INT64, ["batch", "seq"]
            ),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "seq"]
            ),
        ],
        [
            helper.make_tensor_value_info(
                "sentence_embedding", TensorProto.FLOAT, ["batch", hidden]
            )
        ],
        initializer=inits,
    )
    opsets = [helper.make_opsetid("", _OPSET)]
    if fused or int8_weights:
        opsets.append(helper.make_opsetid(_MS, 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="prefroute")
    model.ir_version = 8
    if not (fused or int8_weights):  # the checker does not know contrib ops
        onnx.checker.check_model(model)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f"{out_path.name}.{uuid.uuid4().hex}.tmp")
    onnx.save_model(model, str(tmp))
    tmp.replace(out_path)
