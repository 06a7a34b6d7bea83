"""Plot quality against strong-call share for an `EvalReport` (needs matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from prefroute.errors import MissingDependencyError

if TYPE_CHECKING:
    from prefroute.evals.harness import EvalReport

__all__ = ["plot_report"]


def plot_report(
    report: EvalReport, path: Path | str, *, title: str | None = None
) -> Path:
    """Write a PNG: one line per router (exact curve; legend with APGR), the paper's
    10-bin points as markers, the strong and weak models' quality as dashed lines,
    and the optimal router's curve.

    Args:
        report: The evaluation report.
        path: Output PNG path (parent folders are created).
        title: Plot title; default names the benchmark.

    Returns:
        The path written.

    Raises:
        MissingDependencyError: matplotlib is not installed (extra `plots`).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError("matplotlib", "plots", "plotting") from exc

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    try:
        for name, result in report.routers.items():
            apgr = result.metrics["APGR"]
            (line,) = ax.plot(
                100 * result.curve.strong_share,
                result.curve.quality,
                label=f"{name} (APGR {apgr:.3f})",
                linewidth=1.4,
            )
            ax.plot(
                100 * result.curve_10bin.strong_share,
                result.curve_10bin.quality,
                linestyle="none",
                marker=".",
                color=line.get_color(),
            )
        ax.plot(
            100 * report.optimal_curve.strong_share,
            report.optimal_curve.quality,
            color="black",
            linestyle=":",
            label=f"optimal (APGR {report.optimal_metrics['APGR']:.3f})",
        )
        ax.axhline(
            report.strong_quality,
            color="red",
            linestyle="--",
            label=report.strong_model,
        )
        ax.axhline(
            report.weak_quality, color="grey", linestyle="--", label=report.weak_model
        )
        ax.set_xlabel("Strong model calls (%)")
        ax.set_ylabel("Quality")
        ax.set_xlim(0, 100)
        ax.set_title(
            title
            or f"Quality vs strong-model calls ({report.benchmark}, "
            f"n={report.n_prompts})"
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
    return path
