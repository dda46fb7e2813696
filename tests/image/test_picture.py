"""Tensors to 8-bit PNGs and back, with the run's metadata in a text chunk; atomic writes."""

from __future__ import annotations

import pytest
import torch

from dasag.image.picture import from_uint8, grid, load_image, png_bytes, read_metadata, to_uint8, write_png


def test_round_trip_and_metadata(tmp_path):
    image = torch.rand(3, 12, 10) * 2 - 1
    path = write_png(tmp_path / "a" / "x.png", image, {"seed": 3, "scores": {"lite0/positive": -1.5}})
    assert read_metadata(path) == {"seed": 3, "scores": {"lite0/positive": -1.5}}
    assert (from_uint8(to_uint8(image)) - image).abs().max() <= 1 / 127.5 + 1e-6
    assert png_bytes(image, {"a": 1}) == png_bytes(image, {"a": 1})  # no timestamps: same input, same bytes
    with pytest.raises(ValueError, match="no 'dasag' metadata"):
        read_metadata(write_png(tmp_path / "plain.png", image))


def test_load_image_centre_crops_and_resizes(tmp_path):
    wide = torch.zeros(3, 20, 40)
    wide[:, :, 10:30] = 1.0  # the centre square is white
    path = write_png(tmp_path / "wide.png", wide)
    square = load_image(path, 8)
    assert square.shape == (3, 8, 8) and square.min() > 0.9
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image(tmp_path / "missing.png")


def test_input_images_follow_one_stated_rule(tmp_path):
    """Any 8-bit mode, transparency flattened onto white; deeper modes and tiny images refused."""
    from PIL import Image

    from dasag.image.picture import UnreadableImageError, load_mask

    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))  # fully transparent black
    rgba.paste((255, 0, 0, 255), (0, 0, 16, 32))  # left half opaque red
    rgba.save(tmp_path / "logo.png")
    x = load_image(tmp_path / "logo.png")
    assert torch.allclose(x[:, :, :16], torch.tensor([1.0, -1.0, -1.0])[:, None, None].expand(3, 32, 16))
    assert torch.allclose(x[:, :, 16:], torch.ones(3, 32, 16))  # transparent -> white, not the hidden black
    Image.new("P", (20, 20), 3).save(tmp_path / "palette.png")
    Image.new("L", (20, 20), 128).save(tmp_path / "grey.png")
    assert load_image(tmp_path / "palette.png").shape == load_image(tmp_path / "grey.png").shape == (3, 20, 20)
    Image.new("I;16", (32, 32), 40000).save(tmp_path / "deep.png")
    with pytest.raises(UnreadableImageError, match=r"deep.png.*I;16 \(more than 8 bits a channel\)"):
        load_image(tmp_path / "deep.png")
    Image.new("RGB", (8, 40)).save(tmp_path / "sliver.png")
    with pytest.raises(UnreadableImageError, match="it is 8x40 px; allowed: at least 16 px"):
        load_image(tmp_path / "sliver.png")
    strokes = Image.new("RGBA", (32, 32), (255, 255, 255, 0))  # white, but transparent: counts as black
    strokes.paste((255, 255, 255, 255), (8, 8, 24, 24))
    strokes.save(tmp_path / "strokes.png")
    mask = load_mask(tmp_path / "strokes.png")
    assert mask.shape == (32, 32) and mask.sum() == 16 * 16 and mask[8:24, 8:24].min() == 1


def test_grid_places_images_with_white_padding():
    sheet = grid(-torch.ones(3, 3, 4, 4), pad=2)
    assert sheet.shape == (3, 2 * 6 + 2, 2 * 6 + 2)
    assert sheet[:, 0, :].eq(1).all() and sheet[:, 2:6, 2:6].eq(-1).all() and sheet[:, 8:12, 8:12].eq(1).all()  # 4th cell empty


def _bad_images(folder):
    """A zero-byte PNG, a truncated PNG and a text file named .png, beside one good image."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "a_good.png"
    Image.fromarray((np.random.default_rng(0).random((32, 32, 3)) * 255).astype("uint8")).save(good)
    (folder / "b_empty.png").write_bytes(b"")
    (folder / "c_truncated.png").write_bytes(good.read_bytes()[:200])
    (folder / "d_text.png").write_text("not a picture")
    return good


@pytest.mark.parametrize(("name", "reason"), [("b_empty.png", "zero bytes"), ("c_truncated.png", "truncated or corrupt"),
                                               ("d_text.png", "not an image file")])
def test_an_unreadable_image_is_one_sentence_naming_the_file(tmp_path, name, reason):
    from dasag.image.picture import UnreadableImageError, load_image

    _bad_images(tmp_path)
    with pytest.raises(UnreadableImageError) as info:
        load_image(tmp_path / name)
    message = str(info.value)
    assert name in message and reason in message and "\n" not in message


def test_a_folder_with_bad_images_names_every_one(tmp_path):
    from dasag.image.picture import load_images
    from dasag.objective.embedding_terms import list_images

    good = _bad_images(tmp_path)
    assert load_images([good], 16).shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match=r"3 of 4 image files cannot be read: .*b_empty.png' \(zero bytes\); .*c_truncated.png' \(truncated") as info:
        load_images(list_images(tmp_path), 16)
    assert "d_text.png" in str(info.value) and "a_good" not in str(info.value)


def test_a_cut_short_or_foreign_file_is_not_a_whole_png(tmp_path) -> None:
    import numpy as np
    import pytest

    from dasag.image.picture import check_whole_png, encode_png

    whole = encode_png(np.zeros((8, 8, 3), dtype=np.uint8))
    (tmp_path / "ok.png").write_bytes(whole)
    check_whole_png(tmp_path / "ok.png")
    for name, data in (("cut.png", whole[: len(whole) // 2]), ("text.png", b"hello")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match="^truncated or not a PNG$"):
            check_whole_png(tmp_path / name)
