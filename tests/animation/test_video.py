"""Video encoding of a finished clip: MP4 and GIF bytes that decode to the frames given, the same bytes for the same frames, bad frames refused."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dasag.animation.video import gif_bytes, mp4_bytes

HEIGHT, WIDTH = 16, 24


def frames(n: int = 3, seed: int = 0) -> list[np.ndarray]:
    """Distinct frames: a flat colour each with a bright square that moves."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        frame[:] = rng.integers(30, 200, 3)
        frame[4:10, 2 + 4 * i : 8 + 4 * i] = 240
        out.append(frame)
    return out


def read_mp4(data: bytes, folder: Path) -> tuple[np.ndarray, dict]:
    import imageio.v3 as iio

    path = folder / "clip.mp4"
    path.write_bytes(data)
    return iio.imread(path, index=None, plugin="FFMPEG"), iio.immeta(path, plugin="FFMPEG")


def test_mp4_bytes_decode_to_the_frames_at_their_size_and_rate(tmp_path):
    clip = frames(3)
    decoded, meta = read_mp4(mp4_bytes(clip, fps=4), tmp_path)
    assert decoded.shape == (3, HEIGHT, WIDTH, 3) and decoded.dtype == np.uint8
    assert meta["fps"] == pytest.approx(4.0) and meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    for got, want in zip(decoded, clip):  # lossy, but close: x264 at CRF 18
        assert np.abs(got.astype(int) - want.astype(int)).mean() < 12


def test_gif_bytes_decode_to_the_frames_at_their_size():
    clip = frames(4)
    with Image.open(io.BytesIO(gif_bytes(clip, fps=4))) as gif:
        assert gif.format == "GIF" and gif.size == (WIDTH, HEIGHT) and gif.n_frames == 4
        assert gif.info["loop"] == 0  # loops for ever
        for i, want in enumerate(clip):
            gif.seek(i)
            got = np.asarray(gif.convert("RGB"))
            assert np.abs(got.astype(int) - want.astype(int)).mean() < 4  # a palette of the frame's few colours


@pytest.mark.parametrize("fps", [2, 3, 4, 6, 8])
def test_a_gifs_delay_is_the_whole_centisecond_nearest_its_frame_time(fps):
    """GIF delays are whole centiseconds: the clip plays as near ``fps`` as a GIF can."""
    with Image.open(io.BytesIO(gif_bytes(frames(2), fps=fps))) as gif:
        delay = gif.info["duration"]  # PIL reads it back in milliseconds
    assert delay % 10 == 0
    assert abs(delay - 1000 / fps) <= 5  # within half a centisecond of 1 / fps


def test_one_frame_is_a_clip_too(tmp_path):
    [frame] = frames(1)
    decoded, _ = read_mp4(mp4_bytes([frame], fps=2), tmp_path)
    assert decoded.shape == (1, HEIGHT, WIDTH, 3)
    with Image.open(io.BytesIO(gif_bytes([frame], fps=2))) as gif:
        assert gif.n_frames == 1 and gif.size == (WIDTH, HEIGHT)


@pytest.mark.parametrize("encode", [mp4_bytes, gif_bytes])
def test_the_same_frames_give_the_same_bytes(encode):
    first = encode(frames(3), fps=4)
    assert isinstance(first, bytes) and first
    assert encode(frames(3), fps=4) == first
    assert encode(frames(3, seed=1), fps=4) != first  # the bytes follow the frames


@pytest.mark.parametrize("encode", [mp4_bytes, gif_bytes])
def test_no_frames_is_refused_in_one_sentence(encode):
    with pytest.raises(ValueError, match=r"^a clip needs at least one frame\.$"):
        encode([], fps=4)


@pytest.mark.parametrize("encode", [mp4_bytes, gif_bytes])
def test_frames_of_different_sizes_are_refused_naming_the_shapes(encode):
    clip = [*frames(2), np.zeros((8, 8, 3), np.uint8)]
    with pytest.raises(ValueError, match=r"clip frames must all be \(H, W, 3\) uint8 of one size; got shapes \[\(8, 8, 3\), \(16, 24, 3\)\]\."):
        encode(clip, fps=4)


@pytest.mark.parametrize("encode", [mp4_bytes, gif_bytes])
def test_frames_that_are_not_uint8_are_refused(encode):
    clip = [f.astype(np.float32) / 255 for f in frames(2)]
    with pytest.raises(ValueError, match=r"clip frames must all be \(H, W, 3\) uint8 of one size; got shapes \[\(16, 24, 3\)\]\."):
        encode(clip, fps=4)
    mixed = [frames(1)[0], frames(1)[0].astype(np.int16)]  # one wrong frame is enough
    with pytest.raises(ValueError, match="uint8 of one size"):
        encode(mixed, fps=4)


@pytest.mark.parametrize("encode", [mp4_bytes, gif_bytes])
def test_frames_that_are_not_rgb_are_refused(encode):
    """The sentence says (H, W, 3): a grey, one-channel or RGBA frame is not a frame of a clip."""
    for shape in [(HEIGHT, WIDTH), (HEIGHT, WIDTH, 1), (HEIGHT, WIDTH, 4)]:
        with pytest.raises(ValueError, match=r"clip frames must all be \(H, W, 3\) uint8"):
            encode([np.zeros(shape, np.uint8)] * 2, fps=4)
