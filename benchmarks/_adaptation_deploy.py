"""The two ways `adaptation.py` writes a request log (the real server, or the store
API with the server's decision rule), and running ``prefroute adapt``."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefroute.gateway.explore import Explorer
from prefroute.gateway.store import (
    FeedbackRecord,
    RequestRecord,
    open_store,
    prompt_hash,
)
from prefroute.routers.registry import load_router

__all__ = [
    "ADAPT_OPTIONS",
    "LAST_ADAPT_OUTPUT",
    "ServerLog",
    "StoreLog",
    "face_value_outcome",
    "load_cached",
    "run_adapt",
]

ROOT = Path(__file__).resolve().parents[1]
# The last `prefroute adapt` output (for a look when something fails).
LAST_ADAPT_OUTPUT: list[str] = []


def face_value_outcome() -> None:
    """Ablation (``--outcome levels``): the gain correction's outcome model is the
    levels alone, the starting logit at face value (`face_value_levels`), for the fit's
    doubly robust gains and the guard's, instead of `gain_outcome`'s slope learned
    from the log. Patches this process's `prefroute.routers._pair_heads`."""
    from prefroute.routers import _pair_heads

    _pair_heads.gain_outcome = lambda labels, penalty=0.0: (  # type: ignore[assignment]
        _pair_heads.face_value_levels(labels)
    )


def load_cached(folder: Path, embedder: Any) -> Any:
    """A router folder scoring through the embedding cache."""
    return load_router(folder, embedder=embedder)


# -- deployments ----------------------------------------------------------------------


#: Extra ``prefroute adapt`` options of every run (the guard rule under test).
ADAPT_OPTIONS: list[str] = []


def run_adapt(
    start: Path, log: Path, out: Path, seed: int, report: Path | None = None
) -> bool:
    """``prefroute adapt`` (the CLI, in process, with `ADAPT_OPTIONS`); True when it
    wrote `out`."""
    from prefroute.cli import build_app

    args = [
        "adapt", "--router", str(start), "--log", str(log), "--out", str(out),
        "--bootstrap", "300", "--seed", str(seed), *ADAPT_OPTIONS,
    ]  # fmt: skip
    if report is not None:
        args += ["--json", str(report)]
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            code = build_app()(args, standalone_mode=False)
    except SystemExit as exc:  # typer.Exit through click
        code = exc.code
    LAST_ADAPT_OUTPUT[:] = [buffer.getvalue()]
    return code in (None, 0)


@dataclass
class StoreLog:
    """Writes what the server would log for each request, through the store API."""

    path: Path
    explore: float
    seed: int
    candidates: tuple[str, ...]
    n: int = 0
    _explorer: Explorer = field(init=False)

    def __post_init__(self) -> None:
        self._explorer = Explorer(self.explore, seed=self.seed)

    def serve(
        self,
        prompts: Sequence[str],
        picks: Sequence[str],
        quality: Any,
        cost: Any,
        *,
        threshold: float | None = None,
        scores: Sequence[float] | None = None,
        knob: float | None = None,
    ) -> list[str]:
        """Log the requests (after exploration) and their feedback.

        Returns:
            The model that answered each request.
        """
        store = open_store(self.path)
        answered: list[str] = []
        try:
            records, feedback = [], []
            for i, (prompt, pick) in enumerate(zip(prompts, picks, strict=True)):
                choice = self._explorer.choose(pick, self.candidates)
                rid = f"{self.seed:04d}{self.n:08d}"
                self.n += 1
                records.append(
                    RequestRecord(
                        request_id=rid,
                        ts=1.8e9 + self.n,
                        router="bench",
                        threshold=threshold,
                        strong_share=None,
                        budget=None,
                        knob=knob,
                        score=None if scores is None else float(scores[i]),
                        scores=None,
                        candidates=list(self.candidates),
                        routed_model=choice.model,
                        policy_model=pick,
                        is_fallback=False,
                        is_exploration=choice.is_exploration,
                        propensity=choice.propensity,
                        status=200,
                        latency_ms=1.0,
                        prompt_tokens=None,
                        completion_tokens=None,
                        cost_usd=None
                        if cost is None
                        else float(cost(prompt, choice.model)),
                        prompt_hash=prompt_hash(prompt),
                        prompt=prompt,
                    )
                )
                feedback.append(
                    FeedbackRecord(
                        rid, float(quality(prompt, choice.model)), "user", 1.9e9
                    )
                )
                answered.append(choice.model)
            store.write_requests(records)
            for f in feedback:
                store.put_feedback(f)
        finally:
            store.close()
        return answered


class ServerLog:
    """The real path: prefroute's server with the request log, a fake upstream."""

    def __init__(
        self,
        work: Path,
        served: Path,
        strong: str,
        weak: str,
        explore: float,
        seed: int,
    ) -> None:
        sys.path.insert(0, str(ROOT / "tests" / "integration"))
        from fake_upstream import FakeUpstream, RunningServer

        from prefroute.serve.app import create_app
        from prefroute.serve.config import ServeConfig

        self.path = work / "server-log.db"
        self.upstream = FakeUpstream(record=False).start()
        config = ServeConfig.model_validate(
            {
                "strong": {"model": strong, "base_url": self.upstream.base_url},
                "weak": {"model": weak, "base_url": self.upstream.base_url},
                "routers": {"bench": str(served)},
                "fallback": False,
                "log": str(self.path),
                "log_prompts": True,
                "explore": explore,
                "explore_seed": seed,
                "admin_api_keys": ["bench-admin"],
            }
        )
        self.server = RunningServer(create_app(config))
        import httpx

        self.http = httpx.Client(base_url=self.server.url, timeout=120)

    def serve(
        self, prompts: Sequence[str], threshold: float, quality: Any
    ) -> list[str]:
        """Send each prompt through the server, then its feedback; who answered."""
        answered = []
        for prompt in prompts:
            reply = self.http.post(
                "/v1/chat/completions",
                json={
                    "model": f"router-bench-{threshold:.12f}",
                    "messages": [{"role": "user", "content": prompt}],
                },
            )
            reply.raise_for_status()
            model = reply.headers["x-prefroute-routed-to"]
            rid = reply.headers["x-prefroute-request-id"]
            ok = self.http.post(
                "/v1/feedback",
                json={
                    "request_id": rid,
                    "score": float(quality(prompt, model)),
                    "source": "user",
                },
            )
            ok.raise_for_status()
            answered.append(model)
        return answered

    def reload(self) -> None:
        """``POST /admin/reload``."""
        reply = self.http.post(
            "/admin/reload", headers={"Authorization": "Bearer bench-admin"}
        )
        reply.raise_for_status()

    def close(self) -> None:
        """Stop the server and the upstream."""
        self.http.close()
        self.server.stop()
        self.upstream.stop()
