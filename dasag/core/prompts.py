"""Weighted prompts: ``"a castle | misty:0.5 | text:-1"``, ``{text: ..., weight: ...}`` and image prompts.

The syntax users bring from VQGAN+CLIP and the original DAS notebook, read in one place so the
config, the command line, the app, the batch runner and the animation keyframes agree:

* a prompt string may hold several prompts separated by ``|``;
* each may end in ``:weight``, a number (``misty:0.5``); a negative weight turns the prompt into
  a negative one (``text:-1``: push the image away from it), and weight 0 leaves it out;
* ``image:PATH`` (optionally ``image:PATH:weight``) is an image prompt: the image embedding of
  the run's first scorer is pulled towards that picture's (the reference-image term);
* in a YAML list an entry may also be a mapping ``{text: ..., weight: ...}`` or
  ``{image: ..., weight: ...}``, which needs no escaping (a text that itself ends in ``:2``).

A prompt in ``negative_prompts`` is pushed away with its weight as the strength, which must then be
positive. What the weights mean in the loss is stated in :class:`~dasag.objective.loss.PromptTerm`:
each side (positive, negative) is the weight-averaged agreement times its mean weight, so equal
weights of 1 are the plain mean of before, and ``castle:2`` pulls twice as hard as ``castle``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dasag.core.files import user_file
from dasag.core.ranges import WEIGHT

#: ``text:weight`` at the end of a prompt: the weight is a plain decimal or scientific number.
_WEIGHTED = re.compile(r"^(?P<text>.*?)\s*:\s*(?P<weight>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*$", re.DOTALL)
#: The prefix that marks an image prompt in the string form.
IMAGE_PREFIX = "image:"
#: Keys a mapping entry may have.
ENTRY_KEYS = ("text", "image", "weight")


@dataclass(frozen=True)
class Prompt:
    """One prompt: a text (or ImageNet class name or index), or an image file, and its weight."""

    text: str
    weight: float = 1.0
    image: bool = False

    def as_entry(self) -> str | dict[str, Any]:
        """The shortest config entry that reads back as this prompt."""
        key = "image" if self.image else "text"
        if self.weight == 1.0 and not self.image and parse_string(self.text, "") == [self]:
            return self.text
        return {key: self.text, "weight": self.weight}


def _weight(value: Any, where: str) -> float:
    """A number within :data:`~dasag.core.ranges.WEIGHT`, or one sentence saying what is allowed."""
    if not WEIGHT.holds(value):
        raise ValueError(f"{where}: a prompt weight must be {WEIGHT.describe()} (e.g. 0.5 or -1); got {value!r}.")
    return float(value)


def parse_string(entry: str, where: str) -> list[Prompt]:
    """``"a castle | misty:0.5 | image:ref.png:-1"`` -> its prompts, in order (weight-0 ones kept)."""
    out = []
    for part in entry.split("|"):
        part = part.strip()
        image = part.lower().startswith(IMAGE_PREFIX)
        if image:
            part = part[len(IMAGE_PREFIX):].strip()
        weight = 1.0
        match = _WEIGHTED.match(part)
        if match and match.group("text").strip():
            part, weight = match.group("text").strip(), _weight(float(match.group("weight")), where)
        elif part.endswith(":") or (":" in part and _looks_like_bad_weight(part)):
            raise ValueError(f"{where}: the weight after the last ':' in {part!r} is not a number; write text:0.5, or use "
                             f"{{text: ..., weight: ...}} for a text that contains ':'.")
        if not part:
            raise ValueError(f"{where}: prompts must be non-empty; got an empty prompt in {entry!r} (between '|' separators or before a weight).")
        out.append(Prompt(part, weight, image))
    return out


def _looks_like_bad_weight(part: str) -> bool:
    """``castle:high`` or ``castle:0.5x`` (one unspaced word after the last ':') was meant as a
    weight; ``a photo: a cat`` or ``16:9 frame`` (a space after it) was not."""
    tail = part.rsplit(":", 1)[1]
    return bool(tail) and not any(c.isspace() for c in tail)


def parse_entry(entry: Any, where: str) -> list[Prompt]:
    """One list entry (a string, an ImageNet index, or a mapping) -> its prompts."""
    if isinstance(entry, bool):
        raise ValueError(f"{where}: a prompt must be a text, an ImageNet class index, or a mapping with text or image and weight; got {entry!r}.")
    if isinstance(entry, int):
        return [Prompt(str(entry))]
    if isinstance(entry, str):
        return parse_string(entry, where)
    if isinstance(entry, dict):
        unknown = sorted(set(map(str, entry)) - set(ENTRY_KEYS))
        if unknown:
            raise ValueError(f"{where}: a prompt mapping has unknown keys {unknown}; allowed: {', '.join(ENTRY_KEYS)}.")
        if ("text" in entry) == ("image" in entry):
            raise ValueError(f"{where}: a prompt mapping needs exactly one of text or image; got {sorted(map(str, entry))}.")
        image = "image" in entry
        value = entry["image" if image else "text"]
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
            raise ValueError(f"{where}: a prompt's {'image' if image else 'text'} must be a non-empty text; got {value!r}.")
        return [Prompt(str(value).strip(), _weight(entry.get("weight", 1.0), where), image)]
    raise ValueError(f"{where}: a prompt must be a text, an ImageNet class index, or a mapping with text or image and weight; got {type(entry).__name__}.")


@dataclass(frozen=True)
class WeightedPrompts:
    """A run's prompts sorted by role: positive (weight > 0) and negative (strength > 0) texts, and
    image prompts with their signed weights."""

    positive: tuple[Prompt, ...] = ()
    negative: tuple[Prompt, ...] = ()
    images: tuple[Prompt, ...] = ()


def parse_prompts(positive: Iterable[Any] = (), negative: Iterable[Any] = (), where: str = "") -> WeightedPrompts:
    """Config lists -> weighted prompts; weight-0 prompts are dropped, negative weights move to the negatives.
    ``where`` starts each sentence's key (``data.`` gives ``data.positive_prompts: ...``)."""
    pos: list[Prompt] = []
    neg: list[Prompt] = []
    images: list[Prompt] = []
    for key, entries in (("positive_prompts", positive), ("negative_prompts", negative)):
        for entry in entries or ():
            for p in parse_entry(entry, f"{where}{key}"):
                if key == "negative_prompts":
                    if p.weight < 0:
                        raise ValueError(f"{where}negative_prompts: {p.text!r} has weight {p.weight:g}; in negative_prompts a weight is how hard "
                                         f"the image is pushed away and must be positive (or write {p.text}:{p.weight:g} among the positive prompts).")
                    p = Prompt(p.text, -p.weight, p.image)
                if p.weight == 0:
                    continue
                if p.image:
                    images.append(p)
                elif p.weight > 0:
                    pos.append(p)
                else:
                    neg.append(Prompt(p.text, -p.weight))
    return WeightedPrompts(tuple(pos), tuple(neg), tuple(images))


def check_image_prompts(images: Sequence[Prompt], where: str = "") -> None:
    """Every image prompt names a file that exists (read later by the reference term, before any model loads)."""
    for p in images:
        if not user_file(p.text).is_file():
            raise ValueError(f"{where}positive_prompts: image prompt {p.text!r} is not a file (write image:PATH with the path of a PNG or JPEG).")


def mix(weights: Sequence[float]) -> tuple[float, ...] | None:
    """Weights normalised to sum 1, or ``None`` when they are all equal (the plain mean, computed as before)."""
    if len(set(weights)) <= 1:
        return None
    total = sum(weights)
    return tuple(w / total for w in weights)


def strength(weights: Sequence[float]) -> float:
    """A side's strength in the loss: its mean weight (1 for plain prompts; 1 for an empty side)."""
    return sum(weights) / len(weights) if weights else 1.0
