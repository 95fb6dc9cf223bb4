"""The composite of kept pixels, OpenAI's mask rule and the decoding of uploaded images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from frontend.api.openai.image_inputs import (
    KEEP,
    MAX_UPLOAD_SIDE,
    REPAINT,
    decode_image,
    mean_image,
    repaint_mask,
)
from frontend.generation.compositing import KeptPixels, composite_kept
from frontend.generation.sizing import resize_exact
from frontend.http.errors import InvalidParameter

RNG = np.random.default_rng(7)


def random_image(height: int, width: int) -> np.ndarray:
    return RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)


def upload(picture: Image.Image | bytes, image_format: str = "PNG") -> bytes:
    """An image's bytes as a request carries them."""
    if isinstance(picture, bytes):
        return picture
    buffer = io.BytesIO()
    picture.save(buffer, image_format)
    return buffer.getvalue()


# --- the composite --------------------------------------------------------------------------------


def test_kept_pixels_are_the_originals_exactly_at_its_size() -> None:
    original = random_image(48, 64)
    keep = RNG.random((48, 64)) < 0.5
    generated = random_image(24, 32)  # the model's size: smaller, as the pipeline returns it
    kept = KeptPixels.at_output_size(original, keep, 64, 48)
    result = composite_kept(generated, kept)
    assert result.shape == (48, 64, 3) and result.dtype == np.uint8
    assert np.array_equal(result[keep], original[keep])
    # Elsewhere: the generated image resized to the output size, untouched.
    resized = np.asarray(resize_exact(generated, 64, 48))
    assert np.array_equal(result[~keep], resized[~keep])


def test_at_another_output_size_the_original_is_resized_once() -> None:
    original = random_image(32, 32)
    keep = np.zeros((32, 32), dtype=bool)
    keep[:16] = True  # the top half
    kept = KeptPixels.at_output_size(original, keep, 64, 48)
    assert kept.image.shape == (48, 64, 3) and kept.keep.shape == (48, 64)
    assert kept.keep[:24].all() and not kept.keep[24:].any()  # nearest neighbour: still a hard edge
    assert np.array_equal(kept.image, np.asarray(resize_exact(original, 64, 48)))
    result = composite_kept(random_image(16, 16), kept)
    assert np.array_equal(result[:24], kept.image[:24])


def test_keep_mask_must_match_the_original() -> None:
    with pytest.raises(ValueError, match="does not match"):
        KeptPixels.at_output_size(random_image(8, 8), np.ones((8, 9), dtype=bool), 8, 8)


# --- OpenAI's mask rule ---------------------------------------------------------------------------


def test_only_fully_transparent_pixels_are_repainted() -> None:
    alpha = np.array([[0, 1, 128, 255]], dtype=np.uint8)
    rgba = np.dstack([np.full((1, 4, 3), 200, dtype=np.uint8), alpha])
    mask = repaint_mask(upload(Image.fromarray(rgba, "RGBA")), (4, 1))
    assert mask.dtype == np.uint8 and mask.tolist() == [[REPAINT, KEEP, KEEP, KEEP]]


def test_palette_and_grey_alpha_masks_follow_the_same_rule() -> None:
    palette = Image.new("P", (4, 2), 0)
    palette.putpalette([0, 0, 0, 255, 255, 255])
    palette.putpixel((1, 0), 1)
    palette.info["transparency"] = 1  # palette entry 1 is fully transparent
    assert repaint_mask(upload(palette), (4, 2)).tolist() == [[KEEP, REPAINT, KEEP, KEEP], [KEEP] * 4]
    grey = Image.fromarray(
        np.dstack([np.zeros((2, 2), np.uint8), np.array([[0, 9], [9, 9]], np.uint8)]), "LA"
    )
    assert repaint_mask(upload(grey), (2, 2)).tolist() == [[REPAINT, KEEP], [KEEP, KEEP]]


@pytest.mark.parametrize(
    ("picture", "image_format", "message"),
    [
        (Image.new("RGBA", (8, 6), (0, 0, 0, 0)), "PNG", "the image is 8x8"),
        (Image.new("RGB", (8, 8)), "PNG", "no alpha channel"),
        (Image.new("RGBA", (8, 8), (0, 0, 0, 255)), "PNG", "nothing to edit"),
        (Image.new("RGB", (8, 8)), "JPEG", "not a PNG"),
        (b"not an image at all", "PNG", "not a PNG"),
    ],
)
def test_bad_masks_are_400_naming_mask(picture: Image.Image | bytes, image_format: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message) as error:
        repaint_mask(upload(picture, image_format), (8, 8))
    assert error.value.param == "mask"


# --- uploaded images ------------------------------------------------------------------------------


def test_images_decode_to_rgb_with_transparency_on_white() -> None:
    rgba = Image.new("RGBA", (3, 2), (10, 20, 30, 255))
    rgba.putpixel((0, 0), (10, 20, 30, 0))
    pixels = decode_image(upload(rgba), "image")
    assert pixels.shape == (2, 3, 3) and pixels.dtype == np.uint8
    assert pixels[0, 0].tolist() == [255, 255, 255] and pixels[1, 2].tolist() == [10, 20, 30]
    jpeg = decode_image(upload(Image.new("RGB", (5, 4), (0, 128, 0)), "JPEG"), "image")
    assert jpeg.shape == (4, 5, 3)


def test_exif_orientation_is_applied() -> None:
    picture = Image.new("RGB", (6, 2), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown rotated 90 degrees
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", exif=exif)
    assert decode_image(upload(buffer.getvalue()), "image").shape == (6, 2, 3)


def test_bad_images_are_400_naming_their_field() -> None:
    with pytest.raises(InvalidParameter, match="not a PNG, JPEG, WebP or GIF") as error:
        decode_image(upload(b"\x89PNG garbage"), "image[1]")
    assert error.value.param == "image[1]"
    buffer = io.BytesIO()
    Image.fromarray(random_image(64, 64)).save(buffer, "PNG")
    with pytest.raises(InvalidParameter) as truncated:
        decode_image(upload(buffer.getvalue()[: len(buffer.getvalue()) // 2]), "image")
    assert truncated.value.param == "image"
    huge = Image.new("1", (MAX_UPLOAD_SIDE + 1, 1))  # a few bytes of PNG, refused from its header
    with pytest.raises(InvalidParameter, match=f"at most {MAX_UPLOAD_SIDE} pixels a side"):
        decode_image(upload(huge), "image")


def test_mean_image_blends_at_the_given_size() -> None:
    black = np.zeros((4, 4, 3), dtype=np.uint8)
    white = np.full((8, 2, 3), 255, dtype=np.uint8)
    blended = mean_image([black, white], 6, 3)
    assert blended.shape == (3, 6, 3) and (blended == 128).all()
