"""ImageNet-1k class names, and turning a prompt into a class index."""

from __future__ import annotations

import difflib
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    """The 1000 class names in index order, with spaces for underscores."""
    text = resources.files("dasag.scorers").joinpath("imagenet_classes.txt").read_text()
    names = tuple(line.strip().replace("_", " ") for line in text.splitlines() if line.strip())
    assert len(names) == 1000, len(names)
    return names


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").lower().split())


@lru_cache(maxsize=1)
def _index() -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, n in enumerate(class_names()):
        out.setdefault(_key(n), []).append(i)
    return out


def resolve_class(prompt: str | int) -> int:
    """A class name (any case, spaces or underscores) or index -> class index.

    Raises ``ValueError`` naming the prompt and the closest class names when it matches
    none, and listing the indices when a name is ambiguous ("crane" is both a bird and a
    machine in ImageNet).
    """
    if isinstance(prompt, int) or str(prompt).strip().isdigit():
        i = int(prompt)
        if not 0 <= i < 1000:
            raise ValueError(f"ImageNet class index must be in 0..999; got {i}.")
        return i
    key = _key(str(prompt))
    hits = _index().get(key)
    if hits is None:
        close = difflib.get_close_matches(key, list(_index()), n=5, cutoff=0.5)
        hint = f" Closest class names: {', '.join(close)}." if close else " Use an ImageNet class name or an index 0..999."
        raise ValueError(f"unknown ImageNet class {prompt!r}.{hint}")
    if len(hits) > 1:
        raise ValueError(f"ImageNet class name {prompt!r} is ambiguous: use one of the indices {hits}.")
    return hits[0]
