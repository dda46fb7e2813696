"""Image conversions between tensors in [-1, 1] and 8-bit pictures."""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, PngImagePlugin, UnidentifiedImageError
from torch import Tensor

from dasag.core.errors import first_line
from dasag.core.files import user_file, write_bytes_atomic
from dasag.image.resize import resize

#: Name of the PNG text chunk holding a run's metadata.
METADATA_KEY = "dasag"


def to_uint8(image: Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) uint8, rounding to nearest."""
    x = ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 0).cpu().numpy()


def from_uint8(array: np.ndarray) -> Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.asarray(array, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1


class UnreadableImageError(ValueError):
    """An image file that exists but cannot be decoded; the message names the file and why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"image file {str(path)!r} cannot be read: {reason}.")
        self.path, self.reason = path, reason


def _why_unreadable(path: Path, error: BaseException) -> str:
    if path.stat().st_size == 0:
        return "zero bytes"
    if isinstance(error, UnidentifiedImageError):
        return "not an image file that PIL can read"
    if isinstance(error, Image.DecompressionBombError):
        return "too many pixels to decode safely"
    return f"truncated or corrupt ({first_line(error)})"


#: Modes PIL turns into 8-bit RGB faithfully; deeper ones (16-bit grey, 32-bit integer or float)
#: would be clipped to white, so they are refused with the fix instead.
EIGHT_BIT_MODES = frozenset({"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"})
#: Smallest side an input image may have: below it there is no picture to start from or steer towards.
MIN_IMAGE_SIDE = 16


@contextmanager
def _opened(path: Path) -> Iterator[Image.Image]:
    """``Image.open`` whose failures, in the open or in anything done with the image inside the
    block, are one sentence naming the file (:class:`UnreadableImageError`, or a missing file)."""
    path = user_file(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file {str(path)!r} does not exist.")
    try:
        with Image.open(path) as opened:
            yield opened
    except (OSError, SyntaxError, ValueError, struct.error, Image.DecompressionBombError) as e:
        raise UnreadableImageError(path, _why_unreadable(path, e)) from None


def _open_checked(path: Path) -> Image.Image:
    """The decoded image (every byte read now: a truncated file fails here, not half-way through
    a run), refused in one sentence if it is not 8-bit or smaller than :data:`MIN_IMAGE_SIDE`."""
    with _opened(path) as opened:
        opened.load()
        image = opened.copy()
    if image.mode not in EIGHT_BIT_MODES:
        raise UnreadableImageError(path, f"its pixels are {image.mode} (more than 8 bits a channel); allowed: 8-bit images (RGB, RGBA, "
                                         f"grey, palette); save it as an 8-bit PNG or JPEG")
    if min(image.size) < MIN_IMAGE_SIDE:
        raise UnreadableImageError(path, f"it is {image.size[0]}x{image.size[1]} px; allowed: at least {MIN_IMAGE_SIDE} px on each side")
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("LA", "La", "PA", "RGBA", "RGBa") or (image.mode == "P" and "transparency" in image.info)


def _rgb(image: Image.Image) -> Image.Image:
    """RGB, with any transparency flattened onto white (a transparent PNG's background would
    otherwise be whatever colour its invisible pixels happen to hold)."""
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _square(image: Image.Image) -> Image.Image:
    w, h = image.size
    s = min(w, h)
    return image.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file, read from its header (nothing decoded)."""
    with _opened(Path(path)) as opened:
        return opened.size


def load_image(path: str | Path, size: int | None = None) -> Tensor:
    """An image file -> (3, size, size) in [-1, 1].

    The rule for every input image (init image, reference, style image): any size of at least
    :data:`MIN_IMAGE_SIDE` px and any 8-bit mode; transparency is flattened onto white; the
    image is centre-cropped to a square and resized (bicubic) to ``size``. Raises
    ``FileNotFoundError`` or :class:`UnreadableImageError`, each one sentence naming the file.
    """
    path = Path(path)
    x = from_uint8(np.array(_square(_rgb(_open_checked(path)))))
    if size is not None and x.shape[-1] != size:
        x = resize(x.unsqueeze(0), size, "bicubic").squeeze(0).clamp(-1, 1)
    return x


def load_mask(path: str | Path) -> Tensor:
    """A mask file -> (side, side) in [0, 1], centre-cropped to a square like :func:`load_image`.

    Brightness (the mean of R, G and B) is the mask (white = 1); where the file has transparency, transparent counts as
    black, so white strokes painted on a transparent layer are a mask as they look in an editor.
    """
    image = _square(_open_checked(Path(path)))
    grey = np.asarray(image.convert("RGB"), dtype=np.float32).mean(axis=-1) / 255  # the mean of R, G, B (not luma): a green stroke is 1/3
    if _has_alpha(image):
        grey = grey * np.asarray(image.convert("RGBA").getchannel("A"), dtype=np.float32) / 255
    return torch.from_numpy(grey)


def load_images(paths: list[Path], size: int) -> Tensor:
    """Several image files -> (N, 3, size, size); every unreadable one is named in one sentence."""
    images, bad = [], []
    for path in paths:
        try:
            images.append(load_image(path, size))
        except UnreadableImageError as e:
            bad.append(f"{str(e.path)!r} ({e.reason})")
    if bad:
        raise ValueError(f"{len(bad)} of {len(paths)} image files cannot be read: {'; '.join(bad)}.")
    return torch.stack(images)


def encode_png(pixels: np.ndarray, metadata: dict[str, Any] | None = None) -> bytes:
    """Encode (H, W, 3) uint8 pixels as PNG with the metadata as JSON in the ``dasag`` text chunk.

    The bytes depend only on the pixels and the metadata (no timestamps), so identical runs
    give identical files.
    """
    info = PngImagePlugin.PngInfo()
    if metadata is not None:
        info.add_text(METADATA_KEY, json.dumps(metadata, sort_keys=True, default=str))
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def png_bytes(image: Tensor, metadata: dict[str, Any] | None = None) -> bytes:
    """Encode (3, H, W) in [-1, 1] as PNG (see :func:`encode_png`)."""
    return encode_png(to_uint8(image), metadata)


def write_png(path: str | Path, image: Tensor, metadata: dict[str, Any] | None = None) -> Path:
    """Write atomically (temp file + rename), so a crash never leaves half a PNG."""
    return write_bytes_atomic(path, png_bytes(image, metadata))


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``dasag`` JSON metadata of a PNG written by :func:`write_png`."""
    with Image.open(path) as img:
        text = img.text.get(METADATA_KEY)  # type: ignore[attr-defined]
    if text is None:
        raise ValueError(f"{str(path)!r} has no {METADATA_KEY!r} metadata chunk.")
    return json.loads(text)


def check_whole_png(path: str | Path) -> None:
    """``ValueError("truncated or not a PNG")`` unless ``path`` is a whole image file. PNG's chunk
    checksums are verified without decoding the pixels, so a folder of frames is checked quickly;
    PIL's own messages (several exception kinds, each repeating the path) become one reason."""
    try:
        with Image.open(path) as img:
            img.verify()
    except Exception:  # noqa: BLE001 - OSError, SyntaxError, ValueError...: all mean the same here
        raise ValueError("truncated or not a PNG") from None


def grid(images: Tensor, columns: int | None = None, pad: int = 2) -> Tensor:
    """(N, 3, H, W) -> one (3, H', W') contact sheet, white padding."""
    n, c, h, w = images.shape
    cols = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    out = images.new_ones(c, rows * (h + pad) + pad, cols * (w + pad) + pad)
    for i in range(n):
        r, k = divmod(i, cols)
        out[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + k * (w + pad) : pad + k * (w + pad) + w] = images[i]
    return out
