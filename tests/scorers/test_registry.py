"""Scorers by name: the one table the app, the held-out judges and the harness read."""

from __future__ import annotations

import pytest

from dasag.scorers import CLIP, EfficientNetLite, SigLIP, registry


def test_every_name_builds_its_class_with_its_fixed_arguments_and_no_weights():
    lite1 = registry.build("lite1")
    assert isinstance(lite1, EfficientNetLite) and lite1.variant == "lite1" and not lite1.loaded
    assert registry.config_of("lite2") == {"class_path": "dasag.scorers.EfficientNetLite", "init_args": {"variant": "lite2"}}
    assert registry.config_of("siglip") == {"class_path": "dasag.scorers.SigLIP"}
    assert {registry.get(n).text for n in registry.fixed_names()} == {True, False}
    assert [n for n in registry.fixed_names() if registry.get(n).offline] == ["lite0", "lite1", "lite2"]


def test_text_scorers_are_the_text_image_classes(tiny_weights_env):
    assert isinstance(registry.build("siglip"), SigLIP) and isinstance(registry.build("clip"), CLIP)


def test_an_unknown_name_is_one_sentence_listing_the_forms_and_the_closest_names():
    with pytest.raises(ValueError, match=r"^unknown judge 'dino'; a scorer is named lite0, lite1, lite2, siglip, clip") as e:
        registry.get("dino", "judge")
    assert "\n" not in str(e.value) and str(e.value).endswith(".")
    with pytest.raises(ValueError, match=r"unknown scorer 'lite3' \(closest: lite2, lite1, lite0\)"):
        registry.get("lite3")


def test_a_name_that_is_not_a_string_or_is_empty_is_one_sentence():
    for bad in ("", "  ", None, 3):
        with pytest.raises(ValueError, match="must be a scorer name such as lite0"):
            registry.get(bad)


def test_a_config_is_recognised_as_a_name_by_class_and_the_names_arguments():
    lite0 = registry.get("lite0")
    assert lite0.names_config({"class_path": "dasag.scorers.EfficientNetLite", "init_args": {"variant": "lite0", "score": "logit"}})
    assert lite0.names_config({"class_path": "dasag.scorers.efficientnet.EfficientNetLite", "init_args": {"variant": "lite0"}})
    assert not lite0.names_config({"class_path": "dasag.scorers.EfficientNetLite", "init_args": {"variant": "lite1"}})
    assert not lite0.names_config({"class_path": "dasag.scorers.SigLIP"})
    assert not lite0.names_config("lite0")


def test_every_family_declares_a_form_and_the_offline_ones_are_always_available(monkeypatch):
    assert registry.fixed_names()[:5] == ["lite0", "lite1", "lite2", "siglip", "clip"]
    assert all(f.form and f.example for f in registry.families())
    for family in registry.families():  # each family's example resolves to its own class
        if family.prefix is not None:
            assert registry.get(family.example).name == family.example
    names = [e.name for e in registry.available()]
    assert names[:3] == ["lite0", "lite1", "lite2"]


def test_siglip_is_available_only_where_its_weights_are(tiny_weights_env, monkeypatch):
    from dasag.scorers.weights import WeightLocations, use_weight_locations

    assert "siglip" in [e.name for e in registry.available()]
    use_weight_locations(WeightLocations(siglip_model="/nonexistent/siglip", offline=True))
    try:
        assert "siglip" not in [e.name for e in registry.available()]
    finally:
        use_weight_locations(None)
