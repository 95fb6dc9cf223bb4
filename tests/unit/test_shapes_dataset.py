"""The shapes dataset (captions, held-out triples, determinism) and the reader that the prompt-following
evaluation uses, checked on the dataset's own renders."""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchmarks.image_reading import read_image
from training.shapes import (
    COLOURS,
    HELD_OUT,
    SHAPES,
    Layout,
    all_triples,
    random_layout,
    render,
    shape_mask,
    training_layouts,
)


def test_captions_name_everything_but_the_defaults() -> None:
    assert Layout("circle", "red", "blue").caption() == "a red circle on a blue background"
    layout = Layout("star", "yellow", "black", size="small", position="in the top left corner")
    assert layout.caption() == "a small yellow star in the top left corner on a black background"
    assert layout.caption(with_background=False) == "a small yellow star in the top left corner"


def test_held_out_triples_never_reach_training() -> None:
    layouts = list(training_layouts(3000, seed=0))
    triples = {layout.triple for layout in layouts}
    assert not triples & set(HELD_OUT)
    assert {layout.shape for layout in layouts} == set(SHAPES)
    assert {layout.colour for layout in layouts} == set(COLOURS) == {layout.background for layout in layouts}
    assert all(layout.colour != layout.background for layout in layouts)
    # Every held-out triple is a real combination that the rest of the data covers piecewise.
    for shape, colour, background in HELD_OUT:
        assert any(t[0] == shape and t[1] == colour for t in triples)
        assert any(t[0] == shape and t[2] == background for t in triples)


def test_generation_is_deterministic_given_the_seed() -> None:
    first, second = list(training_layouts(20, seed=3)), list(training_layouts(20, seed=3))
    assert first == second
    assert first != list(training_layouts(20, seed=4))
    assert all(np.array_equal(render(a), render(b)) for a, b in zip(first, second, strict=True))


def test_render_draws_the_shape_in_its_colour_inside_the_image() -> None:
    for layout in training_layouts(50, seed=1):
        image = render(layout)
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8
        mask = shape_mask(layout, 128)
        assert mask.sum() > 150, layout  # even a small shape is clearly there
        # Never cut by the border: the jitter can bring a point to within two pixels of it, no closer.
        assert not mask[:2].any() and not mask[-2:].any() and not mask[:, :2].any() and not mask[:, -2:].any()
        inner = mask & np.roll(mask, 2, 0) & np.roll(mask, -2, 0) & np.roll(mask, 2, 1) & np.roll(mask, -2, 1)
        assert (image[inner] == COLOURS[layout.colour]).all()
        assert (image[~mask & ~np.roll(mask, 3, 0)][:100] == COLOURS[layout.background]).all()


def test_reader_reads_every_render_correctly() -> None:
    rng = np.random.default_rng(11)
    for _ in range(300):
        layout = random_layout(rng, all_triples())
        reading = read_image(render(layout))
        assert (reading.background, reading.colour, reading.shape, reading.position) == (
            layout.background,
            layout.colour,
            layout.shape,
            layout.position,
        ), layout


def test_reader_reads_resized_images_and_reports_a_missing_shape() -> None:
    layout = Layout("triangle", "orange", "yellow", size="large", position="on the right")
    big = np.asarray(Image.fromarray(render(layout, 256)).resize((1024, 1024)))
    reading = read_image(big)
    assert (reading.colour, reading.background, reading.shape, reading.position) == (
        "orange",
        "yellow",
        "triangle",
        "on the right",
    )
    empty = read_image(np.full((128, 128, 3), COLOURS["green"], dtype=np.uint8))
    assert empty.background == "green" and empty.colour is None and empty.shape is None


def test_reader_is_not_fooled_by_the_wrong_shape() -> None:
    for shape in SHAPES:
        readings = {read_image(render(Layout(s, "white", "black"))).shape for s in SHAPES if s != shape}
        assert shape not in readings
