"""Measurement tools for ``reproduce/bench.py``: peak, FLOPs, step time, scorer time, memory.

Kept apart from the bench script so each piece is tested on its own and the numbers mean
one thing:

* :func:`matmul_peak` — the device's reference: TFLOP/s of a large square matrix product
  (bf16 on a GPU, fp32 on CPU), measured here rather than read from a data sheet.
* :func:`count_step_flops` — matmul/conv FLOPs of one ascent step (forward and backward),
  counted by ``torch.utils.flop_counter.FlopCounterMode``: *model* FLOPs, the same for every
  speed switch (recomputation by activation checkpointing is not useful work).
* :class:`StepClock` — wall time of the timed steps, with one device sync before the first
  and one after the last, so GPU work queued by the step is counted and nothing else waits.
* :func:`scorer_seconds` — the scorer's own forward+backward on the same augmented batch:
  what the step costs minus this is the time outside the scorer.
* :class:`PeakRSS` — peak resident memory on CPU (sampled), the analogue of
  ``torch.cuda.max_memory_allocated``.
* :class:`RandomSigLIP` — SigLIP so400m with random weights: the same architecture and cost
  as ``google/siglip-so400m-patch14-384`` without downloading it (timing needs no weights).
"""

from __future__ import annotations

import hashlib
import os
import statistics
import threading
import time
import warnings
from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from dasag.perf import HostSyncCounter
from dasag.scorers.aesthetic_head import AestheticHead
from dasag.scorers.hf_common import Attention, Dtype, ImageInput, choose_attention, resolve_dtype
from dasag.scorers.siglip import SigLIP


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

    Runs ``module.ascent_terms`` at ``step`` and back-propagates to the pyramid under
    ``FlopCounterMode``; the pyramid's gradients are cleared afterwards. Count on an eager
    run with ``attn_implementation=eager``: the counter knows the matrix products of eager
    attention on every device, not every fused attention kernel.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        terms = module.ascent_terms(module.plan_at(step))
        terms.loss.sum().backward()
    module.pyramid.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


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
    device-to-host reads: :class:`~dasag.perf.HostSyncCounter` on every device, plus
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
    copies = module.render_and_augment(module.plan_at(step))[1].detach().requires_grad_(True)

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

    def __enter__(self) -> "PeakRSS":
        self.peak = current_rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, current_rss())


# --------------------------------------------------------- random so400m
#: Vision tower of google/siglip-so400m-patch14-384 (its config.json), and a tiny one for tests.
VISION_SIZES: dict[str, dict[str, int]] = {
    "so400m": {"hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27, "num_attention_heads": 16, "patch_size": 14, "image_size": 384},
    "tiny": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 4, "num_attention_heads": 2, "patch_size": 8, "image_size": 32},
}


class RandomSigLIP(SigLIP):
    """SigLIP + an Aesthetic-Predictor-shaped head, randomly initialised, for benchmarks.

    The cost of a step does not depend on the weights' values, so this has the cost of the
    real so400m scorer. The text tower is one tiny layer: prompts are encoded once and
    cached, so its size never enters a step; prompt embeddings are fixed random unit
    vectors derived from the prompt text.
    """

    name = "siglip_random"

    def __init__(
        self,
        size: Literal["so400m", "tiny"] = "so400m",
        aesthetic: bool = True,
        attn_implementation: Attention = "auto",
        dtype: Dtype = "auto",
        seed: int = 0,
    ) -> None:
        """
        Args:
            size: ``so400m`` (the DAS-AG v2 vision tower) or ``tiny`` (for tests).
            aesthetic: add a V2.5-shaped head (width -> 1024 -> 128 -> 64 -> 16 -> 1).
            attn_implementation: as for :class:`~dasag.scorers.SigLIP`.
            dtype: model weights dtype, as for :class:`~dasag.scorers.SigLIP`.
            seed: initialisation seed.
        """
        if size not in VISION_SIZES:
            raise ValueError(f"RandomSigLIP size must be one of {', '.join(VISION_SIZES)}; got {size!r}.")
        super().__init__(model=f"random:{size}", aesthetic_head=None, aesthetic=False, attn_implementation=attn_implementation, dtype=dtype)
        self.size = size
        self.with_head = aesthetic
        self.seed = seed

    def check_weights(self) -> None:
        """Nothing to find on disk."""

    def _load(self) -> None:
        from transformers import SiglipConfig, SiglipModel

        vision = VISION_SIZES[self.size]
        width = vision["hidden_size"]
        text = {"hidden_size": width, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 1,
                "vocab_size": 64, "max_position_embeddings": 16, "projection_size": width}
        dtype = resolve_dtype(self.dtype_name)
        attention = choose_attention(self.attn_implementation, SiglipModel, dtype)
        torch.manual_seed(self.seed)
        self.model = SiglipModel._from_config(SiglipConfig(text_config=text, vision_config=vision), attn_implementation=attention, dtype=dtype).eval()
        self.attention, self.model_dtype = attention, dtype
        self.image_input = ImageInput(size=vision["image_size"], mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), mode="bicubic")
        self.input_size = vision["image_size"]
        self.register_buffer("pixel_mean", torch.full((1, 3, 1, 1), 0.5), persistent=False)
        self.register_buffer("pixel_std", torch.full((1, 3, 1, 1), 0.5), persistent=False)
        if self.with_head:
            self.head = AestheticHead([width, 1024, 128, 64, 16, 1])  # fp32, like a loaded head

    def _embed_texts(self, prompts: list[str]) -> Tensor:
        width = VISION_SIZES[self.size]["hidden_size"]
        rows = []
        for p in prompts:
            g = torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(p.encode()).digest()[:7], "big"))
            rows.append(torch.randn(width, generator=g))
        emb = torch.stack(rows) if rows else torch.zeros(0, width)
        return F.normalize(emb, dim=-1).to(self.device)
