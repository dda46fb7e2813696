"""Animation end to end: frames, clip files, metadata, resume after a kill, and bad input.

The real clips are tiny (96 px visible on a 128 px canvas, 3 frames of 2-3 steps, 2 augmented
copies) with the embedded EfficientNet-Lite0 weights; bad input is checked without any fit.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dasag.animation.animate import ClipSpec, make_clip
from dasag.commands.animate import main
from dasag.core.config import CONFIGS, load_config
from dasag.core.files import temp_path
from dasag.core.output_folder import lock_is_free
from dasag.image.picture import read_metadata
from feature_helpers import clip_config, run_main, write_yaml

ROOT = Path(__file__).resolve().parents[2]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def outputs(out: Path) -> dict[str, str]:
    """Every result file under ``out`` (frames and clips) with its hash."""
    files = sorted(out.glob("frames/*.png")) + [out / "clip.gif", out / "clip.mp4", out / "animation.json"]
    return {str(p.relative_to(out)): sha(p) for p in files}


# ------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_tiny_clip_frames_gif_mp4_tensorboard_and_metadata(tmp_path: Path) -> None:
    out = tmp_path / "clip"
    seen = []
    result = make_clip(ClipSpec.from_file(write_yaml(tmp_path, clip_config()), out, threads=1), on_frame=seen.append, log=lambda _: None)
    frames = sorted((out / "frames").glob("*.png"))
    assert [p.name for p in frames] == ["0000.png", "0001.png", "0002.png"] and result.made == [0, 1, 2]
    assert [f.frame for f in seen] == [0, 1, 2] and seen[1].picture.shape == (96, 96, 3)
    with Image.open(out / "clip.gif") as gif:
        assert gif.n_frames == 3 and gif.size == (96, 96) and gif.info["loop"] == 0 and gif.info["duration"] == 250
    import imageio.v3 as iio

    video = iio.imread(out / "clip.mp4", plugin="FFMPEG")
    assert video.shape == (3, 96, 96, 3)
    first = np.asarray(Image.open(frames[0]).convert("RGB")).astype(float)
    assert np.abs(video[0].astype(float) - first).mean() < 8  # the clip shows the frames (lossy, but close)

    meta = [read_metadata(p) for p in frames]
    assert [m["animation"]["frame"] for m in meta] == [0, 1, 2] and [m["seed"] for m in meta] == [5, 6, 7]
    assert [m["step"] for m in meta] == [3, 2, 2]
    assert meta[0]["prompts"]["positive"] == [{"text": "daisy", "weight": 1.0}]
    assert meta[1]["prompts"]["positive"] == [{"text": "daisy", "weight": 0.5}, {"text": "volcano", "weight": 0.5}]
    assert meta[2]["prompts"]["positive"] == [{"text": "volcano", "weight": 1.0}]
    assert meta[1]["config"]["data"]["positive_prompts"] == meta[1]["prompts"]["positive"]  # the resolved config names the same weights
    assert meta[1]["config"]["seed_everything"] == 6 and meta[1]["config"]["trainer"]["max_steps"] == 2
    assert meta[0]["camera"] is None and meta[0]["start"] is None
    assert meta[2]["camera"] == {"zoom": 1.05, "rotation": 1.0, "translate": [0.0, 0.0]}
    assert meta[2]["start"] == {"frame": 1, "sha256": sha(frames[1])}  # each frame names the picture it started from
    assert set(meta[2]["scores"]) == {"lite0/positive", "lite0/negative"}
    assert not np.array_equal(np.asarray(Image.open(frames[1])), np.asarray(Image.open(frames[2])))

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert [e.step for e in events.Images("clip/frame")] == [0, 1, 2]  # the slider plays the clip

    stored = json.loads((out / "animation.json").read_text())
    assert stored["threads"] == 1 and stored["config"]["animation"]["frames"] == 3
    assert not list(out.rglob("*.tmp")) and lock_is_free(out)


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_bytes(tmp_path: Path) -> None:
    """A real SIGKILL mid-run; the same command continues from the first missing frame and every
    output equals an uninterrupted run's, byte for byte."""
    config = write_yaml(tmp_path, clip_config(steps=3))
    whole = tmp_path / "whole"
    make_clip(ClipSpec.from_file(config, whole, threads=1), log=lambda _: None)

    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dasag", "animate", "--config", str(config), "--out", str(killed), "--threads", "1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not (killed / "frames" / "0000.png").exists():
            assert proc.poll() is None, "the run ended before its first frame"
            assert time.monotonic() < deadline, "no first frame within 240 s"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert not (killed / "clip.gif").exists() and lock_is_free(killed)  # killed mid-clip: the kernel freed its lock
    temp_path(killed / "frames" / "0001.png", proc.pid).write_bytes(b"half a png")  # as a kill mid-write leaves it

    lines = []
    result = make_clip(ClipSpec.from_file(config, killed), log=lines.append)  # threads: the stored run's
    assert result.made[0] >= 1 and 0 not in result.made  # frame 0 was kept, not made again
    assert outputs(killed) == outputs(whole)
    assert not list(killed.rglob("*.tmp"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"keyframes": [{"frame": 0, "prompts": ["daisy"]}, {"frame": 2, "prompts": ["a"]}, {"frame": 1, "prompts": ["b"]}]}, "must be in frame order"),
        ({"keyframes": [{"frame": 1, "prompts": ["daisy"]}]}, "must start at frame 0"),
        ({"keyframes": [{"frame": 0, "prompts": ["daisy"]}, {"frame": 7, "prompts": ["volcano"]}]}, "past the last frame"),
        ({"keyframes": [{"frame": 0, "prompts": ["daisy"]}, {"frame": 2, "prompts": ["volcanoo"]}]},
         r"animation.keyframes\[1\] \(frame 2\): unknown ImageNet class .volcanoo"),
        ({"fps": -1}, "animation.fps must be a number from 0.01 to 100"),
        ({"fps": 0.001}, "animation.fps must be a number from 0.01 to 100"),
        ({"fps": 1e6}, "animation.fps must be a number from 0.01 to 100"),
        ({"frames": 10**9}, "animation.frames must be a whole number from 1 to 100000"),
        ({"camera": {"zoom": -1.1}}, "animation.camera.zoom must be a number from 0.5 to 2"),
        ({"camera": {"zoom": 1e-300}}, "animation.camera.zoom must be a number from 0.5 to 2"),
        ({"camera": {"translate": [1e300, 0]}}, "animation.camera.translate must be a number from -4096 to 4096"),
        ({"keyframes": [{"frame": 0, "prompts": ["daisy:1e308"]}]}, "a prompt weight must be a number from -1000 to 1000"),
        ({"loop": True}, "animation has unknown key 'loop'"),
    ],
)
def test_bad_animation_is_one_sentence_and_writes_nothing(change, message, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    config = write_yaml(tmp_path, clip_config(**change))
    rc, err = run_main(main, ["--config", str(config), "--out", str(out)], capsys)
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ")
    import re

    assert re.search(message, err[0]), err[0]
    assert not out.exists()


def test_an_out_folder_of_another_animation_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stored = {"config": load_config(write_yaml(tmp_path, clip_config(frames=4))), "threads": 1}
    (out / "animation.json").write_text(json.dumps(stored))
    before = sorted(p.name for p in out.iterdir())
    rc, err = run_main(main, ["--config", str(write_yaml(tmp_path, clip_config())), "--out", str(out), "--threads", "1"], capsys)
    assert rc == 2 and len(err) == 1
    assert "holds another animation made with config.animation.frames=4; got config.animation.frames=3" in err[0]
    rc, err = run_main(main, ["--config", str(write_yaml(tmp_path, clip_config(frames=4))), "--out", str(out), "--threads", "2"], capsys)
    assert rc == 2 and "made with threads=1; got threads=2" in err[0]
    assert sorted(p.name for p in out.iterdir()) == before  # nothing written, no lock left

    foreign = tmp_path / "foreign"
    (foreign / "frames").mkdir(parents=True)
    rc, err = run_main(main, ["--config", str(write_yaml(tmp_path, clip_config())), "--out", str(foreign)], capsys)
    assert rc == 2 and "has a frames/ folder but no animation.json" in err[0]
    (tmp_path / "a_file").write_text("x")
    rc, err = run_main(main, ["--config", str(write_yaml(tmp_path, clip_config())), "--out", str(tmp_path / "a_file")], capsys)
    assert rc == 2 and "exists and is not a directory" in err[0]


# ------------------------------------------------------------------ shipped configs
ANIMATION_CONFIGS = sorted(p.name for p in (CONFIGS / "animation").glob("*.yaml"))


@pytest.mark.parametrize("name", ANIMATION_CONFIGS)
def test_every_shipped_animation_config_checks_out_without_running(name: str, tiny_weights_env, tmp_path: Path) -> None:
    """Each shipped clip is planned in full (every keyframe's run built, the guide's weights read):
    the SigLIP one on the tiny random SigLIP, so GPU users get a config that is known to parse."""
    from dasag.animation.animate import plan

    p = plan(ClipSpec(load_config(CONFIGS / "animation" / name), tmp_path / "out", threads=1))
    assert p.animation.frames >= 8 and p.animation.keyframes[0].frame == 0
    assert len({tuple(k.prompts) for k in p.animation.keyframes}) >= 2  # the prompts change over the clip
    assert not (tmp_path / "out").exists()


def test_animation_configs_are_package_data() -> None:
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["dasag"]
    assert "configs/*/*.yaml" in data and ANIMATION_CONFIGS


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda out: (out / "frames" / "0000.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
         "frame file '{out}/frames/0000.png' is damaged (truncated or not a PNG): delete it and run again"),
        (lambda out: (out / "animation.json").mkdir(), "animation.json' is a folder"),
        # things in the way: IsADirectoryError or NotADirectoryError after frames were made, a traceback from filelock
        (lambda out: (out / "frames" / "0001.png").mkdir(), "'{out}/frames/0001.png' is a folder, where the run keeps a file: move it away"),
        (lambda out: os.symlink("0002.png", out / "frames" / "0002.png"), "'{out}/frames/0002.png' is a symbolic link that leads nowhere"),
        (lambda out: (out / "tensorboard").write_text("x"), "'{out}/tensorboard' is a file, not a folder, where the run keeps a folder"),
        (lambda out: (out / "clip.gif").mkdir(), "'{out}/clip.gif' is a folder, where the run keeps a file"),
        (lambda out: (out / ".lock").mkdir(), "the lock file '{out}/.lock' of --out '{out}' is a folder: move it away"),
        (lambda out: os.symlink(".lock.holder", out / ".lock.holder"), "the lock's holder file '{out}/.lock.holder' of --out '{out}' is a symbolic link"),
    ],
)
def test_a_damaged_frame_or_state_path_is_one_sentence_and_nothing_is_written(damage, words, tmp_path: Path, capsys) -> None:
    """Frames are written atomically, so a cut-short frame comes from outside (a full disk, an
    interrupted copy): it is named before anything loads, and the folder is left as it was."""
    from dasag.animation.animate import ClipSpec, plan

    out = tmp_path / "out"
    config = write_yaml(tmp_path, clip_config())
    if "animation.json" not in words:  # a folder holding frames has its animation.json (stored by the run that made them)
        stored = plan(ClipSpec.from_file(config, out)).stored()
        out.mkdir()
        (out / "animation.json").write_text(json.dumps(stored))
    (out / "frames").mkdir(parents=True)
    damage(out)
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    rc, err = run_main(main, ["--config", str(config), "--out", str(out)], capsys)
    assert rc == 2 and len(err) == 1 and words.format(out=out) in err[0], err
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before


def test_a_file_where_the_frames_folder_goes_is_one_sentence(tmp_path: Path, capsys) -> None:
    """It was refused as 'a frames/ folder but no animation.json' (a file, not a folder); with animation.json, a
    FileExistsError at the first frame's write."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "frames").write_text("not a folder")
    rc, err = run_main(main, ["--config", str(write_yaml(tmp_path, clip_config())), "--out", str(out)], capsys)
    assert rc == 2 and err == [f"error: {str(out / 'frames')!r} is a file, not a folder, where the run keeps a folder: move it away, then run again."]
    assert sorted(p.name for p in out.iterdir()) == ["frames"] and (out / "frames").read_text() == "not a folder"
