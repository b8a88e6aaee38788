"""The training thread defers Python's garbage collection (a full pass freezes the GUI)."""

from __future__ import annotations

import gc
import weakref

import pytest

from app.worker import collection_deferred


class Node:
    def __init__(self) -> None:
        self.partner: Node | None = None


def cycle() -> weakref.ref:
    first, second = Node(), Node()
    first.partner, second.partner = second, first
    return weakref.ref(first)


@pytest.fixture
def gc_enabled():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_no_automatic_collection_inside_and_the_run_garbage_is_collected_after(gc_enabled) -> None:
    with collection_deferred():
        assert not gc.isenabled()
        garbage = cycle()
        alive = [Node() for _ in range(50_000)]  # far past generation 0's threshold
        assert garbage() is not None  # nothing collected the cycle while deferred
    assert gc.isenabled()
    assert garbage() is None
    del alive


def test_the_same_allocations_without_deferral_collect_the_cycle(gc_enabled) -> None:
    garbage = cycle()
    alive = [Node() for _ in range(50_000)]
    assert garbage() is None  # so the first test's check could fail
    del alive


def test_restores_a_disabled_collector_and_survives_errors(gc_enabled) -> None:
    gc.disable()
    with pytest.raises(RuntimeError), collection_deferred():
        garbage = cycle()
        raise RuntimeError("training failed")
    assert not gc.isenabled()
    assert garbage() is None
