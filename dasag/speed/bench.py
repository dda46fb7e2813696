"""The speed bench: how fast is an ascent step, and how close to the hardware? ``python reproduce/bench.py --out DIR``

In one process: the device's matmul peak (bf16 on a GPU, fp32 on CPU), then for each
configuration and each speed variant a short real run (config -> :func:`~dasag.core.config.build_run`
-> ``fit``) that reports seconds per step and per image, images per minute, counted TFLOP/s
and its fraction of the peak, peak memory, the share of the step spent outside the scorer's
forward+backward, and the host syncs of one non-logging step. Every variant is also shown
as a speed-up over the plain eager fp32 variant of the same configuration, measured in the
same run. Writes ``bench.json`` and ``bench.md`` and prints the table.

Configurations: the offline demo (``configs/demo.yaml``, EfficientNet-Lite0, CPU or GPU) and
``das_ag_plus`` on a randomly initialised SigLIP so400m at 384/768 px, batch 8/32, 1/4
images (CUDA only; printed as "skipped: needs CUDA" elsewhere). See docs/performance.md.
"""

from __future__ import annotations

import copy
import gc
import itertools
import time
from argparse import Namespace
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dasag.core.config import CONFIGS, deep_merge, load_config
from dasag.run.build import LOG_EVERY_N_STEPS, build_run
from dasag.run.data import resolve_prompts_file
from dasag.run.metadata import constructor_default
from dasag.run.module import DirectAscent

# --------------------------------------------------------------------------- variants
#: Speed variants: config overrides on top of the plain eager fp32 baseline. ``scorer`` keys go
#: into the scorer's init_args (only those the scorer class has are used).
BASELINE = {"model": {"scorer_precision": "fp32", "compile": "none", "activation_checkpointing": False},
            "scorer": {"channels_last": False, "attn_implementation": "eager", "dtype": "fp32"}}
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "eager_fp32": {},
    "bf16_autocast": {"model": {"scorer_precision": "bf16"}},
    "channels_last": {"scorer": {"channels_last": True}},
    "sdpa": {"scorer": {"attn_implementation": "sdpa"}},
    "bf16_sdpa": {"model": {"scorer_precision": "bf16"}, "scorer": {"attn_implementation": "sdpa", "dtype": "bf16"}},
    "bf16_flash": {"model": {"scorer_precision": "bf16"}, "scorer": {"attn_implementation": "flash_attention_2", "dtype": "bf16"}},
    "compile_scorer": {"model": {"compile": "scorer"}},
    "compile_render": {"model": {"compile": "render"}},
    "compile_all": {"model": {"compile": "all"}},
    "act_ckpt": {"model": {"activation_checkpointing": True}},
    "fast": {"model": {"scorer_precision": "bf16", "compile": "all"}, "scorer": {"attn_implementation": "auto", "dtype": "bf16", "channels_last": True}},
    "fast_ckpt": {"model": {"scorer_precision": "bf16", "compile": "all", "activation_checkpointing": True},
                  "scorer": {"attn_implementation": "auto", "dtype": "bf16", "channels_last": True}},
    "shipped": None,  # the configuration file exactly as shipped (its own defaults)
}
DEMO_VARIANTS = ["eager_fp32", "shipped", "channels_last", "bf16_autocast", "compile_scorer", "compile_render", "compile_all", "act_ckpt"]
#: CPU default: a cold inductor compile of the scorer (fwd+bwd) took over 6 min on the shared 2-core machine,
#: so compile_scorer / compile_all run only when asked for (--variants); see docs/performance.md.
DEMO_VARIANTS_CPU_DEFAULT = ["eager_fp32", "shipped", "channels_last", "bf16_autocast", "compile_render", "act_ckpt"]
SIGLIP_VARIANTS = ["eager_fp32", "bf16_autocast", "sdpa", "bf16_sdpa", "bf16_flash", "compile_scorer", "compile_render", "act_ckpt", "fast", "fast_ckpt"]
#: On the headline shape every variant runs; elsewhere only these (GPU time is finite).
SIGLIP_VARIANTS_OTHER_SHAPES = ["eager_fp32", "bf16_sdpa", "fast", "fast_ckpt"]
HEADLINE = (768, 8, 1)
SCORER_KEYS = {"dasag.scorers.EfficientNetLite": {"channels_last"},
               "dasag.speed.random_siglip.RandomSigLIP": {"attn_implementation", "dtype"}}


@dataclass
class Case:
    """One row of the table: a configuration (family + shape) and a speed variant."""

    family: str
    variant: str
    output_px: int
    batch: int
    num_images: int
    siglip_size: str = "so400m"  # das_ag_plus only: ``tiny`` smoke-tests the rows' code path anywhere
    run_steps: int = 0  # steps of one real run of this config: seconds/image = s/step * this / num_images
    status: str = "ok"
    switches: dict[str, Any] = field(default_factory=dict)
    seconds_per_step: float | None = None
    seconds_per_image: float | None = None
    images_per_minute: float | None = None
    flops_per_step: float | None = None
    tflops: float | None = None
    fraction_of_peak: float | None = None
    peak_memory_gb: float | None = None
    memory_kind: str = ""
    scorer_seconds: float | None = None
    outside_scorer_fraction: float | None = None
    host_syncs: int | None = None
    speedup_vs_eager: float | None = None
    timed_steps: int = 0
    seconds_per_step_mean: float | None = None
    host_sync_calls: list[str] = field(default_factory=list)

    @property
    def shape_key(self) -> tuple:
        return (self.family, self.siglip_size, self.output_px, self.batch, self.num_images)


# --------------------------------------------------------------------------- configs
def base_config(family: str, output_px: int, batch: int, num_images: int, siglip_size: str = "so400m") -> dict[str, Any]:
    """The shipped YAML (bases merged) for a family, with the shape filled in."""
    if family == "demo":
        return load_config(CONFIGS / "demo.yaml")
    cfg = load_config(CONFIGS / "das_ag_plus.yaml")
    if output_px == 384:
        cfg = deep_merge(cfg, load_config(CONFIGS / "preset_384.yaml"))
    cfg["model"]["scorer"] = {"class_path": "dasag.speed.random_siglip.RandomSigLIP", "init_args": {"size": siglip_size}}
    shape = {"pyramid": {"init_args": {"num_images": num_images}}, "augment": {"init_args": {"batch_size": batch}}}
    cfg = deep_merge(cfg, {"model": shape})
    prompts = cfg.get("data", {}).get("prompts_file")
    if prompts:
        cfg["data"]["prompts_file"] = str(resolve_prompts_file(prompts, CONFIGS / "das_ag_plus.yaml").resolve())
    return cfg


def variant_config(cfg: dict[str, Any], variant: str) -> dict[str, Any]:
    """``cfg`` with the baseline and then the variant's overrides applied (``shipped``: as is)."""
    cfg = copy.deepcopy(cfg)
    if VARIANTS[variant] is None:
        return cfg
    scorer = cfg["model"]["scorer"]
    allowed = SCORER_KEYS.get(scorer["class_path"], set())
    for part in (BASELINE, VARIANTS[variant]):
        cfg["model"].update(part.get("model", {}))
        scorer.setdefault("init_args", {}).update({k: v for k, v in part.get("scorer", {}).items() if k in allowed})
    return cfg


def switches_of(cfg: dict[str, Any]) -> dict[str, Any]:
    """The speed-relevant settings a row ran with (defaults filled in), for the table."""
    m, s = cfg["model"], cfg["model"]["scorer"].get("init_args") or {}
    return {
        "precision": m.get("scorer_precision", constructor_default(DirectAscent, "scorer_precision")),
        "compile": m.get("compile", constructor_default(DirectAscent, "compile")),
        "act_ckpt": bool(m.get("activation_checkpointing", constructor_default(DirectAscent, "activation_checkpointing"))),
        "channels_last": s.get("channels_last", "-") if "EfficientNet" in cfg["model"]["scorer"]["class_path"] else "-",
        "attention": s.get("attn_implementation", "auto") if "SigLIP" in cfg["model"]["scorer"]["class_path"] else "-",
        "weights": s.get("dtype", "auto") if "SigLIP" in cfg["model"]["scorer"]["class_path"] else "fp32",
    }


# --------------------------------------------------------------------------- one run
def run_case(case: Case, cfg: dict[str, Any], device: torch.device, warmup: int, steps: int, out: Path, flops: dict) -> None:
    """Build the config as the CLI would, fit ``warmup + steps`` steps, fill ``case`` in place."""
    from dasag.speed.measure import PeakRSS, ScorerShare, StepClock

    case.run_steps = int(cfg["trainer"]["max_steps"])
    log_every = int(cfg["trainer"].get("log_every_n_steps", LOG_EVERY_N_STEPS))
    trainer = {"accelerator": device.type, "devices": 1, "max_steps": warmup + steps, "default_root_dir": str(out / "runs"),
               "log_every_n_steps": log_every, "callbacks": [], "enable_checkpointing": False, "enable_progress_bar": False,
               "enable_model_summary": False,
               "logger": {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                          "init_args": {"save_dir": str(out / "runs"), "name": f"{case.family}_{case.variant}"}}}
    clock = StepClock(warmup=warmup, sync_probe_step=1 if log_every > 2 else None)
    share = ScorerShare(warmup=warmup)
    built = build_run({**cfg, "trainer": trainer}, callbacks=[clock, share])
    module = built.model
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    with PeakRSS() as rss:
        built.fit()
    record(case, module, device, steps, clock, share, rss, flops)
    del built, module


def record(case: Case, module, device: torch.device, steps: int, clock, share, rss, flops: dict) -> None:
    """Fill a row from one finished run: time, memory, scorer share, host syncs, FLOPs."""
    from dasag.speed.measure import count_step_flops, scorer_seconds

    # GPU: mean of a synced block; CPU: median step (robust to other processes on the machine).
    case.seconds_per_step = clock.mean if device.type == "cuda" else clock.median
    case.seconds_per_step_mean = clock.mean
    case.timed_steps = clock.steps
    case.host_sync_calls = list(clock.host_syncs or [])
    used = getattr(module.scorer.members[0], "attention", None)  # what the scorer fell back to, if it did
    if used and used != case.switches["attention"] and case.switches["attention"] != "-":
        case.switches["attention"] = f"{case.switches['attention']}->{used}"
    case.host_syncs = None if clock.host_syncs is None else len(clock.host_syncs)
    if device.type == "cuda":
        case.peak_memory_gb, case.memory_kind = torch.cuda.max_memory_allocated(device) / 2**30, "cuda max allocated"
    else:
        case.peak_memory_gb, case.memory_kind = rss.peak / 2**30, "process RSS"
    if share.outside is not None:  # CPU: the scorer timed inside the same steps (robust on a shared machine)
        case.scorer_seconds, case.outside_scorer_fraction = share.scorer_seconds, share.outside
    else:  # GPU: queued work, so the scorer is timed alone on the same batch and subtracted
        case.scorer_seconds = scorer_seconds(module, steps=max(2, min(steps, 10)))
        case.outside_scorer_fraction = max(0.0, 1.0 - case.scorer_seconds / case.seconds_per_step)
    countable = (case.switches["compile"] == "none" and not case.switches["act_ckpt"]
                 and (device.type == "cuda" or case.switches["attention"] in ("eager", "-")))
    if case.shape_key not in flops and countable:
        flops[case.shape_key] = count_step_flops(module)
    case.flops_per_step = flops.get(case.shape_key)
    case.seconds_per_image = case.seconds_per_step * case.run_steps / case.num_images
    case.images_per_minute = 60.0 / case.seconds_per_image


def finish(cases: list[Case], peak_tflops: float) -> None:
    """TFLOP/s, fraction of peak and speed-up over eager, once every row has run."""
    eager = {c.shape_key: c.seconds_per_step for c in cases if c.variant == "eager_fp32" and c.status == "ok"}
    flops = {c.shape_key: c.flops_per_step for c in cases if c.flops_per_step}
    for c in cases:
        if c.status != "ok":
            continue
        c.flops_per_step = flops.get(c.shape_key)
        if c.flops_per_step:
            c.tflops = c.flops_per_step / c.seconds_per_step / 1e12
            c.fraction_of_peak = c.tflops / peak_tflops
        if c.shape_key in eager:
            c.speedup_vs_eager = eager[c.shape_key] / c.seconds_per_step


# --------------------------------------------------------------------------- output
COLUMNS = [
    ("config", lambda c: c.family if c.family == "demo" else f"{c.family}{'' if c.siglip_size == 'so400m' else f' ({c.siglip_size} SigLIP)'} {c.output_px}px"),
    ("batch", lambda c: c.batch), ("images", lambda c: c.num_images), ("variant", lambda c: c.variant),
    ("precision", lambda c: c.switches.get("precision", "")), ("attention", lambda c: c.switches.get("attention", "")),
    ("compile", lambda c: c.switches.get("compile", "")), ("act_ckpt", lambda c: c.switches.get("act_ckpt", "")),
    ("channels_last", lambda c: c.switches.get("channels_last", "")),
    ("s/step", lambda c: _f(c.seconds_per_step, 4)), ("s/image", lambda c: _f(c.seconds_per_image, 2)),
    ("images/min", lambda c: _f(c.images_per_minute, 2)), ("TFLOP/s", lambda c: _f(c.tflops, 3)),
    ("of peak", lambda c: _pct(c.fraction_of_peak)), ("peak mem GB", lambda c: _f(c.peak_memory_gb, 2)),
    ("outside scorer", lambda c: _pct(c.outside_scorer_fraction)), ("host syncs", lambda c: "" if c.host_syncs is None else c.host_syncs),
    ("vs eager", lambda c: "" if c.speedup_vs_eager is None else f"{c.speedup_vs_eager:.2f}x"), ("status", lambda c: c.status),
]


def _f(v: float | None, digits: int) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.1f}%"


def markdown(cases: list[Case], meta: dict[str, Any]) -> str:
    peak = meta["peak"]
    lines = [
        "# dasag step benchmark",
        "",
        f"Device: {meta['device']}; torch {meta['torch']}; {meta['threads']} CPU threads; {meta['date']}; host allocator: {meta.get('host_allocator', '?')}.",
        f"Reference peak: {peak['tflops']:.3f} TFLOP/s ({peak['dtype']} {peak['size']}x{peak['size']} matmul, best round).",
        f"Timed steps per row: {meta['steps']} after {meta['warmup']} warm-up steps; command: `{meta['command']}`.",
        "FLOPs are counted (FlopCounterMode, one step forward+backward, eager) and shared by all variants of a",
        "configuration. Peak memory: " + ("torch.cuda.max_memory_allocated." if meta["device_type"] == "cuda" else "process RSS (sampled), not GPU memory."),
        "'outside scorer' = 1 - scorer forward+backward / whole step; CPU: both timed inside the same steps (median over steps);",
        "GPU: the scorer timed alone on the same batch. 'host syncs' = device-to-host",
        "reads counted in one non-logging step, start to optimiser step (0 = the step never waits on the device).",
        "s/step: " + ("mean of a block between two syncs." if meta["device_type"] == "cuda"
                      else "median step (the machine is shared; the mean is in bench.json)."),
        "",
        "| " + " | ".join(name for name, _ in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for c in cases:
        lines.append("| " + " | ".join(str(fn(c)) for _, fn in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def print_table(cases: list[Case]) -> None:
    rows = [[name for name, _ in COLUMNS]] + [[str(fn(c)) for _, fn in COLUMNS] for c in cases]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))


# --------------------------------------------------------------------------- main
def plan_cases(args: Namespace, device: torch.device) -> list[Case]:
    cases: list[Case] = []
    if "demo" in args.families:
        for v in args.variants or (DEMO_VARIANTS if device.type == "cuda" else DEMO_VARIANTS_CPU_DEFAULT):
            if v in DEMO_VARIANTS:
                cases.append(Case("demo", v, 192, 8, 1))
    if "siglip" in args.families:
        for px, batch, n in itertools.product((384, 768), (8, 32), (1, 4)):
            if args.shapes and f"{px}/{batch}/{n}" not in args.shapes:
                continue
            wanted = SIGLIP_VARIANTS if (px, batch, n) == HEADLINE else SIGLIP_VARIANTS_OTHER_SHAPES
            for v in args.variants or wanted:
                if v in SIGLIP_VARIANTS:
                    runs_here = device.type == "cuda" or args.siglip_size != "so400m"
                    cases.append(Case("das_ag_plus", v, px, batch, n, args.siglip_size, status="ok" if runs_here else "skipped: needs CUDA"))
    return cases


def case_config(case: Case) -> dict[str, Any]:
    """The config a row runs: the family's shipped config with its shape and speed variant."""
    return variant_config(base_config(case.family, case.output_px, case.batch, case.num_images, case.siglip_size), case.variant)


def run_row(case: Case, cfg: dict[str, Any], device: torch.device, warmup: int, steps: int, out: Path, flops: dict) -> None:
    """One row; a failure (out of memory, an unavailable switch) is recorded in its status, the bench goes on."""
    try:
        run_case(case, cfg, device, warmup, steps, out, flops)
    except torch.OutOfMemoryError:
        case.status = "OOM"
    except Exception as e:  # a row that fails is reported, the bench goes on
        case.status = f"error: {type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_rows(cases: list[Case], device: torch.device, warmup: int, steps: int, out: Path, budget: float | None) -> None:
    """Every row in order (after one untimed run that pays for the process's lazy set-up); none starts past the budget."""
    started = time.perf_counter()
    first = next((c for c in cases if c.status == "ok"), None)
    if first is not None:
        throwaway = Case(first.family, first.variant, first.output_px, first.batch, first.num_images, first.siglip_size)
        cfg = case_config(first)
        throwaway.switches = switches_of(cfg)
        run_case(throwaway, cfg, device, warmup=1, steps=1, out=out / "warmup", flops={})
    flops: dict = {}
    for case in cases:
        cfg = case_config(case)
        case.switches = switches_of(cfg)
        t0 = time.perf_counter()
        if case.status == "ok" and budget and t0 - started > budget:
            case.status = f"skipped: time budget ({budget:.0f} s, --budget-s)"
        if case.status == "ok":
            run_row(case, cfg, device, warmup, steps, out, flops)
        print(f"{case.family} {case.output_px}/{case.batch}/{case.num_images} {case.variant}: {case.status} "
              f"{_f(case.seconds_per_step, 4)} s/step ({time.perf_counter() - t0:.0f} s)", flush=True)
