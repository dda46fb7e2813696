"""DirectAscent wires pyramid, augmentations, scorer and objective; these check the wiring.

Small real fits on CPU (EfficientNet-Lite0, real weights, 64 px): what gets logged and when,
one metric per ensemble member, the lr schedule, and the clean-image evaluation keys.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers.logger import Logger

from dasag import Augmentations, DirectAscent, ImagePyramid, Objective, PromptDataModule
from dasag.run.callbacks import ScheduleAnnealing
from dasag.scorers import EfficientNetLite, ScorerEnsemble


class RecordingLogger(Logger):
    """Keeps every logged (step, metrics) pair in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[int, dict[str, float]]] = []

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.records.append((int(step or 0), dict(metrics)))

    def keys(self) -> set[str]:
        return {k for _, m in self.records for k in m}


def lite0_module(scorer=None, **kwargs) -> DirectAscent:
    torch.manual_seed(0)
    return DirectAscent(ImagePyramid(max_size=64, max_shift=8), scorer or EfficientNetLite("lite0", input_size=64),
                        augment=Augmentations(batch_size=2), seed=0, **kwargs)


def fit(module: DirectAscent, steps: int, log_every: int, root: Path, callbacks=()) -> tuple[L.Trainer, RecordingLogger]:
    logger = RecordingLogger()
    trainer = L.Trainer(accelerator="cpu", max_steps=steps, log_every_n_steps=log_every, logger=logger, default_root_dir=root,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[ScheduleAnnealing(), *callbacks])
    trainer.fit(module, datamodule=PromptDataModule(positive_prompts=["goldfish"]))
    return trainer, logger


@pytest.mark.slow
def test_a_two_member_ensemble_logs_every_members_scores_and_metrics(tmp_path):
    ensemble = ScorerEnsemble([EfficientNetLite("lite0", input_size=64), EfficientNetLite("lite1", input_size=64)], weights=[1.0, 0.5])
    module = lite0_module(ensemble)
    trainer, logger = fit(module, steps=2, log_every=1, root=tmp_path)
    keys = logger.keys()
    for member in ("lite0", "lite1"):
        assert {f"train/{member}/positive", f"train/{member}/negative", f"train/metric/{member}/similarity"} <= keys, keys
    assert {"loss", "lite0/positive", "lite1/positive"} <= set(trainer.progress_bar_metrics)
    scores = module.evaluate()[0]
    assert set(scores) == {"lite0/positive", "lite0/negative", "lite1/positive", "lite1/negative"}
    # The metric is the mean of the member's step values since the last log: with log_every 1, that step's.
    last = logger.records[-1][1]
    assert last["train/metric/lite1/similarity"] == pytest.approx(last["train/lite1/positive"] - last["train/lite1/negative"], rel=1e-5)


@pytest.mark.slow
def test_values_are_logged_every_n_steps(tmp_path):
    seen: list[int] = []

    class Watch(L.Callback):  # what the progress bar shows changes only on logging steps
        last = None

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            loss = trainer.progress_bar_metrics.get("loss")
            if loss is not None and loss != self.last:
                seen.append(trainer.global_step - 1)
                self.last = loss

    _, logger = fit(lite0_module(), steps=7, log_every=3, root=tmp_path, callbacks=[Watch()])
    assert sorted({step for step, m in logger.records if "train/loss" in m}) == [2, 5]  # every 3rd step
    assert seen == [2, 5, 6]  # and the module reads values back on the last step too, for the progress bar
    assert {"schedule/jitter", "schedule/noise", "schedule/color_shift", "schedule/aesthetic_weight"} <= logger.keys()


@pytest.mark.slow
def test_learning_rate_follows_its_schedule_to_one_percent(tmp_path):
    lrs: list[float] = []

    class Watch(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    fit(lite0_module(), steps=5, log_every=10, root=tmp_path, callbacks=[Watch()])
    expected = [0.1 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t / 4))) for t in range(5)]
    assert lrs == pytest.approx(expected, rel=1e-12)
    assert lrs[-1] == pytest.approx(0.001)


def test_prompt_free_objective_accepts_an_empty_prompt_list_and_others_do_not():
    with pytest.raises(ValueError, match="prompt_weight: 0"):
        lite0_module().check_prompts(PromptDataModule(positive_prompts=[]).prompts)
    lite0_module(objective=Objective(prompt_weight=0.0)).check_prompts(PromptDataModule(positive_prompts=[]).prompts)


def test_scorer_precision_is_checked_in_the_constructor():
    with pytest.raises(ValueError, match="scorer_precision must be one of auto, bf16, fp16, fp32, none; got 'fp8'"):
        lite0_module(scorer_precision="fp8")


def test_schedule_time_base_maps_step_t_to_t_over_T_or_t_over_T_minus_1():
    """``steps`` (DAS-AG v2): every schedule at t / T, so none reaches its end; ``last_step``: t / (T - 1)."""
    from dasag.core.schedules import ExponentialWarmup
    from dasag.run.data import PromptSet
    from tiny_models import lite_module, ready

    goldfish = PromptSet(("goldfish",), ())
    ours = ready(lite_module(), goldfish, max_steps=100)
    original = ready(lite_module(schedule_time_base="steps"), goldfish, max_steps=100)
    noise = ExponentialWarmup(start=0.2, end=0.5, rate=0.03)
    assert ours.schedule_steps == 100 and original.schedule_steps == 101
    assert ScheduleAnnealing.plan_at(ours, 99).strengths.noise == pytest.approx(noise.at(99, 99))
    assert ScheduleAnnealing.plan_at(original, 99).strengths.noise == pytest.approx(0.3 * 0.97 ** 1 + 0.2 - 0.3 * 0.97**100)  # the formula at T = 100
    gap = ScheduleAnnealing.plan_at(ours, 99).strengths.noise - ScheduleAnnealing.plan_at(original, 99).strengths.noise
    assert gap == pytest.approx(0.0086, abs=1e-4)  # docs/fidelity.md
    with pytest.raises(ValueError, match="schedule_time_base must be 'last_step'"):
        lite_module(schedule_time_base="t/T")
