"""The shapes dataset (captions, held-out triples, determinism) and the reader that the prompt-following
evaluation uses, checked on the dataset's own renders."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image

from benchmarks.image_reading import read_image, read_shapes
from training.shapes import (
    COLOURS,
    HELD_OUT,
    PAIR_POSITIONS,
    POSITIONS,
    SHAPES,
    Layout,
    Pair,
    all_triples,
    random_layout,
    random_pair,
    render,
    shape_mask,
    training_layouts,
)


def test_captions_name_everything_but_the_defaults() -> None:
    assert Layout("circle", "red", "blue").caption() == "a red circle on a blue background"
    layout = Layout("star", "yellow", "black", size="small", position="in the top left corner")
    assert layout.caption() == "a small yellow star in the top left corner on a black background"
    assert layout.caption(with_background=False) == "a small yellow star in the top left corner"


def test_pair_captions_give_each_shape_its_own_colour_and_position() -> None:
    pair = Pair(
        Layout("circle", "red", "white", position="on the left"),
        Layout("square", "blue", "white", position="on the right"),
    )
    assert pair.caption() == "a red circle on the left and a blue square on the right on a white background"
    assert pair.caption(with_background=False) == "a red circle on the left and a blue square on the right"
    assert pair.background == "white" and pair.shapes == (pair.first, pair.second)


def test_pair_positions_are_apart_and_never_the_unsaid_centre() -> None:
    assert ("on the left", "on the right") in PAIR_POSITIONS and (
        "on the right",
        "on the left",
    ) in PAIR_POSITIONS
    assert ("on the left", "at the top") not in PAIR_POSITIONS  # neighbours: two shapes would touch
    for first, second in PAIR_POSITIONS:
        (c1, r1), (c2, r2) = POSITIONS[first], POSITIONS[second]
        assert first and second and max(abs(c1 - c2), abs(r1 - r2)) == 2


def test_training_pairs_keep_held_out_triples_out_and_their_shapes_apart() -> None:
    pictures = list(training_layouts(2000, seed=0, pair_fraction=0.4))
    pairs = [p for p in pictures if isinstance(p, Pair)]
    assert 700 < len(pairs) < 900
    for pair in pairs:
        first, second = pair.shapes
        assert (
            first.background == second.background and len({first.colour, second.colour, pair.background}) == 3
        )
        assert not {first.triple, second.triple} & set(HELD_OUT)
        assert (first.position, second.position) in PAIR_POSITIONS and first.size == second.size == "medium"
    for pair in pairs[:200]:
        # Two pixels of background between them at least: they never touch, even as two stacked stars.
        one, other = (shape_mask(layout, 128) for layout in pair.shapes)
        grown = one.copy()
        for axis in (0, 1):
            for shift in (-2, -1, 1, 2):
                grown |= np.roll(one, shift, axis)
        assert not (grown & other).any(), pair


def test_held_out_triples_never_reach_training() -> None:
    layouts = [p for p in training_layouts(3000, seed=0) if isinstance(p, Layout)]
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
        assert isinstance(layout, Layout)
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
        assert reading.named == (layout.background, layout.colour, layout.shape, layout.position), layout
        # What agreement between two systems compares: the names, not how well the template fitted.
        assert replace(reading, shape_iou=reading.shape_iou / 2).named == reading.named


def test_reader_reads_both_shapes_of_every_pair_render() -> None:
    rng = np.random.default_rng(12)
    for _ in range(200):
        pair = random_pair(rng, all_triples())
        readings = read_shapes(render(pair), 2)
        assert {r.named for r in readings} == {
            (pair.background, s.colour, s.shape, s.position) for s in pair.shapes
        }, pair
    # One shape asked for two: the second reads as not found.
    readings = read_shapes(render(Layout("star", "red", "blue")), 2)
    assert readings[0].shape == "star" and readings[1].colour is None and readings[1].shape is None


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
