"""The model bench/batching.py serves: a small numpy MLP behind a fixed per-call cost.

Three copies of one task, batched at ``max_size`` 1, 8 and 32 (queues ``bench-b1``,
``bench-b8``, ``bench-b32``), so one run compares them side by side. Each ``run_batch``
stacks its inputs into one matrix and runs the MLP once (real numpy work, per item), after
a fixed wait of ``BENCH_CALL_MS`` milliseconds per call (default 20): what an accelerator
costs per call whatever the batch (launch, transfer, synchronisation), and what batching
amortises. ``BENCH_MAX_WAIT_MS`` (default 10) is each task's ``max_wait_ms``.

Loaded by the bench's workers with ``--tasks batch_model`` (``bench/`` on PYTHONPATH).
"""

from __future__ import annotations

import os
import time

import numpy as np
from pydantic import BaseModel, Field

import asyncml

FEATURES, HIDDEN, CLASSES = 64, 256, 10
CALL_S = float(os.environ.get("BENCH_CALL_MS", "20")) / 1000
MAX_WAIT_MS = int(os.environ.get("BENCH_MAX_WAIT_MS", "10"))


class Features(BaseModel):
    values: list[float] = Field(min_length=FEATURES, max_length=FEATURES)


class Label(BaseModel):
    label: int
    score: float
    batch: int


class MLP:
    """Two hidden layers with fixed random weights: the same answers in every process."""

    def setup(self) -> None:
        rng = np.random.default_rng(16)
        self.layers = [
            (rng.standard_normal((a, b)).astype(np.float32) / np.sqrt(a), np.zeros(b, np.float32))
            for a, b in ((FEATURES, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, CLASSES))
        ]

    def run_batch(self, inputs: list[Features], ctx: asyncml.BatchContext) -> list[Label]:
        time.sleep(CALL_S)  # the fixed cost of one call, whatever its size
        x = np.asarray([item.values for item in inputs], dtype=np.float32)
        for i, (weights, bias) in enumerate(self.layers):
            x = x @ weights + bias
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0)
        x = np.exp(x - x.max(axis=1, keepdims=True))
        probs = x / x.sum(axis=1, keepdims=True)
        best = probs.argmax(axis=1)
        return [
            Label(label=int(b), score=float(p[b]), batch=len(inputs))
            for b, p in zip(best, probs, strict=True)
        ]


def _batched(size: int) -> type:
    cls = type(f"MLP{size}", (MLP,), {"__doc__": f"The bench MLP, batched up to {size}."})
    batch = asyncml.Batch(max_size=size, max_wait_ms=MAX_WAIT_MS)
    return asyncml.task(f"bench.mlp{size}", queue=f"bench-b{size}", batch=batch)(cls)


MLP1, MLP8, MLP32 = _batched(1), _batched(8), _batched(32)
