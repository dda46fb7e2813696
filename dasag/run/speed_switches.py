"""Speed switches for the ascent step, and a guard that the step never waits on the device.

Each switch is an optional constructor argument of :class:`~dasag.run.module.DirectAscent` (so
it comes from the YAML config) and is applied once, right after the frozen scorer has
loaded its weights; none of them changes what is computed, only how:

* ``compile`` — ``torch.compile`` the scorer (its whole forward: resize, normalise, network,
  heads) and/or the render (pyramid levels -> canvas) and augmentation path. Compiled in
  place (``nn.Module.compile``), so state-dict keys and attributes stay as they were.
* :func:`tune_host_allocator` — not a switch but process set-up, called once by every
  entry point (CLI, harness, bench, app): keeps freed host memory for reuse (see below).
* ``activation_checkpointing`` — keep only the inputs of each repeated block of the scorer
  (transformer layers, MBConv blocks) and recompute the rest during the backward pass: one
  extra forward per step buys the memory for large augmentation batches.

bf16 autocast (``scorer_precision``), the attention backend (the scorer's
``attn_implementation``) and channels-last (the conv scorer's ``channels_last``) belong to
the module and the scorers themselves.

:class:`HostSyncCounter` counts the calls that copy a value from the device to the host
(``.item()``, ``.cpu()``, ``bool(t)``, ...). On a GPU each one stalls the Python thread until
every queued kernel has run, which is why the step must have none outside logging steps;
the counter finds them on CPU too, so the rule is tested without a GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.checkpoint import checkpoint

CompileParts = Literal["none", "scorer", "render", "all"]
COMPILE_PARTS: tuple[str, ...] = ("none", "scorer", "render", "all")


# ----------------------------------------------------------------- compile
def compiles_scorer(parts: str) -> bool:
    return parts in ("scorer", "all")


def compiles_render(parts: str) -> bool:
    return parts in ("render", "all")


def check_compile_parts(parts: str) -> str:
    """Validate the ``compile`` option early, naming the allowed values."""
    if parts not in COMPILE_PARTS:
        raise ValueError(f"compile must be one of {', '.join(COMPILE_PARTS)}; got {parts!r}.")
    return parts


def compile_module(module: nn.Module) -> nn.Module:
    """Compile ``module`` in place; ``dynamic=False`` because every step has the same shapes."""
    module.compile(dynamic=False)
    return module


def compile_function(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Compile a plain function (the render/augment path: ``pyramid.canvas``, ``Augmentations.apply``).

    Both take tensors only: the schedules' values, which change every step, and the seeded
    generator enter through ``Augmentations.draw``, which runs eagerly, so no step recompiles.
    """
    return torch.compile(fn, dynamic=False)






# ---------------------------------------------------- activation checkpointing
def repeated_blocks(module: nn.Module, min_blocks: int = 4) -> list[nn.Module]:
    """The blocks of the first (outermost) ``nn.ModuleList`` with at least ``min_blocks`` entries.

    That list is the network's trunk in every scorer we ship: ``encoder.layers`` of a ViT,
    ``_blocks`` of an EfficientNet. Nested lists (inside a block) are not returned.
    """
    for sub in module.modules():
        if isinstance(sub, nn.ModuleList) and len(sub) >= min_blocks:
            return list(sub)
    return []


def checkpoint_blocks(module: nn.Module, min_blocks: int = 4) -> int:
    """Activation-checkpoint every block of the scorer's trunk; returns how many were wrapped.

    Transformers' own ``gradient_checkpointing_enable`` only acts in training mode, and a
    frozen scorer is always in eval mode, so we wrap the blocks' ``forward`` ourselves
    (an instance attribute: parameter names and the state dict do not change). The
    non-reentrant variant is used: it works when only the input requires a gradient and
    replays autocast as it was during the forward pass.
    """
    blocks = repeated_blocks(module, min_blocks)
    for block in blocks:
        if getattr(block, "_dasag_checkpointed", False):
            continue
        inner = block.forward

        def forward(*args: Any, _inner: Callable[..., Any] = inner, **kwargs: Any) -> Any:
            if not torch.is_grad_enabled():
                return _inner(*args, **kwargs)  # evaluation: nothing to save, nothing to replay
            return checkpoint(_inner, *args, use_reentrant=False, **kwargs)

        block.forward = forward
        block._dasag_checkpointed = True
    return len(blocks)


# ------------------------------------------------------------- host syncs
#: Tensor methods that return host values and therefore wait for the device.
SYNC_METHODS: frozenset[str] = frozenset({"item", "cpu", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__"})


class HostSyncCounter(TorchFunctionMode):
    """Counts device-to-host reads made while it is active (``with HostSyncCounter() as c``).

    ``c.calls`` lists the method names in order. Shape and ``numel`` queries are metadata
    and are not counted; neither are reads of tensors that are not on a device (e.g. the
    CPU tensors of a CPU run would all count, so on CPU this is a *potential* sync count,
    which is the point: the same code runs on the GPU).
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in SYNC_METHODS:
            self.calls.append(name)
        elif name == "to" and _moves_to_host(args, kwargs or {}):
            self.calls.append("to(cpu)")
        return func(*args, **(kwargs or {}))


def _moves_to_host(args: tuple, kwargs: dict) -> bool:
    target = kwargs.get("device", args[1] if len(args) > 1 else None)
    return isinstance(target, (str, torch.device)) and torch.device(target).type == "cpu"
