"""Background prefetching: the iterator's order, its errors where they happen, and a producer that stops with the caller."""

import threading

import pytest

from safety_harness.core.prefetch import prefetched


def test_items_arrive_in_order_whatever_the_depth():
    for depth in (1, 3, 50):
        assert list(prefetched(iter(range(20)), depth)) == list(range(20))
    assert list(prefetched([])) == []


def test_items_are_produced_in_another_thread_ahead_of_the_caller():
    produced = []

    def items():
        for index in range(3):
            produced.append(threading.current_thread().name)
            yield index

    iterator = prefetched(items())
    assert next(iterator) == 0
    assert set(produced) == {"prefetch"}
    assert list(iterator) == [1, 2]


def test_an_error_while_producing_reaches_the_caller_at_that_item():
    def items():
        yield 1
        raise ValueError("image 2 is broken")

    iterator = prefetched(items())
    assert next(iterator) == 1
    with pytest.raises(ValueError, match="image 2 is broken"):
        next(iterator)


def test_a_caller_that_stops_early_stops_the_producer():
    produced = []

    def items():
        for index in range(1000):
            produced.append(index)
            yield index

    for item in prefetched(items(), depth=2):
        if item == 5:
            break
    assert len(produced) <= 5 + 1 + 2 + 1  # what was taken, the queue, and one in the producer's hands
    assert not any(thread.name == "prefetch" for thread in threading.enumerate())


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        next(prefetched([1], depth=0))
