"""The landing step of a batch (`r1v4.batch.landing.Landings`): every finished case is
landed, in the order it finished, only once its worker has yielded (its next request has
gone out); a landing that may wait gets a task of its own, so waits overlap; a landing that
fails stops the batch with its error."""

from __future__ import annotations

import asyncio

import pytest

from r1v4.batch.landing import Landings


def test_cases_land_in_order_and_only_after_their_worker_yields() -> None:
    events: list[str] = []

    async def land(item: str) -> None:
        events.append(f"land {item}")

    async def main() -> None:
        async with asyncio.TaskGroup() as group:
            landings: Landings[str] = Landings(group, land, lambda item: False)
            group.create_task(landings.run())

            async def worker(name: str) -> None:
                for k in range(3):
                    await asyncio.sleep(0)  # its request
                    landings.put(f"{name}{k}")
                    events.append(f"next {name}{k + 1}")  # its next request goes out first

            await asyncio.gather(worker("a"), worker("b"))
            landings.close()

    asyncio.run(main())
    landed = [e.removeprefix("land ") for e in events if e.startswith("land ")]
    assert sorted(landed) == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert [x for x in landed if x[0] == "a"] == ["a0", "a1", "a2"]  # each worker's in order
    for item in landed:  # never before its worker went on
        nxt = f"next {item[0]}{int(item[1]) + 1}"
        assert events.index(nxt) < events.index(f"land {item}")


def test_landings_that_may_wait_overlap_and_all_finish_before_the_group_ends() -> None:
    events: list[str] = []

    async def land(item: str) -> None:
        events.append(f"start {item}")
        await asyncio.sleep(0.01)  # a judge, or images read in a thread
        events.append(f"end {item}")

    async def main() -> None:
        async with asyncio.TaskGroup() as group:
            landings: Landings[str] = Landings(group, land, lambda item: item.startswith("w"))
            group.create_task(landings.run())
            for item in ("w1", "w2", "q1"):
                landings.put(item)
            landings.close()

    asyncio.run(main())
    assert sorted(e for e in events if e.startswith("end")) == ["end q1", "end w1", "end w2"]
    first_end = min(events.index("end w1"), events.index("end w2"))
    assert events.index("start w1") < first_end and events.index("start w2") < first_end


def test_a_landing_that_fails_stops_the_group_with_its_error() -> None:
    async def land(item: str) -> None:
        raise OSError(f"cannot land {item}")

    async def main() -> None:
        async with asyncio.TaskGroup() as group:
            landings: Landings[str] = Landings(group, land, lambda item: False)
            group.create_task(landings.run())
            landings.put("x")
            await asyncio.sleep(3600)  # a worker still running: the failure cancels it

    with pytest.raises(ExceptionGroup) as caught:
        asyncio.run(main())
    assert [str(e) for e in caught.value.exceptions] == ["cannot land x"]


def test_nothing_is_taken_after_close() -> None:
    async def main() -> None:
        async with asyncio.TaskGroup() as group:
            landings: Landings[str] = Landings(group, lambda item: asyncio.sleep(0), bool)
            group.create_task(landings.run())
            landings.close()
            with pytest.raises(RuntimeError, match="after the landings were closed"):
                landings.put("late")

    asyncio.run(main())
