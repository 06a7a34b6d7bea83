"""Micro-batched scoring: concurrent requests share one `Router.score` call."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from prefroute.errors import UpstreamError

if TYPE_CHECKING:
    from prefroute.routers.base import Router

__all__ = ["ScoreBatcher"]


class ScoreBatcher:
    """Collects prompts from concurrent async callers and scores them in one batch.

    Adaptive ("natural") batching: while a batch is being scored, new prompts queue
    and are scored together as soon as it finishes, so batches grow with load and an
    idle server adds no wait. When idle, a batch is flushed `window_s` after its first
    prompt (0 = on the next event-loop turn) or as soon as it holds `max_batch`.
    Scoring runs in `executor` (one worker thread is enough: ONNX and
    numpy release the GIL and use their own threads). The last `cache_size` prompt
    scores are kept (LRU), so retried or repeated prompts are not embedded again.
    """

    def __init__(
        self,
        router: Router,
        *,
        window_s: float = 0.002,
        max_batch: int = 64,
        executor: ThreadPoolExecutor | None = None,
        cache_size: int = 0,
        score_fn: Callable[[list[str]], Sequence[Any]] | None = None,
    ) -> None:
        """Create a batcher for one router.

        Args:
            router: The router whose `score` is called.
            window_s: Collection window in seconds.
            max_batch: Largest batch.
            executor: Where `score` runs (default: a private single thread).
            cache_size: Scores remembered per prompt (0 = no cache).
            score_fn: Batch function to call instead of `router.score` (one result
                per prompt, returned as is by `value`; e.g. an N-model router's
                per-model qualities).
        """
        self.router = router
        self.score_fn = score_fn
        self.window_s = window_s
        self.max_batch = max_batch
        self._executor = executor or ThreadPoolExecutor(
            1, thread_name_prefix="prefroute-score"
        )
        self._pending: list[tuple[str, asyncio.Future[Any]]] = []
        self._timer: asyncio.Handle | None = None
        self._busy = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.n_batches = 0
        self.n_prompts = 0
        self.n_cache_hits = 0
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Any] = OrderedDict()

    async def score(self, prompt: str) -> float:
        """Score one prompt, batched with concurrent calls.

        Args:
            prompt: The prompt.

        Returns:
            Its score in [0, 1].
        """
        return float(await self.value(prompt))

    async def value(self, prompt: str) -> Any:
        """The batch function's result for one prompt, batched with concurrent calls.

        Args:
            prompt: The prompt.

        Returns:
            `router.score`'s float, or `score_fn`'s item for this prompt.
        """
        if self.cache_size:
            cached = self._cache.get(prompt)
            if cached is not None:
                self._cache.move_to_end(prompt)
                self.n_cache_hits += 1
                return cached
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((prompt, future))
        if not self._busy:
            if len(self._pending) >= self.max_batch:
                self._flush()
            elif self._timer is None:
                # window 0: flush on the next loop turn, so requests parsed in the
                # same turn still share a batch.
                self._timer = (
                    loop.call_later(self.window_s, self._on_timer)
                    if self.window_s > 0
                    else loop.call_soon(self._on_timer)
                )
        return await future

    def _on_timer(self) -> None:
        self._timer = None
        if not self._busy:
            self._flush()

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        batch = self._pending[: self.max_batch]
        self._pending = self._pending[self.max_batch :]
        self._busy = True
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[str, asyncio.Future[Any]]]) -> None:
        loop = asyncio.get_running_loop()
        prompts = [prompt for prompt, _ in batch]
        try:
            if self.score_fn is not None:
                results = await loop.run_in_executor(
                    self._executor, self.score_fn, prompts
                )
                values: list[Any] = list(results)
            else:
                scores = await loop.run_in_executor(
                    self._executor, self.router.score, prompts
                )
                values = [float(s) for s in scores]
            if len(values) != len(prompts):
                raise UpstreamError(
                    f"router {self.router.name!r} returned {len(values)} scores for "
                    f"{len(prompts)} prompts"
                )
        except Exception as exc:  # a router failure must reach every waiting caller
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (prompt, future), value in zip(batch, values, strict=True):
                if not future.done():
                    future.set_result(value)
                if self.cache_size:
                    self._cache[prompt] = value
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        finally:
            self.n_batches += 1
            self.n_prompts += len(prompts)
            self._busy = False
            if self._pending:
                self._flush()

    def close(self) -> None:
        """Stop the worker thread (pending calls are not cancelled)."""
        self._executor.shutdown(wait=False, cancel_futures=False)
