"""What a large image's step costs, full-canvas scoring against cutouts, side by side: ``python reproduce/large_cost.py``.

Each row is one configuration of a growth config's stage at one visible size: ``full`` scores
8 copies of the whole visible image (the robust recipe's jitter, zoom and flip; the scorer then
shrinks each to its input), ``cutouts`` scores 8 crops resampled straight to the scorer's input
(:class:`dasag.cutouts.Cutouts`). Every row runs in its own process, so its peak memory is its
own: on CPU the process's peak resident memory (``getrusage`` ``ru_maxrss``) and its growth over
the process just before the first step (weights loaded, run built); on CUDA
``torch.cuda.max_memory_allocated``. Rows run in turn, round after round, and the median of the
rounds is reported, so a change in how busy the machine is hits every row alike.

CPU rows: EfficientNet-Lite0 (real weights, 224 px) at 256, 512 and 1024 px (``configs/large/cpu_1024.yaml``'s
three stages, so their s/step times the stages' steps is the cost of its image). CUDA rows: SigLIP
so400m with random weights (the real one's cost, bf16) at 1536 and 2048 px (``siglip_1536.yaml`` and
``siglip_2048.yaml``'s last stages); printed as skipped without a GPU. Writes ``large_cost.json`` and ``large_cost.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: (device, growth config, stage visible size); each is measured with both kinds of copies.
SHAPES: tuple[tuple[str, str, int], ...] = (
    ("cpu", "cpu_1024.yaml", 256),
    ("cpu", "cpu_1024.yaml", 512),
    ("cpu", "cpu_1024.yaml", 1024),
    ("cuda", "siglip_1536.yaml", 1536),
    ("cuda", "siglip_2048.yaml", 2048),
)
KINDS = ("full", "cutouts")


def row_config(config_name: str, size: int, kind: str, steps: int) -> dict[str, Any]:
    """The growth config's stage at ``size``, with full-canvas copies (the robust recipe) or its own cutouts."""
    from dasag.config import CONFIGS, deep_merge, load_config
    from dasag.growth import plan_stages, stage_config

    config = load_config(CONFIGS / "large" / config_name)
    stage = next(s for s in plan_stages(config["growth"], config) if s.size == size)
    cfg = stage_config(config, stage)
    if kind == "full":  # the recipe the config would use without cutouts: quality/robust.yaml's copies, same batch
        batch = cfg["model"]["augment"]["init_args"].get("batch_size", 8)
        cfg["model"]["augment"] = {"class_path": "dasag.Augmentations",
                                   "init_args": {"batch_size": batch, "zoom": 0.25, "zoom_enabled": True, "flip_enabled": True}}
    if "siglip" in config_name:
        cfg["model"]["scorer"] = {"class_path": "dasag.speed.random_siglip.RandomSigLIP", "init_args": {"size": "so400m"}}
        cfg["model"]["scorer_precision"] = "bf16"
        cfg["data"] = {"positive_prompts": ["a gigantic metallic Mona Lisa attacking the city"], "negative_prompts": []}
    trainer = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False,
               "callbacks": [], "max_steps": steps, "devices": 1, "accelerator": "gpu" if "siglip" in config_name else "cpu"}
    return deep_merge(cfg, {"trainer": trainer})


def measure_one(config_name: str, size: int, kind: str, warmup: int, steps: int, threads: int) -> dict[str, Any]:
    """Run one row in this process and return its figures (called in a child process)."""
    import resource
    import tempfile

    import torch

    from dasag.config import build_run, deep_merge, quiet_expected_warnings, quiet_lightning_banners, quiet_loading_bars
    from dasag.speed.measure import StepClock, current_rss
    from dasag.speed.switches import tune_host_allocator

    tune_host_allocator()
    quiet_expected_warnings()
    quiet_lightning_banners()
    quiet_loading_bars()
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = deep_merge(row_config(config_name, size, kind, warmup + steps), {"trainer": {"default_root_dir": tmp}})
        run = build_run(cfg)
        for member in run.model.scorer.members:  # weights read before the memory baseline and the clock
            member.load()
        clock = StepClock(warmup=warmup, sync_probe_step=None)
        run.trainer.callbacks.append(clock)
        cuda = torch.cuda.is_available() and cfg["trainer"]["accelerator"] == "gpu"
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        before = current_rss()
        run.fit()
    out = {"seconds_per_step": clock.mean if cuda else clock.median}
    if cuda:
        out.update(peak_gib=torch.cuda.max_memory_allocated() / 2**30, memory="cuda max_memory_allocated")
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        out.update(peak_gib=peak / 2**30, step_gib=(peak - before) / 2**30, memory="process peak RSS (ru_maxrss)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reproduce" / "results" / "large", help="folder for large_cost.json / .md")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per row and round (after --warmup untimed ones)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="rounds; each row's median is reported")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of every row")
    parser.add_argument("--one", nargs=3, metavar=("CONFIG", "SIZE", "KIND"), help=argparse.SUPPRESS)  # a child process's row
    args = parser.parse_args(argv)
    if min(args.steps, args.warmup + 1, args.rounds, args.threads) < 1:
        parser.error("--steps, --rounds and --threads must be positive integers and --warmup at least 0")
    if args.one:
        print(json.dumps(measure_one(args.one[0], int(args.one[1]), args.one[2], args.warmup, args.steps, args.threads)))
        return 0

    import torch

    cuda = torch.cuda.is_available()
    figures: dict[tuple, list[dict[str, Any]]] = {}
    for _ in range(args.rounds):
        for device, config, size in SHAPES:
            if device == "cuda" and not cuda:
                continue
            for kind in KINDS:
                command = [sys.executable, __file__, "--one", config, str(size), kind, "--steps", str(args.steps),
                           "--warmup", str(args.warmup), "--threads", str(args.threads)]
                done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
                if done.returncode != 0:
                    raise SystemExit(f"row {config} {size} {kind} failed:\n{done.stderr[-3000:]}")
                figures.setdefault((device, config, size, kind), []).append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"{config} {size} px {kind}: {figures[(device, config, size, kind)][-1]['seconds_per_step']:.2f} s/step", flush=True)
    rows = []
    for device, config, size in SHAPES:
        for kind in KINDS:
            runs = figures.get((device, config, size, kind))
            if not runs:
                rows.append({"device": device, "config": config, "size": size, "copies": kind, "status": "skipped: needs CUDA"})
                continue
            row = {"device": device, "config": config, "size": size, "copies": kind, "status": "ok",
                   "seconds_per_step": statistics.median(r["seconds_per_step"] for r in runs),
                   "peak_gib": statistics.median(r["peak_gib"] for r in runs), "memory": runs[0]["memory"]}
            if "step_gib" in runs[0]:
                row["step_gib"] = statistics.median(r["step_gib"] for r in runs)
            rows.append(row)
    for row in rows:  # cutouts against full-canvas copies of the same shape
        if row["copies"] == "cutouts" and row["status"] == "ok":
            full = next(r for r in rows if r["size"] == row["size"] and r["copies"] == "full")
            row["time_vs_full"] = row["seconds_per_step"] / full["seconds_per_step"]
            key = "step_gib" if "step_gib" in row else "peak_gib"
            row["memory_vs_full"] = row[key] / full[key]
    machine = (torch.cuda.get_device_name(0) if cuda else f"{platform.processor() or platform.machine()} CPU, {args.threads} threads")
    meta = {"machine": machine, "torch": torch.__version__, "steps": args.steps, "warmup": args.warmup, "rounds": args.rounds}
    md = markdown(rows, meta)
    print("\n" + md)
    args.out.mkdir(parents=True, exist_ok=True)
    from dasag.files import write_bytes_atomic

    write_bytes_atomic(args.out / "large_cost.json", json.dumps({"meta": meta, "rows": rows}, indent=2).encode())
    write_bytes_atomic(args.out / "large_cost.md", md.encode())
    return 0


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = ["| device | config | visible px | copies | s/step | peak memory (GiB) | growth in the fit (GiB) | time vs full | memory vs full |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['device']} | {r['config']} | {r['size']} | {r['copies']} | {r['status']} | | | | |")
            continue
        step = f"{r['step_gib']:.2f}" if "step_gib" in r else "-"
        vs_t = f"{r['time_vs_full']:.2f}x" if "time_vs_full" in r else ""
        vs_m = f"{r['memory_vs_full']:.2f}x" if "memory_vs_full" in r else ""
        lines.append(f"| {r['device']} | {r['config']} | {r['size']} | {r['copies']} | {r['seconds_per_step']:.2f} | {r['peak_gib']:.2f} | {step} "
                     f"| {vs_t} | {vs_m} |")
    kinds = sorted({r["memory"] for r in rows if r["status"] == "ok"})
    lines.append(f"\n{meta['machine']}, torch {meta['torch']}; median of {meta['rounds']} rounds of {meta['steps']} timed steps "
                 f"(after {meta['warmup']} untimed), every row in its own process; memory: {'; '.join(kinds)} (on CPU also its growth "
                 f"from just before the first step, with the weights loaded).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
