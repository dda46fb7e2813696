"""A line every so many steps of a long fit, for commands that run fits without a progress bar.

Growth stages and animation frames run quiet Trainers (their own lines say when a stage or a
frame is done), which left a person staring at nothing for minutes inside one: five minutes for
stage 1 of the 1024 px config, 157 s for a clip's frame 0 on a busy machine. This callback says
where the fit is and how long it has left, a handful of times per fit.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lightning.pytorch.callbacks import Callback

from dasag.core.eta import duration_text


class StepLog(Callback):
    """``log("<what>: step 40 of 120, about 3 min left")`` at each fifth of a fit of ``min_steps`` steps or more."""

    def __init__(self, what: str, log: Callable[[str], None] = print, parts: int = 5, min_steps: int = 40,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.log = log
        self.parts = parts
        self.min_steps = min_steps
        self.clock = clock
        self._start: tuple[float, int] | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self._start = (self.clock(), int(trainer.global_step))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        total, step = int(trainer.max_steps), int(trainer.global_step)
        if self._start is None or total < self.min_steps or step >= total:
            return
        every = max(1, total // self.parts)
        if step % every:
            return
        began, first = self._start
        per_step = (self.clock() - began) / max(step - first, 1)
        self.log(f"{self.what}: step {step} of {total}, about {duration_text((total - step) * per_step)} left")
