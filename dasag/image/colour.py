"""Colour bases for the pyramid: optimise in decorrelated colour, render in RGB.

Natural images' R, G and B are strongly correlated (mostly brightness varies together). Adam
moves every parameter by about the same step, so optimising RGB values directly spends as
much of each step on unnatural colour differences as on brightness; optimising in a basis
whose axes are uncorrelated over natural images (the square root of their colour covariance)
spends it in proportion to how natural images vary. Feature visualisation (Olah et al.,
"Feature Visualization", Distill 2017) uses this basis by default; it is a fixed 3x3 matrix
applied to the summed pyramid levels before the squashing function, so the inverse render
(``init_image``) stays exact.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

#: Square root of ImageNet's RGB colour covariance (through its SVD), the published values
#: of lucid's feature-visualisation library; columns are the decorrelated axes.
IMAGENET_COLOUR_SQRT = ((0.26, 0.09, 0.02), (0.27, 0.00, -0.05), (0.27, -0.09, 0.03))

ColourBasis = Literal["rgb", "decorrelated"]
BASES = ("rgb", "decorrelated")


def colour_matrix(basis: ColourBasis) -> Tensor:
    """(3, 3) matrix taking the pyramid's channels to RGB: identity, or the decorrelated basis
    scaled so its largest axis (brightness) has unit length, as RGB's axes do."""
    if basis == "rgb":
        return torch.eye(3)
    if basis == "decorrelated":
        m = torch.tensor(IMAGENET_COLOUR_SQRT, dtype=torch.float64)
        return (m / m.norm(dim=0).max()).float()
    raise ValueError(f"colour basis must be one of {', '.join(BASES)}; got {basis!r}.")


def to_rgb(x: Tensor, matrix: Tensor) -> Tensor:
    """(N, 3, H, W) in the basis -> RGB."""
    return torch.einsum("ij,njhw->nihw", matrix.to(x), x)


def from_rgb(x: Tensor, matrix: Tensor) -> Tensor:
    """RGB -> the basis: the inverse of :func:`to_rgb` (the basis is invertible)."""
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(matrix.double()).to(x), x)
