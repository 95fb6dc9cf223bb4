"""The `shapes` dataset: one or two flat-coloured shapes on a flat background, with a caption that says what
is there.

A one-shape image is fully described by its `Layout` (shape, colour, background, size, position), and its
caption names all of it except that a medium size and the centre position go unsaid, so "a red circle on a
blue background" means a medium red circle in the middle. A two-shape image is a `Pair` of medium layouts on
one background, each at its own stated position, far enough apart never to touch: "a red circle on the left
and a blue square on the right on a white background". Generation is deterministic given the seed.

Some (shape, colour, background) triples are held out of training altogether; the prompt-following
evaluation asks for them to see whether the model composes what it learned rather than recalling pictures.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "star")

# Named colours, far enough apart in RGB that the evaluation can tell them apart by nearest neighbour.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 25),
    "yellow": (245, 215, 35),
    "green": (40, 160, 60),
    "blue": (35, 75, 215),
    "purple": (135, 55, 175),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}

# Radius of the shape as a fraction of the image side.
SIZES: dict[str, float] = {"small": 0.13, "medium": 0.2, "large": 0.27}

# Position phrase -> (column, row) in {-1, 0, 1}: left/top is -1. The centre goes unsaid in captions.
POSITIONS: dict[str, tuple[int, int]] = {
    "": (0, 0),
    "in the top left corner": (-1, -1),
    "at the top": (0, -1),
    "in the top right corner": (1, -1),
    "on the left": (-1, 0),
    "on the right": (1, 0),
    "in the bottom left corner": (-1, 1),
    "at the bottom": (0, 1),
    "in the bottom right corner": (1, 1),
}

# Ordered position pairs for two shapes: two cells apart in a column or a row, so that two medium shapes
# (with their jitter) never overlap or touch, and the centre, which goes unsaid, is never one of them.
PAIR_POSITIONS: tuple[tuple[str, str], ...] = tuple(
    (first, second)
    for first, (c1, r1) in POSITIONS.items()
    for second, (c2, r2) in POSITIONS.items()
    if first and second and (abs(c1 - c2) == 2 or abs(r1 - r2) == 2)
)

# (shape, colour, background) triples never shown in training; each shape and colour appears in some.
HELD_OUT: tuple[tuple[str, str, str], ...] = (
    ("circle", "yellow", "purple"),
    ("circle", "white", "green"),
    ("circle", "black", "orange"),
    ("square", "red", "yellow"),
    ("square", "purple", "white"),
    ("square", "green", "black"),
    ("triangle", "blue", "orange"),
    ("triangle", "orange", "blue"),
    ("triangle", "white", "red"),
    ("star", "green", "purple"),
    ("star", "black", "yellow"),
    ("star", "blue", "white"),
)

# Distance from the shape's edge to the image border when the shape sits at a side or corner.
MARGIN = 0.04
SUPERSAMPLE = 4  # shapes are drawn this much larger, then downsampled, for smooth edges


@dataclass(frozen=True)
class Layout:
    shape: str
    colour: str
    background: str
    size: str = "medium"
    position: str = ""
    # Small random offsets so that one caption covers a little family of images.
    jitter_x: float = 0.0
    jitter_y: float = 0.0
    jitter_scale: float = 1.0

    @property
    def triple(self) -> tuple[str, str, str]:
        return (self.shape, self.colour, self.background)

    @property
    def shapes(self) -> tuple[Layout, ...]:
        return (self,)

    def caption(self, with_background: bool = True) -> str:
        words = ["a"]
        if self.size != "medium":
            words.append(self.size)
        words += [self.colour, self.shape]
        if self.position:
            words.append(self.position)
        if with_background:
            words += ["on", "a", self.background, "background"]
        return " ".join(words)

    def centre_and_radius(self, side: int) -> tuple[float, float, float]:
        """Centre (x, y) and radius in pixels of an image `side` pixels wide."""
        radius = SIZES[self.size] * self.jitter_scale
        column, row = POSITIONS[self.position]
        # Stars and triangles reach 1.2 radii from the centre; keep every shape inside the image.
        reach = 0.5 - 1.2 * radius - MARGIN
        x = 0.5 + column * reach + self.jitter_x
        y = 0.5 + row * reach + self.jitter_y
        return x * side, y * side, radius * side


@dataclass(frozen=True)
class Pair:
    """Two shapes on one background (`first.background`), each at its own position (a `PAIR_POSITIONS`)."""

    first: Layout
    second: Layout

    @property
    def background(self) -> str:
        return self.first.background

    @property
    def shapes(self) -> tuple[Layout, ...]:
        return (self.first, self.second)

    def caption(self, with_background: bool = True) -> str:
        words = [self.first.caption(with_background=False), "and", self.second.caption(with_background=False)]
        if with_background:
            words += ["on", "a", self.background, "background"]
        return " ".join(words)


Picture = Layout | Pair


def shape_polygon(shape: str, x: float, y: float, radius: float) -> list[tuple[float, float]] | None:
    """The outline of `shape` centred at (x, y); None for the circle, which is drawn as an ellipse.
    Sizes are chosen so that the four shapes look about equally big at one radius."""
    if shape == "square":
        half = radius * 0.85
        return [(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half)]
    if shape == "triangle":
        # Equilateral, pointing up, centred on its circumcircle (moved down a little to look centred).
        r = radius * 1.15
        cy = y + r * 0.15
        return [
            (x + r * math.cos(a), cy - r * math.sin(a)) for a in (math.pi / 2, 7 * math.pi / 6, -math.pi / 6)
        ]
    if shape == "star":
        outer, inner = radius * 1.2, radius * 1.2 * 0.45
        points = []
        for k in range(10):
            r = outer if k % 2 == 0 else inner
            angle = math.pi / 2 + k * math.pi / 5
            points.append((x + r * math.cos(angle), y - r * math.sin(angle)))
        return points
    if shape == "circle":
        return None
    raise ValueError(f"unknown shape {shape!r}")


def draw_shape(image: Image.Image, layout: Layout, fill: tuple[int, int, int] | int) -> None:
    """Draw the shape of `layout` onto `image` (square), filled with `fill`."""
    draw = ImageDraw.Draw(image)
    x, y, radius = layout.centre_and_radius(image.width)
    polygon = shape_polygon(layout.shape, x, y, radius)
    if polygon is None:
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=fill)
    else:
        draw.polygon(polygon, fill=fill)


def render(picture: Picture, side: int = 128) -> np.ndarray:
    """The image of `picture` as uint8 [side, side, 3], anti-aliased."""
    big = side * SUPERSAMPLE
    image = Image.new("RGB", (big, big), COLOURS[picture.background])
    for layout in picture.shapes:
        draw_shape(image, layout, COLOURS[layout.colour])
    return np.asarray(image.resize((side, side), Image.Resampling.BOX))


def shape_mask(layout: Layout, side: int) -> np.ndarray:
    """Boolean [side, side]: where the shape of `layout` is (no anti-aliasing)."""
    image = Image.new("L", (side, side), 0)
    draw_shape(image, layout, 255)
    return np.asarray(image) > 127


def all_triples() -> list[tuple[str, str, str]]:
    return [(s, c, b) for s in SHAPES for c in COLOURS for b in COLOURS if c != b]


def training_triples() -> list[tuple[str, str, str]]:
    held_out = set(HELD_OUT)
    return [t for t in all_triples() if t not in held_out]


# Pairs are drawn a little smaller and steadier than single shapes: two stars stacked in a column would
# otherwise touch, and the reader (and a viewer) would see one blob.
PAIR_SCALE = (0.8, 0.95)
PAIR_JITTER = 0.01


def jittered(
    rng: np.random.Generator,
    triple: tuple[str, str, str],
    size: str,
    position: str,
    offset: float = 0.025,
    scale: tuple[float, float] = (0.9, 1.1),
) -> Layout:
    return Layout(
        *triple,
        size=size,
        position=position,
        jitter_x=float(rng.uniform(-offset, offset)),
        jitter_y=float(rng.uniform(-offset, offset)),
        jitter_scale=float(rng.uniform(*scale)),
    )


def random_layout(rng: np.random.Generator, triples: list[tuple[str, str, str]]) -> Layout:
    triple = triples[rng.integers(len(triples))]
    sizes, positions = list(SIZES), list(POSITIONS)
    return jittered(rng, triple, sizes[rng.integers(len(sizes))], positions[rng.integers(len(positions))])


def partners(first: tuple[str, str, str], triples: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The triples that can share a picture with `first`: the same background, another colour."""
    return [t for t in triples if t[2] == first[2] and t[1] != first[1]]


def random_pair(rng: np.random.Generator, triples: list[tuple[str, str, str]]) -> Pair:
    """Two medium shapes of different colours on one background, both (shape, colour, background) triples
    among `triples`, at a `PAIR_POSITIONS` pair."""
    first = triples[rng.integers(len(triples))]
    candidates = partners(first, triples)
    second = candidates[rng.integers(len(candidates))]
    where = PAIR_POSITIONS[rng.integers(len(PAIR_POSITIONS))]
    return Pair(
        *(
            jittered(rng, t, "medium", w, PAIR_JITTER, PAIR_SCALE)
            for t, w in zip((first, second), where, strict=True)
        )
    )


def steady_pair(first: tuple[str, str, str], second: tuple[str, str, str], where: tuple[str, str]) -> Pair:
    """A pair without jitter, at the middle of the pairs' size range: what the evaluation asks for."""
    scale = sum(PAIR_SCALE) / 2
    return Pair(
        *(Layout(*t, position=w, jitter_scale=scale) for t, w in zip((first, second), where, strict=True))
    )


def training_layouts(count: int, seed: int, pair_fraction: float = 0.0) -> Iterator[Picture]:
    """`count` pictures from the training triples: a `pair_fraction` of them pairs, the others single shapes
    drawn uniformly over sizes and positions."""
    rng = np.random.default_rng(seed)
    triples = training_triples()
    for _ in range(count):
        # No draw for the choice when there are no pairs: the one-shape dataset stays as it always was.
        if pair_fraction and rng.random() < pair_fraction:
            yield random_pair(rng, triples)
        else:
            yield random_layout(rng, triples)
