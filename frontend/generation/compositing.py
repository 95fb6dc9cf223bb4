"""Pixels an edit keeps, pasted back exactly over the generated image at the output size.

Inpainting keeps the unmasked region only approximately: the pipeline blends it back in latent space, so
it passes through the VAE (lossy) and is masked per latent cell (8 px), and the result is generated at the
model's native area and then resized to the output size. So after that resize the original's own pixels
go back wherever the mask says keep: at the original's size they are its exact bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from frontend.generation.sizing import resize_exact


@dataclass(frozen=True)
class KeptPixels:
    """The original image and where to keep it, both already at the output size."""

    image: np.ndarray  # uint8 [H, W, 3]
    keep: np.ndarray  # bool [H, W]: True where the original stays

    @classmethod
    def at_output_size(cls, original: np.ndarray, keep: np.ndarray, width: int, height: int) -> KeptPixels:
        """`original` uint8 [h, w, 3] and `keep` bool [h, w] of its size, brought to width x height once
        per request (not per image). At the original's own size nothing is resampled; otherwise the image
        is resized with Lanczos, as generated images are, and the mask with nearest neighbour, so it
        stays a hard yes/no per pixel."""
        if keep.shape != original.shape[:2]:
            raise ValueError(f"keep mask {keep.shape} does not match the image {original.shape[:2]}")
        image = np.asarray(resize_exact(original, width, height))
        mask = Image.fromarray(keep.astype(np.uint8) * 255)
        if mask.size != (width, height):
            mask = mask.resize((width, height), Image.Resampling.NEAREST)
        return cls(image, np.asarray(mask) >= 128)


def composite_kept(generated: np.ndarray, kept: KeptPixels) -> np.ndarray:
    """`generated` uint8 [h, w, 3] at any size -> resized to the output size, with the kept pixels of the
    original pasted over it: uint8 [H, W, 3]."""
    height, width = kept.keep.shape
    resized = np.asarray(resize_exact(generated, width, height))
    return np.where(kept.keep[..., None], kept.image, resized)
