"""gc_paused: no collection inside, the collector as it was afterwards, even on an error."""

from __future__ import annotations

import gc

import pytest

from r1v4._util.gcpause import gc_paused


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
