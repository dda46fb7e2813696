"""Process set-up at a command's edge: CPU kernel pins, threads, the host allocator, host memory, quiet logs and warnings."""

from __future__ import annotations

import logging
import os
import platform
import warnings
from pathlib import Path

import pytest
import torch

from dasag.core.process import (
    CPU_KERNEL_PINS,
    cpu_pins,
    host_memory_bytes,
    pin_cpu_kernels,
    quiet_expected_warnings,
    quiet_lightning_tips,
    set_up_process,
    threads,
    tune_host_allocator,
)

#: One message each of the warnings every run expects (Lightning's and PyTorch's own wording).
EXPECTED_MESSAGES = (
    "The 'train_dataloader' does not have many workers which may be a bottleneck.",
    "Your `IterableDataset` has `__len__` defined. In combination with multi-process data loading this may be wrong.",
    "Found 3 module(s) in eval mode at the start of training.",
    "LightningCLI's args parameter is intended to run from within Python like if it were from the command line.",
    "torch.utils._pytree.LeafSpec is deprecated; use treespec_leaf() instead.",
)


def lightning_loggers() -> list[logging.Logger]:
    return [logging.getLogger(name) for name in list(logging.root.manager.loggerDict) if name.startswith("lightning")]


@pytest.fixture
def restored_process(monkeypatch: pytest.MonkeyPatch):
    """The environment, warning filters, Lightning log levels and transformers' bars as they were before the test."""
    import lightning  # noqa: F401  (creates its loggers)
    from transformers.utils import logging as transformers_logging

    for name in CPU_KERNEL_PINS:
        monkeypatch.delenv(name, raising=False)
    levels = {logger.name: logger.level for logger in lightning_loggers()}
    bars = transformers_logging.is_progress_bar_enabled()
    with warnings.catch_warnings():
        yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    if bars:
        transformers_logging.enable_progress_bar()


def test_pin_cpu_kernels_sets_exactly_the_pins_and_nothing_else(monkeypatch):
    for name in CPU_KERNEL_PINS:
        monkeypatch.delenv(name, raising=False)  # monkeypatch puts each value back afterwards
    before = dict(os.environ)
    pin_cpu_kernels()
    after = dict(os.environ)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    assert changed == CPU_KERNEL_PINS
    assert set(before) - set(after) == set()
    assert {"ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR"} <= set(CPU_KERNEL_PINS)
    assert all(value.upper() == "AVX2" for value in CPU_KERNEL_PINS.values())  # every pin caps to the same instruction set


def test_cpu_pins_reads_back_the_capability_and_the_thread_count():
    pins = cpu_pins()
    assert pins == {"capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}
    other = 1 if torch.get_num_threads() != 1 else 2
    with threads(other):
        assert cpu_pins()["threads"] == other


def test_threads_sets_the_count_for_the_block_and_gives_the_callers_back():
    before = torch.get_num_threads()
    count = before + 1
    with threads(count):
        assert torch.get_num_threads() == count
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="inside"), threads(count):
        assert torch.get_num_threads() == count
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before  # given back after an error too


def test_threads_none_leaves_the_count_alone():
    before = torch.get_num_threads()
    with threads(None):
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before


def test_tune_host_allocator_says_whether_it_applied():
    applied = tune_host_allocator()
    assert isinstance(applied, bool)
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert applied  # glibc's mallopt takes both thresholds
    assert tune_host_allocator() == applied  # setting the same thresholds again changes nothing


def test_host_memory_is_the_machines_physical_memory():
    memory = host_memory_bytes()
    assert isinstance(memory, int) and memory > 0
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        total_kb = next(int(line.split()[1]) for line in meminfo.read_text().splitlines() if line.startswith("MemTotal:"))
        assert memory == total_kb * 1024


def test_quiet_lightning_tips_drops_the_tips_keeps_the_run_information_and_is_idempotent():
    quiet_lightning_tips()
    loggers = lightning_loggers()
    assert loggers
    filters = {logger.name: list(logger.filters) for logger in loggers}
    quiet_lightning_tips()
    assert {logger.name: list(logger.filters) for logger in lightning_loggers()} == filters  # a second call adds nothing

    def passes(logger: logging.Logger, message: str) -> bool:
        return bool(logger.filter(logger.makeRecord(logger.name, logging.INFO, __file__, 0, message, (), None)))

    for logger in loggers:
        assert passes(logger, "Seed set to 0")
        assert passes(logger, "GPU available: False, used: False")
        assert not passes(logger, "💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]")
        assert not passes(logger, "install litlogger for experiment tracking")


def test_quiet_expected_warnings_silences_only_the_expected_ones_and_is_idempotent():
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        quiet_expected_warnings()
        count = len(warnings.filters)
        quiet_expected_warnings()
        assert len(warnings.filters) == count  # the same filters again, not a second copy
        for message in EXPECTED_MESSAGES:
            warnings.warn(message, UserWarning, stacklevel=1)
        warnings.warn("The learning rate is negative.", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["The learning rate is negative."]


def test_set_up_process_pins_the_kernels_and_quiets_the_logs(restored_process):
    from transformers.utils import logging as transformers_logging

    set_up_process()
    assert {name: os.environ.get(name) for name in CPU_KERNEL_PINS} == CPU_KERNEL_PINS
    assert all(logger.getEffectiveLevel() >= logging.WARNING for logger in lightning_loggers())
    assert not transformers_logging.is_progress_bar_enabled()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", append=True)  # last: the process's own filters come first and decide
        for message in EXPECTED_MESSAGES:
            warnings.warn(message, UserWarning, stacklevel=1)
        warnings.warn("A warning no run expects.", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["A warning no run expects."]


def test_check_threads_bounds_the_count_and_says_why_not_this_machines_count():
    """--threads 100000 passed every check and made libgomp run out of memory after the run had taken its folder."""
    from dasag.core.errors import ConfigError
    from dasag.core.process import check_threads

    assert check_threads(1) == 1 and check_threads(1024) == 1024  # above this machine's cores is allowed: a folder's count decides its bytes
    for bad in (0, -2, 1025, 100_000, True, 2.0, "4", None):
        with pytest.raises(ConfigError) as caught:
            check_threads(bad, "--threads")
        assert str(caught.value) == (f"--threads must be a whole number from 1 to 1024 (CPU threads: more than any machine has, and not capped at "
                                     f"this machine's {os.cpu_count()} because CPU image bytes depend on the count); got {bad!r}.")
