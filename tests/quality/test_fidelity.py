"""reproduce/fidelity.py: the measured table in docs/fidelity.md, and its regeneration."""

from __future__ import annotations

from pathlib import Path

import pytest

from dasag.quality import fidelity

DOC = Path(__file__).resolve().parents[2] / "docs" / "fidelity.md"


def test_write_replaces_only_the_marked_table(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(f"# title\n\n{fidelity.START}\nold table\n{fidelity.END}\n\nafter\n")
    fidelity.write(doc, f"{fidelity.START}\nnew\n{fidelity.END}")
    assert doc.read_text() == f"# title\n\n{fidelity.START}\nnew\n{fidelity.END}\n\nafter\n"
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    with pytest.raises(ValueError, match="has no fidelity table markers"):
        fidelity.write(plain, "x")
    assert plain.read_text() == "no markers\n"


def test_bad_write_target_is_one_sentence(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "reproduce/fidelity.py", "--write", str(tmp_path / "missing.md")], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 2 and done.stderr.strip() == f"error: --write {str(tmp_path / 'missing.md')!r} does not exist."


@pytest.mark.slow
def test_the_committed_table_regenerates_byte_for_byte() -> None:
    """Every figure in docs/fidelity.md comes from the script (single-threaded, fixed seeds)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        table = fidelity.markdown(fidelity.measure())
    finally:
        torch.set_num_threads(threads)
    text = DOC.read_text()
    assert table in text, "docs/fidelity.md is stale: run python reproduce/fidelity.py --write docs/fidelity.md"
    for aspect in ("scorer precision", "resize to the scorer input", "schedule time base", "TV and L1 definition", "arctanh",
                   "every augmentation off", "aesthetic head dropout", "text attention mask", "prompt over the token limit", "prompt syntax",
                   "arctanh clamp", "pixel normalisation"):
        assert f"| {aspect} |" in table


def test_the_text_mask_measure_on_each_attention_path() -> None:
    """eager and sdpa agree with and without the mask; under flash_attention_2's padding semantics every
    padded prompt encodes to one vector, and the one that fills the limit is untouched by the mask."""
    import torch

    plain = {a: fidelity.text_embeddings(a, masked=False) for a in ("eager", "sdpa")}
    masked = {a: fidelity.text_embeddings(a, masked=True) for a in ("eager", "sdpa", "flash_attention_2")}
    torch.testing.assert_close(plain["eager"], plain["sdpa"], rtol=0, atol=1e-6)
    torch.testing.assert_close(masked["eager"], masked["sdpa"], rtol=0, atol=1e-6)
    short = [i for i, n in enumerate(fidelity.TEXT_LENGTHS) if n < fidelity.TEXT_LIMIT]
    assert (plain["eager"][short] - masked["eager"][short]).abs().max() > 0.1  # the mask matters on every path it reaches
    flash = masked["flash_attention_2"]
    assert torch.equal(flash[short], flash[short[:1]].expand(len(short), -1))
    assert not torch.equal(plain["eager"][short[0]], plain["eager"][short[1]])
    full = fidelity.TEXT_LENGTHS.index(fidelity.TEXT_LIMIT)
    torch.testing.assert_close(flash[full], plain["eager"][full], rtol=0, atol=1e-6)
