"""lambda per (N-model router, budget): the calibrated knobs a gateway keeps.

Calibrating a budget (`MultiModelRouter.calibrate`) is a search over the calibration
prompts, far dearer than routing a request, so its lambda is kept: budgets named in
the config for good, budgets first seen in requests in a bounded LRU (clients could
invent any number of them).
"""

from __future__ import annotations

from collections.abc import Collection

from prefroute._lru import LRU

__all__ = ["BudgetKnobs"]


class BudgetKnobs:
    """Calibrated lambdas by (router, budget).

    Args:
        kept_budgets: Budgets (mean USD per request) kept for good once calibrated.
        max_on_demand: Other budgets kept, all routers together (least recently
            used evicted, then calibrated again on their next request).

    Attributes:
        kept: (router, budget) -> lambda of the `kept_budgets`.
        on_demand: (router, budget) -> lambda of budgets first seen in requests.
    """

    def __init__(self, kept_budgets: Collection[float], max_on_demand: int) -> None:
        """Start empty."""
        self.kept_budgets = kept_budgets
        self.kept: dict[tuple[str, float], float] = {}
        self.on_demand: LRU[tuple[str, float], float] = LRU(max_on_demand)

    def get(self, router: str, budget: float) -> float | None:
        """lambda of a budget already calibrated (and still kept), else None."""
        key = (router, budget)
        knob = self.kept.get(key)
        if knob is None:
            knob = self.on_demand.get(key)
        return knob

    def put(self, router: str, budget: float, knob: float) -> None:
        """Keep a calibrated lambda (for good when `budget` is a kept budget)."""
        key = (router, budget)
        if budget in self.kept_budgets:
            self.kept[key] = knob
            return
        self.on_demand.put(key, knob)

    def on_demand_keys(self) -> list[tuple[str, float]]:
        """(router, budget) calibrated on first use and still kept, oldest first."""
        return self.on_demand.keys()
