"""The calibrations a gateway starts with: thresholds for ``@share`` model strings,
the calibration prompts of N-model budgets, and score profiles that read a raw
threshold as a share of strong calls."""

from __future__ import annotations

import bisect
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prefroute._lru import LRU
from prefroute.gateway.config import RoutingConfig

if TYPE_CHECKING:
    from prefroute.calibrate import Calibration
    from prefroute.routers.base import Router

__all__ = ["ScoreProfile", "ScoreProfiles", "load_calibrations_for"]

logger = logging.getLogger(__name__)

#: Score quantiles listed in ``/v1/models`` (a raw threshold at the q quantile sends
#: about 1 - q of the calibration prompts strong).
PROFILE_QUANTILES = (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0)
#: Raw thresholds whose strong share ``/v1/models`` lists.
PROFILE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# A raw threshold sending more or fewer of the calibration prompts strong than these
# is most likely misread as a share: warned about once per (router, threshold).
_LOW_SHARE, _HIGH_SHARE = 0.1, 0.9
# (router, threshold) pairs already warned about; clients could send any number.
_MAX_WARNED = 1024


@dataclass(frozen=True)
class ScoreProfile:
    """A router's scores on its calibration prompts, to read a raw threshold.

    A router's scores need not spread over [0, 1]: the shipped `mf` scores most
    prompts above 0.116, so ``router-mf-0.116`` sends nearly all of them strong.
    The profile says which share of the calibration prompts a threshold sends
    strong (O(log n) per threshold).

    Attributes:
        router: Router name.
        source: Where the calibration prompts came from.
        scores: The calibration prompts' scores, ascending.
    """

    router: str
    source: str
    scores: tuple[float, ...]

    @classmethod
    def of(cls, calibration: Calibration) -> ScoreProfile | None:
        """The profile of a calibration that kept its scores (else None).

        Args:
            calibration: A router's calibration.

        Returns:
            The profile, or None for a calibration without scores.
        """
        if not calibration.scores:
            return None
        return cls(
            calibration.router, calibration.source, tuple(sorted(calibration.scores))
        )

    def strong_share(self, threshold: float) -> float:
        """Share of the calibration prompts scoring >= `threshold` (sent strong).

        Args:
            threshold: A raw cost threshold.

        Returns:
            The share in [0, 1].
        """
        n = len(self.scores)
        return (n - bisect.bisect_left(self.scores, threshold)) / n

    def quantile(self, q: float) -> float:
        """The score below which a fraction `q` of the calibration prompts lie.

        Args:
            q: In [0, 1].

        Returns:
            The q quantile (linear between order statistics).
        """
        position = q * (len(self.scores) - 1)
        low = int(position)
        high = min(low + 1, len(self.scores) - 1)
        return self.scores[low] + (position - low) * (
            self.scores[high] - self.scores[low]
        )

    def summary(self) -> dict[str, dict[str, float]]:
        """Quantiles (`PROFILE_QUANTILES`) and strong shares of a few raw
        thresholds (`PROFILE_THRESHOLDS`), keyed by their ``%g`` text."""
        return {
            "score_quantiles": {
                f"{q:g}": round(self.quantile(q), 6) for q in PROFILE_QUANTILES
            },
            "strong_share_at_threshold": {
                f"{t:g}": round(self.strong_share(t), 4) for t in PROFILE_THRESHOLDS
            },
        }


class ScoreProfiles:
    """The score profiles of a gateway's calibrations, and the warning about raw
    thresholds at the extremes.

    Args:
        calibrations: Router name -> calibration; the gateway's own mapping, read
            live (a replaced calibration gets a new profile).
    """

    def __init__(self, calibrations: Mapping[str, Calibration]) -> None:
        """Build the profiles now (sorting scores), not on a request."""
        self._calibrations = calibrations
        self._profiles: dict[str, tuple[Calibration, ScoreProfile | None]] = {}
        self._warned: LRU[tuple[str, float], bool] = LRU(_MAX_WARNED)
        for name in calibrations:
            self.get(name)

    def get(self, name: str) -> ScoreProfile | None:
        """The profile of a router's calibration (None without one, or without
        kept scores)."""
        calibration = self._calibrations.get(name)
        if calibration is None:
            return None
        known = self._profiles.get(name)
        if known is not None and known[0] is calibration:
            return known[1]
        profile = ScoreProfile.of(calibration)
        self._profiles[name] = (calibration, profile)
        return profile

    def check_raw_threshold(self, router: str, threshold: float) -> None:
        """Warn once when a raw threshold sends almost all or almost none of the
        calibration prompts strong (a score misread as a share, most likely).

        Args:
            router: Router name.
            threshold: The raw threshold of a request.
        """
        profile = self.get(router)
        if profile is None:
            return
        share = profile.strong_share(threshold)
        if _LOW_SHARE <= share <= _HIGH_SHARE:
            return
        key = (router, threshold)
        if self._warned.get(key) is not None:
            return
        self._warned.put(key, True)
        example = self._calibrations[router].threshold_for(0.3)
        logger.warning(
            "router %s: raw threshold %g sends %.0f%% of its %d calibration prompts "
            "(%s) strong; a threshold is a score, not a share: for a share of strong "
            "calls ask for 'router-%s@<share>' (here 'router-%s@0.3' = threshold "
            "%.4g); GET /v1/models lists the router's score quantiles",
            router,
            threshold,
            100.0 * share,
            len(profile.scores),
            profile.source or "unnamed prompt set",
            router,
            router,
            example,
        )


def load_calibrations_for(
    config: RoutingConfig,
    routers: Mapping[str, Router],
    *,
    have: Collection[str] = (),
) -> dict[str, Calibration]:
    """Calibrations named by the config: from `calibration_file`, then computed on
    `calibration_prompts` ("default" = the data directory's default prompt set) for
    routers still missing one.

    With priced `models`, `calibration_prompts` instead becomes the calibration set
    of every N-model router (`MultiModelRouter.recalibrate`, in place), so that
    ``router-<name>@<USD>`` budgets are met on those prompts rather than on the
    router's training prompts (its model strings then name budgets or lambdas, so
    it gets no threshold calibration).

    Args:
        config: Routing config.
        routers: Loaded routers (N-model ones are recalibrated in place).
        have: Routers that already have a threshold calibration from elsewhere
            (e.g. the Controller's `calibrations=`): none is computed for them, but
            N-model ones still get their budgets recalibrated.

    Returns:
        Router name -> calibration (not including `have`).
    """
    from prefroute.calibrate import (
        calibrate_router,
        default_prompts,
        load_calibrations,
        load_prompts,
    )

    calibrations: dict[str, Calibration] = {}
    if config.calibration_file is not None:
        loaded = load_calibrations(config.calibration_file)
        calibrations.update({k: v for k, v in loaded.items() if k in routers})
    from prefroute.routers.multi import MultiModelRouter

    multi = [
        name
        for name, router in routers.items()
        if config.models and isinstance(router, MultiModelRouter)
    ]
    # With priced models an N-model router's strings are budgets and lambdas, never
    # thresholds: a threshold calibration would be a scoring pass for nothing.
    missing = [
        name
        for name in routers
        if name not in calibrations and name not in have and name not in multi
    ]
    if config.calibration_prompts and (missing or multi):
        if config.calibration_prompts == "default":
            prompts: Sequence[str] = default_prompts(config.data_dir)
            source = "default prompt set"
        else:
            prompts = load_prompts(config.calibration_prompts)
            source = config.calibration_prompts
        for name in missing:
            logger.info("calibrating router %s on %d prompts", name, len(prompts))
            calibrations[name] = calibrate_router(
                routers[name], prompts, name=name, source=source
            )
        for name in multi:
            logger.info(
                "calibrating budgets of router %s on %d prompts", name, len(prompts)
            )
            router = routers[name]
            assert isinstance(router, MultiModelRouter)
            router.recalibrate(prompts)
    return calibrations
