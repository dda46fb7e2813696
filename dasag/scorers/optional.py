"""Importing a library of the ``zoo`` extra (open_clip, timm) with one sentence when it cannot be.

Both libraries import torchvision, and a torchvision built for another torch fails deep inside its
own import (``operator torchvision::nms does not exist``, or an undefined symbol). A user then needs
the two versions and the fix, not the traceback: :func:`import_zoo_library` says which library is
missing and how to get it, or which torch and torchvision do not fit and which pair does.
"""

from __future__ import annotations

import importlib
import re
from importlib import metadata
from types import ModuleType

#: The library's import name -> its PyPI name (what ``pip install`` takes).
ZOO_LIBRARIES = {"open_clip": "open_clip_torch", "timm": "timm"}
#: Words of the errors a torchvision built for another torch raises while importing.
_MISMATCH = re.compile(r"torchvision::|undefined symbol|torchvision\._C|version.+torch|Couldn't load custom C\+\+ ops", re.IGNORECASE)


class ZooLibraryError(ImportError):
    """A zoo library that is not installed or cannot be imported here; the message is one sentence."""


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def matching_torchvision(torch_version: str) -> str | None:
    """The torchvision release series built for a torch release (torch 2.m pairs with torchvision 0.(m + 15)
    since torch 2.0 / torchvision 0.15); ``None`` for a version outside that rule."""
    match = re.match(r"2\.(\d+)", torch_version)
    return f"0.{int(match.group(1)) + 15}" if match else None


def mismatch_sentence(library: str, torch_version: str, torchvision_version: str | None) -> str:
    """What to tell a user whose torchvision does not fit their torch."""
    wanted = matching_torchvision(torch_version)
    base = torch_version.split("+")[0]
    fix = (f"install the torchvision built for it (pip install 'torchvision=={wanted}.*' from the same index as torch {torch_version}), "
           f"or a matching pair such as pip install torch==2.14.1 torchvision==0.29.1") if wanted else "install a matching torch and torchvision pair"
    return (f"{library} cannot be imported because torchvision {torchvision_version or '(unknown version)'} does not fit torch {base}: {fix}.")


def import_zoo_library(name: str) -> ModuleType:
    """``open_clip`` or ``timm``, imported; a missing library or a torchvision that does not fit the
    installed torch is a :class:`ZooLibraryError` of one sentence saying what to install."""
    distribution = ZOO_LIBRARIES[name]
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] not in (name, "torchvision"):
            raise
        missing = "torchvision" if e.name and e.name.startswith("torchvision") else distribution
        raise ZooLibraryError(f"{name} scorers need {missing}, which is not installed: pip install 'dasag[zoo]' "
                              f"(open_clip_torch and timm; torchvision comes with them, for the torch you have).") from None
    except (RuntimeError, ImportError, OSError, AttributeError) as e:
        text = str(e)
        if not _MISMATCH.search(text):
            raise
        import torch

        raise ZooLibraryError(mismatch_sentence(name, torch.__version__, _version("torchvision"))) from None
