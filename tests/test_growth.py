"""Progressive growth: the stage plan and its refusals, carrying a pyramid over, and the driver
(resumes after a kill to the same bytes, writes nothing on bad input, leaves no seams)."""

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
import torch
import yaml
from PIL import Image

from dasag.config import CONFIGS, ConfigError, load_config
from dasag.growth import Stage, block_border_ratio, grow_pyramid, plan_stages, reachable_sizes, stage_config, upsampled_canvas
from dasag.pyramid import ImagePyramid

ROOT = Path(__file__).resolve().parents[1]
DEMO = {"model": {"pyramid": {"class_path": "dasag.ImagePyramid", "init_args": {"max_size": 512, "max_shift": 128}}}}


# ------------------------------------------------------------------ the plan
def test_stages_scale_canvas_and_margin_together() -> None:
    stages = plan_stages({"sizes": [256, 512, 1024], "steps": [60, 24, 12]}, DEMO)
    assert stages == [Stage(0, 256, 512, 128, 60), Stage(1, 512, 1024, 256, 24), Stage(2, 1024, 2048, 512, 12)]
    assert all(s.canvas - 2 * s.max_shift == s.size for s in stages)
    das = {"model": {"pyramid": {"init_args": {"max_size": 1024, "max_shift": 128}}}}  # DAS-AG v2's 768 px: margin 1/8 of the canvas
    assert [(s.canvas, s.max_shift) for s in plan_stages({"sizes": [768, 1536], "steps": [100, 40]}, das)] == [(1024, 128), (2048, 256)]
    assert reachable_sizes(512, 128, largest=2048) == [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]


@pytest.mark.parametrize("growth, match", [
    ({"sizes": [512, 256], "steps": [10, 10]}, r"growth.sizes must increase from each stage to the next .*got \[512, 256\]"),
    ({"sizes": [256, 256], "steps": [10, 10]}, r"must increase"),
    ({"sizes": [256, 768], "steps": [10, 10]}, r"768 px is not reachable by growth: the canvas must be a power of two .*allowed: .*256, 512, 1024"),
    ({"sizes": [256, 512], "steps": [10, 0]}, r"growth.steps must be a list of 2 positive integers"),
    ({"sizes": [256, 512], "steps": [10]}, r"growth.steps must be a list of 2 positive integers"),
    ({"sizes": [256, 512], "steps": [10, 2.5]}, r"growth.steps must be a list of 2 positive integers"),
    ({"sizes": [256], "steps": [10]}, r"growth.sizes must be a list of at least two visible sizes"),
    ({"sizes": [256, 512], "steps": [10, 5], "lr": 0.1}, r"growth has an unknown key 'lr'; allowed: sizes, steps, later_stages"),
    ({"sizes": [256, 512], "steps": [10, 5], "later_stages": [1]}, r"growth.later_stages must be a mapping of config settings"),
    ({"sizes": [256, 512], "steps": [10, 5], "later_stages": {"model": {"pyramid": {"init_args": {"contrast": 0.3}}}}},
     r"growth.later_stages cannot set model.pyramid"),
    ({"sizes": [256, 512]}, r"growth needs 'steps'"),
    ([256, 512], r"growth must be a mapping"),
])
def test_a_bad_growth_block_is_one_sentence(growth, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        plan_stages(growth, DEMO)


@pytest.mark.parametrize("pyramid, match", [
    ({"class_path": "dasag.masking.MaskedPyramid", "init_args": {"init_image": "x.png"}}, r"carries over a dasag.ImagePyramid only"),
    ({"init_args": {"init_image": "x.png"}}, r"growth starts from noise; model.pyramid.init_image is set"),
    ({"init_args": {"level_step": 4}}, r"growth needs power-of-two levels \(model.pyramid level_step null\)"),
])
def test_a_pyramid_growth_cannot_carry_is_refused(pyramid, match: str) -> None:
    config = {"model": {"pyramid": {"class_path": "dasag.ImagePyramid", **pyramid}}}
    with pytest.raises(ConfigError, match=match):
        plan_stages({"sizes": [384, 768], "steps": [1, 1]}, config)


def test_a_stage_is_the_config_with_its_size_and_length_and_later_ones_with_their_settings() -> None:
    later = {"model": {"augment": {"init_args": {"jitter_enabled": False}}}}
    config = {**DEMO, "growth": {"sizes": [256, 512], "steps": [7, 3], "later_stages": later}, "trainer": {"max_steps": 60}}
    first, second = plan_stages(config["growth"], config)
    out = stage_config(config, second)
    assert "growth" not in out and out["trainer"]["max_steps"] == 3
    assert out["model"]["pyramid"]["init_args"] == {"max_size": 1024, "max_shift": 256}
    assert out["model"]["augment"]["init_args"] == {"jitter_enabled": False}
    assert "augment" not in stage_config(config, first)["model"]
    assert config["model"]["pyramid"]["init_args"]["max_size"] == 512  # the caller's config is untouched


# ------------------------------------------------------------------ carrying a pyramid over
def trained(kwargs: dict, seed: int = 0) -> ImagePyramid:
    """A 64 px canvas pyramid after 40 Adam steps towards a rough random picture: every level
    carries signal, as after an ascent (Adam moves every level at the same rate)."""
    torch.manual_seed(seed)
    p = ImagePyramid(max_size=64, max_shift=16, **kwargs)
    target = torch.rand(1, 3, 32, 32) * 1.8 - 0.9
    optimizer = torch.optim.Adam(p.parameters(), lr=0.1, betas=(0.5, 0.99))
    for _ in range(40):
        optimizer.zero_grad()
        (p() - target).pow(2).mean().backward()
        optimizer.step()
    return p


def upsampled_at_contrast(small: ImagePyramid, factor: int) -> torch.Tensor:
    """``small``'s sum of levels upsampled, then standardised to its contrast (or a start image's
    tone) and squashed: the small picture as a grown pyramid with ``contrast`` renders it, at the
    configured contrast by construction."""
    from dasag.resize import resize

    twin = ImagePyramid(max_size=small.max_size, max_shift=small.max_shift, colour=small.colour, interpolation=small.interpolation,
                        min_size=small.sizes[0])
    twin.load_state_dict(small.state_dict())
    total = resize(torch.atanh(twin.canvas().detach()), small.max_size * factor, mode=small.interpolation, antialias=False)
    total = (total - total.mean()) / (total.std() + 1e-6)
    mean, spread = (0.0, small.contrast) if small.tone is None else (small.tone[0, 0], small.tone[0, 1])
    return torch.tanh(mean + spread * total)


@pytest.mark.parametrize("kwargs", [{}, {"colour": "decorrelated", "contrast": 0.6}, {"interpolation": "bicubic", "min_size": 4}])
@pytest.mark.parametrize("factor", [2, 4])
def test_the_grown_image_is_the_small_image_upsampled(kwargs: dict, factor: int) -> None:
    small = trained(kwargs)
    large = ImagePyramid(max_size=64 * factor, max_shift=16 * factor, **kwargs)
    grow_pyramid(small, large)
    n_small, n_large = len(small.levels), len(large.levels)
    for i in range(n_small):  # carried, with the weight of a level in a longer mean made up for
        torch.testing.assert_close(large.levels[i], small.levels[i] * n_large / n_small)
    assert all(not level.any() for level in large.levels[n_small:])  # new, finer levels start at zero
    reference = upsampled_at_contrast(small, factor) if small.contrast else upsampled_canvas(small, factor)
    difference = (large.canvas().detach() - reference).abs()
    # Each level is upsampled once (not to the small canvas and again) and tanh comes after the
    # upsampling: differences on the sharpest edges only, in a range of 2.
    assert difference.mean() < 0.02 and (difference > 0.1).float().mean() < 0.02 and difference.max() < 0.4
    assert large().shape[-1] == small.visible_size * factor


def test_a_start_images_tone_carries_over_and_a_mismatched_pyramid_is_refused() -> None:
    small = trained({"contrast": 0.6})
    yy, xx = torch.meshgrid(torch.linspace(0, 4, 32), torch.linspace(0, 4, 32), indexing="ij")
    small.set_image(0.8 * torch.stack([yy.sin(), xx.cos(), (yy - xx).sin()]))  # a photograph's smoothness
    large = ImagePyramid(max_size=128, max_shift=32, contrast=0.6)
    grow_pyramid(small, large)
    assert torch.equal(large.tone, small.tone)
    difference = (large.canvas().detach() - upsampled_at_contrast(small, 2)).abs()
    assert difference.mean() < 0.02
    with pytest.raises(ValueError, match=r"grow_pyramid needs a margin 2 times wider \(got 16 -> 16\)"):
        grow_pyramid(small, ImagePyramid(max_size=128, max_shift=16, contrast=0.6))
    with pytest.raises(ValueError, match=r"grow_pyramid needs the same colour"):
        grow_pyramid(small, ImagePyramid(max_size=128, max_shift=32, contrast=0.6, colour="decorrelated"))
    with pytest.raises(ValueError, match=r"a canvas 2\*\*k times wider"):
        grow_pyramid(small, ImagePyramid(max_size=64, max_shift=16, contrast=0.6))


# ------------------------------------------------------------------ seams
def test_the_seam_measure_sees_blocks() -> None:
    rng = np.random.default_rng(0)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(64, 64, 3)), 0), 1)
    smooth = (255 * (smooth - smooth.min()) / np.ptp(smooth)).astype(np.uint8)
    assert 0.8 < block_border_ratio(smooth, 2) < 1.25
    blocky = np.repeat(np.repeat(smooth[::2, ::2], 2, 0), 2, 1)  # nearest-neighbour upsampling: every difference is on a border
    assert block_border_ratio(blocky, 2) > 3


# ------------------------------------------------------------------ the driver
def tiny_config(tmp_path: Path, steps: tuple[int, int] = (4, 3), **growth) -> Path:
    """96 -> 192 px visible (canvas 128 -> 256), Lite0 at 64 px on 2 cutouts: a few seconds."""
    config = {
        "base": [str(CONFIGS / "lite0_base.yaml"), str(CONFIGS / "quality" / "robust.yaml")],
        "model": {
            "pyramid": {"init_args": {"max_size": 128, "max_shift": 16}},
            "scorer": {"init_args": {"input_size": 64}},
            "augment": {"class_path": "dasag.cutouts.Cutouts", "init_args": {"cut_size": 64, "batch_size": 2, "min_fraction": 0.5}},
        },
        "growth": {"sizes": [96, 192], "steps": list(steps), **growth},
    }
    path = tmp_path / "tiny_growth.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_bad_input_is_one_sentence_before_anything_is_written(tmp_path: Path) -> None:
    from dasag.grow import main, prepare

    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"growth has an unknown key 'stages'"):
        prepare(tiny_config(tmp_path, stages=3), out)
    with pytest.raises(ConfigError, match=r"growth.later_stages: cutouts min_fraction must be a number in \(0, 1\]"):
        prepare(tiny_config(tmp_path, later_stages={"model": {"augment": {"init_args": {"min_fraction": 2.0}}}}), out)
    with pytest.raises(ConfigError, match=r"has no growth block"):
        prepare(CONFIGS / "demo.yaml", out)
    with pytest.raises(ConfigError, match=r"--threads must be a positive integer"):
        prepare(tiny_config(tmp_path), out, threads=0)
    bad_scorer = tiny_config(tmp_path)
    bad_scorer.write_text(bad_scorer.read_text().replace("input_size: 64", "input_size: 2"))
    with pytest.raises(ConfigError, match=r"input_size must be at least 32 px; got 2"):
        prepare(bad_scorer, out)
    assert main(["--config", str(tiny_config(tmp_path, steps=(4, -1))), "--out", str(out)]) == 2
    assert not out.exists()


@pytest.mark.slow
def test_a_growth_run_resumes_after_a_kill_to_the_same_bytes_and_its_metadata_makes_it_again(tmp_path: Path) -> None:
    """Killed (SIGKILL) during stage 2 and run again, the run continues from stage 1's file and ends with
    the bytes of a run made from nothing but the final PNG's metadata; the result has no seams."""
    config = tiny_config(tmp_path, steps=(6, 30))
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "dasag.grow", "--config", str(config), "--out", str(killed), "--threads", "1"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while not (killed / "stage_1_96px.safetensors").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed in stage 2"  # stage 2 (30 steps) has begun
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert not (killed / "final.png").exists() and not (killed / "stage_2_192px.safetensors").exists()
    stage_1 = (killed / "stage_1_96px.png").read_bytes()
    assert subprocess.run(command, env=env, capture_output=True).returncode == 0
    assert (killed / "stage_1_96px.png").read_bytes() == stage_1  # the finished stage was reused, not made again

    from dasag.images import read_metadata

    meta = read_metadata(killed / "final.png")
    assert meta["stages"] == [{"size": 96, "canvas": 128, "max_shift": 16, "steps": 6}, {"size": 192, "canvas": 256, "max_shift": 32, "steps": 30}]
    assert meta["growth"] == {"sizes": [96, 192], "steps": [6, 30]} and meta["step"] == 36 and "lite0/positive" in meta["scores"]
    again = tmp_path / "from_metadata.yaml"
    again.write_text(yaml.safe_dump(meta["config"]))
    fresh = tmp_path / "fresh"
    rc = subprocess.run([sys.executable, "-m", "dasag.grow", "--config", str(again), "--out", str(fresh), "--threads", "1"], env=env,
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
    from dasag.grow import STATE_FILE, prepare

    out = tmp_path / "out"
    out.mkdir()
    (out / STATE_FILE).write_text(json.dumps({"config": {"something": "else"}, "threads": 1}))
    with pytest.raises(ConfigError, match=r"holds the stages of another growth config"):
        prepare(tiny_config(tmp_path), out)


@pytest.mark.parametrize("name", ["cpu_1024", "siglip_1536", "siglip_2048"])
def test_the_large_configs_are_valid_growth_runs(name: str, tiny_weights_env, tmp_path: Path) -> None:
    """The shipped growth configs parse and build (no weights load); the SigLIP ones cannot run here."""
    from dasag.grow import prepare

    g = prepare(CONFIGS / "large" / f"{name}.yaml", tmp_path / "out")
    assert g.stages[-1].size == {"cpu_1024": 1024, "siglip_1536": 1536, "siglip_2048": 2048}[name]
    augment = load_config(CONFIGS / "large" / f"{name}.yaml")["model"]["augment"]
    assert augment["class_path"] == "dasag.cutouts.Cutouts"
    assert not (tmp_path / "out").exists()


def test_cli_fit_on_a_growth_config_names_the_command_that_runs_it(capsys) -> None:
    from dasag.cli import main

    assert main(["fit", "--config", str(CONFIGS / "large" / "cpu_1024.yaml")]) == 2
    assert "has a growth block (stages of growing size): run it with python -m dasag.grow --config" in capsys.readouterr().err
