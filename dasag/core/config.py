"""The config-file library: read a run config, follow its ``base:`` files, merge, expand, dump.

A run is described by one mapping with the structure of a ``dasag fit --config`` YAML file
(``seed_everything`` / ``trainer`` / ``model`` / ``data``). A config file may name ``base:``
files (relative to itself) whose settings it overrides, so a config holds only what differs
from the one it extends (:func:`load_config`). Turning a mapping into a run is
:func:`dasag.run.build.build_run`'s job, not this module's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dasag.core.errors import ConfigError
from dasag.core.safe_yaml import checked_yaml, read_yaml_file

#: The shipped configs: package data, so an installed wheel has them (``configs/`` in a checkout links here).
CONFIGS = Path(str(resources.files("dasag") / "configs"))
















def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """One YAML config file as a mapping (its ``base:`` not followed); see :func:`read_yaml_file`."""
    return read_yaml_file(path, "config file")


def load_config(path: str | os.PathLike, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML config with its ``base:`` files merged underneath, in order; a base is a file relative
    to the config, or a shipped config's name (``base: demo``), so a user's config can extend a
    shipped one from any folder."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"config {str(path)!r} names itself as a base (cycle through {[str(p) for p in _seen]}).")
    return merge_bases(read_config_file(path), path.parent, f"config {str(path)!r}", _seen + (path,))


def merge_bases(data: dict[str, Any], folder: Path, where: str, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """``data`` with the configs its ``base:`` names (files relative to ``folder``, or shipped
    configs' names) merged underneath, in order; ``where`` names ``data`` in the sentence that
    refuses a ``base:`` that is not a name or a list of names."""
    data = dict(data)
    bases = data.pop("base", None)
    names = [] if bases is None else [bases] if isinstance(bases, str) else bases
    if not isinstance(names, list) or not all(isinstance(b, str) and b.strip() for b in names):
        raise ConfigError(f"{where}: base must name a config (a file, or a shipped config such as demo) or a list of them; got {bases!r}.")
    merged: dict[str, Any] = {}
    for base in names:
        relative = folder / base
        merged = deep_merge(merged, load_config(relative if _is_file(relative) else config_file(base), _seen))
    return deep_merge(merged, data)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``; mappings merge key by key, anything else replaces.

    A mapping whose ``class_path`` differs from the base's replaces it whole (its ``init_args``
    belong to another class), except that members of the base's class inside it start from the
    base's settings (:func:`carried_to_members`).
    """
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = carried_to_members(old, value) if _swaps_class(old, value) else deep_merge(old, value)
        else:
            out[key] = value
    return out


#: ``init_args`` that choose which network an instance is and at what input side (a classifier's
#: variant and weights, a text-image model's checkpoint and aesthetic head), not how it guides: never
#: carried from a replaced instance to the members of its replacement, which keep their own.
MODEL_CHOICE = frozenset({"variant", "weights_path", "input_size", "input_sizes", "model", "pretrained", "checkpoint", "aesthetic_head"})


def _swaps_class(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return "class_path" in new and old.get("class_path") not in (None, new["class_path"])


def _class_name(value: Any) -> str | None:
    path = value.get("class_path") if isinstance(value, dict) else None
    return str(path).rpartition(".")[2] if path else None


def carried_to_members(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new``, a class that replaces ``old``'s, with ``old``'s settings carried to each member of
    ``old``'s class that ``new`` lists in its ``init_args`` (an ensemble's ``scorers``): a preset that
    swaps a method's guide for an ensemble of that guide's class keeps the guide's objective and
    settings (the demo's ``score: logit``, ``drop_connect``), and the member's own settings win. The
    :data:`MODEL_CHOICE` settings stay each member's; members of another class get nothing."""
    settings = {k: v for k, v in (old.get("init_args") or {}).items() if k not in MODEL_CHOICE} if isinstance(old.get("init_args"), dict) else {}
    args = new.get("init_args")
    name = _class_name(old)
    if not settings or not isinstance(args, dict):
        return new
    carried = {}
    for key, members in args.items():
        if isinstance(members, list) and any(_class_name(m) == name for m in members):
            carried[key] = [{**m, "init_args": deep_merge(settings, m.get("init_args") or {})} if _class_name(m) == name else m for m in members]
    return {**new, "init_args": {**args, **carried}} if carried else new


def carry_settings(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` with :func:`carried_to_members` applied wherever it swaps a class of ``base``'s for
    another: for stacks another merger combines (jsonargparse merges the ``--config`` texts of ``dasag
    fit``), so they carry settings as :func:`deep_merge` does."""
    out = dict(override)
    for key, value in override.items():
        old = base.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = carried_to_members(old, value) if _swaps_class(old, value) else carry_settings(old, value)
    return out


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a name longer than the filesystem allows: not a file
        return False


def shipped_names() -> list[str]:
    """Every shipped config by the name a command takes (``demo``, ``large/cpu_1024``, ``quality/robust``)."""
    return sorted(p.relative_to(CONFIGS).with_suffix("").as_posix() for p in CONFIGS.rglob("*.yaml") if "assets" not in p.parts)


def config_file(value: str | os.PathLike) -> Path:
    """A ``--config`` value as a file: the file, when it exists; else the shipped config it names
    (``demo``, ``demo.yaml``, ``configs/demo.yaml`` from any folder, an installed wheel included)."""
    path = Path(value)
    if _is_file(path):
        return path
    if not str(value).strip():
        raise ConfigError(f"config {str(value)!r} is empty; name a YAML file or a shipped config ({', '.join(shipped_names())}).")
    name = str(value).removeprefix("./").removeprefix("dasag/").removeprefix("configs/")
    for candidate in (CONFIGS / name, CONFIGS / f"{name}.yaml"):
        if _is_file(candidate):
            return candidate
    if path.is_dir():
        raise ConfigError(f"config {str(value)!r} is a folder; name a YAML file or a shipped config ({', '.join(shipped_names())}).")
    raise ConfigError(f"config {str(value)!r} does not exist, here or among the shipped configs ({', '.join(shipped_names())}).")


def expand_config_args(args: Sequence[str], transform: Callable[[dict[str, Any], Path], dict[str, Any]] | None = None) -> list[str]:
    """Replace each ``--config FILE`` (a file, or a shipped config's name) with its YAML text, its
    ``base:`` files merged in and ``transform(config, file)`` applied; inline YAML text is checked
    like a file before the parser copies it."""
    args = list(args)
    out: list[str] = []
    stacked: dict[str, Any] = {}  # the configs so far, for the settings a later one's swapped class carries (carry_settings)
    i = 0
    while i < len(args):
        if args[i] in ("--config", "-c") and i + 1 < len(args):
            value, i = args[i + 1], i + 2
        elif args[i].startswith("--config="):
            value, i = args[i].split("=", 1)[1], i + 1
        else:
            out.append(args[i])
            i += 1
            continue
        if "\n" not in value and (Path(value).suffix in (".yaml", ".yml") or ":" not in value or _is_file(Path(value))):  # a file or a name
            path = config_file(value)
            merged = load_config(path)
            if transform is not None:
                merged = transform(merged, path)
            out += ["--config", yaml.safe_dump(carry_settings(stacked, merged), sort_keys=False)]
            stacked = deep_merge(stacked, merged)
            continue
        try:  # inline YAML text: the same checks before the parser copies it
            inline = checked_yaml(yaml.safe_load(value), "the --config text")
        except yaml.YAMLError as e:
            raise ConfigError(f"the --config text is neither a file that exists nor valid YAML ({str(e).splitlines()[0]}).") from None
        carried = carry_settings(stacked, inline)
        out += ["--config", value if carried == inline else yaml.safe_dump(carried, sort_keys=False)]
        stacked = deep_merge(stacked, inline)
    return out


def to_yaml(config: dict[str, Any]) -> str:
    """The config as YAML text for ``dasag fit --config FILE`` (key order kept)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)















































