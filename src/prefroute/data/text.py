"""Prompt text helpers shared by training code."""

from __future__ import annotations

__all__ = ["last_paragraph"]


def last_paragraph(prompt: str) -> str:
    """The question of a few-shot block: its last paragraph when it has more than two.

    RouterBench's ARC and Winogrande rows prepend the same worked examples (longer than
    the embedder's 256 tokens) to every question, so embedding the whole prompt gives
    one vector per task; the last paragraph is the row's own question.

    Args:
        prompt: A prompt.

    Returns:
        The last non-blank paragraph if the prompt has more than two, else the prompt.
    """
    parts = [block for block in prompt.split("\n\n") if block.strip()]
    return parts[-1] if len(parts) > 2 else prompt
