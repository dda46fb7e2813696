"""Callbacks own what happens around each step: schedule annealing, and image export (PNG files and TensorBoard images)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger

from dasag.core.files import is_disk_full, write_bytes_atomic
from dasag.run.picture import finished_picture
from dasag.run.plan import StepPlan


def output_dir(trainer: L.Trainer) -> Path:
    """Where a run's files go: the logger's version folder, else ``default_root_dir``."""
    log_dir = trainer.log_dir if trainer.loggers else None
    return Path(log_dir or trainer.default_root_dir)


class ScheduleAnnealing(Callback):
    """Anneals every schedule of the run: before each step it evaluates them all into the step's
    :class:`~dasag.run.plan.StepPlan` (jitter, colour shift, noise, zoom, flip and rotation strengths,
    the aesthetic weight with rAG's sign, every scheduled term's weight) and hands it to the module.

    Every run has it (:func:`~dasag.run.build.build_run` adds it; a Trainer without it is refused in
    one sentence). It keeps no state: a plan is a pure function of (step, run length), so a resumed
    run gets exactly the plans of one that never stopped.
    """

    @staticmethod
    def plan_at(pl_module, step: int) -> StepPlan:
        """Every schedule of ``pl_module``'s run evaluated at ``step``."""
        total = pl_module.schedule_steps
        weights = {}
        for term in pl_module.scheduled_terms:
            weight = term.weight_at(step, total)
            if weight is not None:
                weights[term.name] = weight
        return StepPlan(step, pl_module.augment.strengths(step, total, pl_module.pyramid.max_shift), weights)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module, batch, batch_idx: int) -> None:
        pl_module.use_plan(self.plan_at(pl_module, trainer.global_step))


class ImageExport(Callback):
    """Writes PNGs (every N steps and ``final.png``) and logs the image to TensorBoard.

    Every PNG carries a ``dasag`` text chunk with JSON metadata (prompts, seed, step,
    scores, resolved config). ``final.png`` is also written when a run is interrupted
    (Ctrl-C, an exception, a Stop button) after at least one step, so an image already
    computed is never lost, and untrained noise is never presented as one.
    With several images, ``final.png`` is a grid and ``final_XX.png`` holds each one.
    """

    def __init__(self, every_n_steps: int = 0, tensorboard_every_n_steps: int = 0, subdir: str = "images") -> None:
        """
        Args:
            every_n_steps: write ``images/step_XXXXXX.png`` every N steps (0: only the final image).
            tensorboard_every_n_steps: log the current image to TensorBoard every N steps (0: only at the end).
            subdir: folder under the run's directory for the intermediate PNGs.
        """
        if every_n_steps < 0 or tensorboard_every_n_steps < 0:
            raise ValueError(f"ImageExport every_n_steps values must be >= 0; got {every_n_steps}, {tensorboard_every_n_steps}.")
        self.every_n_steps = every_n_steps
        self.tensorboard_every_n_steps = tensorboard_every_n_steps
        self.subdir = subdir
        self.final_paths: list[Path] = []

    def _write(self, trainer: L.Trainer, pl_module, path: Path, per_image: bool) -> list[Path]:
        picture = finished_picture(pl_module, trainer.global_step)
        return picture.write(path) if per_image else [write_bytes_atomic(path, picture.png())]

    def _tensorboard(self, trainer: L.Trainer, pl_module, tag: str) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                images = (pl_module.images().float().cpu() + 1) / 2
                logger.experiment.add_images(tag, images.clamp(0, 1), global_step=trainer.global_step)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if not trainer.is_global_zero:
            return
        step = trainer.global_step  # already incremented: steps done so far
        if self.every_n_steps and step % self.every_n_steps == 0:
            self._write(trainer, pl_module, output_dir(trainer) / self.subdir / f"step_{step:06d}.png", per_image=False)
        if self.tensorboard_every_n_steps and step % self.tensorboard_every_n_steps == 0:
            self._tensorboard(trainer, pl_module, "image")

    def _final(self, trainer: L.Trainer, pl_module) -> None:
        if trainer.is_global_zero and pl_module.prompts is not None:
            self.final_paths = self._write(trainer, pl_module, output_dir(trainer) / "final.png", per_image=True)
            self._tensorboard(trainer, pl_module, "final")

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        self._final(trainer, pl_module)

    def on_exception(self, trainer: L.Trainer, pl_module, exception: BaseException) -> None:
        """Keep the image of an interrupted run, if it has one: after no step there is only the
        starting noise (not a result), and on a full disk there is no room for it."""
        if trainer.global_step > 0 and not is_disk_full(exception):
            self._final(trainer, pl_module)
