"""What the task engine runs: a task's key, a suite's methods, a run's options as JSON, and a row's config fingerprint."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest

from dasag.batch.tasks import Method, RunSpec, Suite, Task, row_digest


def suite() -> Suite:
    methods = (Method("pyramid", "Pyramid", Path("pyramid.yaml")), Method("pixel", "Pixels", Path("pixel.yaml"), single_resolution=True),
               Method("robust", "Robust", Path("robust.yaml"), step_share=0.5))
    return Suite("transfer", methods, key_columns=("method", "sample", "seed"), score_columns=("lite0/positive",))


def test_a_tasks_key_is_its_method_and_sample():
    task = Task("pyramid", 3, seed=10, prompt="goldfish")
    assert task.key == ("pyramid", 3)
    assert Task("pyramid", 3, seed=11).key == task.key  # the seed is not part of the key


def test_a_tasks_overrides_and_columns_leave_its_identity_alone():
    plain = Task("row", 0, 5, prompt="a cat")
    detailed = Task("row", 0, 5, prompt="a cat", overrides={"trainer": {"max_steps": 3}}, columns={"name": "cat"})
    assert plain == detailed and hash(plain) == hash(detailed)  # mappings inside: still hashable, e.g. in a set
    assert Task("row", 0, 6, prompt="a cat") != plain and Task("row", 0, 5, prompt="a dog") != plain


def test_a_suite_finds_its_methods_and_labels_by_name():
    s = suite()
    assert s.method("pixel").single_resolution and s.method("robust").step_share == 0.5
    assert s.label("pyramid") == "Pyramid"


def test_an_unknown_method_is_one_sentence_listing_the_allowed_ones():
    with pytest.raises(ValueError, match=r"^unknown method 'pixels' for suite 'transfer'; allowed: pyramid, pixel, robust\.$"):
        suite().method("pixels")
    with pytest.raises(ValueError, match="allowed: pyramid, pixel, robust"):
        suite().label("nope")


def full_spec(tmp_path: Path) -> RunSpec:
    return RunSpec(suite="batch", out=tmp_path / "out", methods=["row"], samples=4, classes=None, seeds=2, steps=30, base_seed=7,
                   eval_scorers=["clip"], overrides={"model": {"pyramid": {"init_args": {"max_size": 64}}}}, devices=2, accelerator="cpu",
                   threads=1, compare=[tmp_path / "a", tmp_path / "b"], rows=tmp_path / "rows.csv", config=tmp_path / "run.yaml", num_nodes=2)


def test_a_run_spec_survives_json_and_back(tmp_path):
    for spec in (full_spec(tmp_path), RunSpec(suite="transfer", out=tmp_path / "t")):
        data = json.loads(json.dumps(spec.to_json()))  # what a spawned worker is handed: plain JSON
        again = RunSpec.from_json(data)
        assert again == spec
        assert isinstance(again.out, Path) and all(isinstance(c, Path) for c in again.compare)
    assert RunSpec.from_json(RunSpec(suite="transfer", out=tmp_path).to_json()).rows is None


def test_to_json_writes_paths_as_text(tmp_path):
    data = full_spec(tmp_path).to_json()
    assert data["out"] == str(tmp_path / "out") and data["compare"] == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert data["rows"] == str(tmp_path / "rows.csv") and data["config"] == str(tmp_path / "run.yaml")


def test_a_row_digest_is_short_hex_and_the_same_for_equal_configs():
    config = {"seed_everything": 3, "model": {"pyramid": {"init_args": {"max_size": 64}}}, "data": {"positive_prompts": ["a cat"]}}
    reordered = {"data": {"positive_prompts": ["a cat"]}, "model": {"pyramid": {"init_args": {"max_size": 64}}}, "seed_everything": 3}
    digest = row_digest(config)
    assert len(digest) == 16 and set(digest) <= set(string.hexdigits.lower())
    assert row_digest(reordered) == digest == row_digest(json.loads(json.dumps(config)))


def test_a_row_digest_changes_with_any_value():
    config = {"seed_everything": 3, "model": {"pyramid": {"init_args": {"max_size": 64}}}, "data": {"positive_prompts": ["a cat"]}}
    changed = [
        {**config, "seed_everything": 4},
        {**config, "model": {"pyramid": {"init_args": {"max_size": 65}}}},
        {**config, "data": {"positive_prompts": ["a cat", "a dog"]}},
        {**config, "data": {"positive_prompts": ["a dog"]}},
        {**config, "trainer": {"max_steps": 10}},
        {**config, "seed_everything": "3"},  # another type of value is another config
    ]
    digests = {row_digest(c) for c in changed}
    assert row_digest(config) not in digests and len(digests) == len(changed)
