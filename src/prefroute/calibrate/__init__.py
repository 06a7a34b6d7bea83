"""Threshold calibration: the cost threshold that sends a target share of prompts
to the strong model.

A router sends a prompt to the strong model when ``score >= threshold``. Given the
scores of a representative prompt set, `calibrate_threshold` returns the threshold
under which a fraction ``strong_share`` of those prompts goes strong.

Tie rule: the threshold is the k-th largest score with ``k = round(strong_share * n)``
(at least 1 when ``strong_share > 0``), so the ``k`` highest-scoring prompts go strong.
When scores tie at the threshold, every tied prompt goes strong, so the realised share
can exceed the target; it is never below it. ``strong_share == 0`` returns a threshold
just above the maximum score (capped at 1.0, where no score in [0, 1) goes strong).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefroute.errors import ConfigError, DataError

if TYPE_CHECKING:
    from prefroute.routers.base import Router

__all__ = [
    "DEFAULT_PROMPTS_FILE",
    "Calibration",
    "calibrate_router",
    "calibrate_threshold",
    "default_prompts",
    "load_calibrations",
    "load_prompts",
    "save_calibrations",
    "strong_share_at",
]

# Relative to the data directory: 805 real user instructions (AlpacaEval).
DEFAULT_PROMPTS_FILE = "alpaca-eval/instructions_805.json"
_FORMAT_VERSION = 1
_SHARE_GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def _check_share(strong_share: float) -> float:
    share = float(strong_share)
    if not 0.0 <= share <= 1.0 or math.isnan(share):
        raise ConfigError(f"strong_share must be in [0, 1], got {strong_share!r}")
    return share


def calibrate_threshold(scores: Sequence[float] | Any, strong_share: float) -> float:
    """Threshold that sends `strong_share` of the scored prompts to the strong model.

    Args:
        scores: Router scores of the calibration prompts, shape (n,), values in [0, 1].
        strong_share: Target fraction of strong calls, in [0, 1].

    Returns:
        The threshold t in [0, 1]: the k-th largest score for
        ``k = max(1, round(strong_share * n))`` (ties at t all go strong); for
        ``strong_share == 0``, a value just above the largest score (at most 1.0).

    Raises:
        ConfigError: `strong_share` outside [0, 1], or no scores.
    """
    import numpy as np

    share = _check_share(strong_share)
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ConfigError("cannot calibrate on 0 scores; expected at least one prompt")
    if not np.all(np.isfinite(values)):
        raise ConfigError("scores must be finite numbers in [0, 1]; got NaN or inf")
    if share == 0.0:
        return float(min(1.0, np.nextafter(values.max(), np.inf)))
    k = max(1, round(share * values.size))
    ordered = np.sort(values)[::-1]
    return float(min(1.0, max(0.0, ordered[k - 1])))


def strong_share_at(scores: Sequence[float] | Any, threshold: float) -> float:
    """Fraction of scores that are >= threshold (the realised strong share).

    Args:
        scores: Router scores, shape (n,).
        threshold: Cost threshold.

    Returns:
        The share in [0, 1].
    """
    import numpy as np

    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if values.size == 0:
        return 0.0
    return float(np.mean(values >= threshold))


def load_prompts(path: Path | str) -> list[str]:
    """Read prompts from a prompt file (`prefroute.data.prompts.read_prompts`).

    Formats: ``.jsonl`` (per line a string, or an object with "prompt", OpenAI
    "messages", "instruction", "question", "query" or "text"), ``.json`` (a list of
    those), ``.csv`` (a "prompt" column), anything else one prompt per non-empty
    line.

    Args:
        path: Prompt file.

    Returns:
        The prompts, in file order.

    Raises:
        DataError: Missing, unreadable or malformed file, or no prompts.
    """
    from prefroute.data.prompts import read_prompts

    return read_prompts(path)


def default_prompts(data_dir: Path | str | None = None) -> list[str]:
    """The default calibration prompts: the 805 AlpacaEval instructions.

    Args:
        data_dir: Data directory (default: `prefroute.config.resolve_data_dir`).

    Returns:
        The prompts.

    Raises:
        DataError: The data directory or file is missing.
    """
    from prefroute.config import resolve_data_dir

    path = resolve_data_dir(data_dir) / DEFAULT_PROMPTS_FILE
    if not path.is_file():
        raise DataError(
            f"default calibration prompts {str(path)!r} not found; pass a prompt "
            "file (--prompts) or fetch the data with `prefroute data download all`"
        )
    return load_prompts(path)


@dataclass(frozen=True)
class Calibration:
    """Thresholds of one router for a grid of strong shares, on one prompt set.

    Attributes:
        router: Router name (as used in model strings, e.g. "mf").
        n_prompts: Number of calibration prompts.
        source: Where the prompts came from (file path or description).
        thresholds: strong_share -> threshold.
    """

    router: str
    n_prompts: int
    source: str
    thresholds: dict[float, float] = field(default_factory=dict)
    scores: tuple[float, ...] = ()

    def threshold_for(self, strong_share: float) -> float:
        """Threshold for any share: exact from kept scores, else from the grid.

        Args:
            strong_share: Target fraction of strong calls in [0, 1].

        Returns:
            The threshold.

        Raises:
            ConfigError: Share out of range, or no scores and the share is not on
                the saved grid.
        """
        share = _check_share(strong_share)
        if self.scores:
            return calibrate_threshold(self.scores, share)
        for known, threshold in self.thresholds.items():
            if abs(known - share) < 1e-9:
                return threshold
        raise ConfigError(
            f"calibration of router {self.router!r} has no threshold for strong share "
            f"{share!r}; saved shares: {sorted(self.thresholds)}"
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (scores included so any share can be computed later)."""
        return {
            "format_version": _FORMAT_VERSION,
            "router": self.router,
            "n_prompts": self.n_prompts,
            "source": self.source,
            "thresholds": {f"{k:g}": v for k, v in sorted(self.thresholds.items())},
            "scores": list(self.scores),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        """Inverse of `to_json`.

        Raises:
            DataError: Missing keys or wrong types.
        """
        try:
            if data.get("format_version") != _FORMAT_VERSION:
                raise DataError(
                    f"calibration format_version must be {_FORMAT_VERSION}, "
                    f"got {data.get('format_version')!r}"
                )
            return cls(
                router=str(data["router"]),
                n_prompts=int(data["n_prompts"]),
                source=str(data.get("source", "")),
                thresholds={float(k): float(v) for k, v in data["thresholds"].items()},
                scores=tuple(float(s) for s in data.get("scores", ())),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"malformed calibration: {exc!r}") from exc


def calibrate_router(
    router: Router,
    prompts: Sequence[str],
    *,
    name: str,
    source: str = "",
    shares: Sequence[float] = _SHARE_GRID,
    batch_size: int = 256,
) -> Calibration:
    """Score `prompts` with `router` and compute thresholds for a grid of shares.

    Args:
        router: A fitted router.
        prompts: Calibration prompts.
        name: Router name to record.
        source: Description of the prompt set.
        shares: Strong shares to tabulate.
        batch_size: Prompts per `score` call.

    Returns:
        The calibration (keeps all scores, so any share can be derived).

    Raises:
        ConfigError: No prompts.
    """
    import numpy as np

    if not prompts:
        raise ConfigError("cannot calibrate on 0 prompts; expected at least one")
    parts = [
        np.asarray(router.score(list(prompts[i : i + batch_size])), dtype=np.float64)
        for i in range(0, len(prompts), batch_size)
    ]
    scores = np.concatenate(parts)
    return Calibration(
        router=name,
        n_prompts=len(prompts),
        source=source,
        thresholds={float(s): calibrate_threshold(scores, s) for s in shares},
        scores=tuple(float(s) for s in scores),
    )


def save_calibrations(path: Path | str, calibrations: Sequence[Calibration]) -> None:
    """Write calibrations as one JSON file ``{"calibrations": [...]}``.

    Args:
        path: Target file.
        calibrations: Calibrations to store.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"calibrations": [c.to_json() for c in calibrations]}
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


def load_calibrations(path: Path | str) -> dict[str, Calibration]:
    """Read a file written by `save_calibrations`.

    Args:
        path: Calibration file.

    Returns:
        Router name -> calibration.

    Raises:
        DataError: Missing or malformed file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read calibration file {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("calibrations"), list):
        raise DataError(f"{str(path)!r}: expected {{'calibrations': [...]}}")
    out: dict[str, Calibration] = {}
    for item in data["calibrations"]:
        if not isinstance(item, dict):
            raise DataError(f"{str(path)!r}: each calibration must be an object")
        calibration = Calibration.from_json(item)
        out[calibration.router] = calibration
    return out
