"""Run a growth config stage by stage: ``python -m dasag.grow --config configs/large/cpu_1024.yaml --out DIR``.

A growth config is a normal run config plus a ``growth:`` block (:mod:`dasag.growth`). Stage 1
is that config at the block's first size; every later stage is the same config with the
pyramid's size and margin scaled up, built with :func:`~dasag.config.build_run` like any run
and started from the grown pyramid of the stage before (:func:`~dasag.growth.grow_pyramid`).

What lands in ``--out``, each file written whole or not at all (temp file + rename):

* ``growth.json``: the merged config (prompts inlined) and the CPU threads, so a re-run into the
  same folder can only continue the same images;
* per stage, ``stage_<k>_<px>px.safetensors`` (the pyramid's levels, and ``tone`` when set) and
  ``stage_<k>_<px>px.png`` (the stage's image, its scores and resolved config in the metadata);
* ``final.png``: the last stage's image; its metadata holds the growth config, the stages and
  the command that makes it again;
* ``timings.json``: seconds per stage on this machine (kept out of the PNGs so their bytes
  depend on the config alone).

A stage is finished when its ``.safetensors`` exists. A re-run after a kill starts from the last
finished stage, and because every stage starts from the saved file (even in an uninterrupted
run) the final bytes are the same either way. Bad input is one sentence before any model loads
or any file is written; two runs never share a folder (a lock file).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dasag.config import ConfigError, build_run, check_writable, deep_merge, first_line, load_config, read_stored_json, resolve_prompts_file
from dasag.files import FolderInUse, folder_lock, remove_stale_temps, write_bytes_atomic
from dasag.growth import Stage, grow_pyramid, plan_stages, pyramid_settings, stage_config
from dasag.pyramid import ImagePyramid, check_fits_in_memory, host_memory_bytes

#: The stored inputs of a growth folder (``--out``).
STATE_FILE = "growth.json"


@dataclass
class GrowthRun:
    """A checked growth run: the merged config (prompts inlined), its stages, where and how it runs."""

    config: dict[str, Any]
    stages: list[Stage]
    out: Path
    threads: int
    _scorers: dict[str, Any] = field(default_factory=dict, repr=False)

    def share_scorer(self, key: str, fresh: Any) -> Any:
        """One loaded scorer for every stage (the stages differ only in the pyramid)."""
        return self._scorers.setdefault(key, fresh)


def inline_prompts(config: dict[str, Any], config_file: Path) -> dict[str, Any]:
    """The config with ``data.prompts_file`` read into the prompt lists, so the config stored in
    ``growth.json`` and in the final PNG is whole on its own, wherever it is run from."""
    from dasag.data import read_prompts_file

    data = dict(config.get("data") or {})
    if data.get("prompts_file"):
        try:
            prompts = read_prompts_file(resolve_prompts_file(str(data.pop("prompts_file")), config_file))
        except (ValueError, FileNotFoundError) as e:
            raise ConfigError(first_line(e)) from None
        data["positive_prompts"] = list(prompts.positive) + list(data.get("positive_prompts") or [])
        data["negative_prompts"] = list(prompts.negative) + list(data.get("negative_prompts") or [])
    return {**config, "data": data}


def quiet_trainer(root: str) -> dict[str, Any]:
    """The harness's trainer (no logger, checkpoints, callbacks or bar; deterministic): the driver writes every output itself."""
    from dasag.quality.make import QUIET_TRAINER

    return {**QUIET_TRAINER, "default_root_dir": root}


def _stored(out: Path) -> dict[str, Any] | None:
    return read_stored_json(out / STATE_FILE, "delete it and run again with the same config (finished stages are kept and reused).", "config")


def prepare(config_file: str | os.PathLike, out: str | os.PathLike, threads: int | None = None) -> GrowthRun:
    """Read and check everything (config, growth block, every stage's size and memory, ``--out``,
    threads) without loading a model or writing a file; bad input is one :class:`ConfigError` sentence."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"--threads must be a positive integer (CPU threads; CPU image bytes depend on it); got {threads!r}.")
    config_file = Path(config_file)
    config = load_config(config_file)
    if "growth" not in config:
        raise ConfigError(f"config {str(config_file)!r} has no growth block; add growth: {{sizes: [...], steps: [...]}} (see configs/large/).")
    stages = plan_stages(config["growth"], config)
    config = inline_prompts(config, config_file)
    out = Path(out)
    check_writable(out, "--out")
    stored = _stored(out)
    if stored is not None:
        if stored["config"] != json.loads(json.dumps(config)):
            raise ConfigError(f"--out {str(out)!r} holds the stages of another growth config; use the same config to continue it, or another --out.")
        if threads is None:
            threads = stored.get("threads")
        elif threads != stored.get("threads"):
            raise ConfigError(f"--out {str(out)!r} was made with --threads {stored.get('threads')}; got {threads} (CPU image bytes depend on it).")
    threads = threads or torch.get_num_threads()
    with tempfile.TemporaryDirectory() as root:  # parses and constructs stage 1 (no weights load): every other key is checked here
        build_run(deep_merge(stage_config(config, stages[0]), {"trainer": quiet_trainer(root)}))
        if config["growth"].get("later_stages"):  # the later stages' settings, at stage 1's size (only the pyramid's size differs)
            later = dataclasses.replace(stages[1], canvas=stages[0].canvas, max_shift=stages[0].max_shift)
            try:
                build_run(deep_merge(stage_config(config, later), {"trainer": quiet_trainer(root)}))
            except ConfigError as e:
                raise ConfigError(f"growth.later_stages: {e}") from None
    args = pyramid_settings(config)["init_args"]
    for stage in stages[1:]:
        try:
            check_fits_in_memory(stage.canvas, args.get("num_images", 1), args.get("min_size", 1), host_memory_bytes())
        except ValueError as e:
            raise ConfigError(f"growth stage {stage.index + 1} ({stage.size} px): {first_line(e)}") from None
    return GrowthRun(config=config, stages=stages, out=out, threads=threads)


# ------------------------------------------------------------------ stage state
def state_path(out: Path, stage: Stage) -> Path:
    return out / f"{stage.name}.safetensors"


def save_state(path: Path, pyramid: ImagePyramid) -> None:
    """The pyramid's levels (and ``tone``) as safetensors, written atomically: the stage's finish line."""
    from safetensors.torch import save

    tensors = {f"levels.{i}": level.detach().float().cpu().contiguous() for i, level in enumerate(pyramid.levels)}
    if pyramid.tone is not None:
        tensors["tone"] = pyramid.tone.detach().float().cpu().contiguous()
    write_bytes_atomic(path, save(tensors))


def load_state(path: Path, pyramid: ImagePyramid) -> None:
    """Put a saved stage into ``pyramid`` (built with that stage's settings); a damaged file is one sentence."""
    from safetensors.torch import load

    try:
        tensors = load(path.read_bytes())
        with torch.no_grad():
            for i, level in enumerate(pyramid.levels):
                level.copy_(tensors[f"levels.{i}"])
        pyramid.tone = tensors.get("tone")
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types; any of them means the same here
        raise ConfigError(f"stage file {str(path)!r} is damaged ({first_line(e)}); delete it to make that stage again.") from None


def stage_pyramid(config: dict[str, Any], stage: Stage) -> ImagePyramid:
    """A bare pyramid with a stage's settings (the start of the next stage's growth)."""
    args = {k: v for k, v in pyramid_settings(config)["init_args"].items() if k not in ("max_size", "max_shift")}
    return ImagePyramid(max_size=stage.canvas, max_shift=stage.max_shift, **args)


# ------------------------------------------------------------------ running
def _image_and_scores(model) -> tuple[torch.Tensor, list[dict[str, float]]]:
    """The stage's images and their scores on what the PNG holds (8-bit), as the harness scores."""
    from dasag.images import from_uint8, grid, to_uint8

    images = model.images().float().cpu()
    quantised = torch.stack([from_uint8(to_uint8(im)) for im in images])
    scores = model.evaluate(quantised.to(model.device))
    sheet = quantised[0] if quantised.shape[0] == 1 else grid(quantised)
    return sheet, scores


def run_stage(g: GrowthRun, stage: Stage, log: Callable[[str], None]) -> tuple[bytes, float]:
    """Make one stage from the saved stage before it; write its state. Returns its PNG bytes and seconds."""
    from dasag.images import png_bytes

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dasag-grow-") as root:
        built = build_run(deep_merge(stage_config(g.config, stage), {"trainer": quiet_trainer(root)}), share_scorer=g.share_scorer)
        if stage.index > 0:
            before = g.stages[stage.index - 1]
            small = stage_pyramid(g.config, before)
            load_state(state_path(g.out, before), small)
            grow_pyramid(small, built.model.pyramid)
        built.fit()
    model = built.model
    sheet, scores = _image_and_scores(model)
    metadata = {
        "growth_stage": stage.index + 1, "stages": len(g.stages), "size": stage.size, "canvas": stage.canvas, "max_shift": stage.max_shift,
        "step": stage.steps, "seed": model.seed, "prompts": _prompts(model), "scores": scores[0] if len(scores) == 1 else scores,
        "config": built.run_config,
    }
    png = png_bytes(sheet, metadata)
    write_bytes_atomic(g.out / f"{stage.name}.png", png)  # the picture first: a finished stage always has its PNG
    save_state(state_path(g.out, stage), model.pyramid)
    seconds = time.perf_counter() - start
    log(f"stage {stage.index + 1}/{len(g.stages)}: {stage.size} px (canvas {stage.canvas}), {stage.steps} steps, {seconds:.1f} s")
    return png, seconds


def _prompts(model) -> dict[str, list[str]] | None:
    p = model.prompts
    return {"positive": list(p.positive), "negative": list(p.negative)} if p else None


def final_metadata(g: GrowthRun, stage_png: Path) -> dict[str, Any]:
    """The final PNG's metadata: the last stage's, plus how to make the image again."""
    from dasag.images import read_metadata

    last = read_metadata(stage_png)
    return {
        "command": f"python -m dasag.grow --config CONFIG.yaml --out DIR --threads {g.threads}  (CONFIG.yaml: this metadata's config as YAML)",
        "threads": g.threads,
        "growth": g.config["growth"],
        "stages": [{"size": s.size, "canvas": s.canvas, "max_shift": s.max_shift, "steps": s.steps} for s in g.stages],
        "seed": last["seed"],
        "prompts": last["prompts"],
        "scores": last["scores"],
        "step": sum(s.steps for s in g.stages),
        "config": g.config,
    }


def run(g: GrowthRun, log: Callable[[str], None] = print) -> Path:
    """Make every stage not yet finished in ``g.out`` and write ``final.png``; returns its path."""
    try:
        with folder_lock(g.out, "--out"):
            return _run_locked(g, log)
    except FolderInUse as e:
        raise ConfigError(str(e)) from None


def _run_locked(g: GrowthRun, log: Callable[[str], None]) -> Path:
    import numpy as np
    from PIL import Image

    from dasag.images import from_uint8, png_bytes

    remove_stale_temps(g.out)
    write_bytes_atomic(g.out / STATE_FILE, json.dumps({"config": g.config, "threads": g.threads}, indent=2, sort_keys=True).encode())
    timings_file = g.out / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
    before = torch.get_num_threads()
    torch.set_num_threads(g.threads)
    try:
        for stage in g.stages:
            if state_path(g.out, stage).is_file() and (g.out / f"{stage.name}.png").is_file():
                log(f"stage {stage.index + 1}/{len(g.stages)}: {stage.size} px already made")
                continue
            _, seconds = run_stage(g, stage, log)
            timings[stage.name] = round(seconds, 2)
            write_bytes_atomic(timings_file, json.dumps(timings, indent=2).encode())
    finally:
        torch.set_num_threads(before)
    last_png = g.out / f"{g.stages[-1].name}.png"
    with Image.open(last_png) as im:
        image = from_uint8(np.asarray(im.convert("RGB")))  # the last stage's 8-bit pixels, exactly
    final = g.out / "final.png"
    write_bytes_atomic(final, png_bytes(image, final_metadata(g, last_png)))
    return final


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dasag.grow``: 0 done, 2 bad input (one sentence), 1 a full disk."""
    from jsonargparse import ArgumentError, ArgumentParser

    from dasag.config import command_failed, quiet_expected_warnings, quiet_lightning_banners, quiet_loading_bars
    from dasag.speed.switches import tune_host_allocator

    quiet_expected_warnings()
    quiet_lightning_banners()
    quiet_loading_bars()
    tune_host_allocator()  # as every entry point: freed host memory is reused, not paged in again each step
    p = ArgumentParser(prog="python -m dasag.grow", description=__doc__.split("\n\n")[0], exit_on_error=False)
    p.add_argument("--config", required=True, help="a run config with a growth block, e.g. configs/large/cpu_1024.yaml")
    p.add_argument("--out", required=True, help="output folder; running again into it continues from the last finished stage")
    p.add_argument("--threads", type=int | None, default=None, help="CPU threads; CPU image bytes depend on it (default: the folder's, else torch's)")
    try:
        args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
        g = prepare(args.config, args.out, args.threads)
        final = run(g)
    except (ArgumentError, ConfigError, ValueError, OSError) as e:
        return command_failed(e, lambda: f"every finished stage is kept in {str(args.out)!r}: free some space and run the same command again.")
    print(f"wrote {final}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
