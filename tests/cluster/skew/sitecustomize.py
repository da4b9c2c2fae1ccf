"""Puts this process's wall clock ``ASYNCML_CLUSTER_SKEW_S`` seconds off (cluster tests).

A worker started with this directory on ``PYTHONPATH`` imports it before anything else, and
so do the processes it starts (they inherit the environment): ``time.time()`` and
``time.time_ns()``, the clock asyncml, kombu and redis-py read, are shifted; monotonic
clocks, which only measure intervals, are not. libfaketime would shift the C library's
clock instead, but with a true monotonic clock (``FAKETIME_DONT_FAKE_MONOTONIC``) Debian
12's 0.9.10 makes Python 3.11's ``time.sleep`` fail with EINVAL, and with a shifted one
timed waits of threads hang.
"""

import os
import time

_skew = float(os.environ.get("ASYNCML_CLUSTER_SKEW_S") or 0)
if _skew:
    _time, _time_ns = time.time, time.time_ns
    time.time = lambda: _time() + _skew
    time.time_ns = lambda: _time_ns() + int(_skew * 1e9)
