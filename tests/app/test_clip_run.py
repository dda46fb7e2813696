"""The app's "Make a clip": the form's config, its folder, and a tiny clip in a thread with shared scorers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from dasag.animation.animate import ClipSpec, plan
from dasag.app.clip_run import ClipForm, ClipRun, clip_config, clip_folder, shipped_animation
from dasag.app.image_run import SharedScorers
from dasag.app.settings import AppSettings
from dasag.core.errors import ConfigError


def tiny_settings(tmp_path: Path) -> AppSettings:
    return replace(AppSettings(), resolution=96, batch_size=2, steps=3, output_dir=str(tmp_path / "runs"))


def test_the_form_starts_from_the_shipped_clip_and_builds_a_valid_clip_config(tmp_path: Path) -> None:
    form = ClipForm("daisy", "volcano")
    shipped = shipped_animation()
    assert (form.frames, form.steps, form.zoom, form.fps) == (shipped["frames"], shipped["steps"], shipped["camera"]["zoom"], shipped["fps"])
    config = clip_config(tiny_settings(tmp_path).to_config(), replace(form, frames=5, steps=2))
    block = config["animation"]
    assert block["keyframes"] == [{"frame": 0, "prompts": ["daisy"]}, {"frame": 4, "prompts": ["volcano"]}]
    assert block["later_frames"] == shipped["later_frames"] and "positive_prompts" not in config["data"]
    p = plan(ClipSpec(config, tmp_path / "out", threads=1))  # checks every keyframe's run; writes nothing
    assert p.animation.steps_at(0) == 3 and p.animation.steps_at(1) == 2
    assert {x.text: x.weight for x in p.animation.prompts_at(1)} == {"daisy": 0.75, "volcano": 0.25}
    assert not (tmp_path / "out").exists()
    assert clip_folder("runs/app", config) == clip_folder("runs/app", dict(config))  # same settings, same folder (a rerun continues it)
    assert clip_folder("runs/app", config) != clip_folder("runs/app", clip_config(tiny_settings(tmp_path).to_config(), replace(form, frames=6)))


@pytest.mark.parametrize(("scorer", "lr"), [("lite0", 0.6), ("siglip", 0.3), ("clip", 0.3)])
def test_the_later_frames_learning_rate_follows_the_guide_as_in_its_shipped_clip(tmp_path: Path, scorer: str, lr: float) -> None:
    """A classifier repaints a moved frame at lr 0.6 (daisy_to_volcano), a text-image model at 0.3 (siglip_zoom)."""
    run = replace(tiny_settings(tmp_path), scorer=scorer).to_config()
    later = clip_config(run, ClipForm("daisy", "volcano"))["animation"]["later_frames"]
    assert later["model"]["optimizer"]["init_args"]["lr"] == lr


def test_a_one_frame_clip_has_one_keyframe_and_empty_prompts_are_refused(tmp_path: Path) -> None:
    config = clip_config(tiny_settings(tmp_path).to_config(), ClipForm("daisy", "volcano", frames=1))
    assert config["animation"]["keyframes"] == [{"frame": 0, "prompts": ["daisy"]}]
    with pytest.raises(ConfigError, match="the clip's 'to' prompt is empty"):
        clip_config(tiny_settings(tmp_path).to_config(), ClipForm("daisy", "  "))


@pytest.mark.slow
def test_a_clip_in_a_thread_shares_the_scorer_shows_frames_and_releases_the_lock(tmp_path: Path) -> None:
    shared = SharedScorers()
    config = clip_config(tiny_settings(tmp_path).to_config(), ClipForm("daisy", "volcano", frames=2, steps=2))
    run = ClipRun(config, tmp_path / "clip", shared).start()
    run.join(600)
    assert not run.running and run.error is None
    assert run.latest is not None and run.latest.frame == 1 and run.latest.picture.shape == (96, 96, 3)
    with Image.open(run.result.gif) as gif:
        assert gif.n_frames == 2
    assert len(shared) == 1  # the clip used the shared scorer...
    scorer = next(iter(shared))
    lock = shared.lock(scorer)
    assert lock is not None and not lock.locked()  # ...and gave it back

    stopped = ClipRun(config, tmp_path / "stopped", shared)
    stopped.stop()  # stopped before it starts: no frame, no clip, no error
    stopped.start().join(600)
    assert stopped.error is None and stopped.result.gif is None and not list((tmp_path / "stopped").glob("frames/*.png"))


def test_a_clip_waits_its_turn_behind_a_run_and_a_closed_tab_takes_it_out(tmp_path: Path) -> None:
    """A clip takes its place in the server's line like a run; its tab closing while it waits ends it
    with no frame made and nothing written."""
    from dasag.app.run_queue import RunQueue

    queue = RunQueue(1)
    holder = queue.join()
    assert queue.wait(holder)
    config = clip_config(tiny_settings(tmp_path).to_config(), ClipForm("daisy", "volcano", frames=2, steps=2))
    tab_open = [True]
    clip = ClipRun(config, tmp_path / "clip", owner_alive=lambda: tab_open[0], queue=queue).start()
    assert clip.place == 1
    tab_open[0] = False
    clip.join(60)
    assert not clip.running and clip.error == "stopped while waiting for its turn; no frame was made." and clip.result is None
    assert queue.waiting == 0 and not (tmp_path / "clip").exists()
