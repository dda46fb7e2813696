"""What a picture records about the run that made it: the version, the seed, the prompts, the
scores, and the config values that differ from the constructors' defaults.

Recording the fully resolved config would make every picture's bytes depend on every
constructor argument that exists, so adding an option (even one that is off by default) would
change every committed PNG. A picture records only what differs from the defaults instead, plus
the dasag version that says what those defaults were; :func:`build_run` on that config makes
the same run again, because the constructors supply the rest.

The defaults are read from the constructors' signatures (:func:`constructor_default`), the one
place a default is stated.
"""

from __future__ import annotations

import dataclasses
import inspect
from importlib import import_module
from typing import Any

#: Keys of a run's config that decide the image; paths and logging settings are left out
#: so the same run written elsewhere gives the same bytes.
IMAGE_KEYS = ("seed_everything", "model", "data")

#: The classes whose arguments the top-level keys hold (LightningCLI's model and data classes).
_TOP_CLASSES = {"model": "dasag.run.module.DirectAscent", "data": "dasag.run.data.PromptDataModule"}

_MISSING = object()


def constructor_default(cls: type, name: str) -> Any:
    """The default of one constructor argument, read from its signature (the one place it is stated)."""
    return inspect.signature(cls.__init__).parameters[name].default


def _defaults(cls: type) -> dict[str, Any]:
    """``cls``'s constructor defaults; a constructor that passes ``**kwargs`` on to its parent's (as
    :class:`~dasag.image.cutouts.Cutouts` does) has the parent's defaults for the rest, as a parser sees them."""
    parameters = inspect.signature(cls.__init__).parameters
    own = {n: p.default for n, p in parameters.items() if p.default is not inspect.Parameter.empty}
    forwards = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    parent = next((base for base in cls.__mro__[1:] if "__init__" in vars(base) and base is not object), None)
    return {**_defaults(parent), **own} if forwards and parent is not None else own


def resolve_import_path(path: str) -> Any:
    """The object a dotted import path names (``dasag.ImagePyramid``, ``dasag.run.module.default_optimizer``)."""
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


def _same(value: Any, default: Any) -> bool:
    """Whether a config value (as YAML holds it) means the constructor's default (a Python value)."""
    if default is _MISSING:
        return False
    if isinstance(value, dict) and "class_path" in value:
        if not dataclasses.is_dataclass(default) or isinstance(default, type):
            return False
        cls = resolve_import_path(value["class_path"])
        try:  # a frozen dataclass (a schedule): equal when built from these arguments it equals the default
            return type(default) is cls and cls(**(value.get("init_args") or {})) == default
        except (TypeError, ValueError):
            return False
    if callable(default) and isinstance(value, str):
        try:
            return resolve_import_path(value) is default
        except (ImportError, AttributeError, ValueError):
            return False
    if isinstance(value, list) and isinstance(default, tuple):
        return tuple(value) == default
    if _is_number(value) and _is_number(default):
        return float(value) == float(default)
    return type(value) is type(default) and value == default


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _strip(args: dict[str, Any], cls: type) -> dict[str, Any]:
    """``cls``'s arguments without those equal to its defaults; nested classes stripped likewise."""
    defaults = _defaults(cls)
    return {name: without_defaults(value) for name, value in args.items() if not _same(value, defaults.get(name, _MISSING))}


def without_defaults(value: Any) -> Any:
    """A config value with every constructor argument that equals its default left out (recursively:
    a ``class_path`` mapping keeps its class and only the arguments that differ)."""
    if isinstance(value, dict) and "class_path" in value:
        args = _strip(value.get("init_args") or {}, resolve_import_path(value["class_path"]))
        return {"class_path": value["class_path"], **({"init_args": args} if args else {})}
    if isinstance(value, list):
        return [without_defaults(v) for v in value]
    return value


def image_config(config: dict[str, Any], max_steps: int) -> dict[str, Any]:
    """The part of a resolved config that decides the image (see ``IMAGE_KEYS``), with every value
    that equals its constructor's default left out; ``trainer.max_steps`` is always kept."""
    out: dict[str, Any] = {"seed_everything": config.get("seed_everything")}
    for key, cls in _TOP_CLASSES.items():
        args = _strip(config.get(key) or {}, resolve_import_path(cls))
        if args:
            out[key] = args
    out["trainer"] = {"max_steps": max_steps}
    return out


def picture_metadata(model: Any, step: int, scores: list[dict[str, float]], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a PNG of ``model``'s run carries: the dasag version, the seed, the step, the prompts,
    the scores (taken on the 8-bit picture; a list with several images), the config values that
    differ from the defaults, the CPU pins that decided its bytes on a CPU, and ``extra``."""
    from dasag.core.process import cpu_pins
    from dasag.core.version import __version__

    prompts = model.prompts
    out: dict[str, Any] = {
        "version": __version__,
        "seed": model.seed,
        "step": step,
        "prompts": prompts.to_metadata() if prompts else None,
        "scores": scores if len(scores) != 1 else scores[0],
        "config": model.run_config,
    }
    if model.device.type == "cpu":
        out["cpu"] = cpu_pins()
    out.update(extra or {})
    return out
