"""Model names: canonical spellings and mapping an unseen name to a known model."""

from __future__ import annotations

import logging

import pytest

from prefroute.data.models import canonical_model_name, resolve_model
from prefroute.errors import ConfigError

MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
KNOWN = [
    "gpt-4-1106-preview",
    "gpt-3.5-turbo-1106",
    MIXTRAL,
    "mixtral-8x22b-instruct-v0.1",
    "llama-3.1-8b-instruct",
    "llama-3.3-70b-instruct",
    "mistral-7b-instruct-v0.3",
    "zero-one-ai/Yi-34B-Chat",
]


@pytest.mark.parametrize(
    "alias", ["mixtral-8x7b-instruct", "mistralai/mixtral-8x7b-instruct"]
)
def test_canonical_model_name_mixtral_without_version(alias: str) -> None:
    assert canonical_model_name(alias) == MIXTRAL


@pytest.mark.parametrize("alias", ["Yi-34B-Chat", "01-ai/Yi-34B-Chat"])
def test_canonical_model_name_joins_yi_spellings(alias: str) -> None:
    assert canonical_model_name(alias) == "zero-one-ai/Yi-34B-Chat"


def test_canonical_model_name_joins_zephyr_spellings() -> None:
    assert canonical_model_name("zephyr-7b-beta") == "HuggingFaceH4/zephyr-7b-beta"


@pytest.mark.parametrize(
    "name", ["Mixtral-8x7B-Instruct-v0.1", "mixtral-8x7b-instruct", "mixtral-8x7b-chat"]
)
def test_resolve_same_model_other_spelling_is_silent(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert resolve_model(name, KNOWN) == MIXTRAL
    assert not caplog.records


def test_resolve_drops_org_prefix() -> None:
    got = resolve_model("mistralai/Mixtral-8x22B-Instruct-v0.1", KNOWN)
    assert got == "mixtral-8x22b-instruct-v0.1"


def test_resolve_ignores_case_and_separators() -> None:
    assert resolve_model("Llama_3.3_70B_Instruct", KNOWN) == "llama-3.3-70b-instruct"


def test_resolve_closest_name_keeps_size_tokens() -> None:
    # 8x7b must not become 8x22b, even though the names are close
    known = [k for k in KNOWN if k != MIXTRAL]
    with pytest.raises(ConfigError, match=r"mixtral-8x7b-instruct-v0\.2"):
        resolve_model("mixtral-8x7b-instruct-v0.2", known)


def test_resolve_never_maps_7b_to_70b() -> None:
    with pytest.raises(ConfigError, match="not seen in training"):
        resolve_model("llama-3.3-7b-instruct", KNOWN)


def test_resolve_closest_name_with_same_numbers_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        got = resolve_model("llama-3.1-8b-instruct-hf", KNOWN)
    assert got == "llama-3.1-8b-instruct"
    assert "closest name 'llama-3.1-8b-instruct'" in caplog.text


def test_resolve_prefers_same_family(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        got = resolve_model("gpt-4-0613", KNOWN)
    assert got == "gpt-4-1106-preview"
    assert "same family" in caplog.text and "'gpt-4-1106-preview'" in caplog.text


def test_resolve_family_needs_same_generation() -> None:
    # llama-3.1 and llama-3.3 are different releases
    with pytest.raises(ConfigError):
        resolve_model("llama-3.1-70b-instruct", KNOWN)


def test_resolve_family_with_another_version(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        got = resolve_model("mistral-7b-instruct-v0.2", KNOWN)
    assert got == "mistral-7b-instruct-v0.3"
    assert "same family" in caplog.text


def test_resolve_other_org_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        got = resolve_model("someorg/llama-3.3-70b-instruct", KNOWN)
    assert got == "llama-3.3-70b-instruct"
    assert "other org" in caplog.text


def test_resolve_alias_to_unseen_model_fails() -> None:
    with pytest.raises(ConfigError, match="model_aliases maps 'x' to 'y'"):
        resolve_model("x", KNOWN, {"x": "y"})


def test_resolve_hopeless_name_fails_naming_it() -> None:
    with pytest.raises(ConfigError, match="'totally-unknown-llm' was not seen"):
        resolve_model("totally-unknown-llm", KNOWN)


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("gpt-4o", ["gpt-4o-mini"]),
        ("claude-3-opus", ["claude-3-haiku"]),
        ("claude-3-5-sonnet", ["claude-3-haiku"]),
        ("llama-3-70b-instruct", ["llama3-chatqa-1.5-70b"]),
        ("llama-3.3-70b-versatile", ["llama-3.3-70b-instruct"]),
    ],
)
def test_resolve_family_never_crosses_variants(name: str, known: list[str]) -> None:
    # Another variant word (mini, haiku, chatqa, ...) is another model, not a
    # release of the same one.
    with pytest.raises(ConfigError):
        resolve_model(name, known)
