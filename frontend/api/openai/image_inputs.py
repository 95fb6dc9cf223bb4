"""Images sent to the OpenAI routes (uploaded, or read by reference) decoded, OpenAI's mask rule, and how
strongly an input image steers what is generated from it."""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from frontend.generation.references import PILLOW_FORMATS, flatten_to_rgb, has_alpha
from frontend.http.errors import InvalidParameter

# Checked from the header before a pixel is decoded (decompression bombs); it also bounds the output of
# size `auto`, which is the input's own size.
MAX_UPLOAD_SIDE = 4096

# Image-to-image strength (how much of the schedule is re-run; 1.0 ignores the image): diffusers' img2img
# default keeps the layout and colours and lets the prompt change the rest. `input_fidelity=high` asks to
# stay closer to the input. Generations' `image` field uses the default too.
INPUT_FIDELITY_STRENGTH = {"low": 0.8, "high": 0.5}
IMAGE_TO_IMAGE_STRENGTH = INPUT_FIDELITY_STRENGTH["low"]
# Variations have no prompt to steer them, so they stay nearer the image: new details, same composition.
VARIATION_STRENGTH = 0.6
# Inside a mask everything is repainted: the kept region, not the noise level, carries the image there.
INPAINT_STRENGTH = 1.0
REPAINT, KEEP = 255, 0  # the pipeline's mask values


def _open(data: bytes, param: str, formats: tuple[str, ...], described: str) -> Image.Image:
    try:
        picture = Image.open(BytesIO(data), formats=formats)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        raise InvalidParameter(f"{param} is not a {described} image", param=param) from None
    width, height = picture.size
    if max(width, height) > MAX_UPLOAD_SIDE:
        raise InvalidParameter(
            f"{param} is {width}x{height}; at most {MAX_UPLOAD_SIDE} pixels a side are accepted", param=param
        )
    try:
        # As a viewer shows it (a phone's JPEG is stored sideways); the mask is drawn on that view.
        return ImageOps.exif_transpose(picture)
    except (OSError, ValueError, SyntaxError, EOFError):
        raise InvalidParameter(f"{param} is not a {described} image", param=param) from None


def decode_image(data: bytes, param: str) -> np.ndarray:
    """An image sent with the request as uint8 RGB [H, W, 3]; transparency is composited onto white."""
    picture = _open(data, param, PILLOW_FORMATS, "PNG, JPEG, WebP or GIF")
    try:
        return np.asarray(flatten_to_rgb(picture))
    except (OSError, ValueError, SyntaxError, EOFError):  # a truncated body fails only when decoded
        raise InvalidParameter(f"{param} is not a complete image", param=param) from None


def repaint_mask(data: bytes, image_size: tuple[int, int], param: str = "mask") -> np.ndarray:
    """OpenAI's mask rule: a PNG of the image's size whose fully transparent pixels (alpha 0) are to be
    repainted. Returns the pipeline's mask, uint8 [H, W]: REPAINT there, KEEP elsewhere."""
    picture = _open(data, param, ("PNG",), "PNG")
    if picture.size != image_size:
        raise InvalidParameter(
            f"{param} is {picture.width}x{picture.height} but the image is {image_size[0]}x{image_size[1]}; "
            "they must have the same size",
            param=param,
        )
    if not has_alpha(picture):
        raise InvalidParameter(
            f"{param} has no alpha channel; its fully transparent pixels (alpha 0) mark where to edit",
            param=param,
        )
    try:
        alpha = np.asarray(picture.convert("RGBA").getchannel("A"))
    except (OSError, ValueError, SyntaxError, EOFError):
        raise InvalidParameter(f"{param} is not a complete image", param=param) from None
    repaint = alpha == 0
    if not repaint.any():
        raise InvalidParameter(
            f"{param} has no fully transparent pixel (alpha 0), so there is nothing to edit", param=param
        )
    return np.where(repaint, REPAINT, KEEP).astype(np.uint8)


def mean_image(images: list[np.ndarray], width: int, height: int) -> np.ndarray:
    """Several images as one: each resized to width x height (Lanczos), then the pixel mean, as
    /images/tti blends its reference images."""
    total = np.zeros((height, width, 3), dtype=np.float64)
    for image in images:
        picture = Image.fromarray(image)
        if picture.size != (width, height):
            picture = picture.resize((width, height), Image.Resampling.LANCZOS)
        total += np.asarray(picture, dtype=np.float64)
    return np.clip(np.rint(total / len(images)), 0, 255).astype(np.uint8)
