"""Video encoding of a finished animation: MP4 (libx264 through imageio-ffmpeg) and GIF (Pillow), as bytes.

Both encoders return bytes, so the caller writes each file atomically (temp file + rename)
and a kill never leaves half a clip. The bytes depend only on the frames and the fps:
ffmpeg runs bit-exact (no encoder version or time stamps in the file) on one thread (x264's
output depends on its thread count), and Pillow's GIF palette is a fixed function of the pixels.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: x264 constant rate factor: 18 is visually lossless for these pictures at a few hundred kB.
MP4_CRF = 18


def mp4_bytes(frames: Sequence[np.ndarray], fps: float) -> bytes:
    """(H, W, 3) uint8 frames as an H.264 MP4 in yuv420p (plays in every browser and player)."""
    import imageio.v3 as iio

    _check(frames)
    with tempfile.TemporaryDirectory(prefix="dasag-clip-") as tmp:  # ffmpeg writes to a path, not to memory
        path = Path(tmp) / "clip.mp4"
        iio.imwrite(
            path, np.stack(frames), plugin="FFMPEG", fps=fps, codec="libx264", pixelformat="yuv420p", quality=None,
            macro_block_size=2,  # yuv420p needs even sides; every pyramid's visible side is even, so nothing is resized
            ffmpeg_log_level="error",
            output_params=["-crf", str(MP4_CRF), "-threads", "1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1"],
        )
        return path.read_bytes()


def gif_bytes(frames: Sequence[np.ndarray], fps: float) -> bytes:
    """(H, W, 3) uint8 frames as a looping GIF at ``fps``: GIF delays are whole centiseconds, so
    each frame shows for the whole centisecond nearest its time (PIL would cut it down)."""
    from PIL import Image

    _check(frames)
    pictures = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    pictures[0].save(buf, format="GIF", save_all=True, append_images=pictures[1:], duration=10 * round(100 / fps), loop=0, optimize=False)
    return buf.getvalue()


def _check(frames: Sequence[np.ndarray]) -> None:
    if not len(frames):
        raise ValueError("a clip needs at least one frame.")
    shapes = {f.shape for f in frames}
    if len(shapes) != 1 or any(f.dtype != np.uint8 or f.ndim != 3 or f.shape[-1] != 3 for f in frames):
        raise ValueError(f"clip frames must all be (H, W, 3) uint8 of one size; got shapes {sorted(shapes)}.")
