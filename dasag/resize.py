"""Resampling as a linear operator, so it is fast and deterministic everywhere.

``F.interpolate`` is the obvious choice, but its backward pass for bilinear/bicubic on CUDA
uses atomic adds and is refused under ``torch.use_deterministic_algorithms(True)``. Any
separable interpolation is a fixed matrix per axis, so on CUDA we apply it as two matrix
products (``M_h @ x @ M_w^T``): deterministic, differentiable, and tensor-core friendly.
On CPU ``F.interpolate`` is deterministic already and cheaper, so it is used directly.
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


@lru_cache(maxsize=64)
def _matrix(n_in: int, n_out: int, mode: str, antialias: bool, device: str, dtype: torch.dtype) -> Tensor:
    """(n_out, n_in) matrix M with resize(x) == M @ x @ M.T for square x."""
    # Resize only the first spatial axis of an identity; the second keeps its size (2, not 1:
    # the antialiased kernels mis-handle a width of 1) and so stays untouched.
    eye = torch.eye(n_in, dtype=torch.float64)[:, None, :, None].expand(n_in, 1, n_in, 2).contiguous()
    kwargs = {} if mode == "nearest" else {"align_corners": False, "antialias": antialias}
    cols = F.interpolate(eye, size=(n_out, 2), mode=mode, **kwargs)[:, 0, :, 0]  # (n_in, n_out)
    return cols.T.contiguous().to(device=device, dtype=dtype)


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
