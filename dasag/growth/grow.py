"""Run a growth config stage by stage: ``dasag grow --config large/cpu_1024 --out DIR``.

A growth config is a normal run config plus a ``growth:`` block (:mod:`dasag.growth.stages`). Stage 1
is that config at the block's first size; every later stage is the same config with the
pyramid's size and margin scaled up, built with :func:`~dasag.core.config.build_run` like any run
and started from the grown pyramid of the stage before (:func:`~dasag.growth.stages.grow_pyramid`).

What lands in ``--out``, each file written whole or not at all (temp file + rename):

* ``growth.json``: the merged config (prompts inlined) and the CPU threads, so a re-run into the
  same folder can only continue the same images;
* per stage, ``stage_<k>_<px>px.safetensors`` (the pyramid's levels, and ``tone`` when set) and
  ``stage_<k>_<px>px.png`` (the stage's image, its scores and resolved config in the metadata);
* ``final.png``: the last stage's image; its metadata holds the growth config, the stages and
  the command that makes it again;
* ``timings.json``: seconds per stage on this machine (kept out of the PNGs so their bytes
  depend on the config alone).

* while a stage runs, ``stage_<k>_<px>px.progress.ckpt``: a Lightning checkpoint (pyramid, Adam,
  schedules, step) saved at every tenth of the stage, removed once the stage is finished.

A stage is finished when its ``.safetensors`` exists. A re-run after a kill starts from the last
finished stage, within it from its last progress checkpoint (the randomness of each step is
drawn from the seed and the step's number, so a continued stage takes the same steps), and
because every stage starts from the saved file (even in an uninterrupted run) the final bytes
are the same either way. Bad input is one sentence before any model loads
or any file is written; two runs never share a folder (a lock file).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback

from dasag.core.config import deep_merge, load_config
from dasag.core.errors import ConfigError, first_line
from dasag.core.files import write_bytes_atomic
from dasag.core.output_folder import OutputFolder
from dasag.core.process import DETERMINISTIC_THREADS, check_threads, host_memory_bytes
from dasag.growth.stages import Stage, grow_pyramid, plan_stages, pyramid_settings, stage_config
from dasag.image.pyramid import ImagePyramid, check_fits_in_memory
from dasag.run.build import ScorerCache, build_run
from dasag.run.data import inline_prompts
from dasag.run.resume import check_resume, read_checkpoint
from dasag.run.step_log import StepLog

#: The stored inputs of a growth folder (``--out``).
STATE_FILE = "growth.json"
#: How many progress checkpoints a stage saves (one at each tenth of its steps): a kill loses
#: at most a tenth of a stage.
PROGRESS_SAVES = 10


@dataclass
class GrowthRun:
    """A checked growth run: the merged config (prompts inlined), its stages, where and how it runs."""

    config: dict[str, Any]
    stages: list[Stage]
    out: Path
    threads: int
    #: One loaded scorer for every stage (the stages differ only in the pyramid).
    share_scorer: ScorerCache = field(default_factory=ScorerCache, repr=False)


def quiet_trainer(root: str) -> dict[str, Any]:
    """The harness's trainer (no logger, checkpoints, callbacks or bar; deterministic): the driver writes every output itself."""
    from dasag.run.build import QUIET_TRAINER

    return {**QUIET_TRAINER, "default_root_dir": root}


def output_folder(out: str | os.PathLike, stages: list[Stage] | None = None) -> OutputFolder:
    """``--out`` of a growth run: ``growth.json`` holds the config and threads its stages were made with;
    given the ``stages``, its check also refuses whatever is in the way of their files."""
    files = [f"{s.name}{suffix}" for s in stages or [] for suffix in (".safetensors", ".png", ".progress.ckpt")]
    return OutputFolder(out, STATE_FILE, "the stages of another growth run", "delete it and run again with the same config "
                        "(finished stages are kept and reused).", files=(*files, "final.png", "timings.json"))


def prepare(config_file: str | os.PathLike, out: str | os.PathLike, threads: int | None = None) -> GrowthRun:
    """Read and check everything (config, growth block, every stage's size and memory, threads, and
    everything already in ``--out``: its stored options, finished stages and progress files) without
    loading a model or writing a file; bad input is one :class:`ConfigError` sentence, and the folder
    is left exactly as it was (:func:`run` takes it only after this)."""
    if threads is not None:
        check_threads(threads)
    config_file = Path(config_file)
    config = load_config(config_file)
    if "growth" not in config:
        raise ConfigError(f"config {str(config_file)!r} has no growth block; add growth: {{sizes: [...], steps: [...]}} (see configs/large/).")
    stages = plan_stages(config["growth"], config)
    config = inline_prompts(config, config_file)
    folder = output_folder(out, stages)
    stored = folder.stored()
    if threads is None:
        threads = check_threads((stored or {}).get("threads") or DETERMINISTIC_THREADS, f"threads in {str(folder.options_file)!r}")
    folder.check({"config": config, "threads": threads}, "use the same config and --threads to continue it, or another --out")
    check_finished_stages(Path(out), stages)
    with tempfile.TemporaryDirectory() as root:  # parses and constructs stage 1 (no weights load): every other key is checked here
        first = build_run(deep_merge(stage_config(config, stages[0]), {"trainer": quiet_trainer(root)}))
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
    with tempfile.TemporaryDirectory() as root:
        check_progress(config, Path(out), stages, first.model, root)
    return GrowthRun(config=config, stages=stages, out=Path(out), threads=threads)


# ------------------------------------------------------------------ stage state
def state_path(out: Path, stage: Stage) -> Path:
    return out / f"{stage.name}.safetensors"


def progress_path(out: Path, stage: Stage) -> Path:
    """A stage's progress checkpoint (exists only while the stage is unfinished)."""
    return out / f"{stage.name}.progress.ckpt"


#: What to do with a progress file that cannot continue its stage: it holds no finished result.
PROGRESS_ADVICE = "delete it to make that stage from its start"


def read_progress(path: Path, stage: Stage, model: torch.nn.Module | None = None) -> dict[str, Any]:
    """A stage's progress checkpoint, whole and weights-only (and, given the stage's ``model``, one
    that can continue it: made for its pyramid, with steps left, the optimiser's state and finite
    values); anything else is one sentence naming it."""
    what = f"the progress of stage {stage.index + 1}"
    try:
        checkpoint = read_checkpoint(path, what, PROGRESS_ADVICE)
        if model is not None:  # (SaveProgress never saves at a stage's last step: one that did is another run's)
            check_resume(path, checkpoint, model, stage.steps, what=what, advice=PROGRESS_ADVICE, budget=f"stage {stage.index + 1}'s growth.steps")
    except (ValueError, FileNotFoundError) as e:
        raise ConfigError(first_line(e)) from None
    return checkpoint


def check_progress(config: dict[str, Any], out: Path, stages: list[Stage], first: torch.nn.Module, root: str) -> None:
    """Every unfinished stage's progress file in ``out`` can continue that stage (:func:`read_progress`
    with the stage's model: stage 1's is ``first``, a later stage's is built here, no weights load):
    checked before the folder is claimed, so a progress file of another pyramid, stage size or run
    is one sentence and the folder stays as it was."""
    for stage in stages:
        progress = progress_path(out, stage)
        if not progress.is_file() or state_path(out, stage).is_file():
            continue  # a finished stage's progress is removed, never read
        model = first if stage.index == 0 else build_run(deep_merge(stage_config(config, stage), {"trainer": quiet_trainer(root)})).model
        read_progress(progress, stage, model)


class SaveProgress(Callback):
    """Saves the stage's Lightning checkpoint at every ``1/PROGRESS_SAVES`` of its steps, so a kill
    loses at most that much. Whole or not at all: every built run saves through
    :class:`~dasag.run.checkpoint_io.AtomicCheckpointIO` (a temp file renamed over the last one)."""

    def __init__(self, path: Path, saves: int = PROGRESS_SAVES) -> None:
        self.path = path
        self.saves = saves

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        total, step = int(trainer.max_steps), int(trainer.global_step)
        if step >= total or step % max(1, total // self.saves):
            return
        trainer.save_checkpoint(self.path)


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


def check_finished_stages(out: Path, stages: list[Stage]) -> None:
    """Every stage already in ``out`` has a whole state file and a whole PNG, checked before the
    folder is claimed: the next stage starts from them, so a damaged one (cut short by a full disk
    or an interrupted copy; they are written atomically) is one sentence now and nothing is written.
    The state file's tensors are read (a few MB) and must be finite: a stage of NaN would grow into
    a black picture without a word; of the PNG only the chunk checksums are read, not the pixels."""
    from safetensors import safe_open

    from dasag.image.picture import check_whole_png

    def state_ok(path: Path) -> None:
        with safe_open(str(path), framework="pt") as f:
            if "levels.0" not in f.keys():
                raise ValueError("it holds no pyramid levels")
            for key in f.keys():
                if not bool(torch.isfinite(f.get_tensor(key)).all()):
                    raise ValueError(f"its {key} holds values that are not finite, NaN or infinity")

    for stage in stages:
        progress = progress_path(out, stage)
        if progress.is_file() and not state_path(out, stage).is_file():
            read_progress(progress, stage)  # whole and weights-only; whether it fits its stage: check_progress
        for path, check in ((state_path(out, stage), state_ok), (out / f"{stage.name}.png", check_whole_png)):
            if not path.is_file():
                continue
            try:
                check(path)
            except Exception as e:  # noqa: BLE001 - safetensors and PIL raise their own kinds; any of them means the same here
                raise ConfigError(f"stage file {str(path)!r} is damaged ({first_line(e) or type(e).__name__}); "
                                  "delete it to make that stage (and the ones after it) again.") from None


def stage_pyramid(config: dict[str, Any], stage: Stage) -> ImagePyramid:
    """A bare pyramid with a stage's settings (the start of the next stage's growth)."""
    args = {k: v for k, v in pyramid_settings(config)["init_args"].items() if k not in ("max_size", "max_shift")}
    return ImagePyramid(max_size=stage.canvas, max_shift=stage.max_shift, **args)


# ------------------------------------------------------------------ running
def run_stage(g: GrowthRun, stage: Stage, log: Callable[[str], None]) -> tuple[bytes, float]:
    """Make one stage from the saved stage before it; write its state. Returns its PNG bytes and seconds."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dasag-grow-") as root:
        what = f"stage {stage.index + 1} of {len(g.stages)} ({stage.size} px)"
        progress = progress_path(g.out, stage)
        built = build_run(deep_merge(stage_config(g.config, stage), {"trainer": quiet_trainer(root), "threads": g.threads}),
                          callbacks=[StepLog(what, log), SaveProgress(progress)], share_scorer=g.share_scorer)
        if progress.is_file():  # killed within this stage: continue from its last progress checkpoint
            checkpoint = read_progress(progress, stage, built.model)  # whole (checked in prepare()) and made for this pyramid
            built.ckpt_path = str(progress)
            log(f"{what}: continuing from step {checkpoint['global_step']}")
        elif stage.index > 0:
            before = g.stages[stage.index - 1]
            small = stage_pyramid(g.config, before)
            load_state(state_path(g.out, before), small)
            grow_pyramid(small, built.model.pyramid)
        built.fit()
    model = built.model
    picture = built.picture({"growth_stage": stage.index + 1, "stages": len(g.stages), "size": stage.size, "canvas": stage.canvas,
                             "max_shift": stage.max_shift})
    png = picture.png()
    write_bytes_atomic(g.out / f"{stage.name}.png", png)  # the picture first: a finished stage always has its PNG
    save_state(state_path(g.out, stage), model.pyramid)
    progress.unlink(missing_ok=True)  # the stage is finished: its state file replaces the progress
    seconds = time.perf_counter() - start
    log(f"stage {stage.index + 1}/{len(g.stages)}: {stage.size} px (canvas {stage.canvas}), {stage.steps} steps, {seconds:.1f} s")
    return png, seconds


def final_metadata(g: GrowthRun, stage_png: Path) -> dict[str, Any]:
    """The final PNG's metadata: the last stage's, plus how to make the image again."""
    from dasag.image.picture import read_metadata

    last = read_metadata(stage_png)
    return {
        "version": last["version"],
        "command": f"dasag grow --config CONFIG.yaml --out DIR --threads {g.threads}  (CONFIG.yaml: this metadata's config as YAML)",
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
    with output_folder(g.out).claim({"config": g.config, "threads": g.threads}):
        return _run_locked(g, log)


def _run_locked(g: GrowthRun, log: Callable[[str], None]) -> Path:
    import numpy as np
    from PIL import Image

    from dasag.image.picture import encode_png

    timings_file = g.out / "timings.json"
    try:  # seconds per stage, for people: a damaged file is started afresh, it decides no bytes
        timings = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
    except (OSError, UnicodeDecodeError, ValueError):
        timings = {}
    timings = timings if isinstance(timings, dict) else {}
    for stage in g.stages:
        if state_path(g.out, stage).is_file() and (g.out / f"{stage.name}.png").is_file():
            log(f"stage {stage.index + 1}/{len(g.stages)}: {stage.size} px already made")
            progress_path(g.out, stage).unlink(missing_ok=True)  # killed between the stage's last write and this clean-up
            continue
        _, seconds = run_stage(g, stage, log)
        timings[stage.name] = round(seconds, 2)
        write_bytes_atomic(timings_file, json.dumps(timings, indent=2).encode())
    last_png = g.out / f"{g.stages[-1].name}.png"
    with Image.open(last_png) as im:
        pixels = np.asarray(im.convert("RGB"))  # the last stage's 8-bit pixels, exactly
    final = g.out / "final.png"
    write_bytes_atomic(final, encode_png(pixels, final_metadata(g, last_png)))
    return final
