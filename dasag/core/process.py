"""Process set-up at a command's edge: quiet logs and warnings, host memory, CPU threads and kernels.

Everything here changes the whole process (log levels, warning filters, the allocator, thread
counts), so only the command skeleton (:mod:`dasag.commands.skeleton`) and the app's page call it,
once, before any run is built; the library never does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Warnings that are expected in every run and would only drown the log: the frozen scorer is
#: in eval mode on purpose, the prompt loader is an endless one-worker stream on purpose, and
#: the CLI is handed a mapping (not ``sys.argv``) on purpose.
EXPECTED_WARNINGS = (
    ".*does not have many workers.*",
    ".*IterableDataset.*__len__.*",
    ".*module\\(s\\) in eval mode.*",
    ".*args.*parameter is intended to run from within Python.*",
    ".*LeafSpec.*is deprecated.*",
)


def quiet_expected_warnings() -> None:
    """Silence :data:`EXPECTED_WARNINGS` and Lightning's product tips (entry points call this)."""
    quiet_lightning_tips()
    for message in EXPECTED_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


class _NoAdverts(logging.Filter):
    """Drops Lightning's product tips (e.g. the cloud-logging one), which are not about the run."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.getMessage())
        return not (message.startswith("💡 Tip") or "litlogger" in message)


def quiet_loading_bars() -> None:
    """No "Loading weights" bar from transformers per model: noise between a run's own lines.
    Process-wide, so only the command-line entry points call it, never the library."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:
        return
    transformers_logging.disable_progress_bar()


def quiet_hub_retries() -> None:
    """No "Retrying in 1s [Retry 1/5]" lines from huggingface_hub when the hub cannot be reached:
    a missing model is one sentence naming the variable to set (dasag.scorers.hf_text_image), and
    five retry warnings before it bury that sentence. Process-wide: entry points only."""
    logging.getLogger("huggingface_hub.utils._http").setLevel(logging.ERROR)


def quiet_lightning_tips() -> None:
    """Keep Lightning's run information (seed, devices) but not its product tips; idempotent."""
    import lightning  # noqa: F401  (creates its loggers)

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("lightning"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, _NoAdverts) for f in logger.filters):
                logger.addFilter(_NoAdverts())


def quiet_lightning_banners() -> None:
    """Lightning's info lines (seed, accelerator, tips) at WARNING: for loops over many runs."""
    import lightning  # noqa: F401  (creates its loggers)

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("lightning"):
            logging.getLogger(name).setLevel(logging.WARNING)


# ---------------------------------------------------------- host allocator
#: glibc ``mallopt`` parameters (malloc.h) and the values we set.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's largest: blocks below this come from the reusable heap


TRIM_THRESHOLD_BYTES = 256 * 2**20  # free memory kept at the top of the heap before giving it back


def tune_host_allocator() -> bool:
    """Let glibc keep and reuse the memory of one step for the next; returns whether it applied.

    PyTorch's CPU allocator does not cache (unlike CUDA's): every tensor is a ``malloc`` and
    a ``free``. With glibc's defaults, blocks of a few MB (a step's activations and
    gradients) are ``mmap``-ed and unmapped or trimmed back to the OS as soon as they are
    freed, so the next step takes fresh zeroed pages again: page faults inside every op.
    On the demo config that made the whole CPU step 1.3x slower and Adam's update of 0.26M
    parameters 7 ms instead of 0.7 ms (the same reason PyTorch's CPU tuning guide suggests
    jemalloc or tcmalloc). Fixing the thresholds keeps those blocks in the heap. Values are
    unchanged (allocation never changes arithmetic); resident memory stays near the peak
    instead of shrinking between steps. Process-wide, so only entry points call it; a no-op
    (``False``) where the C library is not glibc.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # Both, always: setting either one freezes glibc's dynamic mmap threshold, and with only
    # the trim threshold set it stays at its 128 KiB start (measured: 2.5x slower steps).
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


def host_memory_bytes() -> int | None:
    """This machine's physical memory (``None`` where the OS does not say); read by the entry
    points (the CLI class), which pass it to :func:`check_fits_in_memory`."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


# ---------------------------------------------------------------- CPU kernels and threads
#: What decides the bytes of a CPU run besides its config: the vector instructions ATen, oneDNN
#: and MKL choose for this machine. Each is capped to AVX2, which every x86-64 machine of the last
#: decade has, so an AVX-512 or AMX machine computes what an AVX2 one does (docs/reproduce.md).
CPU_KERNEL_PINS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}

#: CPU threads of a deterministic run unless it names its own: reductions (a convolution's
#: backward, a matmul) sum in an order that depends on the thread count, so it decides the bytes.
DETERMINISTIC_THREADS = 2


def pin_cpu_kernels() -> None:
    """Cap this process's CPU kernels (:data:`CPU_KERNEL_PINS`). Only a command's edge calls it,
    before the first tensor operation: ATen, oneDNN and MKL each read their setting once, at first
    use, so a later call changes nothing (:func:`cpu_pins` then reports what is in force)."""
    os.environ.update(CPU_KERNEL_PINS)


def cpu_pins() -> dict[str, Any]:
    """What decides a CPU picture's bytes in this process, read back from torch: the ATen kernel
    capability in force (AVX2 once pinned) and the thread count."""
    import torch

    return {"capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}


def check_threads(count: Any, option: str = "--threads") -> int:
    """``count`` if it is a thread count a run can use (:data:`~dasag.core.ranges.THREADS`), else one
    :class:`~dasag.core.errors.ConfigError` sentence saying why there is a bound: every command that
    takes ``--threads`` calls this before it writes anything (libgomp runs out of memory on 100,000
    threads only when the first kernel starts, after the run has taken its folder)."""
    from dasag.core.errors import ConfigError
    from dasag.core.ranges import THREADS

    if not THREADS.holds(count):
        raise ConfigError(f"{option} must be {THREADS.describe()} (CPU threads: more than any machine has, and not capped at this "
                          f"machine's {os.cpu_count()} because CPU image bytes depend on the count); got {count!r}.")
    return count


@contextmanager
def threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` CPU threads (``None``: as they are), then give the caller its
    own count back: the one place a run's thread count is set."""
    import torch

    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(count))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def set_up_process() -> None:
    """Everything a process that makes pictures sets once, at its edge: Lightning's tips and
    banners and the expected warnings silenced, no per-model loading bars, the host allocator
    tuned and the CPU kernels pinned. The command skeleton calls it, and so does a worker process
    the task engine spawns; the library itself never does."""
    pin_cpu_kernels()
    quiet_expected_warnings()
    quiet_lightning_banners()
    quiet_loading_bars()
    quiet_hub_retries()
    tune_host_allocator()
