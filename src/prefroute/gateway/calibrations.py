"""The calibrations a gateway starts with: thresholds for ``@share`` model strings and
the calibration prompts of N-model budgets."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from prefroute.gateway.config import RoutingConfig

if TYPE_CHECKING:
    from prefroute.calibrate import Calibration
    from prefroute.routers.base import Router

__all__ = ["load_calibrations_for"]

logger = logging.getLogger(__name__)


def load_calibrations_for(
    config: RoutingConfig,
    routers: Mapping[str, Router],
    *,
    have: Collection[str] = (),
) -> dict[str, Calibration]:
    """Calibrations named by the config: from `calibration_file`, then computed on
    `calibration_prompts` ("default" = the data directory's default prompt set) for
    routers still missing one.

    With priced `models`, `calibration_prompts` also becomes the calibration set of
    every N-model router (`MultiModelRouter.recalibrate`, in place), so that
    ``router-<name>@<USD>`` budgets are met on those prompts rather than on the
    router's training prompts.

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

    missing = [
        name for name in routers if name not in calibrations and name not in have
    ]
    multi = [
        name
        for name, router in routers.items()
        if config.models and isinstance(router, MultiModelRouter)
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
