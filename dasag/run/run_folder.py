"""One folder per run, whatever the timing: the logger's version is claimed atomically.

Lightning's TensorBoard logger picks ``version_N`` by listing the folder and taking the next
number, so two runs started together in one ``default_root_dir`` both pick ``version_0`` and
write into each other (one's ``final.png`` beside the other's ``config.yaml`` and checkpoints).
:class:`RunLogger` claims the number with ``mkdir``, which exactly one process can win; the
loser takes the next number.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lightning.pytorch.loggers import TensorBoardLogger


def finished_files(folder: Path) -> list[Path]:
    """What a run has computed so far: its checkpoints and images (config and events aside)."""
    return sorted(folder.rglob("*.ckpt")) + sorted(folder.rglob("*.png"))


class RunLogger(TensorBoardLogger):
    """TensorBoardLogger whose next version folder is created atomically when it is chosen."""

    #: The version folder this logger created (``None``: a version the user named, or none yet).
    created_dir: Path | None = None

    def _get_next_version(self) -> int:
        version = super()._get_next_version()
        if "://" in str(self.root_dir):  # a remote filesystem: no atomic mkdir to rely on
            return version
        root = Path(self.root_dir)
        root.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                os.mkdir(root / f"version_{version}")
                self.created_dir = root / f"version_{version}"
                return version
            except FileExistsError:
                version += 1

    def discard_if_nothing_computed(self) -> bool:
        """Remove the folder this logger created if the run computed nothing into it (only its
        config and an events file), so a failed start never looks like a result; a folder the
        user named, or one holding a checkpoint or an image, is kept. Returns whether it went."""
        folder = self.created_dir
        if folder is None or not folder.is_dir() or finished_files(folder):
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return not folder.exists()

    @classmethod
    def replacing(cls, logger: TensorBoardLogger) -> RunLogger:
        """The same logger (folder, name, options), claiming its version atomically."""
        return cls(save_dir=logger.save_dir, name=logger.name, version=logger._version, log_graph=logger._log_graph,
                   default_hp_metric=logger._default_hp_metric, prefix=logger._prefix, sub_dir=logger._sub_dir)
