"""The server's line: at most ``at_once`` at a time, first come first served, places known, and a
waiter that gives up leaves the line. Threads only; no model."""

from __future__ import annotations

import threading

import pytest

from dasag.app.run_queue import RunQueue, server_queue


def test_one_at_a_time_in_the_order_asked_with_places() -> None:
    queue = RunQueue(1)
    a, b, c = queue.join(), queue.join(), queue.join()
    assert [queue.place(t) for t in (a, b, c)] == [1, 2, 3]
    assert queue.wait(a)
    assert queue.running == 1 and [queue.place(t) for t in (a, b, c)] == [None, 1, 2]
    started: list[str] = []
    waiters = [threading.Thread(target=lambda t=t, n=n: queue.wait(t) and started.append(n)) for t, n in ((c, "c"), (b, "b"))]
    for w in waiters:
        w.start()
    waiters[0].join(0.3)
    assert started == [] and queue.running == 1  # c waits behind b, b behind a
    queue.leave(a)
    waiters[1].join(10)
    assert started == ["b"] and queue.place(c) == 1
    queue.leave(b)
    waiters[0].join(10)
    assert started == ["b", "c"] and queue.waiting == 0


def test_two_at_once_when_allowed() -> None:
    queue = RunQueue(2)
    a, b, c = queue.join(), queue.join(), queue.join()
    assert queue.wait(a) and queue.wait(b)
    assert queue.running == 2 and queue.place(c) == 1
    assert not queue.wait(c, given_up=lambda: True)  # gives up rather than wait for a turn
    assert queue.place(c) is None and queue.waiting == 0


def test_a_waiter_that_gives_up_leaves_and_the_next_moves_up() -> None:
    queue = RunQueue(1)
    holder, quitter, next_one = queue.join(), queue.join(), queue.join()
    assert queue.wait(holder)
    gone = threading.Event()
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(queue.wait(quitter, given_up=gone.is_set, poll=0.05)))
    t.start()
    gone.set()  # its tab closed
    t.join(10)
    assert result == [False] and queue.place(next_one) == 1
    queue.leave(holder)
    assert queue.wait(next_one)


def test_the_server_has_one_line_and_bad_sizes_are_refused() -> None:
    assert server_queue(1) is server_queue(3)  # made once per process, whatever a later call asks
    with pytest.raises(ValueError, match="at least 1"):
        RunQueue(0)
