"""Measurement tools of the speed bench (:mod:`dasag.speed.bench`): peak, FLOPs, step time, scorer time, memory.

Kept apart from the bench script so each piece is tested on its own and the numbers mean
one thing:

* :func:`matmul_peak` — the device's reference: TFLOP/s of a large square matrix product
  (bf16 on a GPU, fp32 on CPU), measured here rather than read from a data sheet.
* :func:`count_step_flops` — matmul/conv FLOPs of one ascent step (forward and backward),
  counted by Lightning's ``measure_flops`` (``FlopCounterMode``): *model* FLOPs, the same for
  every speed switch (recomputation by activation checkpointing is not useful work).
* :class:`StepClock` — wall time of the timed steps, with one device sync before the first
  and one after the last, so GPU work queued by the step is counted and nothing else waits.
* :func:`scorer_seconds` — the scorer's own forward+backward on the same augmented batch:
  what the step costs minus this is the time outside the scorer.
* :class:`PeakRSS` — peak resident memory on CPU (sampled), the analogue of
  ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import warnings
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from dasag.run.callbacks import ScheduleAnnealing
from dasag.run.speed_switches import HostSyncCounter


def synchronize(device: torch.device) -> None:
    """Wait for queued device work (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------- peak
def matmul_peak(device: torch.device, dtype: torch.dtype | None = None, size: int | None = None, seconds: float = 1.0) -> dict[str, Any]:
    """TFLOP/s of ``a @ b`` for square matrices: the reference every step is compared with.

    bf16 on CUDA (the tensor-core rate the issue's target is stated in), fp32 on CPU. The
    best of several timed rounds is kept: the peak is what the hardware can do, and other
    processes on a shared machine only ever make a round slower.
    """
    dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
    size = size or (8192 if device.type == "cuda" else 1024)
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, dtype=dtype, generator=g)
    b = torch.randn(size, size, device=device, dtype=dtype, generator=g)
    flops = 2.0 * size**3
    for _ in range(3):
        a @ b
    synchronize(device)
    best, deadline = float("inf"), time.perf_counter() + seconds
    rounds = 0
    while rounds < 3 or time.perf_counter() < deadline:
        reps = 10 if device.type == "cuda" else 2
        synchronize(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        synchronize(device)
        best = min(best, (time.perf_counter() - t0) / reps)
        rounds += 1
    return {"tflops": flops / best / 1e12, "dtype": str(dtype).replace("torch.", ""), "size": size, "threads": torch.get_num_threads()}


# ------------------------------------------------------------------ FLOPs
def count_step_flops(module, step: int = 0) -> int:
    """Matmul/conv FLOPs of one ascent step's forward and backward, counted, not estimated.

    Runs ``module.ascent_terms`` at ``step`` and back-propagates to the pyramid; the
    pyramid's gradients are cleared afterwards. Count on an eager run with
    ``attn_implementation=eager``: the counter knows the matrix products of eager attention
    on every device, not every fused attention kernel.
    """
    from lightning.fabric.utilities.throughput import measure_flops

    flops = measure_flops(module, lambda: module.ascent_terms(ScheduleAnnealing.plan_at(module, step)).loss.sum(), lambda loss: loss)
    module.pyramid.zero_grad(set_to_none=True)
    return int(flops)


# ------------------------------------------------------------------ timing
class StepClock(Callback):
    """Times training steps ``warmup .. warmup+steps-1``.

    ``mean`` is the block's wall time over its step count, with one device sync before the
    first timed step and one after the last, so queued GPU work is counted and the steps
    themselves never wait. ``median`` is the median of the per-step intervals (start of one
    step to start of the next; meaningful on CPU, where nothing is queued): on a machine
    shared with other processes it ignores the steps that were preempted.

    The callback also watches one warm-up step that does not log, from its start to the
    optimiser step (render, augment, score, objective, logging decision, backward), for
    device-to-host reads: :class:`~dasag.run.speed_switches.HostSyncCounter` on every device, plus
    ``torch.cuda.set_sync_debug_mode("warn")`` on a GPU, which also sees syncs made inside
    kernels' host code. The optimiser is left out: Adam keeps its step count on the host.
    """

    def __init__(self, warmup: int, sync_probe_step: int | None = 1) -> None:
        self.warmup = warmup
        self.sync_probe_step = sync_probe_step
        self.marks: list[float] = []
        self.host_syncs: list[str] | None = None
        self._counter: HostSyncCounter | None = None
        self._warnings: Any = None
        self._caught: list[Any] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module, batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        if step == self.warmup:
            synchronize(pl_module.device)
        if step >= self.warmup:
            self.marks.append(time.perf_counter())
        if step == self.sync_probe_step:
            self._counter = HostSyncCounter()
            if pl_module.device.type == "cuda":
                self._warnings = warnings.catch_warnings(record=True)
                self._caught = self._warnings.__enter__()
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
            self._counter.__enter__()

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module, optimizer: Any) -> None:
        if self._counter is None:
            return
        self._counter.__exit__(None, None, None)
        calls = list(self._counter.calls)
        if self._warnings is not None:
            torch.cuda.set_sync_debug_mode("default")
            self._warnings.__exit__(None, None, None)
            calls += [f"cuda: {w.message}" for w in self._caught if "synchroniz" in str(w.message)]
            self._warnings = None
        self.host_syncs, self._counter = calls, None

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        synchronize(pl_module.device)
        if self.marks:
            self.marks.append(time.perf_counter())

    @property
    def steps(self) -> int:
        return max(len(self.marks) - 1, 0)

    @property
    def mean(self) -> float:
        if self.steps < 1:
            raise RuntimeError("StepClock: no timed steps (max_steps must exceed the warm-up).")
        return (self.marks[-1] - self.marks[0]) / self.steps

    @property
    def median(self) -> float:
        if self.steps < 1:
            raise RuntimeError("StepClock: no timed steps (max_steps must exceed the warm-up).")
        return statistics.median(b - a for a, b in zip(self.marks, self.marks[1:]))


class ScorerShare(Callback):
    """Times the scorer's own forward and backward inside each real step (CPU only).

    The share of a step spent outside the scorer is a small difference of two large
    numbers, so timing the scorer separately (:func:`scorer_seconds`) and subtracting is at
    the mercy of other processes on a shared machine. Here both are measured in the same
    step: forward between the scorer's pre-hook and hook; backward from Lightning's
    ``on_before_backward`` to the moment the gradient reaches the scorer's input (a tensor
    hook), which also holds the objective's negligible backward. ``outside`` is the median
    over the timed steps of ``1 - scorer / step interval``. On a GPU work is queued, so
    host timestamps say nothing about the scorer; the callback records nothing there.
    """

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.fractions: list[float] = []
        self.scorer_times: list[float] = []
        self._handles: list[Any] = []
        self._t: dict[str, float] = {}
        self._scorer_time = 0.0
        self._active = False

    def on_train_start(self, trainer: L.Trainer, pl_module) -> None:
        if pl_module.device.type != "cpu":
            return
        self._handles = [pl_module.scorer.register_forward_pre_hook(self._pre), pl_module.scorer.register_forward_hook(self._post)]

    def _pre(self, module, args) -> None:
        if not self._active:
            return
        self._t["fwd"] = time.perf_counter()
        x = args[0] if args else None
        if isinstance(x, Tensor) and x.requires_grad:
            x.register_hook(self._grad_arrived)

    def _post(self, module, args, output) -> None:
        if self._active and "fwd" in self._t:
            self._scorer_time += time.perf_counter() - self._t.pop("fwd")

    def _grad_arrived(self, grad: Tensor) -> None:
        if self._active and "bwd" in self._t:
            self._scorer_time += time.perf_counter() - self._t.pop("bwd")

    def on_before_backward(self, trainer: L.Trainer, pl_module, loss: Tensor) -> None:
        if self._active:
            self._t["bwd"] = time.perf_counter()

    def on_train_batch_start(self, trainer: L.Trainer, pl_module, batch: Any, batch_idx: int) -> None:
        now = time.perf_counter()
        if self._active and "start" in self._t:  # close the previous step: start to start
            self._close_step(now)
        self._active = bool(self._handles) and trainer.global_step >= self.warmup
        self._t, self._scorer_time = {"start": now}, 0.0

    def _close_step(self, now: float) -> None:
        self.scorer_times.append(self._scorer_time)
        self.fractions.append(1.0 - self._scorer_time / (now - self._t["start"]))

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        if self._active and "start" in self._t:
            self._close_step(time.perf_counter())
        for h in self._handles:
            h.remove()
        self._handles, self._active = [], False

    @property
    def outside(self) -> float | None:
        """Median share of a step spent outside the scorer (``None`` when nothing was timed)."""
        return statistics.median(self.fractions) if self.fractions else None

    @property
    def scorer_seconds(self) -> float | None:
        """Median seconds of the scorer's forward+backward per step (``None`` when nothing was timed)."""
        return statistics.median(self.scorer_times) if self.scorer_times else None


def scorer_seconds(module, steps: int, step: int = 0) -> float:
    """Seconds per forward+backward of the scorer alone, on one step's augmented batch.

    Mean of a synced block on a GPU, median call on CPU (the statistic StepClock uses there).

    Same scorer (compiled or checkpointed as configured), same autocast, same batch; the
    gradient goes to the input images only, as in the ascent step. One untimed call first.
    """
    # With grad mode as in training, so a compiled render/augment reuses its graph; the
    # detach frees the render's graph at once.
    copies = module.render_and_augment(ScheduleAnnealing.plan_at(module, step))[1].detach().requires_grad_(True)

    def once() -> Tensor:
        with module.autocast():
            members = module.scorer(copies)
        total = copies.new_zeros(())
        for weight, s in members:
            total = total + weight * (s.positive.float().sum() - s.negative.float().sum())
            if s.aesthetic is not None:
                total = total + s.aesthetic.float().sum()
        (grad,) = torch.autograd.grad(total, copies)
        return grad

    once()
    synchronize(module.device)
    if module.device.type == "cuda":  # queued work: one block between two syncs
        t0 = time.perf_counter()
        for _ in range(steps):
            once()
        synchronize(module.device)
        return (time.perf_counter() - t0) / steps
    times = []  # CPU: the median call, like StepClock.median
    for _ in range(steps):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# ------------------------------------------------------------------ memory
def current_rss() -> int:
    """Resident set size of this process in bytes (Linux ``/proc``; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


class PeakRSS:
    """Samples the RSS every ``interval`` seconds while active; ``peak`` is the largest seen."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak = current_rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, current_rss())
