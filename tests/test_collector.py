"""The cycle collector is paused inside `collector.paused()` and restored to how it was found."""

from __future__ import annotations

import gc

from modelplane import collector


def test_paused_then_enabled_again_even_after_an_error() -> None:
    assert gc.isenabled()
    try:
        with collector.paused():
            assert not gc.isenabled()
            with collector.paused():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the inner use found it paused, so leaves it paused
            raise RuntimeError
    except RuntimeError:
        pass
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
