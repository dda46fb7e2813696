"""Scorers by name: the one table the app, the held-out judges and the harness read."""

from __future__ import annotations

import pytest

from dasag.scorers import CLIP, EfficientNetLite, SigLIP, registry


def test_every_name_builds_its_class_with_its_fixed_arguments_and_no_weights():
    lite1 = registry.build("lite1")
    assert isinstance(lite1, EfficientNetLite) and lite1.variant == "lite1" and not lite1.loaded
    assert registry.config_of("lite2") == {"class_path": "dasag.scorers.EfficientNetLite", "init_args": {"variant": "lite2"}}
    assert registry.config_of("siglip") == {"class_path": "dasag.scorers.SigLIP"}
    assert {registry.get(n).text for n in registry.SCORERS} == {True, False}
    assert [n for n, e in registry.SCORERS.items() if e.offline] == ["lite0", "lite1", "lite2"]


def test_text_scorers_are_the_text_image_classes(tiny_weights_env):
    assert isinstance(registry.build("siglip"), SigLIP) and isinstance(registry.build("clip"), CLIP)


def test_an_unknown_name_is_one_sentence_listing_the_names():
    with pytest.raises(ValueError, match=r"unknown judge 'dino'; the scorer names are lite0, lite1, lite2, siglip, clip\."):
        registry.get("dino", "judge")
