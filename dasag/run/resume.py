"""Checking a checkpoint to continue from before a run starts: whole, weights-only, made for this
pyramid, with the optimiser's state and with finite values.

Lightning reads the checkpoint only inside ``fit``, after the run's folder and logger exist, and
its errors are long tracebacks (``PytorchStreamReader``, ``UnpicklingError``, ``Error(s) in
loading state_dict``, its own ``KeyError`` for a checkpoint saved weights-only). Reading it once
more here, before anything is written, costs a few MB of I/O and turns each failure into one
sentence. Each sentence names the file (``what``: the option it came from, or what it is) and ends
with what to do: ``--ckpt_path``'s own advice, or the caller's (``advice``: a growth stage's
progress file is deleted to make that stage from its start).
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dasag.core.errors import first_line


def read_checkpoint(path: str | Path, what: str = "--ckpt_path", advice: str | None = None) -> dict[str, Any]:
    """The checkpoint's contents, loaded weights-only; every failure is one ``ValueError`` sentence
    that calls the file ``what`` and ends with ``advice`` (default: what a ``--ckpt_path`` user can do)."""
    path = Path(path)

    def refuse(problem: str, default: str) -> ValueError:
        return ValueError(f"{what} {str(path)!r} {problem}: {advice or default}.")

    if path.is_dir():
        raise refuse("is a folder, not a checkpoint file", "name its checkpoints/last.ckpt")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist.")
    if path.stat().st_size == 0:
        raise refuse("is empty (0 bytes), a save cut short", "resume from an earlier checkpoint")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e) or "GLOBAL" in str(e):  # a pickled callable: what arbitrary code hides in
            raise refuse("holds Python objects other than tensors and plain values, so it is refused (loading it could run code), "
                         "and dasag checkpoints never hold any", "use a checkpoint dasag wrote") from None
        raise refuse("is truncated or not a checkpoint (its pickle stream is unreadable)", "resume from an earlier checkpoint") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as e:
        raise refuse(f"is truncated or not a checkpoint ({first_line(e).rstrip('.')})", "resume from an earlier checkpoint") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise refuse("is not a Lightning checkpoint (it has no state_dict)", "name a checkpoint a dasag run saved (checkpoints/last.ckpt)")
    return checkpoint


def _tensors(value: Any, key: str) -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor in a checkpoint's nested dicts and lists, with its key path."""
    if isinstance(value, torch.Tensor):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _tensors(v, f"{key}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _tensors(v, f"{key}.{i}")


def check_resume(path: str | Path, checkpoint: dict[str, Any], model: nn.Module, max_steps: int | None = None,
                 what: str = "--ckpt_path", advice: str | None = None, budget: str = "trainer.max_steps") -> None:
    """Refuse, in one sentence, a checkpoint (as :func:`read_checkpoint` returned it) that cannot
    continue ``model``'s run: one whose pyramid does not fit (another size, margin or number of
    images: the keys whose shapes differ are named), one that has already run ``max_steps`` steps
    (``budget`` names that setting; Lightning would stop at once, exit 0 and write no image), one
    without the optimiser's and lr schedule's state (saved weights-only: Lightning's own
    ``KeyError``) and one holding values that are not finite (a run continued from NaN makes a blank
    picture without a word). ``advice`` replaces each sentence's ``--ckpt_path`` advice."""

    def refuse(problem: str, default: str) -> ValueError:
        return ValueError(f"{what} {str(path)!r} {problem}: {advice or default}.")

    saved = checkpoint["state_dict"]
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("scorer.")}
    differ = [f"{k} {tuple(saved[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in saved and isinstance(saved[k], torch.Tensor) and tuple(saved[k].shape) != tuple(v.shape)]
    missing = sorted(set(own) - set(saved))
    extra = sorted(k for k in set(saved) - set(own) if not k.startswith("scorer."))
    if differ or missing or extra:
        parts = []
        if differ:
            parts.append(f"shapes differ for {', '.join(differ[:4])}{' ...' if len(differ) > 4 else ''}")
        if missing or extra:
            parts.append(f"{len(missing)} of this run's tensors missing, {len(extra)} extra")
        raise refuse(f"was made with another pyramid ({'; '.join(parts)})", "resume with the config that made it (its config.yaml beside the checkpoints)")
    step = checkpoint.get("global_step")
    if max_steps is not None and isinstance(step, int) and step >= max_steps:
        raise refuse(f"has already run {step} steps and {budget} is {max_steps}, so nothing is left to do", f"set {budget} above {step} to continue it")
    if not checkpoint.get("optimizer_states") or not isinstance(checkpoint["optimizer_states"], list) or not isinstance(checkpoint.get("lr_schedulers"), list):
        raise refuse("holds no optimizer state (it was saved weights-only), so a run cannot continue from it",
                     "continue from a full checkpoint, e.g. the run's checkpoints/last.ckpt")
    for key, tensor in _tensors({"state_dict": saved, "optimizer_states": checkpoint["optimizer_states"]}, "checkpoint"):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise refuse(f"holds values that are not finite (NaN or infinity) in {key.removeprefix('checkpoint.')}, so a run continued "
                         "from it would make a blank picture", "continue from an earlier checkpoint, or start the run again")
