"""Faults a run meets in the wild, made for real: a full disk (a small tmpfs, or where mounting
is not allowed a file-size limit) and a process SIGKILLed in the middle of a checkpoint save.

Each test runs ``cli.py`` in a child process, so what is checked is what a user would find on
disk afterwards: one sentence, a non-zero exit, no half-written file under a final name.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dasag.core.config import CONFIGS
from dasag.run.resume import read_checkpoint

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(CONFIGS / "demo.yaml")
#: A 96 px demo: a ~0.8 MB checkpoint and a ~20 KB PNG at step 20.
SMALL_DEMO = ["fit", "--config", DEMO, "--model.pyramid.init_args.max_size", "128", "--model.pyramid.init_args.max_shift", "16",
              "--model.augment.init_args.batch_size", "2", "--trainer.max_steps", "20"]


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[bool]:
    """``folder`` as a tmpfs of ``size`` (True), or left as it is where mounting is not allowed (False)."""
    folder.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def _limit_file_size(limit: int):
    def apply() -> None:  # in the child: a write past `limit` bytes fails with EFBIG instead of killing it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _cli(args: list[str], limit: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, cwd=ROOT, timeout=600,
                          preexec_fn=_limit_file_size(limit) if limit else None)


def _error_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    return errors[0]


@pytest.mark.slow
@pytest.mark.parametrize(("size", "keeps_image"), [("200k", True), ("24k", False)])
def test_a_full_disk_is_one_sentence_and_leaves_no_half_written_run(size, keeps_image, tmp_path) -> None:
    """200 KB: the step-20 image fits, its checkpoint does not (kept image, no checkpoint file at
    all). 24 KB: nothing computed fits, and the run's folder is removed."""
    with small_disk(tmp_path / "disk", size) as mounted:
        root = tmp_path / "disk" / "run"
        limit = None if mounted else {"200k": 300_000, "24k": 10_000}[size]  # per file: the checkpoint (or the image) is too big
        result = _cli([*SMALL_DEMO, "--trainer.default_root_dir", str(root)], limit)
        assert result.returncode == 1
        line = _error_line(result)
        assert ("no space left on device while writing" if mounted else "file size limit reached while writing") in line, line
        files = sorted(p for p in root.rglob("*") if p.is_file())
        assert not [p for p in files if p.suffix == ".ckpt" or p.name.endswith(".tmp") or p.name == "final.png"], files
        if keeps_image:
            assert "keeps what it finished (images/step_000020.png)" in line
            assert [p.name for p in files if p.suffix == ".png"] == ["step_000020.png"]
        else:
            assert "which held nothing computed, was removed" in line
            assert files == []


@pytest.mark.slow
def test_a_kill_during_a_checkpoint_save_leaves_the_last_good_one_whole(tmp_path) -> None:
    """The checkpoint folder on another filesystem than the temp folder (/dev/shm against /tmp),
    where Lightning's own save copies instead of renaming. The child is stopped inside the second
    save of last.ckpt, with its bytes written but not yet renamed, and SIGKILLed there: last.ckpt
    is still the whole step-1 checkpoint, and resuming from it cleans up the dead save's temp file."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path
    root = Path(__import__("tempfile").mkdtemp(dir=base, prefix="dasag-kill-"))
    try:
        args = ["fit", "--config", DEMO, "--model.pyramid.init_args.max_size", "64", "--model.pyramid.init_args.max_shift", "8",
                "--model.augment.init_args.batch_size", "2", "--trainer.max_steps", "3", "--trainer.default_root_dir", str(root),
                "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint", "--trainer.callbacks.every_n_train_steps=1",
                "--trainer.callbacks.save_last=true", "--trainer.callbacks.save_top_k=0"]
        script = (
            "import sys, time\n"
            "from dasag.core import files\n"
            "real, saves = files.os.replace, []\n"
            "def replace(src, dst):\n"
            "    if str(dst).endswith('last.ckpt'):\n"
            "        saves.append(dst)\n"
            "        if len(saves) == 2:\n"
            "            print('ready', flush=True); time.sleep(120)\n"
            "    real(src, dst)\n"
            "files.os.replace = replace\n"
            "from dasag.commands import main\n"
            f"sys.exit(main({args!r}))\n"
        )
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                                 env={**os.environ, "TMPDIR": str(tmp_path)})
        try:
            for line in child.stdout:
                if line.strip() == "ready":
                    break
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=60)
        finally:
            child.kill()
        last = next(root.rglob("last.ckpt"))
        temps = list(last.parent.glob(".last.ckpt.*.tmp"))
        assert len(temps) == 1 and temps[0].stat().st_size > 0  # the killed save, never under the final name
        assert read_checkpoint(last)["global_step"] == 1  # the previous save, whole
        resumed = _cli([*args[:-4], "--trainer.max_steps", "3", "--ckpt_path", str(last)])
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert not temps[0].exists()  # the resume removed its run's stale temp file
        assert len(list(root.rglob("final.png"))) == 1
    finally:
        __import__("shutil").rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_a_full_disk_stops_the_harness_in_one_sentence_keeping_finished_rows(tmp_path) -> None:
    with small_disk(tmp_path / "disk", "30k") as mounted:
        out = tmp_path / "disk" / "h"
        result = subprocess.run([sys.executable, str(ROOT / "reproduce" / "run.py"), "transfer", "--out", str(out), "--classes", "2",
                                 "--seeds", "1", "--steps", "2"], capture_output=True, text=True, cwd=ROOT, timeout=600,
                                preexec_fn=None if mounted else _limit_file_size(20_000))
        assert result.returncode == 1
        line = _error_line(result)
        assert "while writing" in line and "every finished image and its row are kept" in line, line
        assert not list(out.rglob("*.tmp"))
