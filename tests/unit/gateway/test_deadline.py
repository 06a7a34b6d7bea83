"""`Deadline` / `Deadlines`: a guard that ends work at the deadline, and the drain."""

from __future__ import annotations

import asyncio

import pytest

from prefroute.gateway.deadline import DeadlineExceededError, Deadlines


def test_guard_raises_at_the_deadline() -> None:
    async def run() -> None:
        deadline = Deadlines(0.05).start()
        async with deadline.guard():
            await asyncio.sleep(5)

    with pytest.raises(DeadlineExceededError) as info:
        asyncio.run(run())
    assert info.value.code == "deadline_exceeded"


def test_guard_lets_work_within_the_deadline_finish() -> None:
    async def run() -> str:
        deadline = Deadlines(5).start()
        async with deadline.guard():
            await asyncio.sleep(0.01)
        return "done"

    assert asyncio.run(run()) == "done"


def test_other_timeouts_are_not_mistaken_for_the_deadline() -> None:
    async def run() -> None:
        async with Deadlines(5).start().guard():
            raise TimeoutError("someone else's")

    with pytest.raises(TimeoutError, match="someone else's"):
        asyncio.run(run())


def test_drain_shortens_running_and_later_requests() -> None:
    async def run() -> tuple[float, str, float]:
        deadlines = Deadlines(600)
        running = deadlines.start()
        started = asyncio.get_running_loop().time()
        task = asyncio.ensure_future(_guarded_sleep(running))
        await asyncio.sleep(0.01)
        deadlines.shorten_all(0.05)
        try:
            await task
        except DeadlineExceededError as exc:
            code = exc.code
        elapsed = asyncio.get_running_loop().time() - started
        later = deadlines.start()
        return elapsed, code, later.remaining()

    elapsed, code, remaining = asyncio.run(run())
    assert elapsed < 1.0
    assert code == "server_shutting_down"
    assert remaining < 0.1


async def _guarded_sleep(deadline: object) -> None:
    async with deadline.guard():  # type: ignore[attr-defined]
        await asyncio.sleep(5)


def test_finished_requests_are_forgotten() -> None:
    async def run() -> int:
        deadlines = Deadlines(1)
        deadline = deadlines.start()
        deadlines.end(deadline)
        deadlines.end(deadline)
        return len(deadlines)

    assert asyncio.run(run()) == 0
