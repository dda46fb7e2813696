"""The speed bench's measuring tools, on tiny modules: they run, count and clean up after themselves.

No assertion here is on how long anything took: a shared machine makes any time wrong now
and then. Times are what the bench reports; these tests check the tools give them.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from dasag import DirectAscent, PromptDataModule
from dasag.run.callbacks import ScheduleAnnealing
from dasag.speed.measure import ScorerShare, StepClock, count_step_flops, matmul_peak, scorer_seconds
from tiny_models import PROMPTS, ready, siglip_module


def _fit(module: DirectAscent, steps: int, log_every: int, callbacks=(), root: Path | None = None) -> L.Trainer:
    trainer = L.Trainer(accelerator="cpu", max_steps=steps, log_every_n_steps=log_every, logger=False, callbacks=[ScheduleAnnealing(), *callbacks],
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=root)
    trainer.fit(module, datamodule=PromptDataModule(positive_prompts=list(PROMPTS.positive), negative_prompts=list(PROMPTS.negative)))
    return trainer


@pytest.mark.slow
def test_a_step_that_does_not_log_never_reads_from_the_device(tmp_path):
    clock = StepClock(warmup=1, sync_probe_step=1)
    _fit(siglip_module(), steps=3, log_every=10, callbacks=[clock], root=tmp_path)
    assert clock.host_syncs == [], f"host syncs inside a non-logging step: {clock.host_syncs}"
    assert clock.steps == 2 and clock.mean > 0 and clock.median > 0


@pytest.mark.slow
def test_scorer_share_times_the_scorer_inside_each_step_and_removes_its_hooks(tmp_path):
    share = ScorerShare(warmup=1)
    module = siglip_module()
    _fit(module, steps=4, log_every=10, callbacks=[share], root=tmp_path)
    assert len(share.fractions) == len(share.scorer_times) == 3  # steps 1..3 after one warm-up step
    assert all(0 < f < 1 for f in share.fractions) and all(t > 0 for t in share.scorer_times)
    assert share.outside == sorted(share.fractions)[1]  # the median step
    module.score(module.images())  # after the fit its hooks are gone: scoring again is not timed
    assert len(share.scorer_times) == 3


def test_flop_count_is_counted_and_scales_with_the_batch():
    small, large = ready(siglip_module(batch=2)), ready(siglip_module(batch=4))
    f2, f4 = count_step_flops(small), count_step_flops(large)
    assert f2 > 0
    assert 1.8 < f4 / f2 <= 2.0  # scorer-dominated: twice the copies, nearly twice the FLOPs
    assert all(p.grad is None for p in small.pyramid.parameters())


def test_matmul_peak_and_scorer_time_are_positive():
    peak = matmul_peak(torch.device("cpu"), size=128, seconds=0.05)
    assert peak["tflops"] > 0 and peak["dtype"] == "float32"
    assert scorer_seconds(ready(siglip_module()), steps=2) > 0
