"""What a scorer name resolves to: its config mapping, its unloaded scorer, and which configs it names."""

from __future__ import annotations

from dasag.scorers import EfficientNetLite
from dasag.scorers.names import Family, Registered


def test_a_registered_name_gives_its_config_and_builds_without_weights():
    entry = Registered("lite1", "dasag.scorers.EfficientNetLite", {"variant": "lite1"}, label="Lite1")
    assert entry.config() == {"class_path": "dasag.scorers.EfficientNetLite", "init_args": {"variant": "lite1"}}
    assert Registered("siglip", "dasag.scorers.SigLIP").config() == {"class_path": "dasag.scorers.SigLIP"}
    scorer = entry.build()
    assert isinstance(scorer, EfficientNetLite) and scorer.variant == "lite1" and not scorer.loaded


def test_a_config_names_the_entry_with_extra_arguments_but_not_with_other_ones():
    entry = Registered("timm:resnet18", "dasag.scorers.TimmClassifier", {"model": "resnet18"})
    assert entry.names_config({"class_path": "dasag.scorers.timm_classifier.TimmClassifier", "init_args": {"model": "resnet18", "score": "logit"}})
    assert not entry.names_config({"class_path": "dasag.scorers.TimmClassifier", "init_args": {"model": "resnet50"}})
    assert not entry.names_config(None)


def test_a_family_without_prefix_lists_its_names_and_nothing_is_available_by_default():
    family = Family(form="x", example="x", resolve=lambda n: Registered(n, "dasag.scorers.EfficientNetLite"), names=("x",))
    assert family.prefix is None and family.names == ("x",) and tuple(family.available()) == ()
    assert family.resolve("x").name == "x"
