"""Deterministic mode, switched on once per process before any CUDA work.

cuBLAS reads ``CUBLAS_WORKSPACE_CONFIG`` when its first handle is created, so the variable
must be in the environment before CUDA initialises; ``reproduce/run.py`` sets it before it
even imports torch, and :func:`enable` checks that it came in time. Per-image seeding is
done by Lightning (``seed_everything`` of each task's config) when the task's objects are
built.
"""

from __future__ import annotations

import os
import warnings

import torch

#: The cuBLAS workspace setting that makes its GEMMs deterministic.
CUBLAS_WORKSPACE = ":4096:8"


def set_cublas_workspace(environ: "os._Environ[str] | dict[str, str]" = os.environ) -> None:
    """Put ``CUBLAS_WORKSPACE_CONFIG`` into ``environ`` unless the user chose a value."""
    environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)


def enable() -> None:
    """Deterministic algorithms everywhere in this process (an error, not a silent fallback).

    Warns when CUDA was initialised before the cuBLAS setting was present: results on that
    GPU may then differ from run to run.
    """
    if torch.cuda.is_available() and torch.cuda.is_initialized() and "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
        warnings.warn("CUDA was initialised before CUBLAS_WORKSPACE_CONFIG was set; GPU results may not be deterministic.")
    set_cublas_workspace()
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
