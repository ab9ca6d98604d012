"""mnist-norm-2's digit finding: strokes grouped into one digit (imaging/strokes.py)."""

import numpy as np
import pytest

from imaging.normalize import BlankImage
from imaging.strokes import (
    AmbiguousImage,
    Piece,
    digit_region,
    frame_region,
    grid_dots,
    group_digit,
    ink_mask,
    is_page_line,
    main_piece,
    on_rim,
    page_rim,
    pieces,
)

SHAPE = (200, 300)


def _ink() -> np.ndarray:
    return np.zeros(SHAPE, np.float32)


def _stroke(ink: np.ndarray, top: int, left: int, h: int, w: int, value: float = 0.9) -> None:
    ink[top : top + h, left : left + w] = value


def test_a_blank_page_has_no_ink() -> None:
    with pytest.raises(BlankImage, match="no digit"):
        ink_mask(np.full(SHAPE, 0.03, np.float32))


def test_faint_paper_texture_is_not_ink() -> None:
    ink = np.full(SHAPE, 0.05, np.float32)
    _stroke(ink, 50, 100, 60, 8)
    mask = ink_mask(ink)
    assert mask[80, 104] == 1
    assert mask[10, 10] == 0


def test_pieces_are_listed_largest_first() -> None:
    ink = _ink()
    _stroke(ink, 20, 20, 10, 10)
    _stroke(ink, 100, 100, 40, 40)
    _, found = pieces(ink_mask(ink))
    assert [p.area for p in found] == sorted((p.area for p in found), reverse=True)
    assert (found[0].x, found[0].y, found[0].w, found[0].h) == (100, 100, 40, 40)


def test_the_central_mark_wins_over_a_slightly_larger_one_in_a_corner() -> None:
    central = Piece(1, 130, 80, 40, 40, 1000)
    corner = Piece(2, 0, 0, 40, 40, 1100)
    assert main_piece([corner, central], SHAPE) is central


def test_broken_strokes_stay_one_digit() -> None:
    ink = _ink()
    _stroke(ink, 40, 140, 40, 6)  # upper half of a "1"
    _stroke(ink, 88, 140, 40, 6)  # lower half, after a gap of 8 px
    region = digit_region(ink)
    assert region.shape[0] == 88  # both halves, gap included


def test_specks_and_grid_dots_are_dropped() -> None:
    ink = _ink()
    _stroke(ink, 50, 140, 80, 8)
    for y in range(5, 200, 25):
        for x in range(5, 300, 25):
            _stroke(ink, y, x, 2, 2)
    region = digit_region(ink)
    assert region.shape == (80, 8)


def test_two_digits_side_by_side_are_refused() -> None:
    ink = _ink()
    _stroke(ink, 60, 80, 70, 30)
    _stroke(ink, 60, 170, 70, 30)
    with pytest.raises(AmbiguousImage, match="more than one digit"):
        digit_region(ink)


def test_a_rule_running_across_the_page_is_a_page_line() -> None:
    rule = Piece(1, 0, 100, 300, 2, 600)
    digit = Piece(2, 120, 60, 40, 80, 900)
    assert is_page_line(rule, SHAPE)
    assert not is_page_line(digit, SHAPE)


def _desk_strip() -> tuple[np.ndarray, np.ndarray]:
    """Speckled desk along the bottom edge (off the page) and a digit near the left edge."""
    mask = np.zeros(SHAPE, np.uint8)
    mask[180:, :] = (np.random.default_rng(3).random((20, 300)) > 0.6).astype(np.uint8)
    mask[60:140, 4:12] = 1
    off = np.zeros(SHAPE, bool)
    off[178:, :] = True
    return mask, off


def test_the_desk_along_the_frame_is_not_the_digit() -> None:
    mask, off = _desk_strip()
    frame = frame_region(mask, off)
    assert frame[190, 150]
    assert not frame[100, 8]


def test_a_digit_near_the_edge_on_the_page_is_not_frame() -> None:
    mask, _ = _desk_strip()
    on_page = np.zeros(SHAPE, bool)
    assert not frame_region(mask, on_page)[100, 8]


def test_only_lines_means_no_digit() -> None:
    ink = _ink()
    _stroke(ink, 100, 0, 2, 300)
    with pytest.raises(BlankImage, match="only lines"):
        digit_region(ink)


def test_a_speck_is_too_small_to_be_a_digit() -> None:
    ink = _ink()
    _stroke(ink, 100, 100, 8, 8)
    with pytest.raises(BlankImage, match="too small"):
        digit_region(ink)


def test_the_region_keeps_only_the_digit_ink() -> None:
    ink = _ink()
    _stroke(ink, 50, 140, 80, 8)
    _stroke(ink, 60, 130, 2, 2)  # a speck inside the digit's box: not part of the digit
    region = digit_region(ink)
    assert float(region.max()) == pytest.approx(0.9)


def test_nearby_pieces_join_but_far_text_does_not() -> None:
    main = Piece(1, 100, 50, 40, 80, 1200)
    flag = Piece(2, 92, 45, 10, 10, 80)
    far = Piece(3, 260, 180, 20, 10, 150)
    assert group_digit(main, [main, flag, far]) == [main, flag]


def test_a_dot_grid_is_recognised_as_dots() -> None:
    dots = [Piece(i + 2, 10 * i, 5, 4, 4, 14) for i in range(20)]
    digit = Piece(1, 100, 60, 30, 60, 700)
    assert grid_dots([digit, *dots], SHAPE) == {p.label for p in dots}


def test_a_few_specks_are_not_a_dot_grid() -> None:
    specks = [Piece(i + 2, 10 * i, 5, 4, 4, 14) for i in range(5)]
    assert grid_dots(specks, SHAPE) == set()


def test_grid_dots_next_to_a_small_digit_do_not_join_it() -> None:
    ink = _ink()
    _stroke(ink, 80, 136, 30, 4)  # a small "1", clear of the dots
    for y in range(4, 200, 14):
        for x in range(4, 300, 14):
            _stroke(ink, y, x, 3, 3, value=0.6)
    region = digit_region(ink)
    assert region.shape == (30, 4)


def test_a_margin_that_fades_out_before_the_far_edge_is_a_page_line() -> None:
    margin = Piece(1, 40, 0, 3, 160, 480)  # from the top, 80% of the height, then gone
    stem = Piece(2, 140, 0, 6, 90, 540)  # a "1" touching the top: too short
    assert is_page_line(margin, SHAPE)
    assert not is_page_line(stem, SHAPE)


def test_the_page_rim_is_the_band_along_the_page_boundary() -> None:
    off = np.zeros(SHAPE, bool)
    off[:, 250:] = True  # the desk right of the sheet
    rim = page_rim(off)
    assert rim[100, 249]
    assert rim[100, 252]
    assert not rim[100, 200]
    assert not rim[100, 290]


def test_slim_marks_on_the_rim_are_the_sheets_edge_and_a_digit_there_is_not() -> None:
    edge = Piece(1, 248, 20, 4, 150, 600)
    digit = Piece(2, 230, 60, 40, 70, 1200)
    assert on_rim(edge, rim_pixels=560, shape=SHAPE)
    assert not on_rim(digit, rim_pixels=300, shape=SHAPE)  # crossed by the boundary, mostly off it
    assert not on_rim(edge, rim_pixels=100, shape=SHAPE)  # a slim mark away from the rim


def test_the_sheets_edge_beside_a_digit_is_not_a_second_digit() -> None:
    ink = _ink()
    _stroke(ink, 60, 120, 80, 10)  # the digit, a "1"
    _stroke(ink, 10, 250, 150, 3)  # the sheet's edge: as tall, slim, where the desk begins
    off = np.zeros(SHAPE, bool)
    off[:, 252:] = True
    with pytest.raises(AmbiguousImage):
        digit_region(ink)
    region = digit_region(ink, off)
    assert region.shape == (80, 10)


def test_a_vignetted_corner_is_frame_not_a_second_digit() -> None:
    mask = np.zeros(SHAPE, np.uint8)
    mask[160:, :40] = 1  # a dark corner, short along the frame
    mask[60:140, 140:150] = 1
    off = np.zeros(SHAPE, bool)
    off[150:, :50] = True
    frame = frame_region(mask, off)
    assert frame[190, 10]
    assert not frame[100, 145]


def test_a_digit_written_close_to_the_desk_is_still_the_digit() -> None:
    ink = _ink()
    ink[182:, :] = 0.9 * (np.random.default_rng(5).random((18, 300)) > 0.5)  # the desk
    _stroke(ink, 110, 146, 64, 8)  # a "1" ending a few pixels above the sheet's edge
    off = np.zeros(SHAPE, bool)
    off[180:, :] = True
    assert frame_region(ink_mask(ink), off)[150, 150]  # the close merges it with the desk...
    region = digit_region(ink, off)  # ...but only what lies in the frame band is the desk's
    assert region.shape[0] >= 60
    assert region.shape[1] <= 12


def test_a_mark_reaching_the_border_inside_the_desk_stays_the_desks() -> None:
    ink = _ink()
    ink[182:, :] = 0.9 * (np.random.default_rng(5).random((18, 300)) > 0.5)
    _stroke(ink, 60, 146, 60, 8)  # the digit
    _stroke(ink, 150, 0, 50, 30)  # a dark patch of desk reaching the border
    off = np.zeros(SHAPE, bool)
    off[150:, :] = True
    region = digit_region(ink, off)
    assert region.shape == (60, 8)
