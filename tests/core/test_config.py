"""The config layer: base files, merging, checks before anything is built, and build_run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from dasag.core.config import config_file, deep_merge, expand_config_args, load_config, merge_bases
from dasag.core.errors import ConfigError


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_base_files_merge_underneath_in_order(tmp_path):
    write(tmp_path / "a.yaml", {"x": 1, "model": {"scorer": {"class_path": "A", "init_args": {"k": 1, "j": 2}}}})
    write(tmp_path / "b.yaml", {"x": 2, "y": 3})
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "c.yaml", {"base": ["../a.yaml", "../b.yaml"], "model": {"scorer": {"init_args": {"k": 5}}}})
    assert load_config(tmp_path / "sub" / "c.yaml") == {"x": 2, "y": 3, "model": {"scorer": {"class_path": "A", "init_args": {"k": 5, "j": 2}}}}


def test_another_class_path_replaces_the_whole_mapping():
    base = {"pyramid": {"class_path": "dasag.ImagePyramid", "init_args": {"max_size": 256, "init_image": "x.png"}}}
    override = {"pyramid": {"class_path": "dasag.MaskedPyramid", "init_args": {"mask": "m.png"}}}
    assert deep_merge(base, override) == override


def test_config_args_become_their_text_with_the_base_merged_and_the_transform_applied(tmp_path):
    plain = write(tmp_path / "plain.yaml", {"x": 1})
    child = write(tmp_path / "child.yaml", {"base": "plain.yaml", "y": 2})
    seen = []
    args = expand_config_args(["--config", str(plain), f"--config={child}", "--trainer.max_steps", "3"],
                              lambda config, path: seen.append(path) or {**config, "z": 3})
    assert args[:1] == ["--config"] and yaml.safe_load(args[1]) == {"x": 1, "z": 3}
    assert args[2] == "--config" and yaml.safe_load(args[3]) == {"x": 1, "y": 2, "z": 3}
    assert args[4:] == ["--trainer.max_steps", "3"] and seen == [plain, child]


def test_a_shipped_config_is_found_by_its_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("demo", "demo.yaml", "configs/demo.yaml", "large/cpu_1024"):
        assert config_file(name).is_file() and config_file(name).parent.name in ("configs", "large")
    with pytest.raises(ConfigError, match="does not exist, here or among the shipped configs .*demo"):
        config_file("demmo")



@pytest.mark.parametrize(("base", "words"), [(3, "got 3"), ([None], "got [None]"), ({"x": 1}, "got {'x': 1}"), ([""], "got ['']")])
def test_a_base_that_is_not_a_name_is_one_sentence(base, words, tmp_path):
    """``base: 3`` and ``base: [null]`` were a TypeError from inside the loader; ``base: {x: 1}`` looked for a config 'x'."""
    child = write(tmp_path / "child.yaml", {"base": base, "y": 2})
    with pytest.raises(ConfigError, match=r"child.yaml': base must name a config \(a file, or a shipped config such as demo\) or a list of them; "
                       + re.escape(words)):
        load_config(child)


def test_an_empty_config_name_is_one_sentence_not_a_folder():
    """``--config ''`` read as the working folder: "config '' is a folder"."""
    with pytest.raises(ConfigError, match="config '' is empty; name a YAML file or a shipped config"):
        config_file("")


def test_a_mapping_merges_its_bases_like_a_file(tmp_path):
    write(tmp_path / "a.yaml", {"x": 1, "y": 1})
    assert merge_bases({"base": "a.yaml", "y": 2}, tmp_path, "config") == {"x": 1, "y": 2}
    assert merge_bases({"base": "demo"}, tmp_path, "config")["model"] == load_config(config_file("demo"))["model"]


LITE = "dasag.scorers.EfficientNetLite"
GUIDE = {"class_path": LITE, "init_args": {"variant": "lite2", "weights_path": "lite2.pth", "input_size": 64, "score": "logit", "drop_connect": 0.2}}
ENSEMBLE = {"class_path": "dasag.scorers.ScorerEnsemble",
            "init_args": {"scorers": [{"class_path": LITE}, {"class_path": LITE, "init_args": {"variant": "lite1", "drop_connect": 0.0}},
                                      {"class_path": "dasag.scorers.SigLIP"}], "weights": [1, 1, 1]}}


def test_a_swapped_in_ensemble_carries_the_guides_settings_to_its_members_of_that_class():
    """quality/ensemble_lite on the demo lost the demo's logit objective and drop-connect: the ensemble replaced the guide whole."""
    merged = deep_merge({"model": {"scorer": GUIDE}}, {"model": {"scorer": ENSEMBLE}})["model"]["scorer"]
    lite0, lite1, siglip = merged["init_args"]["scorers"]
    assert lite0 == {"class_path": LITE, "init_args": {"score": "logit", "drop_connect": 0.2}}  # which network, and its side, stay the member's
    assert lite1 == {"class_path": LITE, "init_args": {"score": "logit", "drop_connect": 0.0, "variant": "lite1"}}  # the member's own win
    assert siglip == {"class_path": "dasag.scorers.SigLIP"} and merged["init_args"]["weights"] == [1, 1, 1]
    assert deep_merge({"s": {"class_path": LITE}}, {"s": ENSEMBLE}) == {"s": ENSEMBLE}  # nothing to carry
    other = {"class_path": "dasag.scorers.SigLIP", "init_args": {"aesthetic": 1.0}}
    assert deep_merge({"s": GUIDE}, {"s": other}) == {"s": other}  # another class, no members: replaced whole, as before


def test_stacked_config_args_carry_the_guides_settings_as_a_merge_does(tmp_path):
    """``dasag fit --config A --config B``: jsonargparse merges the texts, and replaced the guide whole."""
    guide = write(tmp_path / "guide.yaml", {"model": {"scorer": GUIDE}})
    ensemble = write(tmp_path / "ensemble.yaml", {"model": {"scorer": ENSEMBLE}})
    args = expand_config_args(["--config", str(guide), "--config", str(ensemble)])
    assert yaml.safe_load(args[3]) == deep_merge({"model": {"scorer": GUIDE}}, {"model": {"scorer": ENSEMBLE}})
    inline = expand_config_args(["--config", str(guide), "--config", yaml.safe_dump({"model": {"scorer": ENSEMBLE}})])
    assert yaml.safe_load(inline[3]) == yaml.safe_load(args[3])
    plain = expand_config_args(["--config", str(guide), "--config", "{trainer: {max_steps: 3}}"])
    assert plain[3] == "{trainer: {max_steps: 3}}"  # a text with nothing to carry reaches the parser as written
