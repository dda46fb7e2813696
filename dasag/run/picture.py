"""The one path from a finished run to a saved picture: render, 8-bit pixels, scores on those
pixels, PNG with metadata.

``dasag fit``'s ``final.png``, the app's result, every animation frame, every growth stage and
every image of the quality suites and batches is made here, so a score key means one thing
everywhere: ``lite0/positive`` is the guide's score of the 8-bit picture a user opens, whichever
command made it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dasag.core.errors import ConfigError
from dasag.core.files import check_writable, write_bytes_atomic
from dasag.image.picture import encode_png, from_uint8, grid, to_uint8
from dasag.run.metadata import picture_metadata


@dataclass(frozen=True)
class Picture:
    """A run's images as they are saved: 8-bit pixels, the scores taken on them, and the metadata."""

    #: Each image, (H, W, 3) uint8.
    images: list[np.ndarray]
    #: Each image's scores (``<member>/<field>``), taken on its 8-bit pixels.
    scores: list[dict[str, float]]
    #: What the PNG records (:func:`~dasag.run.metadata.picture_metadata`).
    metadata: dict[str, Any]

    @property
    def sheet(self) -> np.ndarray:
        """The picture a single file holds: the image, or with several a contact sheet of them."""
        if len(self.images) == 1:
            return self.images[0]
        return to_uint8(grid(torch.stack([from_uint8(im) for im in self.images])))

    def png(self) -> bytes:
        """The sheet as PNG bytes with the metadata (no timestamps: the bytes depend on the run alone)."""
        return encode_png(self.sheet, self.metadata)

    def image_png(self, index: int) -> bytes:
        """One image of several as PNG bytes, with its own scores."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.images):
            raise ConfigError(f"index must be a whole number from 0 to {len(self.images) - 1} (the picture has {len(self.images)} image(s)); got {index!r}.")
        return encode_png(self.images[index], {**self.metadata, "scores": self.scores[index], "image_index": index})

    def write(self, path: str | os.PathLike) -> list[Path]:
        """``path`` (the sheet) and, with several images, ``<stem>_XX.png`` for each; each file whole or absent.
        A name that is not a ``.png`` file in a folder this process may write is one sentence before any file is written."""
        if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
            raise ConfigError(f"a picture is written to a .png file; got {path!r}.")
        path = Path(path)
        if path.suffix.lower() != ".png":
            raise ConfigError(f"a picture is written as PNG (with its metadata); name a .png file; got {str(path)!r}.")
        targets = [path] + ([path.with_name(f"{path.stem}_{i:02d}.png") for i in range(len(self.images))] if len(self.images) > 1 else [])
        for target in targets:
            if target.is_dir():
                raise ConfigError(f"{str(target)!r} is a folder; name a .png file to write the picture to.")
        check_writable(path.parent, "the picture's folder")
        written = [write_bytes_atomic(path, self.png())]
        if len(self.images) > 1:
            written += [write_bytes_atomic(target, self.image_png(i)) for i, target in enumerate(targets[1:])]
        return written


@torch.no_grad()
def finished_picture(model: Any, step: int, extra: dict[str, Any] | None = None) -> Picture:
    """``model``'s current images as 8-bit pictures, scored on those pixels by its own scorer, with
    the metadata of :func:`~dasag.run.metadata.picture_metadata` (``extra`` added, e.g. a frame's
    camera or a suite's method)."""
    images = [to_uint8(image) for image in model.images().float().cpu()]
    quantised = torch.stack([from_uint8(image) for image in images]).to(model.device)
    scores = model.evaluate(quantised)
    return Picture(images, scores, picture_metadata(model, step, scores, extra))
