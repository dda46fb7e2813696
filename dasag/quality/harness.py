"""Running a suite: plan the tasks, make the missing images (optionally sharded), check a run.

Outputs under ``out``: ``images/<sha256>.png``, ``scores.csv`` (one row per finished image,
written atomically as each finishes), ``run.json`` (the options that decide the images, so
a re-run or ``--check`` cannot silently mix budgets), and the report files of
:mod:`dasag.quality.report`. A re-run skips every ``(method, sample)`` already in
``scores.csv``; a kill loses at most the image in progress.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dasag.config import ConfigError, quiet_expected_warnings, quiet_lightning_banners, read_stored_json
from dasag.files import DiskFullError, FolderInUse, folder_lock, remove_stale_temps, write_bytes_atomic
from dasag.quality import rows
from dasag.quality.batch import batch_suite, batch_tasks, row_digest
from dasag.quality.make import Generator
from dasag.quality.suites import TRANSFER_CLASSES, Suite, Task, das_ag_v2_tasks, get_suite, transfer_tasks
from dasag.speed.switches import tune_host_allocator

#: Options stored in ``run.json``: changing one changes the images, so a run keeps them.
IMAGE_OPTIONS = ("suite", "steps", "base_seed", "overrides", "threads")


@dataclass
class RunSpec:
    """Everything ``reproduce/run.py`` passes on; the Python API takes the same fields."""

    suite: str
    out: Path
    methods: list[str] | None = None
    samples: int | None = None
    classes: int | None = None
    seeds: int | None = None
    steps: int | None = None
    #: ``None`` for steps, base_seed and overrides: continue the stored run's value, else the default.
    base_seed: int | None = None
    eval_scorers: list[str] = field(default_factory=list)
    overrides: dict[str, Any] | None = None
    devices: int = 1
    accelerator: str = "auto"
    #: CPU threads per worker. CPU convolution backward sums in a thread-dependent order, so
    #: the bytes of a CPU image depend on it: it is stored with the run and reused by
    #: re-runs and ``--check``. ``None``: the stored value, else all cores / ``devices``.
    threads: int | None = None
    #: Finished runs of the same suite (their folders) shown beside this one in report.md, e.g.
    #: the corrected mode beside the original (compat overlay); read only, never changed.
    compare: list[Path] = field(default_factory=list)
    #: Batch runs (suite ``batch``): the rows file and the config every row starts from.
    rows: Path | None = None
    config: Path | None = None
    #: Machines taking part (each running ``devices`` workers), launched by torchrun or SLURM's srun:
    #: every process runs the same command and they share the tasks and the output folder.
    num_nodes: int = 1

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunSpec:
        """The inverse of :meth:`to_json` (what a spawned worker is handed)."""
        paths = {k: None if d.get(k) is None else Path(d[k]) for k in ("rows", "config")}
        return cls(**{**d, "out": Path(d["out"]), "compare": [Path(c) for c in d.get("compare", [])], **paths})

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"] = str(self.out)
        d["compare"] = [str(c) for c in self.compare]
        for key in ("rows", "config"):
            d[key] = None if d[key] is None else str(d[key])
        return d


@dataclass
class Plan:
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
            self._generators[device_index] = Generator(self.suite, s.steps, s.overrides, s.eval_scorers, self.accelerator, device_index)
        return self._generators[device_index]


def _positive(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or value < 1):
        raise ConfigError(f"--{name} must be a positive integer; got {value!r}.")


def _stored(out: Path) -> dict[str, Any] | None:
    """The options stored with a run (``None``: no run there yet); an unreadable file is one sentence."""
    return read_stored_json(out / "run.json", "delete it and run again with the same options (finished images and scores.csv are kept and reused).")


def resolve_accelerator(name: str) -> str:
    import torch

    if name not in ("auto", "cpu", "gpu"):
        raise ConfigError(f"--accelerator must be one of auto, cpu, gpu; got {name!r}.")
    if name == "gpu" and not torch.cuda.is_available():
        raise ConfigError("--accelerator gpu was asked for but no CUDA device is available.")
    if name == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    return name


def _check_narrowing(spec: RunSpec, suite: Suite) -> None:
    """Counts are positive and each narrowing option belongs to its suite."""
    for name in ("samples", "classes", "seeds", "steps", "devices", "threads", "num_nodes"):
        _positive(name, getattr(spec, name))
    if suite.name != "batch" and (spec.rows is not None or spec.config is not None):
        raise ConfigError(f"--rows and --config belong to batch runs, not to the {suite.name} suite.")
    if spec.classes is not None and spec.classes > len(TRANSFER_CLASSES):
        raise ConfigError(f"--classes must be at most {len(TRANSFER_CLASSES)} (the fixed class list); got {spec.classes}.")
    if suite.name != "transfer" and (spec.classes or spec.seeds):
        raise ConfigError(f"--classes/--seeds narrow the transfer suite; for {suite.name} use --samples.")
    if suite.name == "transfer" and spec.samples:
        raise ConfigError("--samples narrows the das_ag_v2 suite (and a batch: its first N rows); for transfer use --classes and --seeds.")


def _continue_stored(spec: RunSpec, suite: Suite, out: Path, for_check: bool) -> None:
    """Options left unset continue the run stored in ``out``; a value that differs is refused."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} exists and is not a directory.")
    stored = _stored(out)
    if stored is None:
        if for_check:
            raise ConfigError(f"--check needs a finished run in --out {str(out)!r}; it has no run.json.")
        return
    if stored.get("suite") != suite.name:
        raise ConfigError(f"--out {str(out)!r} holds a {stored.get('suite')!r} run; got suite {suite.name!r}.")
    for key in ("steps", "base_seed", "overrides", "threads"):
        if getattr(spec, key) is None:
            setattr(spec, key, stored.get(key))
    for key in IMAGE_OPTIONS:
        if stored.get(key) != getattr(spec, key):
            raise ConfigError(
                f"--out {str(out)!r} was made with {key}={stored.get(key)!r}; got {key}={getattr(spec, key)!r} (use the same value or another --out)."
            )
    if not spec.eval_scorers:
        spec.eval_scorers = list(stored.get("eval_scorers") or [])
    elif list(spec.eval_scorers) != list(stored.get("eval_scorers") or []):
        raise ConfigError(
            f"--out {str(out)!r} was made with --eval-scorer {stored.get('eval_scorers')!r}; got {spec.eval_scorers!r} (its scores.csv has those columns)."
        )


def _tasks(spec: RunSpec, suite: Suite) -> list[Task]:
    """The suite's tasks, narrowed; unknown methods and missing configs are refused."""
    methods = spec.methods or [m.name for m in suite.methods]
    for m in methods:
        if not suite.method(m).config.is_file():  # unknown names fail in suite.method with the allowed list
            raise ConfigError(f"the config of method {m!r}, {str(suite.method(m).config)!r}, does not exist.")
    if suite.name == "batch":
        return batch_tasks(spec.rows, spec.base_seed, spec.samples)
    if suite.name == "transfer":
        return transfer_tasks(methods, spec.classes or suite.extra["default_classes"], spec.seeds or suite.extra["default_seeds"], spec.base_seed)
    return das_ag_v2_tasks(methods, spec.samples or suite.extra["default_samples"], spec.base_seed)


def suite_of(spec: RunSpec) -> Suite:
    """The spec's suite: a fixed benchmark, or a batch made from its config."""
    if spec.suite == "batch":
        if spec.config is None or spec.rows is None:
            raise ConfigError("a batch run needs a rows file and --config (the config every row starts from).")
        if not Path(spec.config).is_file():
            raise ConfigError(f"--config {str(spec.config)!r} does not exist.")
        return batch_suite(Path(spec.config))
    return get_suite(spec.suite)


def plan(spec: RunSpec, for_check: bool = False) -> Plan:
    """Validate every option and config against each other and ``out``; loads no model, writes nothing."""
    suite = suite_of(spec)
    _check_narrowing(spec, suite)
    _continue_stored(spec, suite, Path(spec.out), for_check)
    if spec.base_seed is None:
        spec.base_seed = 0
    if spec.threads is None:
        spec.threads = max(1, (os.cpu_count() or 1) // spec.devices)
    if not isinstance(spec.base_seed, int) or spec.base_seed < 0:
        raise ConfigError(f"--base-seed must be a non-negative integer; got {spec.base_seed!r}.")
    tasks = _tasks(spec, suite)
    accelerator = resolve_accelerator(spec.accelerator)
    if accelerator == "gpu":
        import torch

        if spec.devices > torch.cuda.device_count():
            raise ConfigError(f"--devices {spec.devices} asks for more GPUs than the {torch.cuda.device_count()} visible here.")
    p = Plan(spec, suite, tasks, accelerator)
    p.generator().validate(tasks)  # also finds each method's guides, kept on the plan's generator
    _check_compare(spec, suite)
    if suite.name == "batch":
        _check_rows_unchanged(p)
    return p


def _check_rows_unchanged(p: Plan) -> None:
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


def compared_runs(spec: RunSpec) -> list[tuple[str, pd.DataFrame, dict[str, Any]]]:
    """(folder name, scores table, stored options) of every ``--compare`` run, for the report."""
    out = []
    for other in spec.compare:
        other = Path(other)
        out.append((other.name, pd.read_csv(other / "scores.csv"), _stored(other) or {}))
    return out


# ------------------------------------------------------------------ running
@contextmanager
def run_threads(p: Plan) -> Iterator[None]:
    """Pin this process's CPU threads to the run's value (CPU images depend on it), and
    give the caller its own thread count back afterwards (the Python API runs in-process)."""
    import torch

    before = torch.get_num_threads()
    if p.accelerator == "cpu":
        torch.set_num_threads(int(p.spec.threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _write_image(out: Path, png: bytes) -> str:
    digest = hashlib.sha256(png).hexdigest()
    write_bytes_atomic(out / "images" / f"{digest}.png", png)
    return digest


def _pending(p: Plan) -> list[Task]:
    out = Path(p.spec.out)
    done = rows.done_keys([rows.read_rows(out / "scores.csv")] + [rows.read_rows(f) for f in rows.part_paths(out)])
    return [t for t in p.tasks if t.key not in done]


def my_tasks(p: Plan, rank: int = 0, world: int = 1) -> list[Task]:
    """This worker's share of the missing images: pending task i when i % world == rank. Every worker
    must compute it before any of them writes a row (the pending list would shift under it)."""
    return [t for i, t in enumerate(_pending(p)) if i % world == rank]


def run_tasks(p: Plan, rank: int = 0, world: int = 1, device_index: int = 0, on_row: Callable[[dict], None] | None = None,
              tasks: list[Task] | None = None) -> int:
    """Make this worker's share of the missing images (``tasks``, else :func:`my_tasks`)."""
    out = Path(p.spec.out)
    generator = p.generator(device_index)
    target = out / "scores.csv" if world == 1 else out / rows.PARTS_DIR / f"scores.rank{rank}.csv"
    log = rows.RowLog(target, generator.columns())
    mine = my_tasks(p, rank, world) if tasks is None else tasks
    with run_threads(p):
        for task in mine:
            made = generator.make(task)
            made.row["file_hash"] = _write_image(out, made.png)  # image first: a row always has its file
            log.append(made.row)
            print(f"[{rank}] {generator.task_name(task)} seed {task.seed}: {made.row['seconds']:.1f}s", flush=True)
            if on_row is not None:
                on_row(made.row)
    return len(mine)


def _shard(fabric, spec_json: dict[str, Any]) -> None:
    """One spawned worker: its own device, its own rows file."""
    quiet_lightning_banners()
    quiet_expected_warnings()
    tune_host_allocator()
    p = plan(RunSpec.from_json(spec_json))
    mine = my_tasks(p, fabric.global_rank, fabric.world_size)
    fabric.barrier()  # every worker has its share before any row is written
    run_tasks(p, fabric.global_rank, fabric.world_size, fabric.local_rank, tasks=mine)
    fabric.barrier()


def run(spec: RunSpec, on_row: Callable[[dict], None] | None = None) -> pd.DataFrame | None:
    """Make every missing image of ``spec``, merge the rows and write the report files.

    With ``num_nodes`` above 1 this process is one of the workers torchrun or srun started on each
    machine; the first one (global rank 0) merges and reports and is the one that returns the table.
    """
    quiet_lightning_banners()
    quiet_expected_warnings()
    if spec.num_nodes > 1:
        return _run_on_nodes(spec, on_row)
    p = plan(spec)
    out = Path(spec.out)
    try:
        with folder_lock(out, "--out"):  # one harness process per folder: a second one would rewrite scores.csv under the first
            return _run_locked(p, spec, out, on_row)
    except FolderInUse as e:
        raise ConfigError(str(e)) from None


def _start_run(p: Plan, spec: RunSpec, out: Path) -> None:
    """Clear a killed run's temp files and store the options that decide the images."""
    for folder in (out, out / "images"):  # half-written files of a killed earlier run
        remove_stale_temps(folder)
    stored = {k: getattr(spec, k) for k in IMAGE_OPTIONS} | {"eval_scorers": list(spec.eval_scorers)}
    write_bytes_atomic(out / "run.json", json.dumps(stored, indent=2, sort_keys=True).encode())  # whole or absent, even if killed
    tune_host_allocator()


def _finish_run(p: Plan, spec: RunSpec, out: Path) -> pd.DataFrame:
    """Fold the workers' rows into scores.csv and write the report (a batch: its contact sheet)."""
    from dasag.quality import report

    generator = p.generator()
    table = rows.merge(out, generator.columns(), [m.name for m in p.suite.methods])
    if p.suite.name == "batch":
        from dasag.quality.batch import write_report

        write_report(table, out, spec)
    else:
        report.write_all(p.suite, table, out, spec, compared_runs(spec), generator.guide_names)
    return table


def _run_locked(p: Plan, spec: RunSpec, out: Path, on_row: Callable[[dict], None] | None) -> pd.DataFrame:
    _start_run(p, spec, out)
    if spec.devices > 1 and _pending(p):
        from lightning.fabric import Fabric

        accelerator = "cuda" if p.accelerator == "gpu" else "cpu"
        fabric = Fabric(accelerator=accelerator, devices=spec.devices, strategy="ddp_spawn")
        try:
            fabric.launch(_shard, spec.to_json())
        except Exception as e:  # a worker's error arrives as text (torch's ProcessRaisedException), not as its own type
            if "DiskFullError" not in str(e) and "No space left on device" not in str(e):
                raise
            raise DiskFullError(errno.ENOSPC, f"no space left on device while a worker wrote into {str(out)!r}", str(out)) from None
    else:
        run_tasks(p, on_row=on_row)
    return _finish_run(p, spec, out)


def launched_on_a_cluster() -> bool:
    """Whether torchrun (TorchElastic) or SLURM's srun started this process as one of many."""
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    return TorchElasticEnvironment.detect() or SLURMEnvironment.detect()


def _run_on_nodes(spec: RunSpec, on_row: Callable[[dict], None] | None) -> pd.DataFrame | None:
    """One worker of a multi-node run (Fabric's ``num_nodes`` over the launcher's process group:
    gloo on CPU, NCCL on GPUs). Rank 0 holds the folder lock, writes run.json and, once every worker
    is done, merges the per-worker rows files; every worker validates the whole run first, so a bad
    option stops all of them before anything is written."""
    from lightning.fabric import Fabric

    if not launched_on_a_cluster():
        raise ConfigError(f"--num-nodes {spec.num_nodes} needs a launcher that starts the workers on every machine: torchrun "
                          f"(torchrun --nnodes {spec.num_nodes} --nproc-per-node {spec.devices} ... -m dasag.quality ...) or srun under SLURM.")
    p = plan(spec)
    out = Path(spec.out)
    accelerator = "cuda" if p.accelerator == "gpu" else "cpu"
    fabric = Fabric(accelerator=accelerator, devices=spec.devices, num_nodes=spec.num_nodes, strategy="ddp")
    fabric.launch()  # joins the launcher's process group; starts nothing
    lock = folder_lock(out, "--out") if fabric.global_rank == 0 else nullcontext()
    try:
        with lock:
            if fabric.global_rank == 0:
                _start_run(p, spec, out)
            fabric.barrier()  # run.json and a clean folder before any worker reads what is pending
            mine = my_tasks(p, fabric.global_rank, fabric.world_size)
            fabric.barrier()  # every worker has its share before any row is written
            device = fabric.local_rank if p.accelerator == "gpu" else 0
            run_tasks(p, fabric.global_rank, fabric.world_size, device, on_row, tasks=mine)
            fabric.barrier()
            table = _finish_run(p, spec, out) if fabric.global_rank == 0 else None
            fabric.barrier()
            return table
    except FolderInUse as e:
        raise ConfigError(str(e)) from None


# ------------------------------------------------------------------ checking
def check(spec: RunSpec, log: Callable[[str], None] = print) -> list[str]:
    """Regenerate the spec's tasks and compare bytes and hashes with what ``out`` holds.

    With no narrowing option every stored image is checked; with one (``methods``,
    ``samples``, ``classes``, ``seeds``) exactly the selected tasks are, and a selected
    task without a row is a mismatch. Returns one message per mismatch (also passed to ``log``); empty means identical.
    """
    quiet_lightning_banners()
    quiet_expected_warnings()
    p = plan(spec, for_check=True)
    out = Path(spec.out)
    tune_host_allocator()
    table = rows.read_rows(out / "scores.csv")
    stored = {} if table.empty else {(str(r.method), int(r.sample)): str(r.file_hash) for r in table.itertuples()}
    tasks = p.tasks
    if not any(getattr(spec, k) for k in ("methods", "samples", "classes", "seeds")):
        tasks = [t for t in tasks if t.key in stored]  # no narrowing: check what the run holds
        if not tasks:
            raise ConfigError(f"--out {str(out)!r} holds no finished image of suite {p.suite.name!r} to check.")
    generator = p.generator()
    with run_threads(p):
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
