"""Public sizes -> the size the model generates at -> exactly the requested pixels.

A model is trained at one pixel area; other sizes are generated at that area with the requested aspect
ratio (sides rounded to the model's size multiple) and then resized with Lanczos. Width is always first.
"""

from __future__ import annotations

import math
import typing

import numpy as np
from PIL import Image

from frontend.api.schema_types import PublicSize
from frontend.http.errors import InvalidParameter
from t2i.contract import ModelMetadata

NAMED_SIZES = tuple(s for s in typing.get_args(PublicSize) if s != "auto")


def parse_size(size: str, metadata: ModelMetadata) -> tuple[int, int]:
    """'WIDTHxHEIGHT' -> (width, height); 'auto' -> the native size.

    The named sizes are always served (generated within the model's range, then resized); any other size
    must have both sides within the range the model publishes, which also bounds the resize's memory.
    """
    if size == "auto":
        return metadata.native_width, metadata.native_height
    width, height = (int(v) for v in size.split("x"))
    smallest, largest = metadata.smallest_side, metadata.max_side
    if size not in NAMED_SIZES and not (smallest <= width <= largest and smallest <= height <= largest):
        raise InvalidParameter(
            f"size must be auto, one of {', '.join(NAMED_SIZES)}, or WIDTHxHEIGHT with both sides between "
            f"{smallest} and {largest} for this model, got '{size}'",
            param="size",
        )
    return width, height


def generation_size(width: int, height: int, metadata: ModelMetadata) -> tuple[int, int]:
    area = metadata.native_width * metadata.native_height
    aspect = width / height
    multiple = metadata.size_multiple
    wide, tall = math.sqrt(area * aspect), math.sqrt(area / aspect)
    # Within the sides the backend serves (published in the metadata), keeping the aspect ratio.
    shrink = min(1.0, metadata.max_side / max(wide, tall))

    def snap(side: float) -> int:
        snapped = (
            int(side * shrink / multiple) * multiple if shrink < 1 else int(round(side / multiple)) * multiple
        )
        return min(max(metadata.smallest_side, snapped), metadata.max_side)

    return snap(wide), snap(tall)


def resize_exact(image: np.ndarray, width: int, height: int) -> Image.Image:
    picture = Image.fromarray(image)
    if picture.size != (width, height):
        picture = picture.resize((width, height), Image.Resampling.LANCZOS)
    return picture
