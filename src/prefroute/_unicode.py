"""Text that JSON allows but UTF-8 does not: lone surrogates ("\\ud800").

A light module: the server, client and embedders import it on their hot paths.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["json_line", "utf8_safe"]


def utf8_safe(text: str) -> str:
    """`text` with lone surrogates replaced by "?".

    JSON may carry a lone surrogate ("\\ud800"), and Python then holds a str with no
    UTF-8 form, which tokenizers and hashes reject. Every other text is returned as is.

    Args:
        text: Any str.

    Returns:
        A str that encodes to UTF-8.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def json_line(obj: Any) -> str:
    """`obj` as one line of JSON for a UTF-8 file: non-ASCII text written as is,
    unless it holds a lone surrogate, which only an escape can carry."""
    line = json.dumps(obj, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj)
    return line
