"""Shared pytest fixtures: tiny checkpoints, the repository root, a tiny offline run config."""

from __future__ import annotations

from pathlib import Path

import pytest

from dasag.config import quiet_expected_warnings

#: The repository checkout the tests run in (configs/ and examples/ live here).
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _expected_warnings_are_quiet() -> None:
    """The warnings every run expects (one list, in dasag.config), silenced as the entry points do."""
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
    from dasag.weights import use_weight_locations

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
