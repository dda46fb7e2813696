"""Speed switches change how a step runs, never what it computes (CPU, tiny tensors).

A 4-layer random SigLIP (transformer blocks, attention backends) and EfficientNet-Lite0 with
its real weights (convolutions, channels-last); each switch's loss and gradient must equal
the eager fp32 step's.
"""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
import torch

from dasag import PromptSet
from dasag.run.speed_switches import HostSyncCounter, check_compile_parts, checkpoint_blocks, repeated_blocks
from dasag.speed.random_siglip import RandomSigLIP
from tiny_models import lite_module, loss_and_grads, siglip_module


def _assert_close(a, b, rtol: float, atol: float) -> None:
    (la, ga), (lb, gb) = a, b
    torch.testing.assert_close(la, lb, rtol=rtol, atol=atol)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, rtol=rtol, atol=atol * max(1.0, float(y.abs().max())))


@pytest.mark.parametrize(
    "switch, tol",
    [
        ({"activation_checkpointing": True}, 1e-6),
        ({"attn_implementation": "sdpa"}, 1e-5),
        ({"scorer_precision": "bf16"}, 5e-2),
    ],
    ids=["act_ckpt", "sdpa", "bf16_autocast"],
)
def test_siglip_switch_gives_the_eager_loss_and_gradient(siglip_eager, switch, tol):
    got = loss_and_grads(siglip_module(**switch))
    assert torch.isfinite(got[0])
    _assert_close(got, siglip_eager, rtol=tol, atol=tol)


def test_bf16_autocast_changes_something(siglip_eager):
    """The bf16 comparison above is loose; make sure autocast really ran in bf16."""
    loss, _ = loss_and_grads(siglip_module(scorer_precision="bf16"))
    assert loss != siglip_eager[0]


@pytest.mark.parametrize("switch", [{"channels_last": True}, {"activation_checkpointing": True}], ids=["channels_last", "act_ckpt"])
def test_conv_scorer_switch_gives_the_eager_loss_and_gradient(switch):
    prompts = PromptSet(("goldfish",), ())
    _assert_close(loss_and_grads(lite_module(**switch), prompts), loss_and_grads(lite_module(), prompts), rtol=1e-4, atol=1e-5)


def test_checkpointing_wraps_the_trunk_blocks_and_keeps_state_dict_keys():
    scorer = RandomSigLIP(size="tiny", attn_implementation="eager", dtype="fp32").load()
    keys = list(scorer.state_dict())
    assert len(repeated_blocks(scorer)) == 4  # the tiny tower's 4 encoder layers
    assert checkpoint_blocks(scorer) == 4
    assert all("forward" in vars(b) for b in scorer.model.vision_model.encoder.layers)  # each block's forward is wrapped
    assert list(scorer.state_dict()) == keys


def test_compile_option_is_validated_before_anything_loads():
    with pytest.raises(ValueError, match="compile must be one of none, scorer, render, all; got 'yes'"):
        check_compile_parts("yes")
    with pytest.raises(ValueError, match="compile must be one of"):
        siglip_module(compile="everything")


@pytest.mark.slow
def test_compiled_step_gives_the_eager_loss_and_gradient_on_cpu(siglip_eager):
    """torch.compile of the scorer and of render/augment (inductor on CPU, a C++ compiler needed)."""
    torch._dynamo.reset()
    module = siglip_module(compile="all")
    got = loss_and_grads(module)
    _assert_close(got, siglip_eager, rtol=1e-4, atol=1e-5)
    # Another step: new schedule values (floats) and jitter must not break or change results.
    again = loss_and_grads(module, step=5)
    _assert_close(again, loss_and_grads(siglip_module(), step=5), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ host syncs
def test_host_sync_counter_sees_reads_back_to_the_host():
    x = torch.arange(4.0)
    with HostSyncCounter() as counter:
        y = x * 2  # device work only: not counted
        y.sum().item()
        bool(y.any())
        y.tolist()
        y.to("cpu")
        _ = y.shape, y.numel()  # metadata: not counted
    assert counter.calls == ["item", "__bool__", "tolist", "to(cpu)"]


# ---------------------------------------------------------------- host allocator
_MMAPPED_BYTES_OF_A_4MB_TENSOR = """
import ctypes, sys, torch
from dasag.core.process import tune_host_allocator
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
applied = tune_host_allocator() if sys.argv[1] == "tuned" else None
before = libc.mallinfo2().hblkhd
x = torch.empty(2**20)  # 4 MiB: mmap-ed (and unmapped on free) under glibc's defaults
print(applied, libc.mallinfo2().hblkhd - before)
"""


@pytest.mark.slow  # two fresh interpreters that import torch
@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tune_host_allocator only acts on glibc (a no-op elsewhere)")
def test_tuned_allocator_serves_step_sized_blocks_from_the_heap():
    """Process-wide, so each case runs in its own interpreter."""

    def mmapped(mode: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", _MMAPPED_BYTES_OF_A_4MB_TENSOR, mode], capture_output=True, text=True, check=True)
        applied, grew = out.stdout.split()
        return applied, int(grew)

    assert mmapped("default")[1] >= 2**22  # glibc's default: a fresh mapping (page faults on every use)
    assert mmapped("tuned") == ("True", 0)  # tuned: from the heap, reused step after step
