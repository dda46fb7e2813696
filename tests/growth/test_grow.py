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
    for threads in (0, 100_000, True):
        with pytest.raises(ConfigError, match=r"--threads must be a whole number from 1 to 1024 \(CPU threads"):
            prepare(growth_config(tmp_path), out, threads=threads)
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


# ------------------------------------------------------------------ progress files that cannot continue their stage
@pytest.fixture(scope="module")
def progress_files(tmp_path_factory) -> tuple[Path, dict[int, Path]]:
    """A tiny growth config and a real progress checkpoint of each of its stages (SaveProgress's last
    save: stage 1 after 3 of its 4 steps, stage 2 after 5 of its 6)."""
    import tempfile

    from dasag.core.config import deep_merge
    from dasag.growth.grow import SaveProgress, prepare, quiet_trainer
    from dasag.growth.stages import stage_config
    from dasag.run.build import build_run

    folder = tmp_path_factory.mktemp("progress")
    config = growth_config(folder, steps=(4, 6))
    g = prepare(config, folder / "unused", threads=1)
    made = {}
    for stage in g.stages:
        made[stage.index] = folder / f"stage{stage.index + 1}.ckpt"
        with tempfile.TemporaryDirectory() as root:
            build_run(deep_merge(stage_config(g.config, stage), {"trainer": quiet_trainer(root), "threads": 1}),
                      callbacks=[SaveProgress(made[stage.index])]).fit()
    return config, made


def _edited(source: Path, target: Path, edit) -> None:
    import torch

    checkpoint = torch.load(source, weights_only=True)
    edit(checkpoint)
    torch.save(checkpoint, target)


def _nan(checkpoint: dict) -> None:
    for tensor in checkpoint["state_dict"].values():
        tensor.fill_(float("nan"))


def _listing(folder: Path) -> list[tuple[str, str]]:
    """Every entry under ``folder`` with what it is: a folder, or a file's bytes."""
    return sorted((str(p.relative_to(folder)), "dir" if p.is_dir() else p.read_bytes().hex()) for p in folder.rglob("*"))


PROGRESS_CASES = [
    # (stage whose progress file it is, how it is made, the sentence's words)
    (0, lambda made, path: path.write_bytes(made[1].read_bytes()),
     "the progress of stage 1 '{path}' was made with another pyramid (0 of this run's tensors missing, 1 extra): "
     "delete it to make that stage from its start."),
    (1, lambda made, path: path.write_bytes(made[0].read_bytes()),
     "the progress of stage 2 '{path}' was made with another pyramid (1 of this run's tensors missing, 0 extra): "
     "delete it to make that stage from its start."),
    (0, lambda made, path: _edited(made[0], path, lambda c: c.update(global_step=4)),
     "the progress of stage 1 '{path}' has already run 4 steps and stage 1's growth.steps is 4, so nothing is left to do: "
     "delete it to make that stage from its start."),
    (0, lambda made, path: _edited(made[0], path, lambda c: c.pop("optimizer_states")),
     "the progress of stage 1 '{path}' holds no optimizer state (it was saved weights-only), so a run cannot continue from it: "
     "delete it to make that stage from its start."),
    (1, lambda made, path: _edited(made[1], path, _nan),
     "the progress of stage 2 '{path}' holds values that are not finite (NaN or infinity) in state_dict.pyramid.levels.0, so a run "
     "continued from it would make a blank picture: delete it to make that stage from its start."),
    (0, lambda made, path: path.mkdir(), "'{path}' is a folder, where the run keeps a file: move it away, then run again."),
]


@pytest.mark.parametrize(("index", "make", "words"), PROGRESS_CASES, ids=["stage_2s", "stage_1s", "all_steps", "weights_only", "nan", "folder"])
def test_a_progress_file_that_cannot_continue_its_stage_is_one_sentence_before_the_folder_is_taken(progress_files, tmp_path, index, make, words,
                                                                                                    capsys) -> None:
    """Another pyramid or stage size, or all steps run, were refused only after growth.json was rewritten and the lock
    taken; weights-only was Lightning's KeyError, a folder IsADirectoryError at the first save, NaN a black picture.
    The folder is left byte for byte as the killed run left it (its growth.json and lock file included)."""
    from dasag.commands.grow import main
    from dasag.growth.grow import output_folder, prepare, progress_path

    config, made = progress_files
    out = tmp_path / "out"
    g = prepare(config, out, threads=1)
    with output_folder(out).claim({"config": g.config, "threads": 1}):  # what a killed run leaves: growth.json and the lock files
        pass
    (out / ".lock.holder").write_text("pid 4194303 on host gone")  # (SIGKILL skips the clean-up that removes it)
    path = progress_path(out, g.stages[index])
    make(made, path)
    before = _listing(out)
    assert main(["--config", str(config), "--out", str(out)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == [f"error: {words.format(path=path)}"]
    assert _listing(out) == before


def test_a_finished_stage_of_nan_is_one_sentence_not_a_black_picture(tmp_path, capsys) -> None:
    from safetensors.torch import save_file

    from dasag.commands.grow import main
    from dasag.growth.grow import prepare, state_path

    config = growth_config(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    stage = prepare(config, out).stages[0]
    save_file({"levels.0": __import__("torch").full((1, 3, 1, 1), float("nan"))}, state_path(out, stage))
    before = _listing(out)
    assert main(["--config", str(config), "--out", str(out)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == [f"error: stage file {str(state_path(out, stage))!r} is damaged (its levels.0 holds values that are not finite, NaN or infinity); "
                   "delete it to make that stage (and the ones after it) again."]
    assert _listing(out) == before
