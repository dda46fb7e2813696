"""What a picture records: the config values that differ from the defaults, enough to make it again."""

from __future__ import annotations

import inspect
import io

import pytest
from PIL import Image

from dasag.core.config import CONFIGS, deep_merge, load_config
from dasag.core.schedules import ExponentialWarmup
from dasag.image.pyramid import ImagePyramid
from dasag.run.build import QUIET_TRAINER, build_run
from dasag.run.metadata import constructor_default, image_config, without_defaults

TINY = {"model": {"pyramid": {"init_args": {"max_size": 64, "max_shift": 8}}, "augment": {"init_args": {"batch_size": 2}},
                  "scorer": {"init_args": {"input_size": 64}}},
        "trainer": {"max_steps": 2}}


def tiny_demo(tmp_path) -> dict:
    cfg = deep_merge(load_config(CONFIGS / "demo.yaml"), TINY)
    return deep_merge(cfg, {"trainer": {**QUIET_TRAINER, "default_root_dir": str(tmp_path)}})


def picture_png(cfg: dict) -> bytes:
    built = build_run(cfg, load_weights=True)
    built.fit()
    return built.picture().png()


def test_a_value_equal_to_its_default_is_left_out_and_a_different_one_kept():
    kept = without_defaults({"class_path": "dasag.ImagePyramid", "init_args": {"max_size": 512, "max_shift": 128, "colour": "rgb"}})
    assert kept == {"class_path": "dasag.ImagePyramid", "init_args": {"max_shift": 128}}
    assert without_defaults({"class_path": "dasag.ImagePyramid", "init_args": {"max_size": 512}}) == {"class_path": "dasag.ImagePyramid"}


def test_a_schedule_equal_to_the_default_object_is_left_out_whatever_path_names_its_class():
    default = constructor_default(__import__("dasag").Augmentations, "noise")
    assert isinstance(default, ExponentialWarmup)
    same = {"class_path": "dasag.core.schedules.ExponentialWarmup", "init_args": {"start": 0.2, "end": 0.5, "rate": 0.03, "exact_end": False}}
    other = {"class_path": "dasag.ExponentialWarmup", "init_args": {"start": 0.2, "end": 0.6}}
    kept = without_defaults({"class_path": "dasag.Augmentations", "init_args": {"noise": same, "color_shift": other}})
    # a schedule that differs keeps its class and the arguments its own constructor has no default for, or that differ from it
    assert kept == {"class_path": "dasag.Augmentations", "init_args": {"color_shift": {"class_path": "dasag.ExponentialWarmup",
                                                                                     "init_args": {"start": 0.2, "end": 0.6}}}}


def test_image_config_keeps_the_seed_and_the_run_length_and_drops_default_module_arguments():
    config = {"seed_everything": 3, "model": {"compile": "none", "seed": None, "schedule_time_base": "steps"}, "data": {"prompts_file": None}}
    assert image_config(config, 7) == {"seed_everything": 3, "model": {"schedule_time_base": "steps"}, "trainer": {"max_steps": 7}}


@pytest.mark.slow
def test_the_recorded_config_makes_the_same_picture_again(tmp_path):
    """build_run on the config a PNG records gives the same bytes: the defaults it leaves out come back."""
    import json

    first = picture_png(tiny_demo(tmp_path))
    recorded = json.loads(Image.open(io.BytesIO(first)).text["dasag"])["config"]
    again = picture_png(deep_merge(recorded, {"trainer": {**QUIET_TRAINER, "default_root_dir": str(tmp_path)}}))
    assert again == first


@pytest.mark.slow
def test_adding_an_option_that_is_off_by_default_changes_no_byte(tmp_path, monkeypatch):
    """A new constructor argument with a default (here a dummy on the pyramid) leaves every picture's
    bytes as they were: the metadata records what differs from the defaults, not every argument."""
    before = picture_png(tiny_demo(tmp_path))
    original = ImagePyramid.__init__
    signature = inspect.signature(original)

    def with_dummy(self, *args, dummy_option: bool = False, **kwargs):
        assert dummy_option is False
        original(self, *args, **kwargs)

    parameters = [*signature.parameters.values(), inspect.Parameter("dummy_option", inspect.Parameter.KEYWORD_ONLY, default=False,
                                                                     annotation=bool)]
    with_dummy.__signature__ = signature.replace(parameters=parameters)
    with_dummy.__doc__ = original.__doc__
    monkeypatch.setattr(ImagePyramid, "__init__", with_dummy)
    assert "dummy_option" in inspect.signature(ImagePyramid.__init__).parameters  # what jsonargparse reads
    after = picture_png(tiny_demo(tmp_path))
    assert after == before


def test_image_config_keeps_what_decides_the_image():
    cfg = {"seed_everything": 3, "model": {"a": 1}, "data": {"b": 2}, "trainer": {"default_root_dir": "x", "max_steps": 9}}
    assert image_config(cfg, 9) == {"seed_everything": 3, "model": {"a": 1}, "data": {"b": 2}, "trainer": {"max_steps": 9}}
