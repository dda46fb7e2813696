"""Reading YAML that a user wrote: a mapping of settings, of a sane size, or one sentence.

``yaml.safe_load`` builds no Python objects, but a few lines of nested aliases expand to
billions of values (an alias bomb); :func:`expanded_size` counts them without expanding, so
such a file is refused before anything copies it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from dasag.core.errors import ConfigError

# ------------------------------------------------------------------ files
#: More values than any run config needs (the largest shipped one has about 100): a file past
#: this is refused before the parser copies it, as a YAML alias bomb would be (GBs, minutes).
MAX_CONFIG_VALUES = 100_000


def expanded_size(data: Any) -> int:
    """How many values ``data`` holds once every YAML alias is expanded (each shared object
    counted as often as it is referenced), computed in time linear in the distinct objects."""
    sizes: dict[int, int] = {}

    def size(value: Any) -> int:
        if not isinstance(value, (dict, list)):
            return 1
        if id(value) not in sizes:
            sizes[id(value)] = 0  # a self-referencing alias counts once
            children = list(value.keys()) + list(value.values()) if isinstance(value, dict) else value
            sizes[id(value)] = min(1 + sum(size(child) for child in children), MAX_CONFIG_VALUES + 1)
        return sizes[id(value)]

    return size(data)


def read_yaml_file(path: str | os.PathLike, what: str = "config file") -> dict[str, Any]:
    """One YAML file of settings as a mapping; anything else is one sentence naming the file
    (``what`` says which file it is): missing, unreadable, not YAML (with the line), an alias
    bomb (:data:`MAX_CONFIG_VALUES`), not a mapping."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {str(path)!r} is a folder; name a YAML file.")
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} does not exist.")
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:  # no permission to read it, or an I/O error under it
        raise ConfigError(f"{what} {str(path)!r} cannot be read ({e.strerror or type(e).__name__}).") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {str(path)!r} is not a text file.") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{what} {str(path)!r} is not valid YAML{where}: {problem}.") from None
    return checked_yaml(data, f"{what} {str(path)!r}")


def checked_yaml(data: Any, source: str) -> dict[str, Any]:
    """Parsed YAML (from ``source``, named in the sentence) that is a mapping of a sane size."""
    data = {} if data is None else data
    if expanded_size(data) > MAX_CONFIG_VALUES:
        raise ConfigError(f"{source} expands to more than {MAX_CONFIG_VALUES:,} values (YAML aliases nested inside each other); "
                          f"a run config holds a few hundred.")
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a mapping of settings (key: value lines); it holds a {type(data).__name__}.")
    return data

