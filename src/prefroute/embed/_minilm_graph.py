"""Build an fp32 ONNX graph of a BERT sentence encoder straight from safetensors.

The graph is BERT (post-LN, GELU via Erf) + attention-masked mean pooling + L2
normalisation, i.e. what sentence-transformers runs for all-MiniLM-L6-v2, written
with standard ONNX ops (opset 18: LayerNormalization) so no torch is needed.

Inputs: ``input_ids`` and ``attention_mask`` (int64, ``(batch, seq)``); output
``sentence_embedding`` (float32, ``(batch, hidden)``). Token type ids are always 0 for
single-text encoding, so the type-0 embedding is folded into the position table.
"""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GRAPH_VERSION", "build_bert_sentence_onnx"]

#: Bumped whenever the emitted graph changes, so cached model files are rebuilt.
GRAPH_VERSION = 2
_OPSET = 18


def build_bert_sentence_onnx(model_dir: Path, out_path: Path) -> None:
    """Write ``out_path`` (model.onnx) built from ``model_dir``.

    Args:
        model_dir: Folder with ``config.json`` and ``model.safetensors`` (a BertModel).
        out_path: Where to write the ONNX model (written atomically).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    config: dict[str, Any] = json.loads((model_dir / "config.json").read_text())
    tensors = load_file(str(model_dir / "model.safetensors"))
    prefix = "bert." if any(k.startswith("bert.") for k in tensors) else ""

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

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def linear(x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        # torch Linear stores (out, in); MatMul wants (in, out).
        wt = const(f"{name}.wT", np.ascontiguousarray(weight.T))
        b = const(f"{name}.b", bias)
        return node("Add", [node("MatMul", [x, wt], f"{name}.mm"), b], f"{name}.out")

    def layer_norm(x: str, name: str, out: str) -> str:
        g = const(f"{name}.g", w(f"{name}.weight"))
        b = const(f"{name}.beta", w(f"{name}.bias"))
        return node("LayerNormalization", [x, g, b], out, axis=-1, epsilon=eps)

    # --- embeddings ---------------------------------------------------------------
    word = const("word_embeddings", w("embeddings.word_embeddings.weight"))
    pos_table = (
        w("embeddings.position_embeddings.weight")
        + w("embeddings.token_type_embeddings.weight")[0]
    )
    pos = const("position_plus_type0", pos_table)
    i0 = const("i64_0", np.array([0], dtype=np.int64))
    i1 = const("i64_1", np.array([1], dtype=np.int64))
    shape = node("Shape", ["input_ids"], "ids_shape")
    seq_len = node(
        "Slice", [shape, i1, const("i64_2", np.array([2], np.int64))], "seq_len"
    )
    pos_slice = node("Slice", [pos, i0, seq_len, i0], "pos_slice")
    tok = node("Gather", [word, "input_ids"], "tok_emb")
    emb = node("Add", [tok, pos_slice], "emb_sum")
    x = layer_norm(emb, "embeddings.LayerNorm", "emb_ln")

    # --- additive attention bias from the mask: 0 keep, -1e4 drop (as HF BERT) ---
    mask_f = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inv = node("Sub", [const("f_one", np.array(1.0, np.float32)), mask_f], "mask_inv")
    bias2d = node(
        "Mul", [inv, const("f_neg", np.array(-1e4, np.float32))], "mask_bias2d"
    )
    attn_bias = node(
        "Unsqueeze",
        [bias2d, const("axes_1_2", np.array([1, 2], np.int64))],
        "attn_bias",
    )

    shape_bshd = const("shape_bshd", np.array([0, 0, n_heads, head_dim], np.int64))
    shape_bsh = const("shape_bsh", np.array([0, 0, hidden], np.int64))
    scale = const("attn_scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    half = const("f_half", np.array(0.5, np.float32))
    one = "f_one"
    inv_sqrt2 = const("f_inv_sqrt2", np.array(1.0 / math.sqrt(2.0), np.float32))

    for i in range(n_layers):
        p = f"encoder.layer.{i}"
        # Fused QKV projection: one (hidden, 3*hidden) MatMul instead of three.
        wqkv = np.concatenate(
            [w(f"{p}.attention.self.{n}.weight") for n in ("query", "key", "value")],
            axis=0,
        )
        bqkv = np.concatenate(
            [w(f"{p}.attention.self.{n}.bias") for n in ("query", "key", "value")]
        )
        qkv = linear(x, wqkv, bqkv, f"{p}.qkv")
        q_, k_, v_ = (f"{p}.q", f"{p}.k", f"{p}.v")
        nodes.append(
            helper.make_node(
                "Split", [qkv], [q_, k_, v_], name=f"{p}.split", axis=-1, num_outputs=3
            )
            if _OPSET >= 18
            else helper.make_node(
                "Split",
                [qkv, const(f"{p}.split_sizes", np.array([hidden] * 3, np.int64))],
                [q_, k_, v_],
                name=f"{p}.split",
                axis=-1,
            )
        )
        q = node(
            "Transpose",
            [node("Reshape", [q_, shape_bshd], f"{p}.q4")],
            f"{p}.qT",
            perm=[0, 2, 1, 3],
        )
        k = node(
            "Transpose",
            [node("Reshape", [k_, shape_bshd], f"{p}.k4")],
            f"{p}.kT",
            perm=[0, 2, 3, 1],
        )
        v = node(
            "Transpose",
            [node("Reshape", [v_, shape_bshd], f"{p}.v4")],
            f"{p}.vT",
            perm=[0, 2, 1, 3],
        )
        scores = node("Mul", [node("MatMul", [q, k], f"{p}.qk"), scale], f"{p}.scores")
        probs = node(
            "Softmax",
            [node("Add", [scores, attn_bias], f"{p}.masked")],
            f"{p}.probs",
            axis=-1,
        )
        ctx = node("MatMul", [probs, v], f"{p}.ctx")
        ctx = node(
            "Reshape",
            [node("Transpose", [ctx], f"{p}.ctxT", perm=[0, 2, 1, 3]), shape_bsh],
            f"{p}.ctx3",
        )
        attn_out = linear(
            ctx,
            w(f"{p}.attention.output.dense.weight"),
            w(f"{p}.attention.output.dense.bias"),
            f"{p}.attn_out",
        )
        x = layer_norm(
            node("Add", [attn_out, x], f"{p}.res1"),
            f"{p}.attention.output.LayerNorm",
            f"{p}.ln1",
        )
        inter = linear(
            x,
            w(f"{p}.intermediate.dense.weight"),
            w(f"{p}.intermediate.dense.bias"),
            f"{p}.inter",
        )
        # Exact GELU: 0.5 * x * (1 + erf(x / sqrt(2))) (ORT fuses it into Gelu).
        erf = node(
            "Erf", [node("Mul", [inter, inv_sqrt2], f"{p}.gelu_div")], f"{p}.gelu_erf"
        )
        gelu = node(
            "Mul",
            [
                node("Mul", [inter, half], f"{p}.gelu_half"),
                node("Add", [erf, one], f"{p}.gelu_1p"),
            ],
            f"{p}.gelu",
        )
        ffn = linear(
            gelu,
            w(f"{p}.output.dense.weight"),
            w(f"{p}.output.dense.bias"),
            f"{p}.ffn_out",
        )
        x = layer_norm(
            node("Add", [ffn, x], f"{p}.res2"), f"{p}.output.LayerNorm", f"{p}.ln2"
        )

    # --- masked mean pooling + L2 normalisation (sentence-transformers) ---
    mask3 = node(
        "Unsqueeze", [mask_f, const("axes_2", np.array([2], np.int64))], "mask3"
    )
    summed = node(
        "ReduceSum",
        [node("Mul", [x, mask3], "masked_tokens"), i1],
        "tok_sum",
        keepdims=0,
    )
    count = node("ReduceSum", [mask_f, i1], "tok_count", keepdims=1)
    count = node(
        "Max", [count, const("f_eps9", np.array(1e-9, np.float32))], "tok_count_c"
    )
    mean = node("Div", [summed, count], "mean_pooled")
    norm = node("ReduceL2", [mean, i1], "l2", keepdims=1)
    norm = node("Max", [norm, const("f_eps12", np.array(1e-12, np.float32))], "l2_c")
    node("Div", [mean, norm], "sentence_embedding")

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
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", _OPSET)],
        producer_name="prefroute",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f"{out_path.name}.{uuid.uuid4().hex}.tmp")
    onnx.save_model(model, str(tmp))
    tmp.replace(out_path)
