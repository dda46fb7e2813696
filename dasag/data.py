"""What each ascent step is fed: the prompt set, once per step, for as many steps as asked.

There is no dataset to learn from; the "data" of a Direct Ascent run is its prompts. The
loader repeats them forever and ``trainer.max_steps`` alone decides how many steps run, so
a run resumed mid-way sees exactly the same batches as one that never stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import lightning as L
from torch.utils.data import DataLoader, IterableDataset

from dasag.config import read_yaml_file


class PromptSet(NamedTuple):
    """Positive and negative prompts: text for text-image scorers, class names for classifiers."""

    positive: tuple[str, ...]
    negative: tuple[str, ...]

    @classmethod
    def of(cls, batch: PromptSet | tuple) -> PromptSet:
        """A step's batch as a PromptSet of tuples (the loader's collation turns them into lists)."""
        positive, negative = batch
        return cls(tuple(positive), tuple(negative))


class _RepeatPrompts(IterableDataset):
    def __init__(self, prompts: PromptSet) -> None:
        self.prompts = prompts

    def __iter__(self) -> Iterator[PromptSet]:
        while True:
            yield self.prompts


def read_prompts_file(path: str | Path) -> PromptSet:
    """A YAML file with ``positive_prompts`` and optional ``negative_prompts`` lists."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompts_file {str(path)!r} does not exist.")
    data = read_yaml_file(path, "prompts_file")
    unknown = set(data) - {"positive_prompts", "negative_prompts"}
    if unknown:
        raise ValueError(f"prompts_file {str(path)!r} has unknown keys {sorted(unknown)}; allowed: positive_prompts, negative_prompts.")
    lists = []
    for key in ("positive_prompts", "negative_prompts"):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in value):
            raise ValueError(f"prompts_file {str(path)!r}: {key} must be a list of prompts (texts, or ImageNet class names or indices).")
        lists.append(tuple(map(str, value)))
    return PromptSet(*lists)


class PromptDataModule(L.LightningDataModule):
    """Feeds the prompt set to every step."""

    def __init__(
        self,
        positive_prompts: list[str] | None = None,
        negative_prompts: list[str] | None = None,
        prompts_file: str | None = None,
    ) -> None:
        """
        Args:
            positive_prompts: what the image should be (text, or ImageNet class names for classifiers).
            negative_prompts: what it should not be.
            prompts_file: a YAML file with ``positive_prompts`` / ``negative_prompts``; prompts given
                directly are added after the file's.
        """
        super().__init__()
        positive = list(positive_prompts or [])
        negative = list(negative_prompts or [])
        if prompts_file is not None:
            from_file = read_prompts_file(prompts_file)
            positive = list(from_file.positive) + positive
            negative = list(from_file.negative) + negative
        if any(not str(p).strip() for p in positive + negative):
            raise ValueError("prompts must be non-empty strings; got an empty prompt.")
        self.prompts = PromptSet(tuple(positive), tuple(negative))

    def train_dataloader(self) -> DataLoader:
        # batch_size=None: each item is one step's batch, passed through uncollated.
        return DataLoader(_RepeatPrompts(self.prompts), batch_size=None, num_workers=0)
