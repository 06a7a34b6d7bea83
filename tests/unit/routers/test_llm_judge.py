"""llm_judge against a real fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _fake_judge_llm import FakeLLM, chat_response, closed_port_url, grade_logprobs
from prefroute.errors import ConfigError, DataError, UpstreamError
from prefroute.routers import get_router, load_router
from prefroute.routers.llm_judge import (
    LLMJudgeRouter,
    cache_key,
    grade_from_text,
    grade_probs_from_logprobs,
    score_from_probs,
)


def _judge(fake: FakeLLM, **kwargs: Any) -> LLMJudgeRouter:
    kwargs.setdefault("backoff", 0.01)
    return LLMJudgeRouter(base_url=fake.base_url, model="judge-m", **kwargs)


def _prompt_text(body: dict[str, Any]) -> str:
    return str(body["messages"][-1]["content"])


def test_logprobs_are_summed_per_grade_and_renormalised() -> None:
    logprobs = grade_logprobs({"4": 0.5, " 4": 0.1, "3": 0.2, "2": 0.1, "x": 0.1})
    probs = grade_probs_from_logprobs(logprobs)
    assert probs is not None
    np.testing.assert_allclose(probs, [0.0, 0.1 / 0.9, 0.2 / 0.9, 0.6 / 0.9, 0.0])


def test_logprobs_use_first_grade_position() -> None:
    logprobs = {
        "content": [
            {
                "token": "Score",
                "logprob": -0.01,
                "top_logprobs": [{"token": "Score", "logprob": -0.01}],
            },
            {
                "token": "2",
                "logprob": -0.2,
                "top_logprobs": [
                    {"token": "2", "logprob": -0.2},
                    {"token": "5", "logprob": -1.8},
                ],
            },
        ]
    }
    probs = grade_probs_from_logprobs(logprobs)
    assert probs is not None
    assert probs.argmax() == 1 and probs[4] > 0


def test_logprobs_without_grade_tokens_give_none() -> None:
    assert grade_probs_from_logprobs(grade_logprobs({"yes": 0.9, "no": 0.1})) is None
    assert grade_probs_from_logprobs(None) is None


@pytest.mark.parametrize(
    ("text", "grade"),
    [("4", 4), (" 2.", 2), ("Rating: [[5]]", 5), ("10", None), ("no idea", None)],
)
def test_grade_from_text(text: str, grade: int | None) -> None:
    assert grade_from_text(text) == grade


def test_score_rules() -> None:
    probs = np.array([0.1, 0.2, 0.3, 0.3, 0.1])
    expected_grade = float(np.dot(probs, [1, 2, 3, 4, 5]))
    assert score_from_probs(probs, "expected") == pytest.approx(
        (5 - expected_grade) / 4
    )
    assert score_from_probs(probs, "p_low") == pytest.approx(0.3)
    assert score_from_probs(probs, "p_not_high") == pytest.approx(0.6)
    with pytest.raises(ConfigError, match="score_rule"):
        score_from_probs(probs, "median")  # type: ignore[arg-type]


def _graded(body: dict[str, Any]) -> dict[str, Any]:
    probs = (
        {"1": 0.3, "2": 0.3, "3": 0.4}
        if "prove" in _prompt_text(body)
        else {"5": 0.8, "3": 0.2}
    )
    return chat_response("x", logprobs=grade_logprobs(probs))


def test_default_score_is_probability_of_a_low_grade() -> None:
    with FakeLLM(_graded) as fake:
        scores = _judge(fake).score(["prove the Riemann hypothesis", "say hi"])
    np.testing.assert_allclose(scores, [0.6, 0.0], atol=1e-9)  # P(grade <= 2)


def test_expected_grade_rule_is_an_option() -> None:
    with FakeLLM(_graded) as fake:
        router = _judge(fake, score_rule="expected")
        scores = router.score(["prove the Riemann hypothesis", "say hi"])
    np.testing.assert_allclose(scores, [(5 - 2.1) / 4, (5 - 4.6) / 4], atol=1e-9)


def test_score_reads_grade_distribution_from_logprobs() -> None:
    def responder(body: dict[str, Any]) -> dict[str, Any]:
        probs = (
            {"1": 0.7, "2": 0.3}
            if "prove" in _prompt_text(body)
            else {"5": 0.8, "4": 0.2}
        )
        return chat_response("x", logprobs=grade_logprobs(probs))

    with FakeLLM(responder) as fake:
        router = _judge(fake, score_rule="expected")
        scores = router.score(["prove the Riemann hypothesis", "say hi"])
        body = fake.requests[0]
    assert scores[0] == pytest.approx((5 - 1.3) / 4)
    assert scores[1] == pytest.approx((5 - 4.8) / 4)
    assert body["logprobs"] is True and body["top_logprobs"] == 5
    assert body["temperature"] == 0 and 1 <= body["max_tokens"] <= 3
    assert body["model"] == "judge-m"


def test_lone_surrogate_reaches_the_judge_replaced() -> None:
    # "\ud800" has no UTF-8 form, so httpx could not write the request body
    with FakeLLM(lambda body: chat_response("2")) as fake:
        assert _judge(fake).score(["a\ud800b"]).shape == (1,)
        assert "a?b" in _prompt_text(fake.requests[0])


def test_text_grade_used_when_endpoint_returns_no_logprobs() -> None:
    with FakeLLM(lambda body: chat_response("2")) as fake:
        router = _judge(fake, score_rule="p_low")
        assert router.score(["a"])[0] == 1.0
        router_expected = _judge(fake, score_rule="expected")
        assert router_expected.score(["b"])[0] == pytest.approx(0.75)
    assert router.n_invalid_ == 0


def test_garbage_is_counted_invalid_and_routed_strong() -> None:
    def responder(body: dict[str, Any]) -> dict[str, Any]:
        text = "I cannot rate this" if "bad" in _prompt_text(body) else "5"
        return chat_response(text)

    with FakeLLM(responder) as fake:
        router = _judge(fake)
        scores = router.score(["bad one", "good one", "bad two"])
    np.testing.assert_allclose(scores, [1.0, 0.0, 1.0])
    assert router.n_invalid_ == 2
    assert router.route(["bad one"], 0.99) == [True]


def test_scoring_report_counts_invalid_judgements() -> None:
    def responder(body: dict[str, Any]) -> dict[str, Any]:
        return chat_response("no idea" if "bad" in _prompt_text(body) else "4")

    with FakeLLM(responder) as fake:
        router = _judge(fake)
        router.score(["good"])
        assert router.scoring_report() is None
        router.score(["bad one", "bad two", "good"])
    assert router.scoring_report() == (
        "llm_judge: 2 of 4 judgements invalid (routed strong)"
    )


def test_scoring_report_counts_cache_misses(tmp_path: Path) -> None:
    cache = tmp_path / "cache.jsonl"
    cache.write_text(json.dumps({"key": cache_key("a", "m"), "score": 0.2}) + "\n")
    router = LLMJudgeRouter(
        model="m", cache_path=str(cache), cache_only=True, on_cache_miss="strong"
    )
    router.score(["a", "b", "c"])
    report = router.scoring_report()
    assert report is not None
    assert report.startswith("llm_judge: 2 of 3 prompts not in the score cache")
    assert report.endswith("(routed strong)")


def test_malformed_response_is_invalid_not_a_crash() -> None:
    with FakeLLM(lambda body: {"choices": []}) as fake:
        router = _judge(fake)
        assert router.score(["p"])[0] == 1.0
    assert router.n_invalid_ == 1


def test_server_errors_are_retried() -> None:
    with FakeLLM(
        lambda body: chat_response("4"), fail_first=2, fail_status=503
    ) as fake:
        scores = _judge(fake, max_retries=3, score_rule="expected").score(["p"])
        assert fake.n_failed == 2 and fake.n_requests == 1
    assert scores[0] == pytest.approx(0.25)


def test_rate_limit_is_retried() -> None:
    with FakeLLM(
        lambda body: chat_response("3"), fail_first=1, fail_status=429
    ) as fake:
        router = _judge(fake, score_rule="expected")
        assert router.score(["p"])[0] == pytest.approx(0.5)


def test_persistent_errors_raise_upstream_error_after_retries() -> None:
    with FakeLLM(fail_first=100) as fake:
        with pytest.raises(UpstreamError, match="after 3 attempts"):
            _judge(fake, max_retries=2).score(["p"])
        assert fake.n_failed == 3


def test_client_error_is_not_retried() -> None:
    with FakeLLM(fail_first=100, fail_status=401) as fake:
        with pytest.raises(UpstreamError, match="HTTP 401"):
            _judge(fake, max_retries=3).score(["p"])
        assert fake.n_failed == 1


def test_endpoint_down_raises_upstream_error() -> None:
    router = LLMJudgeRouter(
        base_url=closed_port_url(), model="m", max_retries=1, backoff=0.01
    )
    with pytest.raises(UpstreamError, match="failed after 2 attempts"):
        router.score(["p"])


def test_slow_endpoint_times_out_as_upstream_error() -> None:
    with FakeLLM(delay=1.0) as fake:
        router = _judge(fake, timeout=0.1, max_retries=0)
        with pytest.raises(UpstreamError, match="Timeout"):
            router.score(["p"])


def test_requests_run_concurrently_within_the_limit() -> None:
    with FakeLLM(delay=0.15) as fake:
        scores = _judge(fake, max_concurrency=3).score([f"p{i}" for i in range(9)])
        assert 1 < fake.max_in_flight <= 3
    assert scores.shape == (9,)


def test_duplicate_prompts_are_judged_once() -> None:
    with FakeLLM() as fake:
        scores = _judge(fake).score(["same", "same", "other"])
        assert fake.n_requests == 2
    assert scores[0] == scores[1]


def test_cache_hit_avoids_requests(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache.jsonl")
    with FakeLLM(lambda body: chat_response("2")) as fake:
        first = _judge(fake, cache_path=cache).score(["a", "b"])
        again = _judge(fake, cache_path=cache)
        second = again.score(["b", "a", "c"])
        assert fake.n_requests == 3
    np.testing.assert_allclose(second[:2], first[::-1])
    assert again.n_cache_hits_ == 2 and again.n_requests_ == 1


def test_cache_only_scores_without_endpoint(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache.jsonl")
    with FakeLLM(lambda body: chat_response("5")) as fake:
        expected = _judge(fake, cache_path=cache).score(["a"])
    router = LLMJudgeRouter(model="judge-m", cache_path=cache, cache_only=True)
    np.testing.assert_array_equal(router.score(["a"]), expected)


def test_cache_only_missing_prompt_raises_or_routes_strong(tmp_path: Path) -> None:
    cache = tmp_path / "cache.jsonl"
    cache.write_text(json.dumps({"key": cache_key("a", "m"), "score": 0.2}) + "\n")
    with pytest.raises(
        DataError, match="1 of 2 distinct prompts are not in the score cache"
    ):
        LLMJudgeRouter(model="m", cache_path=str(cache), cache_only=True).score(
            ["a", "b"]
        )
    router = LLMJudgeRouter(
        model="m", cache_path=str(cache), cache_only=True, on_cache_miss="strong"
    )
    np.testing.assert_allclose(router.score(["a", "b"]), [0.2, 1.0])
    assert router.n_cache_misses_ == 1


def test_cached_invalid_answer_stays_invalid_without_requery(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache.jsonl")
    with FakeLLM(lambda body: chat_response("??")) as fake:
        _judge(fake, cache_path=cache).score(["a"])
        router = _judge(fake, cache_path=cache)
        assert router.score(["a"])[0] == 1.0
        assert fake.n_requests == 1
    assert router.n_invalid_ == 1


def test_api_key_read_from_named_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGE_TEST_KEY", "sk-test-123")
    with FakeLLM() as fake:
        _judge(fake, api_key_env="JUDGE_TEST_KEY").score(["a"])
        assert fake.headers[0]["authorization"] == "Bearer sk-test-123"


def test_unset_api_key_env_raises_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUDGE_TEST_KEY", raising=False)
    router = LLMJudgeRouter(
        base_url="http://127.0.0.1:9/v1", model="m", api_key_env="JUDGE_TEST_KEY"
    )
    with pytest.raises(ConfigError, match="JUDGE_TEST_KEY"):
        router.score(["a"])


def test_base_url_without_scheme_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="http"):
        LLMJudgeRouter(base_url="localhost:8000/v1", model="m").score(["a"])


def test_no_endpoint_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        get_router("llm_judge").score(["a"])


def test_save_keeps_settings_not_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUDGE_TEST_KEY", "sk-secret-xyz")
    cache = str(tmp_path / "cache.jsonl")
    with FakeLLM(lambda body: chat_response("3")) as fake:
        router = _judge(fake, api_key_env="JUDGE_TEST_KEY", cache_path=cache)
        scores = router.score(["a"])
        router.save(tmp_path / "r")
    text = (tmp_path / "r" / "config.json").read_text()
    assert "sk-secret-xyz" not in text
    config = json.loads(text)["hyperparameters"]
    assert config["api_key_env"] == "JUDGE_TEST_KEY" and config["cache_path"] == cache
    loaded = load_router(tmp_path / "r", cache_only=True)
    np.testing.assert_array_equal(loaded.score(["a"]), scores)


def test_load_router_by_name_needs_no_checkpoint() -> None:
    assert isinstance(load_router("llm_judge"), LLMJudgeRouter)
