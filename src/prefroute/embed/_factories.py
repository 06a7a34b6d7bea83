"""Factories turning spec arguments into embedders (see `get_embedder`)."""

from __future__ import annotations

from prefroute.embed.base import Embedder
from prefroute.errors import ConfigError


def hashing(arg: str | None) -> Embedder:
    """`hashing[:DIM]`."""
    from prefroute.embed.hashing import HashingEmbedder

    try:
        return HashingEmbedder(dim=int(arg) if arg else 256)
    except ValueError as exc:
        raise ConfigError(
            f"hashing embedder wants an integer dim, got {arg!r}"
        ) from exc


def _no_arg(name: str, arg: str | None) -> None:
    if arg:
        raise ConfigError(f"the {name!r} embedder takes no argument, got {name}:{arg}")


def minilm(arg: str | None) -> Embedder:
    """`minilm`: all-MiniLM-L6-v2, fp32, ONNX Runtime (exact)."""
    from prefroute.embed.onnx import OnnxEmbedder

    _no_arg("minilm", arg)
    return OnnxEmbedder(variant="fp32")


def minilm_int8(arg: str | None) -> Embedder:
    """`minilm-int8`: the int8-quantised all-MiniLM-L6-v2 ONNX file."""
    from prefroute.embed.onnx import OnnxEmbedder

    _no_arg("minilm-int8", arg)
    return OnnxEmbedder(variant="int8")


def openai(arg: str | None) -> Embedder:
    """`openai:<model>@<base_url>`: an OpenAI-compatible /v1/embeddings endpoint."""
    from prefroute.embed.openai import OpenAIEmbedder, parse_openai_spec

    model, base_url = parse_openai_spec(arg)
    return OpenAIEmbedder(base_url=base_url, model=model)


def minilm_q8(arg: str | None) -> Embedder:
    """`minilm-q8`: all-MiniLM-L6-v2 with int8 block-quantised dense layers."""
    from prefroute.embed.onnx import OnnxEmbedder

    _no_arg("minilm-q8", arg)
    return OnnxEmbedder(variant="q8")


def minilm_dq8(arg: str | None) -> Embedder:
    """`minilm-dq8`: all-MiniLM-L6-v2 with dynamically quantised int8 dense layers
    (the default embedder)."""
    from prefroute.embed.onnx import OnnxEmbedder

    _no_arg("minilm-dq8", arg)
    return OnnxEmbedder(variant="dq8")


def minilm_static(arg: str | None) -> Embedder:
    """`minilm-static`: all-MiniLM-L6-v2 distilled into a token table."""
    from prefroute.embed.static import StaticEmbedder

    _no_arg("minilm-static", arg)
    return StaticEmbedder()
