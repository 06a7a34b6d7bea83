"""Evaluation: routing metrics (PGR, APGR, CPT), bootstrap intervals, the harness
behind `prefroute eval`, plots, and batch scoring behind `prefroute score`.

Submodules are imported on use: `metrics`, `bootstrap`, `harness`, `scoring`, `plots`.
"""

from __future__ import annotations

__all__: list[str] = []
