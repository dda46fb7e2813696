"""Progress lines inside a long quiet fit (:mod:`dasag.run.step_log`)."""

from __future__ import annotations

from types import SimpleNamespace

from dasag.run.step_log import StepLog


def run_steps(log: StepLog, total: int, seconds_per_step: float = 2.0) -> None:
    now = [0.0]
    log.clock = lambda: now[0]
    trainer = SimpleNamespace(max_steps=total, global_step=0)
    log.on_train_start(trainer, None)
    for step in range(1, total + 1):
        now[0] += seconds_per_step
        trainer.global_step = step
        log.on_train_batch_end(trainer, None, None, None, step - 1)


def test_a_long_fit_says_where_it_is_at_each_fifth_with_the_time_left() -> None:
    lines: list[str] = []
    run_steps(StepLog("stage 1 of 2 (512 px)", lines.append), total=100)
    assert lines == [f"stage 1 of 2 (512 px): step {s} of 100, about {t} left" for s, t in
                     ((20, "3 min"), (40, "2 min"), (60, "80 s"), (80, "40 s"))]


def test_a_short_fit_says_nothing() -> None:
    lines: list[str] = []
    run_steps(StepLog("frame 2 of 24", lines.append), total=12)
    assert lines == []
