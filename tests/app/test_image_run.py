"""A run in a background thread (what the app drives): live snapshots, Stop keeps the image,
models shared between runs, text scorers with configured weights. No Streamlit needed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dasag.app.image_run import LiveProgress, LiveRun, SharedScorers
from dasag.app.settings import AppSettings, ScheduleSetting
from dasag.core.errors import ConfigError
from dasag.image.picture import read_metadata
from dasag.run.build import build_run

pytestmark = pytest.mark.slow  # real fits in a thread

TINY = dict(steps=3, resolution=96, batch_size=2)


def tiny_settings(tmp_path: Path, **kw) -> AppSettings:
    return AppSettings(**{**TINY, "output_dir": str(tmp_path / "app_runs"), **kw})


# ------------------------------------------------------------------ live run, stop, sharing
def test_stop_keeps_the_image_so_far_and_models_are_shared(tmp_path: Path) -> None:
    shared = SharedScorers()
    cfg = tiny_settings(tmp_path, steps=500, batch_size=1).to_config()
    progress = LiveProgress(every_n_steps=1)
    built = build_run(cfg, [progress], share_scorer=shared)
    run = LiveRun(built, progress, shared).start()
    deadline = time.monotonic() + 120
    while progress.latest is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first = progress.latest
    assert first is not None and first.step >= 1 and first.image.shape == (96, 96, 3) and "lite0/positive" in first.scores
    run.stop()
    run.join(60)
    assert not run.running and run.error is None
    r = run.result
    assert r is not None and r.stopped and 1 <= r.step < 500
    assert read_metadata(r.files[0])["step"] == r.step  # final.png written for a stopped run too
    # A second run with the same scorer reuses the loaded model instead of building a new one.
    again = build_run(cfg, [LiveProgress()], share_scorer=shared)
    assert again.model.scorer is built.model.scorer and len(shared) == 2  # the guide, and the held-out judge of the result panel
    assert again.model.scorer.members[0].loaded


def test_text_scorer_run_with_configured_weights(tmp_path: Path, tiny_siglip_dir: Path, tiny_v25_head: Path) -> None:
    """SigLIP + aesthetic head from local files (tiny random ones): the same code path, with scores."""
    s = tiny_settings(tmp_path, scorer="siglip", model_path=str(tiny_siglip_dir), aesthetic_head=str(tiny_v25_head),
                      positive_prompts=["a red apple"], steps=2, batch_size=1, arctanh=True,
                      aesthetic=ScheduleSetting("exponential_decay", 0.0, 1.0, 0.02))
    with pytest.raises(ConfigError, match=r"add at least one \(a text prompt\)"):
        tiny_settings(tmp_path, scorer="siglip", positive_prompts=[""]).to_config()
    progress = LiveProgress()
    run = LiveRun(build_run(s.to_config(), [progress]), progress).start()
    run.join(180)
    assert run.error is None and run.result is not None and run.result.step == 2
    assert {"siglip/positive", "siglip/negative", "siglip/aesthetic"} <= set(run.result.scores)
    assert read_metadata(run.result.files[0])["config"]["model"]["scorer"]["init_args"]["model"] == str(tiny_siglip_dir)


def test_a_run_whose_page_closed_ends_and_frees_the_model_and_a_waiting_one_gives_up(tmp_path: Path) -> None:
    """The tab that pressed Generate closes: its run stops after the current step (its image is
    kept) and releases the shared model; a run queued behind it from another closed tab does not
    wait for ever."""
    import threading

    shared = SharedScorers()
    cfg = tiny_settings(tmp_path, steps=500, batch_size=1).to_config()
    page_open = threading.Event()
    page_open.set()
    progress = LiveProgress(every_n_steps=1, owner_alive=page_open.is_set)
    built = build_run(cfg, [progress], share_scorer=shared)
    run = LiveRun(built, progress, shared).start()
    deadline = time.monotonic() + 120
    while progress.latest is None and time.monotonic() < deadline:
        time.sleep(0.05)
    queued_progress = LiveProgress(owner_alive=lambda: False)  # its tab is gone too
    queued = LiveRun(build_run(cfg, [queued_progress], share_scorer=shared), queued_progress, shared).start()
    page_open.clear()
    run.join(60)
    queued.join(60)
    assert not run.running and run.result is not None and run.result.stopped and run.result.step < 500
    assert not queued.running and queued.result is None and "stopped while waiting for the shared model" in queued.error
    lock = shared.lock(built.model.scorer)
    assert lock.acquire(timeout=1)  # nobody holds the model any more
    lock.release()


def test_a_process_that_exits_mid_run_ends_cleanly_and_keeps_the_image(tmp_path: Path) -> None:
    """The server stopped (Ctrl-C) during a run: Python exits while the run's thread is in a backward
    pass, which used to abort with ``terminate called without an active exception`` (status 134).
    The exit now stops the run after its step and waits: status 0, and the image so far is written."""
    import subprocess
    import sys

    script = f"""
import time
from dasag.app.image_run import LiveProgress, LiveRun
from dasag.app.settings import AppSettings
from dasag.run.build import build_run
cfg = AppSettings(steps=100000, resolution=96, batch_size=1, output_dir={str(tmp_path / 'app_runs')!r}).to_config()
progress = LiveProgress(every_n_steps=1)
run = LiveRun(build_run(cfg, [progress]), progress).start()
while progress.latest is None:
    time.sleep(0.05)
print("first step done", flush=True)
"""  # the main thread ends here, mid-run
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "terminate called" not in proc.stderr, proc.stderr[-2000:]
    assert "first step done" in proc.stdout
    final = next((tmp_path / "app_runs").rglob("final.png"))
    assert 1 <= read_metadata(final)["step"] < 100000


def test_a_run_waits_its_turn_in_the_servers_line_and_stop_takes_it_out(tmp_path: Path) -> None:
    """One run at a time per server: a second Generate waits with its place known; Stop (or a closed
    tab) while it waits ends it with nothing run and nothing written; its turn, once given, runs it
    and frees the line afterwards."""
    from dasag.app.run_queue import RunQueue

    queue = RunQueue(1)
    holder = queue.join()
    assert queue.wait(holder)  # another visitor's run has the server
    progress = LiveProgress()
    run = LiveRun(build_run(tiny_settings(tmp_path).to_config(), [progress]), progress, queue=queue).start()
    assert run.place == 1 and run.running
    run.stop()
    run.join(60)
    assert not run.running and run.result is None and run.error == "stopped while waiting for its turn; nothing ran."
    assert queue.waiting == 0 and not (tmp_path / "app_runs").exists()
    progress = LiveProgress()
    second = LiveRun(build_run(tiny_settings(tmp_path, steps=2).to_config(), [progress]), progress, queue=queue).start()
    assert second.place == 1
    queue.leave(holder)
    second.join(240)
    assert second.error is None and second.result is not None and second.result.step == 2 and second.place is None
    assert queue.running == 0 and queue.waiting == 0  # it left the line when it ended
