"""Webhook lanes: a destination gets at most its share of senders; others are not held up."""

from __future__ import annotations

import threading

from asyncml.worker.lanes import Lanes, destination


def test_destinations_are_scheme_host_and_port() -> None:
    assert destination("https://Hooks.example.com/a?x=1") == "https://hooks.example.com:443"
    assert destination("http://127.0.0.1:8080/b") == "http://127.0.0.1:8080"
    assert destination("http://127.0.0.1:8080/c") == destination("http://127.0.0.1:8080/b")


def test_a_hanging_destination_holds_only_its_own_lane() -> None:
    lanes = Lanes(threads=8, per_lane=2)
    release = threading.Event()
    started: list[int] = []
    lock = threading.Lock()
    two_started, all_started = threading.Event(), threading.Event()
    healthy = threading.Event()

    def hang(n: int) -> None:
        with lock:
            started.append(n)
            if len(started) == 2:
                two_started.set()
            if len(started) == 5:
                all_started.set()
        release.wait(30)

    try:
        for n in range(5):
            lanes.submit("http://slow:80", lambda n=n: hang(n))
        assert two_started.wait(10)
        lanes.submit("http://fine:80", healthy.set)
        # The healthy send runs while both slow senders still hang...
        assert healthy.wait(10)
        # ... and the slow lane never had more than two at a time: the rest wait their turn.
        with lock:
            assert sorted(started) == [0, 1]
    finally:
        release.set()
    assert all_started.wait(10)  # once they return, the rest of the lane runs
