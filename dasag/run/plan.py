"""The plan of one step: every scheduled value at that step, as one printable value.

A run's schedules (jitter, colour shift, noise, zoom, flip, rotation, the aesthetic weight and
every other scheduled term weight) are pure functions of (step, run length). The annealing
callback (:class:`~dasag.run.callbacks.ScheduleAnnealing`) evaluates them into a
:class:`StepPlan` before each step and hands it to the module, which only reads it; a resumed
run evaluates the same plans, so it continues exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from dasag.image.augment import Strengths


@dataclass(frozen=True)
class StepPlan:
    """Everything scheduled at one step: augmentation strengths and each scheduled term's weight
    by term name (``aesthetic`` carries rAG's sign)."""

    step: int
    strengths: Strengths
    weights: Mapping[str, float] = field(default_factory=dict)

    @property
    def aesthetic_weight(self) -> float:
        """λ_aes at this step (0 when the objective has no aesthetic term)."""
        return float(self.weights.get("aesthetic", 0.0))

    def as_logs(self) -> dict[str, float]:
        """``schedule/<name>`` values for the logger."""
        logs = {f"schedule/{f.name}": float(getattr(self.strengths, f.name)) for f in fields(self.strengths)}  # every strength, new ones included
        logs.update({f"schedule/{name}_weight": float(w) for name, w in self.weights.items()})
        return logs
