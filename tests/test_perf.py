"""Speed switches change how a step runs, never what it computes; the bench measures and writes.

Everything runs on CPU with tiny tensors: a 4-layer random SigLIP (transformer blocks,
attention backends) and EfficientNet-Lite0 with its real weights (convolutions,
channels-last). The GPU rows of the bench are exercised as "skipped: needs CUDA" rows.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch

from dasag import Augmentations, DirectAscent, ImagePyramid, Objective, PromptDataModule, PromptSet
from dasag.speed.switches import HostSyncCounter, check_compile_parts, checkpoint_blocks, repeated_blocks
from dasag.speed import RandomSigLIP, ScorerShare, StepClock, count_step_flops, matmul_peak, scorer_seconds

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = PromptSet(("a photo of a goldfish",), ("blurred",))


def _siglip_module(batch: int = 2, **kwargs) -> DirectAscent:
    scorer_args = {k: kwargs.pop(k) for k in ("attn_implementation", "dtype") if k in kwargs}
    torch.manual_seed(0)
    return DirectAscent(
        pyramid=ImagePyramid(max_size=32, max_shift=4, num_images=2),
        scorer=RandomSigLIP(size="tiny", **{"attn_implementation": "eager", "dtype": "fp32", **scorer_args}),
        augment=Augmentations(batch_size=batch),
        objective=Objective(arctanh=True, aesthetic_weight=0.5),
        seed=0,
        **kwargs,
    )


def _lite_module(**kwargs) -> DirectAscent:
    from dasag.scorers import EfficientNetLite

    scorer_args = {k: kwargs.pop(k) for k in ("channels_last",) if k in kwargs}
    torch.manual_seed(0)
    return DirectAscent(
        pyramid=ImagePyramid(max_size=64, max_shift=8), scorer=EfficientNetLite("lite0", input_size=64, **scorer_args),
        augment=Augmentations(batch_size=2), seed=0, **kwargs,
    )


def _loss_and_grads(module: DirectAscent, prompts: PromptSet = PROMPTS, step: int = 3) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One step's loss and pyramid gradients, without a Trainer (a stub gives max_steps)."""
    module._trainer = SimpleNamespace(max_steps=10)
    module.use_prompts(prompts)
    loss = module.ascent_terms(module.plan_at(step)).loss.sum()
    loss.backward()
    grads = [p.grad.detach().clone() for p in module.pyramid.parameters()]
    module.pyramid.zero_grad(set_to_none=True)
    return loss.detach(), grads


def _assert_close(a, b, rtol: float, atol: float) -> None:
    (la, ga), (lb, gb) = a, b
    torch.testing.assert_close(la, lb, rtol=rtol, atol=atol)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, rtol=rtol, atol=atol * max(1.0, float(y.abs().max())))


# ------------------------------------------------------------------ same result
@pytest.fixture(scope="module")
def siglip_eager():
    return _loss_and_grads(_siglip_module())


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
    got = _loss_and_grads(_siglip_module(**switch))
    assert torch.isfinite(got[0])
    _assert_close(got, siglip_eager, rtol=tol, atol=tol)


def test_bf16_autocast_changes_something(siglip_eager):
    """The bf16 comparison above is loose; make sure autocast really ran in bf16."""
    loss, _ = _loss_and_grads(_siglip_module(scorer_precision="bf16"))
    assert loss != siglip_eager[0]


@pytest.mark.parametrize("switch", [{"channels_last": True}, {"activation_checkpointing": True}], ids=["channels_last", "act_ckpt"])
def test_conv_scorer_switch_gives_the_eager_loss_and_gradient(switch):
    prompts = PromptSet(("goldfish",), ())
    _assert_close(_loss_and_grads(_lite_module(**switch), prompts), _loss_and_grads(_lite_module(), prompts), rtol=1e-4, atol=1e-5)


def test_checkpointing_wraps_the_trunk_blocks_and_keeps_state_dict_keys():
    scorer = RandomSigLIP(size="tiny", attn_implementation="eager", dtype="fp32").load()
    keys = list(scorer.state_dict())
    assert len(repeated_blocks(scorer)) == 4  # the tiny tower's 4 encoder layers
    assert checkpoint_blocks(scorer) == 4
    assert all(getattr(b, "_dasag_checkpointed", False) for b in scorer.model.vision_model.encoder.layers)
    assert list(scorer.state_dict()) == keys


def test_compile_option_is_validated_before_anything_loads():
    with pytest.raises(ValueError, match="compile must be one of none, scorer, render, all; got 'yes'"):
        check_compile_parts("yes")
    with pytest.raises(ValueError, match="compile must be one of"):
        _siglip_module(compile="everything")


@pytest.mark.slow
def test_compiled_step_gives_the_eager_loss_and_gradient_on_cpu(siglip_eager):
    """torch.compile of the scorer and of render/augment (inductor on CPU, a C++ compiler needed)."""
    torch._dynamo.reset()
    module = _siglip_module(compile="all")
    got = _loss_and_grads(module)
    _assert_close(got, siglip_eager, rtol=1e-4, atol=1e-5)
    assert module._augment_fn is not None and module._render_fn is not None
    # Another step: new schedule values (floats) and jitter must not break or change results.
    again = _loss_and_grads(module, step=5)
    _assert_close(again, _loss_and_grads(_siglip_module(), step=5), rtol=1e-4, atol=1e-5)


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


def _fit(module: DirectAscent, steps: int, log_every: int, callbacks=(), tmp_path: Path | None = None) -> L.Trainer:
    trainer = L.Trainer(accelerator="cpu", max_steps=steps, log_every_n_steps=log_every, logger=False, callbacks=list(callbacks),
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tmp_path)
    trainer.fit(module, datamodule=PromptDataModule(positive_prompts=list(PROMPTS.positive), negative_prompts=list(PROMPTS.negative)))
    return trainer


def test_a_step_that_does_not_log_never_reads_from_the_device(tmp_path):
    clock = StepClock(warmup=1, sync_probe_step=1)
    _fit(_siglip_module(), steps=3, log_every=10, callbacks=[clock], tmp_path=tmp_path)
    assert clock.host_syncs == [], f"host syncs inside a non-logging step: {clock.host_syncs}"
    assert clock.steps == 2 and clock.mean > 0 and clock.median > 0


def test_scorer_share_times_the_scorer_inside_each_step(tmp_path, monkeypatch):
    share = ScorerShare(warmup=1)
    module = _siglip_module()
    # Make everything outside the scorer slow on purpose: the share must see it.
    original = DirectAscent.ascent_terms

    def slow_terms(self, plan):
        time.sleep(0.05)
        return original(self, plan)

    monkeypatch.setattr(DirectAscent, "ascent_terms", slow_terms)
    _fit(module, steps=4, log_every=10, callbacks=[share], tmp_path=tmp_path)
    assert len(share.fractions) == 3  # steps 1..3 after one warm-up step
    assert all(0 < f < 1 for f in share.fractions)
    assert share.outside > 0.5  # 50 ms of sleep against a tiny scorer
    assert len(share.scorer_times) == 3 and 0 < share.scorer_seconds < 0.05
    assert not module.scorer._forward_hooks and not module.scorer._forward_pre_hooks  # hooks removed


def test_logging_happens_every_n_steps_only(tmp_path, monkeypatch):
    logged: list[int] = []
    original = DirectAscent._log_step

    def spy(self, *args, **kwargs):
        logged.append(self.global_step)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DirectAscent, "_log_step", spy)
    _fit(_siglip_module(), steps=7, log_every=3, tmp_path=tmp_path)
    assert logged == [2, 5, 6]  # every 3rd step, and the last


# ------------------------------------------------------------------ measuring
def test_flop_count_is_counted_and_scales_with_the_batch():
    small, large = _siglip_module(batch=2), _siglip_module(batch=4)
    for m in (small, large):
        m._trainer = SimpleNamespace(max_steps=10)
        m.use_prompts(PROMPTS)
    f2, f4 = count_step_flops(small), count_step_flops(large)
    assert f2 > 0
    assert 1.8 < f4 / f2 <= 2.0  # scorer-dominated: twice the copies, nearly twice the FLOPs
    assert all(p.grad is None for p in small.pyramid.parameters())


def test_matmul_peak_and_scorer_time_are_positive():
    peak = matmul_peak(torch.device("cpu"), size=128, seconds=0.05)
    assert peak["tflops"] > 0 and peak["dtype"] == "float32"
    m = _siglip_module()
    m._trainer = SimpleNamespace(max_steps=10)
    m.use_prompts(PROMPTS)
    assert scorer_seconds(m, steps=2) > 0


@pytest.fixture(scope="module")
def bench():
    """``reproduce/bench.py`` as a module (it is a script, not part of the package)."""
    sys.path.insert(0, str(ROOT / "reproduce"))
    try:
        import bench as module
    finally:
        sys.path.pop(0)
    return module


def test_bench_runs_end_to_end_and_writes_the_table(bench, tmp_path, capsys):
    out = tmp_path / "bench"
    assert bench.main(["--out", str(out), "--device", "cpu", "--steps", "2", "--warmup", "2", "--variants", "eager_fp32,act_ckpt",
                       "--shapes", "768/8/1"]) == 0
    data = json.loads((out / "bench.json").read_text())
    rows = data["rows"]
    assert data["meta"]["peak"]["tflops"] > 0
    demo = [r for r in rows if r["family"] == "demo"]
    assert [r["variant"] for r in demo] == ["eager_fp32", "act_ckpt"]
    for r in demo:
        assert r["status"] == "ok", r["status"]
        assert r["seconds_per_step"] > 0 and r["images_per_minute"] > 0 and r["flops_per_step"] > 0
        assert 0 < r["fraction_of_peak"] and 0 <= r["outside_scorer_fraction"] <= 1 and r["peak_memory_gb"] > 0
        assert r["host_syncs"] == 0
        assert r["seconds_per_image"] == pytest.approx(r["seconds_per_step"] * 60)  # demo: 60 steps, 1 image
    assert demo[0]["speedup_vs_eager"] == pytest.approx(1.0)
    gpu = [r for r in rows if r["family"] == "das_ag_plus"]
    assert gpu and all(r["status"] == "skipped: needs CUDA" and r["seconds_per_step"] is None for r in gpu)
    md = (out / "bench.md").read_text()
    for column in ("s/step", "s/image", "images/min", "TFLOP/s", "of peak", "peak mem GB", "outside scorer", "host syncs", "vs eager"):
        assert f"| {column} |" in md or f" {column} |" in md
    assert "skipped: needs CUDA" in md and "skipped: needs CUDA" in capsys.readouterr().out


def test_bench_gpu_rows_run_end_to_end_with_a_tiny_siglip(bench, tmp_path):
    """The das_ag_plus rows' code path (config, variants, scorer switches, FLOPs, table) on CPU:
    the real so400m rows only run on CUDA, where a crash would waste a lent GPU."""
    out = tmp_path / "bench"
    assert bench.main(["--out", str(out), "--device", "cpu", "--families", "siglip", "--siglip-size", "tiny", "--shapes", "384/8/4",
                       "--steps", "2", "--warmup", "1", "--variants", "eager_fp32,bf16_sdpa,act_ckpt"]) == 0
    rows = json.loads((out / "bench.json").read_text())["rows"]
    assert [(r["variant"], r["status"]) for r in rows] == [("eager_fp32", "ok"), ("bf16_sdpa", "ok"), ("act_ckpt", "ok")]
    eager, sdpa, ckpt = rows
    assert (eager["switches"]["attention"], eager["switches"]["precision"]) == ("eager", "fp32")
    assert (sdpa["switches"]["attention"], sdpa["switches"]["precision"], sdpa["switches"]["weights"]) == ("sdpa", "bf16", "bf16")
    assert ckpt["switches"]["act_ckpt"] is True
    for r in rows:
        assert r["flops_per_step"] == eager["flops_per_step"] > 0 and r["host_syncs"] == 0
        assert r["seconds_per_image"] == pytest.approx(r["seconds_per_step"] * 100 / 4)  # das_ag_plus: 100 steps, 4 images
    assert "das_ag_plus (tiny SigLIP) 384px" in (out / "bench.md").read_text()


def test_bench_starts_no_row_after_its_time_budget(bench, tmp_path):
    out = tmp_path / "bench"
    assert bench.main(["--out", str(out), "--device", "cpu", "--families", "demo", "--variants", "eager_fp32", "--budget-s", "1e-6"]) == 0
    (row,) = json.loads((out / "bench.json").read_text())["rows"]
    assert row["status"].startswith("skipped: time budget") and row["seconds_per_step"] is None


# ---------------------------------------------------------------- host allocator
_MMAPPED_BYTES_OF_A_4MB_TENSOR = """
import ctypes, sys, torch
from dasag.speed.switches import tune_host_allocator
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
applied = tune_host_allocator() if sys.argv[1] == "tuned" else None
before = libc.mallinfo2().hblkhd
x = torch.empty(2**20)  # 4 MiB: mmap-ed (and unmapped on free) under glibc's defaults
print(applied, libc.mallinfo2().hblkhd - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tune_host_allocator only acts on glibc (a no-op elsewhere)")
def test_tuned_allocator_serves_step_sized_blocks_from_the_heap():
    """Process-wide, so each case runs in its own interpreter."""

    def mmapped(mode: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", _MMAPPED_BYTES_OF_A_4MB_TENSOR, mode], capture_output=True, text=True, check=True)
        applied, grew = out.stdout.split()
        return applied, int(grew)

    assert mmapped("default")[1] >= 2**22  # glibc's default: a fresh mapping (page faults on every use)
    assert mmapped("tuned") == ("True", 0)  # tuned: from the heap, reused step after step
