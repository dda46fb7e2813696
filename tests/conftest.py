"""Shared pytest fixtures: tiny checkpoints, the repository root, a tiny offline run config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dasag.core.process import pin_cpu_kernels, quiet_expected_warnings

# As every command does at its edge, before the first tensor operation: pictures made in this
# process have the bytes the commands' pictures have (docs/reproduce.md).
pin_cpu_kernels()

#: The repository checkout the tests run in (configs/ and examples/ live here).
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _expected_warnings_are_quiet() -> None:
    """The warnings every run expects (one list, in dasag.core.config), silenced as the entry points do."""
    quiet_expected_warnings()


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the repository root: shipped configs name files relative to it."""
    monkeypatch.chdir(ROOT)
    return ROOT


# ---------------------------------------------------------------------------
# Tiny Hugging Face checkpoints and aesthetic heads (scorers: SigLIP / CLIP).
# Built once per session with the real save_pretrained / torch.save layout.
# ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tiny_siglip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random SigLIP checkpoint directory (SentencePiece tokenizer trained on the fly)."""
    from tiny_models import build_tiny_siglip

    return build_tiny_siglip(tmp_path_factory.mktemp("tiny_siglip"))


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random CLIP checkpoint directory (byte-level BPE tokenizer trained on the fly)."""
    from tiny_models import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture(scope="session")
def tiny_v25_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random head .pth with Aesthetic Predictor V2.5's keys, input width of the tiny SigLIP."""
    from tiny_models import build_tiny_v25_head

    return build_tiny_v25_head(tmp_path_factory.mktemp("heads") / "aesthetic_predictor_v2_5.pth")


@pytest.fixture(scope="session")
def tiny_laion_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random head .pth with the LAION predictor's keys, input width of the tiny CLIP."""
    from tiny_models import build_tiny_laion_head

    return build_tiny_laion_head(tmp_path_factory.mktemp("heads") / "sac+logos+ava1-l14-linearMSE.pth")


@pytest.fixture
def tiny_weights_env(monkeypatch: pytest.MonkeyPatch, tiny_siglip_dir: Path, tiny_clip_dir: Path,
                     tiny_v25_head: Path, tiny_laion_head: Path) -> dict[str, str]:
    """Point every weight variable at the tiny files and declare the machine offline."""
    from dasag.scorers.weights import use_weight_locations

    env = {
        "SIGLIP_MODEL_PATH": str(tiny_siglip_dir),
        "AESTHETIC_PREDICTOR_MODEL_PATH": str(tiny_v25_head),
        "CLIP_MODEL_PATH": str(tiny_clip_dir),
        "CLIP_AESTHETIC_PREDICTOR_PATH": str(tiny_laion_head),
        "HF_HUB_OFFLINE": "1",
    }
    for name in ("AESTHETIC_PREDICTOR_PATH", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    use_weight_locations(None)  # constructors read the (patched) environment, not a stale install
    yield env
    use_weight_locations(None)
# ----------------------------------------------------------- end tiny scorers


@pytest.fixture(scope="session")
def transfer_run(tmp_path_factory) -> tuple[Path, Any]:
    """A tiny transfer run (2 classes, 1 seed, 2 steps, the two baselines), made once for every test that reads one."""
    out = tmp_path_factory.mktemp("transfer")
    import torch

    from dasag.quality.harness import run
    from feature_helpers import transfer_spec

    threads = torch.get_num_threads()
    table = run(transfer_spec(out))  # threads=1 while it runs ...
    assert torch.get_num_threads() == threads  # ... and the caller's count afterwards
    return out, table


@pytest.fixture
def siglip(tiny_weights_env):
    """The tiny SigLIP tower with its head, loaded and prepared with one positive and one negative prompt."""
    from dasag.scorers import SigLIP
    from feature_helpers import NEGATIVE, PROMPT

    scorer = SigLIP()
    scorer.prepare([PROMPT], [NEGATIVE])
    return scorer


#: The demo (Lite0, real weights) at 48 px visible, two copies, two steps: seconds per row.
TINY_BATCH_CONFIG = """base: {demo}
trainer: {{max_steps: 2}}
model:
  pyramid: {{init_args: {{max_size: 64, max_shift: 8}}}}
  augment: {{init_args: {{batch_size: 2}}}}
"""
BATCH_ROWS = """prompt,negative,seed,name,trainer.max_steps
goldfish,,7,fish,
goldfish:2 | volcano:0.5,daisy,,blend,3
"volcano | image:{ref}:0.5",,,,
"""


@pytest.fixture
def batch_files(tmp_path: Path) -> tuple[Path, Path]:
    """A rows file of three rows and a tiny config for it: used by the batch tests, one and two nodes."""
    from PIL import Image

    Image.new("RGB", (32, 32), (200, 40, 30)).save(tmp_path / "red.png")
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_BATCH_CONFIG.format(demo=ROOT / "configs" / "demo.yaml"))
    rows = tmp_path / "rows.csv"
    rows.write_text(BATCH_ROWS.format(ref=tmp_path / "red.png"))
    return rows, config


# ---------------------------------------------------------------------------
# The zoo (open_clip, timm): its tests run in the zoo venv that `bash scripts/test.sh` builds
# (torch 2.14.1 + torchvision 0.29.1 + the zoo extra); in the main venv (CPU torch 2.13.0, no
# torchvision that imports beside it) they skip, saying where they run. In the zoo venv
# (DASAG_REQUIRE_ZOO=1, set by scripts/test.sh) a zoo test that skips is a failure.
# ---------------------------------------------------------------------------
def _zoo_libraries_import() -> str | None:
    """``None`` when open_clip and timm import here, else why not (one sentence)."""
    from dasag.scorers.optional import import_zoo_library

    try:
        import_zoo_library("open_clip")
        import_zoo_library("timm")
    except ImportError as e:
        return str(e)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import os

    zoo = [item for item in items if item.get_closest_marker("zoo") is not None]
    if not zoo:
        return
    why = _zoo_libraries_import()
    if why is None:
        return
    if os.environ.get("DASAG_REQUIRE_ZOO") == "1":
        raise pytest.UsageError(f"the zoo venv cannot run its tests: {why}")
    skip = pytest.mark.skip(reason=f"a zoo test: it runs in the zoo venv (.venv-zoo, built by bash scripts/test.sh), not here ({why})")
    for item in zoo:
        item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """In the zoo venv no zoo test may skip: a skip there hides a test that never ran."""
    import os

    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("DASAG_REQUIRE_ZOO") == "1" and item.get_closest_marker("zoo") is not None:
        report.outcome = "failed"
        report.longrepr = f"zoo test skipped in the zoo venv, where none may skip: {report.longrepr}"
