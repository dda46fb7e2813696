"""Checkpoints that are whole or absent under their final name, on any filesystem.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction whose temp file lives in
the system temp folder; when the checkpoint folder is on another filesystem the commit is a
copy, not a rename, so a process killed during a save leaves a truncated file under the final
name, and can cut a good ``last.ckpt`` to nothing. :class:`AtomicCheckpointIO` writes the
temp file beside the target and renames it (:func:`dasag.core.files.write_bytes_atomic`), which is
atomic on every local filesystem. Remote URLs keep Lightning's own path.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from dasag.core.files import write_bytes_atomic


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local saves go through a same-folder temp file and a rename."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options; got {storage_options!r}.")
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_bytes_atomic(Path(path), buffer.getvalue())
