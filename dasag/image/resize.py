"""Resampling as a linear operator, so it is fast and deterministic everywhere.

``F.interpolate`` is the obvious choice, but its backward pass for bilinear/bicubic on CUDA
uses atomic adds and is refused under ``torch.use_deterministic_algorithms(True)``. Any
separable interpolation is a fixed matrix per axis, so on CUDA we apply it as two matrix
products (``M_h @ x @ M_w^T``): deterministic, differentiable, and tensor-core friendly.
On CPU ``F.interpolate`` is deterministic already and its forward pass is cheaper, so
``use_matmul=None`` uses it there; callers that also need the backward pass (the pyramid
render, 9 levels upsampled every step) ask for the matrix form, whose backward is two more
matrix products instead of ``F.interpolate``'s slow scatter.
The matrices are built by interpolating an identity, which makes the two paths agree.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Mode = Literal["bilinear", "bicubic", "nearest"]
MODES: tuple[str, ...] = ("bilinear", "bicubic", "nearest")


def _interpolate(x: Tensor, size: int, mode: str, antialias: bool) -> Tensor:
    kwargs = {} if mode == "nearest" else {"align_corners": False, "antialias": antialias}
    return F.interpolate(x, size=(size, size), mode=mode, **kwargs)


def resize_matrix(n_in: int, n_out: int, mode: Mode = "bilinear", antialias: bool = False, dtype: torch.dtype = torch.float32) -> Tensor:
    """The (n_out, n_in) matrix M with ``resize(x) == M @ x @ M.T`` for square x, on the CPU.

    Built in float64 and rounded once to ``dtype``. A module that resamples the same sizes
    every step (the pyramid) keeps these as buffers, so they move with ``.to(device)`` and a
    compiled graph receives them as inputs instead of rebuilding them.
    """
    # Resize only the first spatial axis of an identity; the second keeps its size (2, not 1:
    # the antialiased kernels mis-handle a width of 1) and so stays untouched.
    eye = torch.eye(n_in, dtype=torch.float64)[:, None, :, None].expand(n_in, 1, n_in, 2).contiguous()
    kwargs = {} if mode == "nearest" else {"align_corners": False, "antialias": antialias}
    cols = F.interpolate(eye, size=(n_out, 2), mode=mode, **kwargs)[:, 0, :, 0]  # (n_in, n_out)
    return cols.T.contiguous().to(dtype=dtype)


@lru_cache(maxsize=64)
@torch.compiler.assume_constant_result
def _matrix(n_in: int, n_out: int, mode: str, antialias: bool, device: str, dtype: torch.dtype) -> Tensor:
    """Cached per (sizes, mode, device, dtype). Under ``torch.compile`` (a compiled scorer's
    input resize) the result is a constant of the graph: dynamo ignores ``lru_cache`` and would
    otherwise rebuild the matrix, on the host, inside every compiled call."""
    return resize_matrix(n_in, n_out, mode, antialias, dtype).to(device=device)


def resize(x: Tensor, size: int, mode: Mode = "bilinear", antialias: bool = True, use_matmul: bool | None = None) -> Tensor:
    """Resize square images (N, C, H, H) to (N, C, size, size).

    ``use_matmul=None`` picks the matrix form on CUDA and ``F.interpolate`` elsewhere.
    """
    if mode not in MODES:
        raise ValueError(f"interpolation mode must be one of {', '.join(MODES)}; got {mode!r}.")
    n_in = x.shape[-1]
    if n_in == size:
        return x
    if use_matmul is None:
        use_matmul = x.is_cuda
    if not use_matmul:
        return _interpolate(x, size, mode, antialias and n_in > size)
    m = _matrix(n_in, size, mode, antialias and n_in > size, str(x.device), x.dtype)
    return m @ x @ m.T
