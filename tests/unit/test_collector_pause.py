"""The cyclic collector paused while tiers start: off until the last start-up in the process ends,
then one collection, and back as it was."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from models_server.engines.startup import CollectorPause


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_paused_while_starting_then_collected_and_on_again(collector_on: None) -> None:
    pause = CollectorPause()
    with pause():
        assert not gc.isenabled()
        gc.collect()
        dropped = weakref.ref(Node())
        assert dropped() is not None  # no collection frees it while paused
    assert gc.isenabled()
    assert dropped() is None  # the start-up's garbage is collected when it ends


def test_two_start_ups_overlapping_keep_it_paused_until_the_last_ends(collector_on: None) -> None:
    pause = CollectorPause()
    first_in, second_done = threading.Event(), threading.Event()
    seen: list[bool] = []

    def second() -> None:
        first_in.wait(5)
        with pause():
            pass
        seen.append(gc.isenabled())  # the first start-up is still running
        second_done.set()

    thread = threading.Thread(target=second)
    thread.start()
    with pause():
        first_in.set()
        second_done.wait(5)
    thread.join(5)
    assert seen == [False]
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off(collector_on: None) -> None:
    gc.disable()
    with CollectorPause()():
        pass
    assert not gc.isenabled()


def test_a_failed_start_up_still_turns_it_back_on(collector_on: None) -> None:
    with pytest.raises(RuntimeError), CollectorPause()():
        raise RuntimeError("loading broke")
    assert gc.isenabled()
