"""The config layer: base files, merging, checks before anything is built, and build_run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dasag.config import (
    CONFIGS,
    ConfigError,
    build_run,
    check_writable,
    deep_merge,
    expand_config_args,
    image_config,
    load_config,
    scorer_key,
)


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
    override = {"pyramid": {"class_path": "dasag.masking.MaskedPyramid", "init_args": {"mask": "m.png"}}}
    assert deep_merge(base, override) == override


@pytest.mark.parametrize(
    "files, message",
    [
        ({"a.yaml": {"base": "a.yaml"}}, "names itself as a base"),
        ({"a.yaml": {"base": "missing.yaml"}}, "does not exist"),
        ({"a.yaml": None, "list.yaml": ["not", "a", "mapping"]}, "must hold a mapping"),
    ],
)
def test_bad_files_are_one_sentence(tmp_path, files, message):
    for name, data in files.items():
        (tmp_path / name).write_text(yaml.safe_dump(data) if data is not None else "")
    target = tmp_path / ("list.yaml" if "list.yaml" in files else "a.yaml")
    with pytest.raises(ConfigError, match=message):
        load_config(target)


def test_config_args_with_a_base_become_the_merged_text(tmp_path):
    plain = write(tmp_path / "plain.yaml", {"x": 1})
    child = write(tmp_path / "child.yaml", {"base": "plain.yaml", "y": 2})
    args = expand_config_args(["fit", "--config", str(plain), f"--config={child}", "--trainer.max_steps", "3"])
    assert args[:3] == ["fit", "--config", str(plain)]
    assert args[3] == "--config" and yaml.safe_load(args[4]) == {"x": 1, "y": 2}
    assert args[5:] == ["--trainer.max_steps", "3"]


def test_writable_check_creates_nothing(tmp_path):
    check_writable(tmp_path / "new" / "deeper", "out")
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="out .* exists and is not a directory"):
        check_writable(tmp_path / "file", "out")
    with pytest.raises(ConfigError, match="is not writable"):
        check_writable(tmp_path / "file" / "below", "out")


def test_image_config_keeps_what_decides_the_image():
    cfg = {"seed_everything": 3, "model": {"a": 1}, "data": {"b": 2}, "trainer": {"default_root_dir": "x", "max_steps": 9}}
    assert image_config(cfg, 9) == {"seed_everything": 3, "model": {"a": 1}, "data": {"b": 2}, "trainer": {"max_steps": 9}}


def demo(tmp_path: Path, **model) -> dict:
    cfg = load_config(CONFIGS / "demo.yaml")
    cfg["trainer"]["default_root_dir"] = str(tmp_path / "runs")
    return deep_merge(cfg, {"model": model}) if model else cfg


def test_build_run_builds_what_the_cli_builds_and_loads_nothing(tmp_path):
    built = build_run(demo(tmp_path))
    assert built.trainer.max_steps == 60 and not built.model.scorer.members[0].loaded
    assert built.run_config == built.model.run_config
    assert built.run_config["model"]["augment"]["init_args"]["batch_size"] == 8  # resolved: every default written out
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"pyramid": {"init_args": {"max_size": 100}}}, "power of two"),
        ({"augment": {"init_args": {"batch_size": 0}}}, "batch_size must be a positive integer"),
        ({"objective": {"init_args": {"tv_weight": -1.0}}}, "tv_weight must be non-negative"),
    ],
)
def test_build_run_errors_are_one_sentence(tmp_path, change, message):
    with pytest.raises(ConfigError) as e:
        build_run(demo(tmp_path, **change))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_build_run_checks_prompts_against_the_scorer_before_weights_load(tmp_path):
    cfg = deep_merge(demo(tmp_path), {"data": {"positive_prompts": ["goldfsh"]}})
    with pytest.raises(ConfigError, match="Closest class names: goldfish"):
        build_run(cfg)


def test_shared_scorer_is_used_and_keyed_by_the_scorer_config(tmp_path):
    cache: dict = {}
    first = build_run(demo(tmp_path), share_scorer=lambda key, fresh: cache.setdefault(key, fresh))
    second = build_run(demo(tmp_path), share_scorer=lambda key, fresh: cache.setdefault(key, fresh))
    assert second.model.scorer is first.model.scorer and list(cache) == [scorer_key(demo(tmp_path))]


@pytest.mark.parametrize(
    ("report", "sentence"),
    [
        ('Parser key "model.objective":\n  Does not validate against any of the Union subtypes\n  Subtypes: [<class \'dasag.objective.Objective\'>, '
         "<class 'NoneType'>]\n  Errors:\n    - Problem with given class_path 'dasag.Objective':\n        Parser key \"arctanh_on\":\n"
         "          Expected a typing.Literal['copy', 'batch_mean']. Got value: batch\n    - Expected a <class 'NoneType'>\n"
         "  Given value type: <class 'dict'>\n  Given value: {'class_path': 'dasag.Objective'}",
         "model.objective.arctanh_on: expected one of 'copy', 'batch_mean'; got 'batch'."),
        ('Parser key "model.pyramid":\n  Problem with given class_path \'dasag.ImagePyramid\':\n    Option \'colour\' is not accepted',
         "model.pyramid: option 'colour' is not accepted."),
        ('Parser key "trainer.max_steps":\n  Expected a <class \'int\'>. Got value: many', "trainer.max_steps: expected int; got 'many'."),
    ],
)
def test_parser_reports_become_one_sentence_with_the_key_path(report, sentence):
    from dasag.config import parser_sentence

    assert parser_sentence(report) == sentence


def test_a_stored_json_file_a_kill_broke_is_one_sentence_with_the_advice(tmp_path) -> None:
    from dasag.config import read_stored_json

    path = tmp_path / "state.json"
    assert read_stored_json(path, "advice.") is None  # no run yet
    path.write_text('{"config": {}}')
    assert read_stored_json(path, "advice.", "config") == {"config": {}}
    for text, reason in (("", "empty"), ("[1, 2]", "not a JSON mapping"), ("{oops", "not a JSON mapping"), ('{"a": 1}', "it has no 'config'")):
        path.write_text(text)
        with pytest.raises(ConfigError, match=rf"state.json' is unreadable \({reason}\): advice\.$"):
            read_stored_json(path, "advice.", "config")
