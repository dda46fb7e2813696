"""Checking a ``--ckpt_path`` before a run starts: whole, weights-only, and made for this pyramid.

Lightning reads the checkpoint only inside ``fit``, after the run's folder and logger exist, and
its errors are long tracebacks (``PytorchStreamReader``, ``UnpicklingError``, ``Error(s) in
loading state_dict``). Reading it once more here, before anything is written, costs a few MB
of I/O and turns each failure into one sentence.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dasag.core.errors import first_line


def read_checkpoint(path: str | Path, what: str = "--ckpt_path") -> dict[str, Any]:
    """The checkpoint's contents, loaded weights-only; every failure is one ``ValueError`` sentence
    that calls the file ``what`` (the option it came from, or what it is)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist.")
    if path.stat().st_size == 0:
        raise ValueError(f"{what} {str(path)!r} is empty (0 bytes): a save was cut short; resume from an earlier checkpoint.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e) or "GLOBAL" in str(e):  # a pickled callable: what arbitrary code hides in
            raise ValueError(f"{what} {str(path)!r} holds Python objects other than tensors and plain values, so it is refused "
                             "(loading it could run code); dasag checkpoints never do.") from None
        raise ValueError(f"{what} {str(path)!r} is truncated or not a checkpoint (its pickle stream is unreadable).") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as e:
        raise ValueError(f"{what} {str(path)!r} is truncated or not a checkpoint ({first_line(e)}).") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise ValueError(f"{what} {str(path)!r} is not a Lightning checkpoint (it has no state_dict).")
    return checkpoint


def check_resume(path: str | Path, checkpoint: dict[str, Any], model: nn.Module, max_steps: int | None = None,
                 what: str = "--ckpt_path") -> None:
    """Refuse, in one sentence, a checkpoint (as :func:`read_checkpoint` returned it) whose pyramid
    does not fit ``model`` (another size, margin or number of images), naming the keys whose shapes
    differ, or that has already run ``max_steps`` steps (Lightning would then stop at once, exit 0
    and write no image)."""
    step = checkpoint.get("global_step")
    if max_steps is not None and isinstance(step, int) and step >= max_steps:
        raise ValueError(f"{what} {str(path)!r} has already run {step} steps and trainer.max_steps is {max_steps}, so nothing is left "
                         f"to do; set trainer.max_steps above {step} to continue it.")
    saved = checkpoint["state_dict"]
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("scorer.")}
    differ = [f"{k} {tuple(saved[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if k in saved and tuple(saved[k].shape) != tuple(v.shape)]
    missing = sorted(set(own) - set(saved))
    extra = sorted(k for k in set(saved) - set(own) if not k.startswith("scorer."))
    if differ or missing or extra:
        parts = []
        if differ:
            parts.append(f"shapes differ for {', '.join(differ[:4])}{' ...' if len(differ) > 4 else ''}")
        if missing or extra:
            parts.append(f"{len(missing)} of this run's tensors missing, {len(extra)} extra")
        raise ValueError(
            f"{what} {str(path)!r} was made with another pyramid ({'; '.join(parts)}): resume with the config that made it "
            f"(its config.yaml beside the checkpoints)."
        )
