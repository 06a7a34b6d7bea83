"""Model-name aliases across data sources, and mapping a name to a known model.

Sources spell the same model differently: RouteLLM's eval files say
``mistralai/Mixtral-8x7B-Instruct-v0.1``, RouterBench ``mistralai/mixtral-8x7b-chat``,
AlpacaEval ``Mixtral-8x7B-Instruct-v0.1_concise`` and RouteProfile
``mixtral-8x7b-instruct-v0.1``. `canonical_model_name` maps known spellings to the
name used by the evaluation benchmarks so the paper's pair is recognised everywhere.

`resolve_model` maps a name a router has not seen to one it has: the same model
spelled differently (canonical name, org prefix, case, separators) silently, else a
close name or a model of the same family with a warning. It never guesses across
size tokens (``8x7b`` vs ``8x22b``, ``7b`` vs ``70b``), generations (``llama-3.1`` vs
``llama-3.3``) or variants (``gpt-4o`` vs ``gpt-4o-mini``, ``claude-3-opus`` vs
``claude-3-haiku``); within a family it may pick another release (``gpt-4-0613`` ->
``gpt-4-1106-preview``, ``mistral-7b-instruct-v0.2`` -> ``v0.3``).
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from prefroute.errors import ConfigError

__all__ = [
    "MODEL_ALIASES",
    "canonical_model_name",
    "canonicalize_keys",
    "resolve_model",
]

logger = logging.getLogger(__name__)

_MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
_GPT4_TURBO = "gpt-4-1106-preview"
_YI_34B = "zero-one-ai/Yi-34B-Chat"
_ZEPHYR_7B = "HuggingFaceH4/zephyr-7b-beta"

#: Lower-cased alias -> canonical name (the RouteLLM eval files' spelling).
MODEL_ALIASES: Mapping[str, str] = {
    # the paper's weak model (Mixtral 8x7B Instruct was only released as v0.1)
    "mistralai/mixtral-8x7b-instruct-v0.1": _MIXTRAL,
    "mixtral-8x7b-instruct-v0.1": _MIXTRAL,
    "mixtral-8x7b-instruct-v0.1_concise": _MIXTRAL,
    "mistralai/mixtral-8x7b-instruct": _MIXTRAL,
    "mixtral-8x7b-instruct": _MIXTRAL,
    "mistralai/mixtral-8x7b-chat": _MIXTRAL,
    "mixtral-8x7b-chat": _MIXTRAL,
    "mixtral-8x7b": _MIXTRAL,
    # the paper's strong model
    "gpt-4-1106-preview": _GPT4_TURBO,
    "gpt4_1106_preview": _GPT4_TURBO,
    "gpt-4-turbo-1106": _GPT4_TURBO,
    "openai/gpt-4-1106-preview": _GPT4_TURBO,
    # other models present in more than one source
    "claude-2": "claude-v2",
    "claude-v2": "claude-v2",
    "meta/llama-2-70b-chat": "llama-2-70b-chat-hf",
    "llama-2-70b-chat-hf": "llama-2-70b-chat-hf",
    # EloBench and AlpacaEval
    "meta-llama/llama-2-70b-chat-hf": "llama-2-70b-chat-hf",
    "meta-llama/llama-2-13b-chat-hf": "llama-2-13b-chat-hf",
    "meta-llama/llama-2-7b-chat-hf": "llama-2-7b-chat-hf",
    # RouterBench (via Together) and AlpacaEval
    "zero-one-ai/yi-34b-chat": _YI_34B,
    "01-ai/yi-34b-chat": _YI_34B,
    "yi-34b-chat": _YI_34B,
    # RouterDC and AlpacaEval
    "huggingfaceh4/zephyr-7b-beta": _ZEPHYR_7B,
    "zephyr-7b-beta": _ZEPHYR_7B,
}


def canonical_model_name(name: str) -> str:
    """Canonical spelling of a model name (unknown names come back unchanged).

    Args:
        name: A model name as written in some data source.

    Returns:
        The canonical name, e.g. ``"mistralai/Mixtral-8x7B-Instruct-v0.1"`` for
        ``"mistralai/mixtral-8x7b-chat"``.
    """
    return MODEL_ALIASES.get(name.strip().lower(), name)


def canonicalize_keys(values: Mapping[str, float]) -> dict[str, float]:
    """Rename a model -> value mapping's keys with `canonical_model_name`.

    When two keys map to the same canonical name the first one wins.

    Args:
        values: Mapping keyed by source model names.

    Returns:
        A new dict keyed by canonical names.
    """
    out: dict[str, float] = {}
    for key, value in values.items():
        out.setdefault(canonical_model_name(key), value)
    return out


# -- resolving a name against the models a router has seen -----------------------

# "7b", "70b", "8x7b", "8x22b", "1.5b", "125m": parameter counts.
_SIZE = re.compile(r"\d+(?:\.\d+)?(?:x\d+(?:\.\d+)?)?[bm]")
# "v0.1", "3.5", "0613": versions and snapshot dates ("v" dropped: claude-v2 is
# claude-2).
_VERSION = re.compile(r"v?(\d+(?:\.\d+)*)")
# "gpt4", "llama3", "qwen2.5": a word glued to its generation number.
_WORD_NUMBER = re.compile(r"([a-z]+)(\d+(?:\.\d+)*)")
# difflib ratio below which two names with the same size/version tokens differ.
_CLOSE_CUTOFF = 0.75
# Words that name a packaging of a model, not a different model.
_GENERIC_WORDS = frozenset(
    {"instruct", "chat", "preview", "hf", "it", "v", "latest", "concise", "verbose"}
)


@dataclass(frozen=True)
class _Name:
    """A model name split into comparable tokens (org prefix kept apart)."""

    org: str
    tokens: tuple[str, ...]

    @classmethod
    def parse(cls, name: str) -> _Name:
        org, _, bare = name.strip().lower().rpartition("/")
        tokens: list[str] = []
        for piece in re.split(r"[-_\s]+", bare):
            if not piece:
                continue
            version = _VERSION.fullmatch(piece)
            glued = _WORD_NUMBER.fullmatch(piece)
            if _SIZE.fullmatch(piece):
                tokens.append(piece)
            elif version:
                tokens.append(version.group(1))
            elif glued:
                tokens.extend(glued.groups())
            else:
                tokens.append(piece)
        return cls(org, tuple(tokens))

    @property
    def text(self) -> str:
        return "-".join(self.tokens)

    @property
    def numbers(self) -> tuple[str, ...]:
        """Size and version tokens, sorted: must agree for a 'closest name'."""
        return tuple(sorted(t for t in self.tokens if any(c.isdigit() for c in t)))

    @property
    def family(
        self,
    ) -> tuple[tuple[str, ...], str | None, frozenset[str], frozenset[str]] | None:
        """(words before the first number, generation, sizes, variant words); None
        if no words.

        The generation is the first number when it is not a size: ``gpt-4-0613``
        and ``gpt-4-1106-preview`` share ("gpt",), "4"; ``llama-3.1-70b`` and
        ``llama-3.3-70b`` do not. Variant words are every other word except generic
        ones (instruct, chat, preview, ...): ``gpt-4o`` vs ``gpt-4o-mini``,
        ``claude-3-opus`` vs ``claude-3-haiku`` and ``llama-3-70b-instruct`` vs
        ``llama3-chatqa-1.5-70b`` are different families.
        """
        first = next(
            (i for i, t in enumerate(self.tokens) if any(c.isdigit() for c in t)),
            len(self.tokens),
        )
        words = self.tokens[:first]
        if not words:
            return None
        numbers = self.tokens[first : first + 1]
        generation = numbers[0] if numbers and not _SIZE.fullmatch(numbers[0]) else None
        sizes = frozenset(t for t in self.tokens if _SIZE.fullmatch(t))
        variant = frozenset(
            t for t in self.tokens[first:] if t.isalpha() and t not in _GENERIC_WORDS
        )
        return words, generation, sizes, variant


def _parse(name: str) -> tuple[_Name, _Name]:
    """The name as written and as canonicalised (also after dropping an org)."""
    raw = _Name.parse(name)
    canon = canonical_model_name(name)
    if canon == name and "/" in name:
        canon = canonical_model_name(name.rpartition("/")[2])
    return raw, _Name.parse(canon)


def _closest(target: str, candidates: Sequence[tuple[str, str]]) -> str:
    """The candidate (name, comparable text) whose text is nearest to `target`."""
    ratio = difflib.SequenceMatcher(None, b=target)

    def score(item: tuple[str, str]) -> float:
        ratio.set_seq1(item[1])
        return ratio.ratio()

    return max(candidates, key=score)[0]


def resolve_model(
    name: str, known: Sequence[str], aliases: Mapping[str, str] | None = None
) -> str:
    """Map a model name to one in `known`, warning when it guesses.

    Order: exact; `aliases`; the same name after canonicalisation, dropping an org
    prefix (``mistralai/``, ``openai/``, ...), case and separators (silent, but a
    warning when `name` names an org the known model lacks); the closest name with
    the same size and version tokens; the closest model of the same family (same
    leading words, generation and sizes: ``gpt-4-0613`` -> ``gpt-4-1106-preview``,
    never ``8x7b`` -> ``8x22b`` or ``7b`` -> ``70b``). Guesses log a warning naming
    the model chosen.

    Args:
        name: The model name asked for.
        known: Names the caller knows (e.g. the models a router was trained on).
        aliases: Caller's own name -> known name table, tried first.

    Returns:
        A member of `known`.

    Raises:
        ConfigError: An alias pointing to an unknown model, or no known model of
            the same name, size and version, or family.
    """
    if name in known:
        return name
    if aliases and name in aliases:
        target = aliases[name]
        if target not in known:
            raise ConfigError(
                f"model_aliases maps {name!r} to {target!r}, which was not seen in "
                f"training; known: {', '.join(sorted(known))}"
            )
        logger.warning("model %r not seen in training; using %r (alias)", name, target)
        return target
    raw, canon = _parse(name)
    parsed = {k: _parse(k) for k in known}
    table = canonical_model_name(name)
    for k, (k_raw, k_canon) in parsed.items():
        if canon.tokens == k_canon.tokens:
            # An org we cannot confirm may mean a fine-tune of the known model.
            if table != k and raw.org and raw.org != k_raw.org:
                logger.warning(
                    "model %r not seen in training; using %r (same name, other org)",
                    name,
                    k,
                )
            return k
    same_numbers = [
        (k, k_canon.text)
        for k, (_, k_canon) in parsed.items()
        if k_canon.numbers == canon.numbers
    ]
    close = difflib.get_close_matches(
        canon.text, [text for _, text in same_numbers], n=1, cutoff=_CLOSE_CUTOFF
    )
    if close:
        target = next(k for k, text in same_numbers if text == close[0])
        logger.warning(
            "model %r not seen in training; using closest name %r", name, target
        )
        return target
    family = canon.family
    same_family = [
        (k, k_canon.text)
        for k, (_, k_canon) in parsed.items()
        if family is not None and k_canon.family == family
    ]
    if same_family:
        target = _closest(canon.text, same_family)
        logger.warning(
            "model %r not seen in training; using %r of the same family", name, target
        )
        return target
    raise ConfigError(
        f"model {name!r} was not seen in training and matches no seen model by "
        f"name, size and version, or family; pass model_aliases={{{name!r}: <known "
        f"model>}}; known: {', '.join(sorted(known))}"
    )
