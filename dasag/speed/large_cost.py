"""What a large image's step costs, full-canvas scoring against cutouts: the rows of
``python reproduce/large_cost.py`` (which runs each in its own process and writes the table).

Each row is one configuration of a growth config's stage at one visible size: ``full`` scores
8 copies of the whole visible image (the robust recipe's jitter, zoom and flip; the scorer then
shrinks each to its input), ``cutouts`` scores 8 crops resampled straight to the scorer's input
(:class:`dasag.image.cutouts.Cutouts`).
"""

from __future__ import annotations

from typing import Any

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
    from dasag.core.config import CONFIGS, deep_merge, load_config
    from dasag.growth.stages import plan_stages, stage_config

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

    from dasag.core.config import deep_merge
    from dasag.run.build import build_run
    from dasag.speed.measure import StepClock, current_rss

    with tempfile.TemporaryDirectory() as tmp:
        cfg = deep_merge(row_config(config_name, size, kind, warmup + steps), {"trainer": {"default_root_dir": tmp}, "threads": threads})
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
