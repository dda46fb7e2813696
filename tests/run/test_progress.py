"""The console bar counts steps and shows scores, not Lightning's epoch and v_num."""

from __future__ import annotations


def test_the_progress_bars_count_steps_and_drop_v_num() -> None:
    from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar

    from dasag.run.progress import StepRichProgressBar, StepTQDMProgressBar, use_step_progress_bars

    configured = RichProgressBar(leave=True, refresh_rate=5)
    callbacks = [configured, TQDMProgressBar()]
    use_step_progress_bars(callbacks)
    assert type(callbacks[0]) is StepRichProgressBar and type(callbacks[1]) is StepTQDMProgressBar
    assert callbacks[0] is configured and configured._leave and configured.refresh_rate == 5  # the user's options kept
    from types import SimpleNamespace

    trainer = SimpleNamespace(loggers=[SimpleNamespace(version=7)], progress_bar_metrics={"loss": 0.5})
    assert "v_num" in RichProgressBar().get_metrics(trainer, None)  # what Lightning shows by default
    for bar in callbacks:
        assert bar.get_metrics(trainer, None) == {"loss": 0.5}
