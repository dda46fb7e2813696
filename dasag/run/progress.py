"""The console progress bar of a run: steps and live scores, nothing else.

A run is one endless "epoch" bounded by ``trainer.max_steps``, so Lightning's bars say
``Epoch 0/-2`` (``max_epochs`` is -1) and show the logger's ``v_num``, neither of which means
anything to a user. These subclasses call the bar "step" and drop ``v_num``; the live scores
(loss, each scorer's prompt and aesthetic terms) stay.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import Callback, RichProgressBar, TQDMProgressBar

DESCRIPTION = "step"


class StepRichProgressBar(RichProgressBar):
    """Lightning's rich bar, labelled by step, without ``v_num``."""

    def _get_train_description(self, current_epoch: int) -> str:
        return DESCRIPTION

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items


class StepTQDMProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar (where rich is not installed), labelled by step, without ``v_num``."""

    def on_train_epoch_start(self, trainer: Any, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(DESCRIPTION)

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items


def use_step_progress_bars(callbacks: list[Callback]) -> None:
    """Make Lightning's own bars in ``callbacks`` step bars, in place and keeping their options
    (the subclasses add no state, only the label and the dropped ``v_num``); a bar of any other
    class is left alone."""
    for callback in callbacks:
        if type(callback) is RichProgressBar:
            callback.__class__ = StepRichProgressBar
        elif type(callback) is TQDMProgressBar:
            callback.__class__ = StepTQDMProgressBar
