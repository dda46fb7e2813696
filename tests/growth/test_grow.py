"""Running a growth config stage by stage: bad input, resume after a kill, another config's folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from dasag.core.config import CONFIGS, load_config
from dasag.core.errors import ConfigError
from dasag.growth.stages import block_border_ratio
from feature_helpers import growth_config

ROOT = Path(__file__).resolve().parents[2]


def test_bad_input_is_one_sentence_before_anything_is_written(tmp_path: Path) -> None:
    from dasag.commands.grow import main
    from dasag.growth.grow import prepare

    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"growth has an unknown key 'stages'"):
        prepare(growth_config(tmp_path, stages=3), out)
    with pytest.raises(ConfigError, match=r"growth.later_stages: cutouts min_fraction must be a number from 0.01 to 1"):
        prepare(growth_config(tmp_path, later_stages={"model": {"augment": {"init_args": {"min_fraction": 2.0}}}}), out)
    with pytest.raises(ConfigError, match=r"has no growth block"):
        prepare(CONFIGS / "demo.yaml", out)
    with pytest.raises(ConfigError, match=r"--threads must be a positive integer"):
        prepare(growth_config(tmp_path), out, threads=0)
    bad_scorer = growth_config(tmp_path)
    bad_scorer.write_text(bad_scorer.read_text().replace("input_size: 64", "input_size: 2"))
    with pytest.raises(ConfigError, match=r"input_size must be at least 32 px; got 2"):
        prepare(bad_scorer, out)
    assert main(["--config", str(growth_config(tmp_path, steps=(4, -1))), "--out", str(out)]) == 2
    assert not out.exists()


@pytest.mark.slow
def test_a_growth_run_resumes_after_a_kill_to_the_same_bytes_and_its_metadata_makes_it_again(tmp_path: Path) -> None:
    """Killed (SIGKILL) within stage 2 and run again, the run continues from stage 1's file and stage 2's
    last progress checkpoint, and ends with the bytes of a run made from nothing but the final PNG's
    metadata; the result has no seams."""
    config = growth_config(tmp_path, steps=(6, 30))
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "dasag", "grow", "--config", str(config), "--out", str(killed), "--threads", "1"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    progress = killed / "stage_2_192px.progress.ckpt"
    try:
        deadline = time.time() + 300
        while not progress.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed in stage 2"  # stage 2 (30 steps) is under way
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert not (killed / "final.png").exists() and not (killed / "stage_2_192px.safetensors").exists()
    stage_1 = (killed / "stage_1_96px.png").read_bytes()
    rerun = subprocess.run(command, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "stage 2 of 2 (192 px): continuing from step " in rerun.stdout, rerun.stdout
    assert 3 <= int(rerun.stdout.split("continuing from step ")[1].split()[0]) < 30  # within the stage, not from its start
    assert not progress.exists()  # the finished stage's progress is gone
    assert (killed / "stage_1_96px.png").read_bytes() == stage_1  # the finished stage was reused, not made again

    from dasag.image.picture import read_metadata

    meta = read_metadata(killed / "final.png")
    assert meta["stages"] == [{"size": 96, "canvas": 128, "max_shift": 16, "steps": 6}, {"size": 192, "canvas": 256, "max_shift": 32, "steps": 30}]
    assert meta["growth"] == {"sizes": [96, 192], "steps": [6, 30]} and meta["step"] == 36 and "lite0/positive" in meta["scores"]
    again = tmp_path / "from_metadata.yaml"
    again.write_text(yaml.safe_dump(meta["config"]))
    fresh = tmp_path / "fresh"
    rc = subprocess.run([sys.executable, "-m", "dasag", "grow", "--config", str(again), "--out", str(fresh), "--threads", "1"], env=env,
                        capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    assert (fresh / "final.png").read_bytes() == (killed / "final.png").read_bytes()
    assert json.loads((fresh / "growth.json").read_text())["threads"] == 1

    with Image.open(killed / "final.png") as im:
        image = np.asarray(im.convert("RGB"))
    assert image.shape == (192, 192, 3)
    assert 0.8 < block_border_ratio(image, 2) < 1.25  # the 96 px stage's pixels do not show as 2 px blocks
    small = np.asarray(Image.open(killed / "stage_1_96px.png").convert("RGB")).astype(np.float64)
    up = np.asarray(Image.fromarray(small.astype(np.uint8)).resize((192, 192), Image.BILINEAR)).astype(np.float64)
    assert np.abs(up - image).mean() < 40  # detail added to the same picture, not another picture


def test_a_folder_of_another_config_is_refused(tmp_path: Path) -> None:
    from dasag.growth.grow import STATE_FILE, prepare

    out = tmp_path / "out"
    out.mkdir()
    (out / STATE_FILE).write_text(json.dumps({"config": {"something": "else"}, "threads": 1}))
    with pytest.raises(ConfigError, match=r"holds the stages of another growth run made with config\.data="):
        prepare(growth_config(tmp_path), out)


@pytest.mark.parametrize("name", ["cpu_1024", "siglip_1536", "siglip_2048"])
def test_the_large_configs_are_valid_growth_runs(name: str, tiny_weights_env, tmp_path: Path) -> None:
    """The shipped growth configs parse and build (no weights load); the SigLIP ones cannot run here."""
    from dasag.growth.grow import prepare

    g = prepare(CONFIGS / "large" / f"{name}.yaml", tmp_path / "out")
    assert g.stages[-1].size == {"cpu_1024": 1024, "siglip_1536": 1536, "siglip_2048": 2048}[name]
    augment = load_config(CONFIGS / "large" / f"{name}.yaml")["model"]["augment"]
    assert augment["class_path"] == "dasag.Cutouts"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda out, name: (out / f"{name}.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"levels.0\": "),
         "{name}.safetensors' is damaged"),
        (lambda out, name: (out / f"{name}.safetensors").write_bytes(b""), "{name}.safetensors' is damaged"),
        (lambda out, name: (out / f"{name}.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00"), "{name}.png' is damaged (truncated or not a PNG)"),
        (lambda out, name: (out / "growth.json").mkdir(), "growth.json' is a folder"),
        (lambda out, name: (out / f"{name}.progress.ckpt").write_bytes(b"PK\x03\x04cut"),
         "the progress of stage 1 '{out}/{name}.progress.ckpt' is truncated or not a checkpoint"),
        (lambda out, name: (out / f"{name}.progress.ckpt").write_bytes(b""), "progress.ckpt' is empty (0 bytes)"),
        (lambda out, name: __import__("torch").save({"state_dict": {}, "x": Path("/")}, out / f"{name}.progress.ckpt"),
         "progress.ckpt' holds Python objects other than tensors"),
    ],
)
def test_a_damaged_stage_or_state_path_is_one_sentence_and_nothing_is_written(tmp_path: Path, damage, words, capsys) -> None:
    """Stage files are written atomically, so damage comes from outside (a full disk, a cut copy):
    it is named before the folder is claimed, and the folder is left exactly as it was."""
    from dasag.commands.grow import main
    from dasag.growth.grow import prepare

    config = growth_config(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    name = prepare(config, out).stages[0].name
    damage(out, name)
    before = sorted((p.name, p.stat().st_size if p.is_file() else -1) for p in out.iterdir())
    assert main(["--config", str(config), "--out", str(out)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and words.format(name=name, out=out) in err[0], err
    assert sorted((p.name, p.stat().st_size if p.is_file() else -1) for p in out.iterdir()) == before


def test_a_config_that_is_a_folder_or_unreadable_is_one_sentence(tmp_path: Path, capsys) -> None:
    from dasag.commands.grow import main

    (tmp_path / "adir").mkdir()
    assert main(["--config", str(tmp_path / "adir"), "--out", str(tmp_path / "out")]) == 2
    assert "is a folder; name a YAML file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
