"""Schedules: a strength as a pure function of the step.

Each schedule is a small frozen object that prints as what it is and can be evaluated at any
step, so a run's whole plan can be printed or plotted before it starts. Step ``t`` runs
from 0 to the last step ``T = total_steps - 1``: the value at the last step is the
schedule's end point, which is what "anneal to zero by the end" has to mean.

The formulas are the DAS-AG v2 ones (``DESIGN.md``)::

    linear:             start + (end - start) * t / T
    exponential_decay:  (start - end) * (1 - r)^t + end
    exponential_warmup: (end - start) * (1 - r)^(T - t) + start - (end - start) * (1 - r)^T
    cosine:             end + (start - end) * (1 + cos(pi * t / T)) / 2

The learning rate is a schedule too: :class:`ScheduledLR` multiplies the optimiser's lr by
one (``Cosine(1.0, 0.01)`` by default, DAS-AG v2's cosine annealing to 1 % of the lr).

The warmup formula starts exactly at ``start`` but stops short of ``end`` by
``(end - start) * (1 - r)^T`` (6 px of jitter at T = 99, r = 0.03; 9 px under DAS-AG v2's own
time base, where T is the number of steps: its "anneals to zero" never reaches zero).
``exact_end=True`` rescales it so the last step is exactly ``end``; the jitter schedule uses that.

Time base: a schedule called with ``total_steps = N`` puts its end point at step N - 1. DAS-AG v2
evaluated its schedules at t / N instead; ``DirectAscent(schedule_time_base="steps")`` gives
that by evaluating every schedule over N + 1 steps (docs/fidelity.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from dasag.core.ranges import SCHEDULE_VALUE


class Schedule:
    """Base class: ``schedule(step, total_steps) -> float``."""

    #: The fields that are values the schedule takes (checked against SCHEDULE_VALUE).
    VALUE_FIELDS = ("value", "start", "end")

    def __post_init__(self) -> None:
        """Each value field finite and inside :data:`~dasag.core.ranges.SCHEDULE_VALUE` (a weight
        of 1e308 or inf would overflow in the loss, after the run's folder exists)."""
        for name in self.VALUE_FIELDS:
            if hasattr(self, name):
                SCHEDULE_VALUE.check(getattr(self, name), f"schedule {name}")

    def __call__(self, step: int, total_steps: int) -> float:
        if total_steps < 1:
            raise ValueError(f"total_steps must be at least 1; got {total_steps}.")
        t = min(max(int(step), 0), total_steps - 1)
        return float(self.at(t, max(total_steps - 1, 1)))

    def at(self, t: int, T: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def values(self, total_steps: int) -> list[float]:
        """The whole schedule, one value per step (for printing and plotting)."""
        return [self(t, total_steps) for t in range(total_steps)]


def _check_rate(rate: float) -> None:
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"schedule rate must be in [0, 1); got {rate}.")


@dataclass(frozen=True)
class Constant(Schedule):
    """The same value at every step."""

    value: float = 0.0

    def at(self, t: int, T: int) -> float:
        return self.value


@dataclass(frozen=True)
class Linear(Schedule):
    """Straight line from ``start`` (first step) to ``end`` (last step)."""

    start: float = 0.0
    end: float = 1.0

    def at(self, t: int, T: int) -> float:
        return self.start + (self.end - self.start) * t / T


@dataclass(frozen=True)
class ExponentialDecay(Schedule):
    """``(start - end) * (1 - rate)^t + end``: moves fast first, then settles towards ``end``."""

    start: float = 1.0
    end: float = 0.0
    rate: float = 0.02

    def __post_init__(self) -> None:
        _check_rate(self.rate)
        super().__post_init__()

    def at(self, t: int, T: int) -> float:
        return (self.start - self.end) * (1 - self.rate) ** t + self.end


@dataclass(frozen=True)
class ExponentialWarmup(Schedule):
    """Mirror image of the decay: stays near ``start`` long, then moves fast towards ``end``.

    ``exact_end`` rescales the curve so the last step is exactly ``end`` (the seed formula
    stops short of it).
    """

    start: float = 0.0
    end: float = 1.0
    rate: float = 0.03
    exact_end: bool = False

    def __post_init__(self) -> None:
        _check_rate(self.rate)
        super().__post_init__()

    def at(self, t: int, T: int) -> float:
        q = 1 - self.rate
        span = self.end - self.start
        if self.exact_end:
            denom = 1 - q**T
            if denom == 0:  # rate 0: no curvature, fall back to a straight line
                return self.start + span * t / T
            return self.start + span * (q ** (T - t) - q**T) / denom
        return span * q ** (T - t) + self.start - span * q**T


@dataclass(frozen=True)
class Cosine(Schedule):
    """Half a cosine from ``start`` (first step) to ``end`` (last step): flat at both ends."""

    start: float = 1.0
    end: float = 0.0

    def at(self, t: int, T: int) -> float:
        return self.end + (self.start - self.end) * 0.5 * (1 + math.cos(math.pi * (t / T)))


class ScheduledLR(torch.optim.lr_scheduler.LambdaLR):
    """The learning rate at each step: the optimiser's lr times ``schedule(step, total_steps)``.

    An ``LRSchedulerCallable`` for :class:`~dasag.run.module.DirectAscent`: in YAML,
    ``lr_scheduler: {class_path: dasag.ScheduledLR, init_args: {schedule: ...}}``; the
    module passes the optimiser and the run's length (``trainer.max_steps``).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int, schedule: Schedule = Cosine(start=1.0, end=0.01)) -> None:
        """
        Args:
            optimizer: the pyramid's optimiser (passed by the module).
            total_steps: the run's length (passed by the module).
            schedule: the lr multiplier per step; default: cosine from 1 to 0.01.
        """
        self.schedule = schedule
        self.total_steps = total_steps
        super().__init__(optimizer, lambda step: schedule(step, total_steps))

    def state_dict(self) -> dict:
        """The step counters only: the schedule comes from the config again, and a checkpoint
        holds tensors and plain values (it loads with ``weights_only=True``)."""
        state = super().state_dict()
        state.pop("schedule", None)
        return state


def as_schedule(value: Schedule | float | int) -> Schedule:
    """Numbers are constant schedules, so a config may write ``noise: 0.2``."""
    return value if isinstance(value, Schedule) else Constant(float(value))
