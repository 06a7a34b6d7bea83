"""Score profiles: a raw threshold read as a share of strong calls, and the one-time
warning when a raw threshold sends almost all or almost none of the prompts strong."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from prefroute.calibrate import Calibration, calibrate_router
from prefroute.gateway.calibrations import ScoreProfile
from prefroute.gateway.config import RoutingConfig
from prefroute.gateway.core import RoutingCore
from prefroute.routers.base import Router

# 50 prompts of 50..99 characters: LengthRouter scores them 0.50..0.99.
PROMPTS = ["x" * n for n in range(50, 100)]
MESSAGES = [{"role": "user", "content": "y" * 60}]


class LengthRouter(Router):
    """Scores a prompt by its length (100 characters and more: 1)."""

    name = "length"
    needs_fit = False

    def score(self, prompts: Sequence[str]) -> Any:
        return np.array([min(1.0, len(p) / 100.0) for p in prompts])


def _core(calibrated: bool = True) -> RoutingCore:
    router = LengthRouter()
    config = RoutingConfig.model_validate(
        {"strong": {"model": "s"}, "weak": {"model": "w"}, "routers": ["length"]}
    )
    calibrations = (
        {"length": calibrate_router(router, PROMPTS, name="length", source="mine")}
        if calibrated
        else {}
    )
    return RoutingCore(config, routers={"length": router}, calibrations=calibrations)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "raw threshold" in r.getMessage()
    ]


def test_profile_reads_a_threshold_as_the_share_scoring_at_least_it() -> None:
    profile = ScoreProfile("r", "s", tuple(i / 100 for i in range(100)))
    assert profile.strong_share(0.5) == 0.5
    assert profile.strong_share(0.0) == 1.0
    assert profile.strong_share(1.0) == 0.0
    assert profile.quantile(0.5) == pytest.approx(0.495)
    assert profile.quantile(1.0) == 0.99
    summary = profile.summary()
    assert summary["strong_share_at_threshold"]["0.3"] == 0.7
    assert summary["score_quantiles"]["0"] == 0.0


def test_calibration_without_scores_has_no_profile() -> None:
    bare = Calibration("r", 10, "file", thresholds={0.5: 0.4})
    assert ScoreProfile.of(bare) is None


def test_raw_threshold_sending_nearly_all_strong_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    core = _core()
    with caplog.at_level(logging.WARNING):
        assert core.decide("router-length-0.116", MESSAGES).tier == "strong"
        core.decide("router-length-0.116", MESSAGES)
    [message] = _warnings(caplog)
    assert "sends 100% of its 50 calibration prompts (mine) strong" in message
    assert "router-length@0.3" in message


def test_raw_threshold_sending_nearly_none_strong_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    core = _core()
    with caplog.at_level(logging.WARNING):
        core.decide("router-length-0.99", MESSAGES)  # 1 of 50 prompts
        core.route("y", "length", 0.995)  # none
    assert len(_warnings(caplog)) == 2


@pytest.mark.parametrize("model", ["router-length-0.75", "router-length@0.02"])
def test_threshold_in_range_or_a_share_does_not_warn(
    model: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        _core().decide(model, MESSAGES)
    assert _warnings(caplog) == []


def test_uncalibrated_router_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        _core(calibrated=False).decide("router-length-0.01", MESSAGES)
    assert _warnings(caplog) == []


def test_replaced_calibration_gets_a_new_profile() -> None:
    core = _core()
    before = core.score_profile("length")
    assert before is not None and before.strong_share(0.75) == 0.5
    core.calibrations["length"] = calibrate_router(
        LengthRouter(), PROMPTS[:10], name="length"
    )
    after = core.score_profile("length")
    assert after is not None and after.strong_share(0.75) == 0.0
