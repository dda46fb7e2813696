"""Running a suite: plan the tasks, make the missing images (optionally sharded), check a run.

Outputs under ``out``: ``images/<sha256>.png``, ``scores.csv`` (one row per finished image,
written atomically as each finishes), ``run.json`` (the options that decide the images, so
a re-run or ``--check`` cannot silently mix budgets), and the report files the
suite writes (:attr:`~dasag.batch.tasks.Suite.write_report`). A re-run skips every ``(method, sample)`` already in
``scores.csv``; a kill loses at most the image in progress.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dasag.batch import nodes
from dasag.batch import scores_file as rows
from dasag.batch.make import Generator
from dasag.batch.tasks import RunSpec, Suite, Task, row_digest
from dasag.core.errors import ConfigError
from dasag.core.eta import progress_text
from dasag.core.files import DiskFullError, write_bytes_atomic
from dasag.core.output_folder import OutputFolder
from dasag.core.process import DETERMINISTIC_THREADS, check_threads, set_up_process
from dasag.core.ranges import NODE_TIMEOUT

#: Options stored in ``run.json``: changing one changes the images, so a run keeps them.
IMAGE_OPTIONS = ("suite", "steps", "base_seed", "overrides", "threads")




@dataclass
class TaskPlan:
    """A validated spec: the suite, its narrowed tasks and the image generator's settings."""

    spec: RunSpec
    suite: Suite
    tasks: list[Task]
    accelerator: str
    _generators: dict[int, Generator] = field(default_factory=dict, repr=False)

    def generator(self, device_index: int = 0) -> Generator:
        """This plan's generator for one device, made once: the weights it loaded while the plan
        was checked are the ones its images are made with."""
        if device_index not in self._generators:
            s = self.spec
            self._generators[device_index] = Generator(self.suite, s.steps, s.overrides, s.eval_scorers, self.accelerator, device_index, s.threads)
        return self._generators[device_index]


def _positive(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or value < 1):
        raise ConfigError(f"--{name} must be a positive integer; got {value!r}.")


def output_folder(out: str | os.PathLike, suite: Suite | None = None) -> OutputFolder:
    """``--out`` of a run: ``run.json`` holds the options that decide its images; given the ``suite``,
    its check also refuses whatever is in the way of ``scores.csv`` and the suite's report files."""
    files = ("scores.csv", *(suite.report_files if suite is not None else ()))
    return OutputFolder(out, "run.json", "a run", "delete it and run again with the same options "
                        "(finished images and scores.csv are kept and reused).", subfolders=("images", rows.PARTS_DIR), files=files)


def _stored(out: Path) -> dict[str, Any] | None:
    """The options stored with a run (``None``: no run there yet); an unreadable file is one sentence."""
    return output_folder(out).stored()


def stored_options(spec: RunSpec) -> dict[str, Any]:
    """What ``run.json`` holds: every option that decides the run's images, and its held-out columns."""
    return {k: getattr(spec, k) for k in IMAGE_OPTIONS} | {"eval_scorers": list(spec.eval_scorers)}


def resolve_accelerator(name: str) -> str:
    import torch

    if name not in ("auto", "cpu", "gpu"):
        raise ConfigError(f"--accelerator must be one of auto, cpu, gpu; got {name!r}.")
    if name == "gpu" and not torch.cuda.is_available():
        raise ConfigError("--accelerator gpu was asked for but no CUDA device is available.")
    if name == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    return name


def _check_counts(spec: RunSpec, suite: Suite) -> None:
    """Counts are positive, and a batch's own options are not given to another suite (each suite's
    :attr:`~dasag.batch.tasks.Suite.make_tasks` refuses the narrowing options that are not its own)."""
    for name in ("samples", "classes", "seeds", "steps", "devices", "num_nodes"):
        _positive(name, getattr(spec, name))
    if spec.threads is not None:
        check_threads(spec.threads)
    if not NODE_TIMEOUT.holds(spec.node_timeout):
        raise ConfigError(f"--node-timeout must be {NODE_TIMEOUT.describe()} (seconds a machine may stay silent); got {spec.node_timeout!r}.")
    if suite.name != "batch" and (spec.rows is not None or spec.config is not None):
        raise ConfigError(f"--rows and --config belong to batch runs, not to the {suite.name} suite.")


def _continue_stored(spec: RunSpec, suite: Suite, out: Path, for_check: bool) -> None:
    """Options left unset continue the run stored in ``out``; a value that differs is refused."""
    stored = _stored(out)
    if stored is None:
        if for_check:
            raise ConfigError(f"--check needs a finished run in --out {str(out)!r}; it has no run.json.")
        output_folder(out, suite).check(stored_options(spec))  # nothing stored to compare: writable, nothing in the way
        return
    if stored.get("suite") != suite.name:
        raise ConfigError(f"--out {str(out)!r} holds a {stored.get('suite')!r} run; got suite {suite.name!r}.")
    for key in ("steps", "base_seed", "overrides", "threads"):
        if getattr(spec, key) is None:
            setattr(spec, key, stored.get(key))
    if not spec.eval_scorers:
        spec.eval_scorers = list(stored.get("eval_scorers") or [])
    output_folder(out, suite).check(stored_options(spec), "use the same value or another --out")


def _tasks(spec: RunSpec, suite: Suite) -> list[Task]:
    """The suite's tasks, narrowed; unknown methods, a method named twice and missing configs are refused."""
    twice = sorted({m for m in spec.methods or [] if spec.methods.count(m) > 1})
    if twice:
        raise ConfigError(f"--methods names {', '.join(map(repr, twice))} more than once (each would be made twice and one row dropped); "
                          f"name each method once.")
    for m in spec.methods or [m.name for m in suite.methods]:
        if not suite.method(m).config.is_file():  # unknown names fail in suite.method with the allowed list
            raise ConfigError(f"the config of method {m!r}, {str(suite.method(m).config)!r}, does not exist.")
    return suite.make_tasks(suite, spec)


def plan(spec: RunSpec, suite: Suite, for_check: bool = False) -> TaskPlan:
    """Validate every option and config against each other and ``out``; loads no model, writes nothing."""
    _check_counts(spec, suite)
    given_threads = spec.threads is not None
    _continue_stored(spec, suite, Path(spec.out), for_check)
    if spec.base_seed is None:
        spec.base_seed = 0
    if spec.threads is None:
        spec.threads = DETERMINISTIC_THREADS
    check_threads(spec.threads, "--threads" if given_threads else "threads in run.json")
    if not isinstance(spec.base_seed, int) or spec.base_seed < 0:
        raise ConfigError(f"--base-seed must be a non-negative integer; got {spec.base_seed!r}.")
    tasks = _tasks(spec, suite)
    accelerator = resolve_accelerator(spec.accelerator)
    if accelerator == "gpu":
        import torch

        if spec.devices > torch.cuda.device_count():
            raise ConfigError(f"--devices {spec.devices} asks for more GPUs than the {torch.cuda.device_count()} visible here.")
    p = TaskPlan(spec, suite, tasks, accelerator)
    p.generator().validate(tasks)  # also finds each method's guides, kept on the plan's generator
    _check_compare(spec, suite)
    _check_rows_files(p, for_check)
    if suite.name == "batch":
        _check_rows_unchanged(p)
    return p


def _check_rows_files(p: TaskPlan, for_check: bool) -> None:
    """``scores.csv`` and the workers' part files in ``out`` are whole tables with this run's columns
    (:func:`~dasag.batch.scores_file.read_rows`), checked before the folder is claimed: a damaged one
    is one sentence naming it and the folder stays as it was. ``--check`` reads only the keys and hashes."""
    out = Path(p.spec.out)
    columns = ("method", "sample", "file_hash") if for_check else p.generator().columns()
    for path in [out / "scores.csv", *rows.part_paths(out)]:
        rows.read_rows(path, columns)


def _check_rows_unchanged(p: TaskPlan) -> None:
    """A batch row whose image exists must still be the row that made it: an edited row would
    otherwise be skipped as done and its stale image reported as its result."""
    out = Path(p.spec.out)
    stored: dict[int, str] = {}
    for frame in [rows.read_rows(out / "scores.csv")] + [rows.read_rows(f) for f in rows.part_paths(out)]:
        if not frame.empty and "row_digest" in frame:
            stored.update(zip(frame["sample"].astype(int), frame["row_digest"].astype(str)))
    generator = p.generator()
    for task in p.tasks:
        if task.sample in stored and stored[task.sample] != row_digest(generator.config(task)):
            raise ConfigError(f"row {task.sample + 1} of {str(p.spec.rows)!r} differs from the row that made its image in {str(out)!r}; "
                              f"put the row back, add changed rows at the end of the file instead, or use another --out.")


def _check_compare(spec: RunSpec, suite: Suite) -> None:
    """Every ``--compare`` folder is a finished run of this suite (and not the run itself)."""
    for other in spec.compare:
        other = Path(other)
        if other.resolve() == Path(spec.out).resolve():
            raise ConfigError(f"--compare {str(other)!r} is this run's own --out folder; name another run of the {suite.name} suite.")
        if not (other / "scores.csv").is_file() or not (other / "run.json").is_file():
            raise ConfigError(f"--compare {str(other)!r} is not a finished harness run (it needs scores.csv and run.json).")
        if (_stored(other) or {}).get("suite") != suite.name:
            raise ConfigError(f"--compare {str(other)!r} is a run of another suite; name a run of the {suite.name} suite.")
        _compared_scores(other, suite)


def _compared_scores(other: Path, suite: Suite) -> pd.DataFrame:
    """A ``--compare`` run's scores, read whole (one sentence naming the file otherwise); never changed."""
    return rows.read_rows(other / "scores.csv", suite.key_columns, advice=f"name a finished run of the {suite.name} suite in --compare")


def compared_runs(spec: RunSpec, suite: Suite) -> list[tuple[str, pd.DataFrame, dict[str, Any]]]:
    """(folder name, scores table, stored options) of every ``--compare`` run, for the report."""
    out = []
    for other in spec.compare:
        other = Path(other)
        out.append((other.name, _compared_scores(other, suite), _stored(other) or {}))
    return out


# ------------------------------------------------------------------ running
def _write_image(out: Path, png: bytes) -> str:
    digest = hashlib.sha256(png).hexdigest()
    write_bytes_atomic(out / "images" / f"{digest}.png", png)
    return digest


def _pending(p: TaskPlan) -> list[Task]:
    out = Path(p.spec.out)
    done = rows.done_keys([rows.read_rows(out / "scores.csv")] + [rows.read_rows(f) for f in rows.part_paths(out)])
    return [t for t in p.tasks if t.key not in done]


def my_tasks(p: TaskPlan, rank: int = 0, world: int = 1) -> list[Task]:
    """This worker's share of the missing images: pending task i when i % world == rank. Every worker
    must compute it before any of them writes a row (the pending list would shift under it)."""
    return [t for i, t in enumerate(_pending(p)) if i % world == rank]


def run_tasks(p: TaskPlan, rank: int = 0, world: int = 1, device_index: int = 0, on_row: Callable[[dict], None] | None = None,
              tasks: list[Task] | None = None) -> int:
    """Make this worker's share of the missing images (``tasks``, else :func:`my_tasks`)."""
    out = Path(p.spec.out)
    generator = p.generator(device_index)
    target = out / "scores.csv" if world == 1 else out / rows.PARTS_DIR / f"scores.rank{rank}.csv"
    log = rows.RowLog(target, generator.columns())
    mine = my_tasks(p, rank, world) if tasks is None else tasks
    seconds: list[float] = []
    for n, task in enumerate(mine, start=1):
        made = generator.make(task)
        made.row["file_hash"] = _write_image(out, made.png)  # image first: a row always has its file
        log.append(made.row)
        seconds.append(float(made.row["seconds"]))
        print(f"[{rank}] {generator.task_name(task)} seed {task.seed}: {seconds[-1]:.1f} s ({progress_text(n, len(mine), seconds)}"
              f"{' on this worker' if world > 1 else ''})", flush=True)
        if on_row is not None:
            on_row(made.row)
    return len(mine)


def _shard(fabric, spec_json: dict[str, Any], suite_bytes: bytes) -> None:
    """One spawned worker: its own device, its own rows file (a new process: set up like a command's).
    The suite arrives pickled: Fabric walks its arguments and cannot walk a frozen dataclass."""
    import pickle

    set_up_process()
    p = plan(RunSpec.from_json(spec_json), pickle.loads(suite_bytes))
    mine = my_tasks(p, fabric.global_rank, fabric.world_size)
    fabric.barrier()  # every worker has its share before any row is written
    run_tasks(p, fabric.global_rank, fabric.world_size, fabric.local_rank, tasks=mine)
    fabric.barrier()


def run(spec: RunSpec, suite: Suite, on_row: Callable[[dict], None] | None = None) -> pd.DataFrame | None:
    """Make every missing image of ``spec``, merge the rows and write the report files.

    With ``num_nodes`` above 1 this process is one of the workers torchrun or srun started on each
    machine; the first one (global rank 0) merges and reports and is the one that returns the table.
    """
    if spec.num_nodes > 1:
        return _run_on_nodes(spec, suite, on_row)
    p = plan(spec, suite)
    out = Path(spec.out)
    # one harness process per folder: a second one would rewrite scores.csv under the first
    with output_folder(out).claim(stored_options(spec)):
        return _run_locked(p, spec, out, on_row)


def _finish_run(p: TaskPlan, spec: RunSpec, out: Path) -> pd.DataFrame:
    """Fold the workers' rows into scores.csv and write the suite's report."""
    generator = p.generator()
    table = rows.merge(out, generator.columns(), [m.name for m in p.suite.methods])
    if p.suite.write_report is not None:
        p.suite.write_report(p.suite, table, out, spec, compared_runs(spec, p.suite), generator.guide_names)
    return table


def _run_locked(p: TaskPlan, spec: RunSpec, out: Path, on_row: Callable[[dict], None] | None) -> pd.DataFrame:
    if spec.devices > 1 and _pending(p):
        import pickle

        from lightning.fabric import Fabric

        accelerator = "cuda" if p.accelerator == "gpu" else "cpu"
        fabric = Fabric(accelerator=accelerator, devices=spec.devices, strategy="ddp_spawn")
        try:
            fabric.launch(_shard, spec.to_json(), pickle.dumps(p.suite))
        except Exception as e:  # a worker's error arrives as text (torch's ProcessRaisedException), not as its own type
            if "DiskFullError" not in str(e) and "No space left on device" not in str(e):
                raise
            raise DiskFullError(errno.ENOSPC, f"no space left on device while a worker wrote into {str(out)!r}", str(out)) from None
    else:
        run_tasks(p, on_row=on_row)
    return _finish_run(p, spec, out)


def _run_on_nodes(spec: RunSpec, suite: Suite, on_row: Callable[[dict], None] | None) -> pd.DataFrame | None:
    """One worker of a multi-node run (Fabric's ``num_nodes`` over the launcher's process group:
    gloo on CPU, NCCL on GPUs). Rank 0 holds the folder lock, writes run.json and, once every worker
    is done, merges the per-worker rows files; every worker validates the whole run first, so a bad
    option stops all of them before anything is written. The workers meet at barriers only before
    the rows, bounded by ``spec.node_timeout``; after them they report through the folder
    (:mod:`dasag.batch.nodes`), so a worker that dies or stops answering is one sentence on rank 0
    within ``node_timeout`` seconds, not a transport traceback or a half-hour wait."""
    from datetime import timedelta

    from lightning.fabric import Fabric
    from lightning.fabric.strategies import DDPStrategy

    _check_counts(spec, suite)  # --devices 0 is its own sentence, not a launch of 0 workers
    nodes.check_launch(spec.num_nodes, spec.devices, os.environ)  # the launcher's counts, before Lightning says it about devices and num_nodes
    p = plan(spec, suite)
    out = Path(spec.out)
    accelerator = "cuda" if p.accelerator == "gpu" else "cpu"
    strategy = DDPStrategy(timeout=timedelta(seconds=spec.node_timeout))
    fabric = Fabric(accelerator=accelerator, devices=spec.devices, num_nodes=spec.num_nodes, strategy=strategy)
    fabric.launch()  # joins the launcher's process group; starts nothing
    rank, world = fabric.global_rank, fabric.world_size
    markers = out / rows.PARTS_DIR

    def meet(when: str) -> None:
        try:
            fabric.barrier()
        except RuntimeError:  # gloo: "Connection closed by peer", or the timeout; NCCL: its watchdog's error
            raise nodes.lost_worker(None, world, spec.node_timeout, out, when) from None

    claim = output_folder(out).claim(stored_options(spec)) if rank == 0 else nullcontext()
    with claim:  # rank 0 holds the lock, clears the temp files and writes run.json
        if rank == 0:
            markers.mkdir(parents=True, exist_ok=True)
            nodes.clear(markers)
        meet(" before the run started")  # run.json and a clean folder before any worker reads what is pending
        mine = my_tasks(p, rank, world)
        meet(" before the run started")  # every worker has its share before any row is written
        device = fabric.local_rank if p.accelerator == "gpu" else 0
        with nodes.Heartbeat(markers, rank):
            run_tasks(p, rank, world, device, on_row, tasks=mine)
            nodes.mark_done(markers, rank)
            if rank != 0:
                return None
            nodes.wait_for_workers(markers, world, spec.node_timeout, out)
        nodes.clear(markers)
        return _finish_run(p, spec, out)


# ------------------------------------------------------------------ checking
def check(spec: RunSpec, suite: Suite, log: Callable[[str], None] = print) -> list[str]:
    """Regenerate the spec's tasks and compare bytes and hashes with what ``out`` holds.

    With no narrowing option every stored image is checked; with one (``methods``,
    ``samples``, ``classes``, ``seeds``) exactly the selected tasks are, and a selected
    task without a row is a mismatch. Returns one message per mismatch (also passed to ``log``); empty means identical.
    """
    p = plan(spec, suite, for_check=True)
    out = Path(spec.out)
    table = rows.read_rows(out / "scores.csv")
    stored = {} if table.empty else {(str(r.method), int(r.sample)): str(r.file_hash) for r in table.itertuples()}
    tasks = p.tasks
    if not any(getattr(spec, k) for k in ("methods", "samples", "classes", "seeds")):
        tasks = [t for t in tasks if t.key in stored]  # no narrowing: check what the run holds
        if not tasks:
            raise ConfigError(f"--out {str(out)!r} holds no finished image of suite {p.suite.name!r} to check.")
    generator = p.generator()
    return _compare(tasks, stored, generator, out, log)


def _compare(tasks: list[Task], stored: dict[tuple[str, int], str], generator: Generator, out: Path, log: Callable[[str], None]) -> list[str]:
    """Regenerate each task and compare it with its stored image and hash; one message per mismatch."""
    problems: list[str] = []
    for task in tasks:
        name = f"{task.method}/{task.sample}"
        if task.key not in stored:
            problems.append(f"{name}: no row in scores.csv")
            log(problems[-1])
            continue
        png = generator.make(task).png
        digest = hashlib.sha256(png).hexdigest()
        want = stored[task.key]
        path = out / "images" / f"{want}.png"
        found: list[str] = []
        if digest != want:
            found.append(f"{name}: regenerated sha256 {digest[:16]}... differs from scores.csv {want[:16]}...")
        on_disk = path.read_bytes() if path.is_file() else None
        if on_disk is None:
            found.append(f"{name}: stored image {path} is missing")
        elif on_disk != png:
            found.append(f"{name}: stored image {path.name} differs from the regenerated bytes (its sha256 is {hashlib.sha256(on_disk).hexdigest()[:16]}...)")
        for msg in found:
            log(msg)
        if not found:
            log(f"{name}: identical ({digest[:16]}...)")
        problems += found
    return problems
