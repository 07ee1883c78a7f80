"""gc_paused: no collection inside, the collector as it was afterwards, even on an error.
gc_relaxed: the batch's collector settings are its own; the caller's process gets its
thresholds and frozen set back."""

from __future__ import annotations

import gc

import pytest

from r1v4._util.gcpause import BATCH_THRESHOLDS, gc_paused, gc_relaxed


def test_the_collector_is_off_inside_and_back_after() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_comes_back_after_an_error() -> None:
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("bad line")
    assert gc.isenabled()


def test_a_collector_already_off_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_relaxed_block_raises_the_thresholds_and_restores_them() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    with gc_relaxed():
        inside = gc.get_threshold()
        assert inside[0] >= BATCH_THRESHOLDS[0] and inside[1] >= BATCH_THRESHOLDS[1]
        assert inside[2] == before[2]
        assert frozen or gc.get_freeze_count() > 0  # what existed on entry is set aside
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def test_cycles_made_inside_are_still_collected() -> None:
    class Node:
        pass

    with gc_relaxed():
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        assert gc.collect() >= 2
