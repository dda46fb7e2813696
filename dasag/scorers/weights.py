"""Where model weights live, read from the environment once, and safe loading of ``.pth`` files.

Environment variables are read in one place only, :func:`weight_locations`, which the CLI
calls at start-up with ``os.environ`` and the ``.env`` file of the working directory. Scorer
constructors get their defaults from the locations it returns, so nothing deeper in the
library reads ``os.environ``, and a test can pass any mapping.

Variables (a value in the real environment wins over the same name in ``.env``):

==================================  ======================================================
``SIGLIP_MODEL_PATH``               SigLIP hub id or local directory
                                    (default ``google/siglip-so400m-patch14-384``).
                                    ``CLIP_MODEL_PATH`` is accepted as the original code's
                                    alias when it points at a SigLIP checkpoint.
``AESTHETIC_PREDICTOR_MODEL_PATH``  Aesthetic Predictor V2.5 head ``.pth`` (alias
                                    ``AESTHETIC_PREDICTOR_PATH``); unset: the upstream URL.
``CLIP_MODEL_PATH``                 OpenAI CLIP hub id or local directory for the CLIP scorer
                                    (default ``openai/clip-vit-large-patch14``).
``CLIP_AESTHETIC_PREDICTOR_PATH``   LAION ``sac+logos+ava1-l14-linearMSE.pth`` for the CLIP
                                    scorer (no default: a local file is required).
``HF_HUB_OFFLINE``                  ``1`` declares the machine offline: a hub id or URL that is
                                    not cached already is reported before anything loads.
==================================  ======================================================
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dasag.core.errors import error_text

SIGLIP_DEFAULT = "google/siglip-so400m-patch14-384"
CLIP_DEFAULT = "openai/clip-vit-large-patch14"
#: Upstream location of the Aesthetic Predictor V2.5 head (AGPL-3.0: downloaded, never vendored).
AESTHETIC_V25_URL = "https://github.com/discus0434/aesthetic-predictor-v2-5/raw/main/models/aesthetic_predictor_v2_5.pth"
#: Upstream location of the LAION improved aesthetic predictor for CLIP ViT-L/14.
LAION_AESTHETIC_URL = "https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/sac%2Blogos%2Bava1-l14-linearMSE.pth"

_TRUE = {"1", "true", "yes", "on"}


class MissingWeightsError(FileNotFoundError):
    """Weights that cannot be found or fetched; raised before any model loads."""


@dataclass(frozen=True)
class WeightLocations:
    """Resolved weight locations; ``None`` means "not configured: use the built-in default"."""

    siglip_model: str | None = None
    aesthetic_head: str | None = None
    clip_model: str | None = None
    clip_aesthetic_head: str | None = None
    #: True when HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE says no download may be tried.
    offline: bool = False


def _is_siglip_checkpoint(location: str) -> bool:
    """True for a local directory whose ``config.json`` declares a SigLIP model."""
    config = Path(location).expanduser() / "config.json"
    try:
        return json.loads(config.read_text()).get("model_type", "").startswith("siglip")
    except (OSError, ValueError):
        return False


def weight_locations(environ: Mapping[str, str], dotenv_path: str | Path | None = ".env") -> WeightLocations:
    """Resolve every weight location from ``environ`` and, below it, a ``.env`` file.

    ``dotenv_path`` is read with python-dotenv without touching ``os.environ``; a missing
    file is not an error (most runs have none).
    """
    values: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        from dotenv import dotenv_values

        values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    values.update({k: v for k, v in environ.items() if v is not None})

    def first(*names: str) -> str | None:
        for name in names:
            if values.get(name, "").strip():
                return values[name].strip()
        return None

    clip_model = first("CLIP_MODEL_PATH")
    siglip = first("SIGLIP_MODEL_PATH")
    if siglip is None and clip_model is not None and _is_siglip_checkpoint(clip_model):
        siglip = clip_model  # the original DAS-AG code named the SigLIP path CLIP_MODEL_PATH
    return WeightLocations(
        siglip_model=siglip,
        aesthetic_head=first("AESTHETIC_PREDICTOR_MODEL_PATH", "AESTHETIC_PREDICTOR_PATH"),
        clip_model=clip_model,
        clip_aesthetic_head=first("CLIP_AESTHETIC_PREDICTOR_PATH"),
        offline=any(values.get(n, "").strip().lower() in _TRUE for n in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")),
    )


_installed: WeightLocations | None = None


def use_weight_locations(locations: WeightLocations | None) -> None:
    """Install the locations the CLI resolved at start-up (``None`` uninstalls them)."""
    global _installed
    _installed = locations


def default_locations() -> WeightLocations:
    """The installed locations, else the process environment and ``./.env`` read now.

    This is the library's only read of ``os.environ``: scorers built outside the CLI
    (notebooks, tests) still honour the documented variables.
    """
    if _installed is not None:
        return _installed
    return weight_locations(os.environ, Path.cwd() / ".env")


#: Failures that say nothing about the file being read (memory, a missing library): never
#: reported as "truncated or corrupt".
NOT_A_FILE_PROBLEM = (MemoryError, ImportError, torch.OutOfMemoryError)


def _first(error: BaseException) -> str:
    """The first sentence of a reader's complaint (torch's run on for several)."""
    return error_text(error).split(". ")[0].rstrip(".")[:200]


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a ``.pth``/``.pt``/``.safetensors`` state dict without ever executing pickled code.

    ``torch.load(weights_only=True)`` refuses any pickled object that is not a tensor or a
    plain container; that refusal is re-raised as one clear ``ValueError``.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise ValueError(f"weights file {str(path)!r} is empty (0 bytes).")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except NOT_A_FILE_PROBLEM:
            raise
        except Exception as e:  # SafetensorError and OSError: a truncated or foreign file
            raise ValueError(f"weights file {str(path)!r} is truncated or not a safetensors file ({_first(e)}).") from None
    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f"refusing to load {str(path)!r}: it holds pickled Python objects, not only tensors, and is loaded with "
            f"weights_only=True for safety; re-save it as a plain state dict (torch.save(model.state_dict(), path))."
        ) from e
    except (RuntimeError, EOFError, ValueError, KeyError, IndexError, OSError) as e:  # torch's reader on a cut or foreign file (2.14: OSError on a cut zip)
        if isinstance(e, OSError) and not path.is_file():
            raise
        raise ValueError(f"weights file {str(path)!r} is truncated or not a torch file ({_first(e)}).") from None
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{str(path)!r} is not a state dict (a mapping of names to tensors); got {type(state).__name__}.")
    return dict(state)
