"""A tiny random BertModel folder (config.json, model.safetensors, tokenizer.json)
with all-MiniLM-L6-v2's tokenizer, so fine-tuning tests run in about a second."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from prefroute.embed.onnx import minilm_model_dir

HIDDEN, INTERMEDIATE, LAYERS, HEADS, POSITIONS, VOCAB = 32, 64, 2, 2, 64, 30522


def make_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """Write a 2-layer, 32-wide BERT with seeded random weights into `folder`."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def normal(*shape: int) -> np.ndarray:
        return rng.normal(0.0, 0.05, size=shape).astype(np.float32)

    tensors = {
        "embeddings.word_embeddings.weight": normal(VOCAB, HIDDEN),
        "embeddings.position_embeddings.weight": normal(POSITIONS, HIDDEN),
        "embeddings.token_type_embeddings.weight": normal(2, HIDDEN),
        "embeddings.LayerNorm.weight": np.ones(HIDDEN, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(HIDDEN, np.float32),
    }
    shapes = {
        "attention.self.query": (HIDDEN, HIDDEN),
        "attention.self.key": (HIDDEN, HIDDEN),
        "attention.self.value": (HIDDEN, HIDDEN),
        "attention.output.dense": (HIDDEN, HIDDEN),
        "intermediate.dense": (INTERMEDIATE, HIDDEN),
        "output.dense": (HIDDEN, INTERMEDIATE),
    }
    for i in range(LAYERS):
        for name, (n_out, n_in) in shapes.items():
            tensors[f"encoder.layer.{i}.{name}.weight"] = normal(n_out, n_in)
            tensors[f"encoder.layer.{i}.{name}.bias"] = np.zeros(n_out, np.float32)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[f"encoder.layer.{i}.{norm}.weight"] = np.ones(HIDDEN, np.float32)
            tensors[f"encoder.layer.{i}.{norm}.bias"] = np.zeros(HIDDEN, np.float32)
    save_file(tensors, str(folder / "model.safetensors"))
    config = {
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "max_position_embeddings": POSITIONS,
        "vocab_size": VOCAB,
        "type_vocab_size": 2,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
    }
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    shutil.copyfile(minilm_model_dir() / "tokenizer.json", folder / "tokenizer.json")
    return folder
