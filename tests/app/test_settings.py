"""The app's form without a browser or Streamlit: its defaults come from the shipped demo and
the constructors, it becomes a ``cli.py fit`` config, and bad values are one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from dasag.app.settings import AppSettings, Augmentation, ScheduleSetting, constructor_default, demo_config
from dasag.core.errors import ConfigError
from dasag.core.schedules import Constant, ExponentialDecay, ExponentialWarmup
from dasag.image.augment import Augmentations
from dasag.objective.loss import Objective
from dasag.run.build import build_run

TINY = dict(steps=3, resolution=96, batch_size=2)


def tiny_settings(tmp_path: Path, **kw) -> AppSettings:
    return AppSettings(**{**TINY, "output_dir": str(tmp_path / "app_runs"), **kw})


def test_defaults_are_the_demo_and_the_constructors_not_restated() -> None:
    d = AppSettings()
    demo = demo_config()
    assert d.steps == demo["trainer"]["max_steps"] and d.positive_prompts == demo["data"]["positive_prompts"]
    assert d.resolution == 256 and d.batch_size == constructor_default(Augmentations, "batch_size")
    assert d.robust_recipe is True  # the demo stacks configs/quality/robust.yaml (its zoom replaced by shared.yaml's)
    assert d.sharing_recipe is True  # ... and coarse.yaml and shared.yaml after it
    assert d.tv_weight == constructor_default(Objective, "tv_weight")
    assert d.noise.schedule == ScheduleSetting.of(constructor_default(Augmentations, "noise")) and d.jitter.schedule.kind == "auto"


# ------------------------------------------------------------------ settings -> config
def test_settings_build_through_the_cli(tmp_path: Path) -> None:
    s = tiny_settings(tmp_path, learning_rate=0.05, prompt_weight=2.0, tv_weight=0.0, interpolation="bicubic",
                      aesthetic=ScheduleSetting("exponential_decay", 0.0, 1.0, 0.06), reverse_aesthetic=True)
    s.noise.enabled = False
    built = build_run(s.to_config())  # parses and instantiates, loads no weights
    m = built.model
    assert (m.pyramid.max_size, m.pyramid.max_shift, m.pyramid.interpolation) == (128, 16, "bicubic")
    assert m.augment.batch_size == 2 and m.augment.noise_enabled is False and m.augment.jitter is None
    assert m.augment.color_shift == ExponentialWarmup(start=0.05, end=0.3, rate=0.03)
    assert m.objective.aesthetic.weight == ExponentialDecay(start=0.0, end=1.0, rate=0.06)
    assert m.objective.aesthetic.weight_at(5, 10) < 0  # reverse aesthetic flips the sign
    assert m.objective.prompt.weight == 2.0
    assert m.optimizer_factory(m.pyramid.parameters()).param_groups[0]["lr"] == 0.05
    assert built.trainer.max_steps == 3 and not m.scorer.members[0].loaded
    assert built.run_config["data"]["positive_prompts"] == ["goldfish"]


def test_the_robust_recipe_switch_adds_exactly_the_presets_settings(tmp_path: Path) -> None:
    on = build_run(tiny_settings(tmp_path, robust_recipe=True, sharing_recipe=False).to_config()).model
    off = build_run(tiny_settings(tmp_path, robust_recipe=False, sharing_recipe=False).to_config()).model
    assert (on.pyramid.colour, on.pyramid.contrast, on.augment.zoom_enabled, on.augment.flip_enabled) == ("decorrelated", 0.6, True, True)
    assert (off.pyramid.colour, off.pyramid.contrast, off.augment.zoom_enabled, off.augment.flip_enabled) == ("rgb", None, False, False)
    assert on.augment.zoom(0, 1) == 0.25 and on.pyramid.max_size == off.pyramid.max_size == 128


def test_the_sharing_switch_adds_coarse_levels_and_the_edits_and_its_zoom_wins_over_the_robust_one(tmp_path: Path) -> None:
    both = build_run(tiny_settings(tmp_path, robust_recipe=True, sharing_recipe=True).to_config()).model
    alone = build_run(tiny_settings(tmp_path, robust_recipe=False, sharing_recipe=True).to_config()).model
    off = build_run(tiny_settings(tmp_path, robust_recipe=True, sharing_recipe=False).to_config()).model
    assert both.pyramid.level_gains == alone.pyramid.level_gains == [0.5, 0.25] and off.pyramid.level_gains is None
    assert (both.augment.shrink_enabled, both.augment.jpeg_enabled, both.augment.shrink(0, 1), both.augment.jpeg_quality(0, 1)) == (True, True, 1.5, 60)
    assert both.augment.zoom(0, 1) == 0.4 and both.augment.zoom_enabled  # as in the demo: shared.yaml stacked after robust.yaml
    assert not alone.augment.zoom_enabled and (off.augment.shrink_enabled, off.augment.jpeg_enabled) == (False, False)


def test_constant_schedule_and_jitter_are_written_as_numbers(tmp_path: Path) -> None:
    s = tiny_settings(tmp_path, jitter=Augmentation(True, ScheduleSetting("constant", 4.0)))
    cfg = s.to_config()
    assert cfg["model"]["augment"]["init_args"]["jitter"] == 4.0
    assert build_run(cfg).model.augment.jitter == Constant(4.0)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"positive_prompts": ["  ", ""]}, "positive prompts are empty"),
        ({"resolution": 500}, "resolution must be one of 96, 192, 256, 384, 768 px; got 500"),
        ({"learning_rate": 0.0}, "learning rate must be positive; got 0.0"),
        ({"steps": 0}, "trainer.max_steps must be a positive integer"),
        ({"batch_size": 0}, "augment batch_size must be a positive integer; got 0"),
        ({"tv_weight": -1.0}, "objective tv_weight must be a number from 0 to 1000; got -1.0"),
        ({"aesthetic": ScheduleSetting("exponential_decay", 0.0, 1.0, 1.5)}, "schedule rate must be in [0, 1); got 1.5"),
    ],
)
def test_impossible_values_are_one_sentence_before_anything_is_written(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        build_run(tiny_settings(tmp_path, **change).to_config())
    assert message in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "app_runs").exists()


def test_jitter_beyond_margin_and_unwritable_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="16 px margin"):
        tiny_settings(tmp_path, jitter=Augmentation(True, ScheduleSetting("linear", 40.0, 0.0))).to_config()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        build_run(tiny_settings(tmp_path, output_dir=str(tmp_path / "file")).to_config())


def test_unknown_class_is_reported_before_any_weights_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown ImageNet class 'goldfsh'.*goldfish"):
        build_run(tiny_settings(tmp_path, positive_prompts=["goldfsh"]).to_config())
    assert not (tmp_path / "app_runs").exists()  # nothing written


def test_a_new_random_seed_each_run_goes_into_the_config(tmp_path: Path) -> None:
    """Ticked, every Generate draws a seed; the one drawn is the config's (hence the PNG's and the YAML's)."""
    fixed = tiny_settings(tmp_path, seed=7)
    assert fixed.for_run(lambda: 123) is fixed and fixed.to_config()["seed_everything"] == 7
    fresh = tiny_settings(tmp_path, seed=7, random_seed=True)
    run = fresh.for_run(lambda: 123)
    assert run.seed == 123 and run.to_config()["seed_everything"] == 123 and fresh.seed == 7
    seeds = {fresh.for_run().seed for _ in range(5)}
    assert len(seeds) > 1 and all(0 <= s < 2**32 for s in seeds)
