"""The prompts: given inline or in a file, checked, and fed to every step."""

from __future__ import annotations

import pytest
import yaml

from dasag.run.data import PromptDataModule, PromptSet, read_prompts_file


def test_file_prompts_come_first_then_inline_ones(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"positive_prompts": ["a cat"], "negative_prompts": ["blurred"]}))
    dm = PromptDataModule(positive_prompts=["a dog"], prompts_file=str(path))
    assert dm.prompts == PromptSet(("a cat", "a dog"), ("blurred",))


def test_every_step_gets_the_same_prompt_set():
    loader = iter(PromptDataModule(positive_prompts=["goldfish"]).train_dataloader())
    batches = [next(loader) for _ in range(3)]
    assert all(PromptSet.of(b) == PromptSet(("goldfish",), ()) for b in batches)


def test_bad_prompts_are_one_sentence(tmp_path):
    with pytest.raises(ValueError, match="non-empty strings"):
        PromptDataModule(positive_prompts=["  "])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_prompts_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"positive": ["a"]}))
    with pytest.raises(ValueError, match="unknown keys \\['positive'\\]"):
        read_prompts_file(bad)
