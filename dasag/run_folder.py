"""One folder per run, whatever the timing: the logger's version is claimed atomically.

Lightning's TensorBoard logger picks ``version_N`` by listing the folder and taking the next
number, so two runs started together in one ``default_root_dir`` both pick ``version_0`` and
write into each other (one's ``final.png`` beside the other's ``config.yaml`` and checkpoints).
:class:`RunLogger` claims the number with ``mkdir``, which exactly one process can win; the
loser takes the next number.
"""

from __future__ import annotations

import os
from pathlib import Path

from lightning.pytorch.loggers import TensorBoardLogger


class RunLogger(TensorBoardLogger):
    """TensorBoardLogger whose next version folder is created atomically when it is chosen."""

    def _get_next_version(self) -> int:
        version = super()._get_next_version()
        if "://" in str(self.root_dir):  # a remote filesystem: no atomic mkdir to rely on
            return version
        root = Path(self.root_dir)
        root.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                os.mkdir(root / f"version_{version}")
                return version
            except FileExistsError:
                version += 1

    @classmethod
    def replacing(cls, logger: TensorBoardLogger) -> RunLogger:
        """The same logger (folder, name, options), claiming its version atomically."""
        return cls(save_dir=logger.save_dir, name=logger.name, version=logger._version, log_graph=logger._log_graph,
                   default_hp_metric=logger._default_hp_metric, prefix=logger._prefix, sub_dir=logger._sub_dir)
