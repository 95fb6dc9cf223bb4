"""Read back what a `shapes` image shows, from its pixels alone: background colour, shape colour, which shape,
and where it sits; for a picture of two shapes, each of them. The prompt-following evaluation compares this
reading with what the prompt asked for.

- Background: the most common named colour along the image border (shapes keep a margin from it).
- Shape region: the largest connected region of pixels far from the background's colour (specks elsewhere
  are ignored), or for two shapes the two largest; its colour is the most common named colour of its inner
  pixels (one pixel in from the edge, where anti-aliasing and VAE blur mix the two colours).
- Shape: the template (circle, square, triangle, star) whose outline, fitted to the region's bounding box,
  overlaps the region best (intersection over union).
- Position: the centre of the best template (where the dataset put the shape's centre), compared with the
  image centre: more than 5% of the side away counts as left/right or top/bottom.

The reader is checked on the dataset's own renders (tests, and each evaluation run reports it).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from training.shapes import COLOURS, POSITIONS, SHAPES, shape_polygon

PALETTE_NAMES = tuple(COLOURS)
PALETTE = np.array([COLOURS[name] for name in PALETTE_NAMES], dtype=np.float32)
BORDER = 3  # pixels of border read as background
FOREGROUND_DISTANCE = 80.0  # RGB distance from the background colour that counts as shape...
# ...or less, for background colours that have a close neighbour in the palette (orange and yellow).
NEIGHBOUR_FRACTION = 0.5
OFF_CENTRE = 0.05  # fraction of the side: closer to the centre than this is "in the middle"
MIN_SHAPE_PIXELS = 20  # fewer: no shape was drawn


@dataclass(frozen=True)
class Reading:
    background: str
    colour: str | None  # None: no shape found
    shape: str | None
    position: str | None  # a key of training.shapes.POSITIONS
    shape_iou: float = 0.0

    @property
    def named(self) -> tuple[str | None, ...]:
        """What was read, without how well the template fitted: two readings agree when these do (the
        fit's score differs with any pixel, e.g. between FP32 and bf16 images)."""
        return self.background, self.colour, self.shape, self.position


def nearest_colours(pixels: np.ndarray) -> np.ndarray:
    """Index into PALETTE of the nearest named colour for each RGB row of `pixels`."""
    distances = ((pixels[:, None, :].astype(np.float32) - PALETTE[None]) ** 2).sum(axis=-1)
    return distances.argmin(axis=1)


def most_common_colour(pixels: np.ndarray) -> str:
    counts = np.bincount(nearest_colours(pixels), minlength=len(PALETTE))
    return PALETTE_NAMES[int(counts.argmax())]


def erode(mask: np.ndarray) -> np.ndarray:
    """One-pixel erosion (4-neighbourhood)."""
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return inner


def largest_components(mask: np.ndarray, count: int) -> list[np.ndarray]:
    """The `count` largest 8-connected regions of `mask`, largest first: the shapes, without specks the VAE
    left elsewhere. Fewer when `mask` has fewer regions."""
    labels = np.zeros(mask.shape, dtype=np.int32)
    height, width = mask.shape
    sizes: dict[int, int] = {}
    label = 0
    for start in zip(*np.nonzero(mask), strict=True):
        if labels[start]:
            continue
        label += 1
        labels[start] = label
        queue, size = deque([start]), 0
        while queue:
            y, x = queue.popleft()
            size += 1
            for ny in (y - 1, y, y + 1):
                for nx in (x - 1, x, x + 1):
                    if 0 <= ny < height and 0 <= nx < width and mask[ny, nx] and not labels[ny, nx]:
                        labels[ny, nx] = label
                        queue.append((ny, nx))
        sizes[label] = size
    largest = sorted(sizes, key=lambda k: -sizes[k])[:count]
    return [labels == k for k in largest]


def template_mask(
    shape: str, box: tuple[float, float, float, float], side: int
) -> tuple[np.ndarray, tuple[float, float]]:
    """`shape` drawn so that its own bounding box fills `box` (x0, y0, x1, y1) as well as it can, and
    where the shape's centre then is (triangles and stars are not centred in their bounding box)."""
    polygon = shape_polygon(shape, 0.0, 0.0, 1.0)
    if polygon is None:  # circle
        polygon = [(np.cos(a), np.sin(a)) for a in np.linspace(0, 2 * np.pi, 64, endpoint=False)]
    xs, ys = np.array([p[0] for p in polygon]), np.array([p[1] for p in polygon])
    x0, y0, x1, y1 = box
    # One scale for both axes: the aspect ratio of the region is part of what tells shapes apart.
    scale = ((x1 - x0) / np.ptp(xs) + (y1 - y0) / np.ptp(ys)) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    mid_x, mid_y = (xs.max() + xs.min()) / 2, (ys.max() + ys.min()) / 2
    points = [(cx + (x - mid_x) * scale, cy + (y - mid_y) * scale) for x, y in zip(xs, ys, strict=True)]
    image = Image.new("L", (side, side), 0)
    ImageDraw.Draw(image).polygon(points, fill=255)
    return np.asarray(image) > 127, (cx - mid_x * scale, cy - mid_y * scale)


def classify_shape(mask: np.ndarray) -> tuple[str, float, tuple[float, float]]:
    """The best-fitting shape, its IoU with the region and its centre."""
    ys, xs = np.nonzero(mask)
    box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    best: tuple[str, float, tuple[float, float]] = (SHAPES[0], -1.0, (0.0, 0.0))
    for shape in SHAPES:
        template, centre = template_mask(shape, box, mask.shape[0])
        iou = float((template & mask).sum() / max(1, (template | mask).sum()))
        if iou > best[1]:
            best = (shape, iou, centre)
    return best


def position_name(centre: tuple[float, float], side: int) -> str:
    def place(value: float) -> int:
        offset = value / side - 0.5
        return 0 if abs(offset) <= OFF_CENTRE else (1 if offset > 0 else -1)

    cell = (place(centre[0]), place(centre[1]))
    return next(name for name, where in POSITIONS.items() if where == cell)


def read_shapes(image: np.ndarray, count: int) -> list[Reading]:
    """The `count` largest shapes `image` (uint8 [H, W, 3], square; resized to 128 if it is not) shows,
    largest first, each with the background; a shape not found reads as colour, shape and position None."""
    if image.shape[0] != 128 or image.shape[1] != 128:
        image = np.asarray(Image.fromarray(image).resize((128, 128), Image.Resampling.BILINEAR))
    pixels = image.astype(np.float32)
    border = np.concatenate(
        [
            pixels[:BORDER].reshape(-1, 3),
            pixels[-BORDER:].reshape(-1, 3),
            pixels[:, :BORDER].reshape(-1, 3),
            pixels[:, -BORDER:].reshape(-1, 3),
        ]
    )
    background = most_common_colour(border)
    index = PALETTE_NAMES.index(background)
    background_rgb = np.median(border[nearest_colours(border) == index], axis=0)
    others = np.delete(PALETTE, index, axis=0)
    nearest_other = float(np.sqrt(((others - PALETTE[index]) ** 2).sum(-1)).min())
    threshold = min(FOREGROUND_DISTANCE, NEIGHBOUR_FRACTION * nearest_other)
    mask = np.sqrt(((pixels - background_rgb) ** 2).sum(axis=-1)) > threshold
    readings = []
    for region in largest_components(mask, count):
        if region.sum() < MIN_SHAPE_PIXELS:
            break
        inner = erode(region)
        colour = most_common_colour(pixels[inner if inner.sum() >= MIN_SHAPE_PIXELS // 2 else region])
        shape, iou, centre = classify_shape(region)
        readings.append(Reading(background, colour, shape, position_name(centre, region.shape[0]), iou))
    return readings + [Reading(background, None, None, None)] * (count - len(readings))


def read_image(image: np.ndarray) -> Reading:
    """What `image` shows: its background and its largest shape."""
    return read_shapes(image, 1)[0]
