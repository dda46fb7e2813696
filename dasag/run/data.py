"""What each ascent step is fed: the prompt set, once per step, for as many steps as asked.

There is no dataset to learn from; the "data" of a Direct Ascent run is its prompts. The
loader repeats them forever and ``trainer.max_steps`` alone decides how many steps run, so
a run resumed mid-way sees exactly the same batches as one that never stopped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import lightning as L
from torch.utils.data import DataLoader, IterableDataset

from dasag.core.errors import ConfigError, first_line
from dasag.core.prompts import Prompt, WeightedPrompts, check_image_prompts, parse_prompts, strength
from dasag.core.safe_yaml import read_yaml_file


class PromptSet(NamedTuple):
    """Positive and negative prompts: text for text-image scorers, class names for classifiers,
    each with a weight (:mod:`dasag.core.prompts`), and image prompts (path, signed weight)."""

    positive: tuple[str, ...]
    negative: tuple[str, ...]
    #: The positive prompts' weights where they are not all 1 (empty: every weight is 1).
    positive_weights: tuple[float, ...] = ()
    #: How hard each negative prompt pushes away, where not all 1 (empty: every one is 1).
    negative_weights: tuple[float, ...] = ()
    #: Image prompts: (file, weight); a negative weight pushes away from the picture.
    images: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, batch: PromptSet | tuple) -> PromptSet:
        """A step's batch as a PromptSet of tuples (the loader's collation turns them into lists)."""
        positive, negative, *rest = batch
        pw, nw, images = (list(rest) + [(), (), ()])[:3]
        return cls(tuple(positive), tuple(negative), tuple(map(float, pw)), tuple(map(float, nw)), tuple((str(p), float(w)) for p, w in images))

    @classmethod
    def from_weighted(cls, prompts: WeightedPrompts) -> PromptSet:
        """The canonical set: weights stored only where some differ from 1, so plain prompts compare equal to before."""
        def weights(side: tuple[Prompt, ...]) -> tuple[float, ...]:
            return tuple(p.weight for p in side) if any(p.weight != 1.0 for p in side) else ()

        return cls(tuple(p.text for p in prompts.positive), tuple(p.text for p in prompts.negative),
                   weights(prompts.positive), weights(prompts.negative), tuple((p.text, p.weight) for p in prompts.images))

    @classmethod
    def parse(cls, positive: list | tuple = (), negative: list | tuple = (), where: str = "") -> PromptSet:
        """Config prompt lists (any form :mod:`dasag.core.prompts` reads) -> the canonical set; ``ValueError`` if bad."""
        parsed = parse_prompts(positive, negative, where)
        check_image_prompts(parsed.images, where)
        return cls.from_weighted(parsed)

    def weights(self, side: str) -> tuple[float, ...]:
        """Every weight of the ``positive`` or ``negative`` side, 1 where none was given."""
        stored = self.positive_weights if side == "positive" else self.negative_weights
        return stored or (1.0,) * len(getattr(self, side))

    def strengths(self) -> tuple[float, float]:
        """Each side's strength in the loss: its mean weight (see :class:`~dasag.objective.loss.PromptTerm`)."""
        return strength(self.weights("positive")), strength(self.weights("negative"))

    def to_metadata(self) -> dict[str, Any]:
        """What a PNG records: the lists as before, plus the weights and image prompts when there are any."""
        out: dict[str, Any] = {"positive": list(self.positive), "negative": list(self.negative)}
        if self.positive_weights:
            out["positive_weights"] = list(self.positive_weights)
        if self.negative_weights:
            out["negative_weights"] = list(self.negative_weights)
        if self.images:
            out["images"] = [{"image": p, "weight": w} for p, w in self.images]
        return out


class _RepeatPrompts(IterableDataset):
    def __init__(self, prompts: PromptSet) -> None:
        self.prompts = prompts

    def __iter__(self) -> Iterator[PromptSet]:
        while True:
            yield self.prompts


def read_prompt_entries(path: str | Path) -> tuple[list, list]:
    """The ``positive_prompts`` and optional ``negative_prompts`` lists of a YAML file, as written
    (texts, ImageNet class names or indices, weighted forms; see :mod:`dasag.core.prompts`)."""
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
        if not isinstance(value, list):
            raise ValueError(f"prompts_file {str(path)!r}: {key} must be a list of prompts (texts, or ImageNet class names or indices).")
        lists.append(value)
    parse_prompts(*lists, where=f"prompts_file {str(path)!r} ")  # every entry checked here, naming the file
    return lists[0], lists[1]


def read_prompts_file(path: str | Path) -> PromptSet:
    """A YAML file with ``positive_prompts`` and optional ``negative_prompts`` lists, parsed."""
    return PromptSet.parse(*read_prompt_entries(path), where=f"prompts_file {str(path)!r} ")


class PromptDataModule(L.LightningDataModule):
    """Feeds the prompt set to every step."""

    def __init__(
        self,
        positive_prompts: list[str | dict[str, Any]] | None = None,
        negative_prompts: list[str | dict[str, Any]] | None = None,
        prompts_file: str | None = None,
    ) -> None:
        """
        Args:
            positive_prompts: what the image should be (text, or ImageNet class names for classifiers);
                weighted forms as in VQGAN+CLIP: ``"a castle | misty:0.5 | text:-1"``, ``{text: ..., weight: ...}``,
                ``image:PATH`` (an image prompt); a negative weight pushes away (see :mod:`dasag.core.prompts`).
            negative_prompts: what it should not be (a weight here is how hard, and must be positive).
            prompts_file: a YAML file with ``positive_prompts`` / ``negative_prompts``; prompts given
                directly are added after the file's.
        """
        super().__init__()
        positive = list(positive_prompts or [])
        negative = list(negative_prompts or [])
        if prompts_file is not None:
            file_positive, file_negative = read_prompt_entries(prompts_file)
            positive = file_positive + positive
            negative = file_negative + negative
        if any(isinstance(p, str) and not p.strip() for p in positive + negative):
            raise ValueError("prompts must be non-empty strings; got an empty prompt.")
        self.prompts = PromptSet.parse(positive, negative, where="data.")

    def train_dataloader(self) -> DataLoader:
        # batch_size=None: each item is one step's batch, passed through uncollated.
        return DataLoader(_RepeatPrompts(self.prompts), batch_size=None, num_workers=0)


def resolve_prompts_file(value: str, config: str | os.PathLike) -> Path:
    """A ``data.prompts_file`` as given, else relative to the naming config's folder or its parent
    (shipped configs name ``configs/prompts/...`` relative to the checkout, which is that parent)."""
    config = Path(config)
    for candidate in (Path(value), config.parent / value, config.parent.parent / value):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"prompts_file {value!r} named by {str(config)!r} does not exist (looked in the working directory and next to the config).")


def inline_prompts(config: dict[str, Any], config_file: str | os.PathLike) -> dict[str, Any]:
    """The config with ``data.prompts_file`` (named relative to the working folder or to
    ``config_file``) read into the prompt lists, the file's prompts first: a config that is whole on
    its own, so the one a picture records runs from any folder."""
    data = dict(config.get("data") or {})
    if not data.get("prompts_file"):
        return config
    try:
        positive, negative = read_prompt_entries(resolve_prompts_file(str(data.pop("prompts_file")), config_file))
    except (ValueError, FileNotFoundError) as e:
        raise ConfigError(first_line(e)) from None
    data["positive_prompts"] = positive + list(data.get("positive_prompts") or [])
    data["negative_prompts"] = negative + list(data.get("negative_prompts") or [])
    return {**config, "data": data}
