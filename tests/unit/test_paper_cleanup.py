"""mnist-norm-2's paper steps: lighting, printed lines, tilt (imaging/paper.py)."""

import numpy as np
import pytest

from imaging.paper import (
    extend_linearly,
    ink_darkness,
    page_tilt,
    paper_level,
    remove_printed_lines,
    to_luma,
)


def _page(h: int = 240, w: int = 320, level: float = 0.9) -> np.ndarray:
    return np.full((h, w), level, np.float32)


def _rules(page: np.ndarray, spacing: int = 30, darkness: float = 0.25) -> np.ndarray:
    ruled = page.copy()
    ruled[spacing // 2 :: spacing, :] *= 1 - darkness
    return ruled


def test_luma_is_a_float_between_black_and_white() -> None:
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[0, 0] = 255
    luma = to_luma(rgb)
    assert luma.dtype == np.float32
    assert luma[0, 0] == pytest.approx(1.0)
    assert luma[1, 1] == 0.0


def test_gradients_continue_past_the_frame() -> None:
    ramp = np.tile(np.linspace(0.2, 0.8, 50, dtype=np.float32), (20, 1))
    extended = extend_linearly(ramp, 5)
    assert extended.shape == (30, 60)
    step = ramp[0, 1] - ramp[0, 0]
    assert extended[10, 0] == pytest.approx(ramp[0, 0] - 5 * step, abs=1e-5)


def test_paper_level_ignores_strokes_and_keeps_a_shadow_edge() -> None:
    page = _page()
    page[:, 160:] *= 0.5  # a sharp shadow over the right half
    page[100:110, 40:120] = 0.1  # a stroke
    paper = paper_level(page)
    assert paper[105, 80] == pytest.approx(0.9, abs=0.02)
    assert paper[50, 150] == pytest.approx(0.9, abs=0.02)
    assert paper[50, 170] == pytest.approx(0.45, abs=0.02)


def test_a_stroke_in_shadow_is_as_dark_as_one_in_the_light() -> None:
    page = _page()
    page[:, 160:] *= 0.5
    page[100:106, 40:120] *= 0.2
    page[100:106, 200:280] *= 0.2
    ink = ink_darkness(page)
    assert ink[103, 80] == pytest.approx(ink[103, 240], abs=0.02)
    assert ink[103, 80] > 0.7
    assert float(ink[:, :150].max(initial=0)) >= 0.7
    assert float(np.percentile(ink, 90)) < 0.05  # the shadow itself is not ink


def test_vignetted_corners_are_not_ink() -> None:
    ys, xs = np.mgrid[:240, :320]
    falloff = 1 - 0.5 * (((ys - 120) / 120) ** 2 + ((xs - 160) / 160) ** 2) / 2
    ink = ink_darkness((0.9 * falloff).astype(np.float32))
    assert float(ink.max()) < 0.1


def test_ruled_lines_are_removed() -> None:
    ink = ink_darkness(_rules(_page()))
    assert float(ink.max()) > 0.2
    assert float(remove_printed_lines(ink).max()) < 0.05


def test_a_squared_grid_is_removed() -> None:
    page = _rules(_page())
    page[:, 10::30] *= 0.75
    assert float(remove_printed_lines(ink_darkness(page)).max()) < 0.05


def test_a_stroke_crossing_a_rule_is_not_cut() -> None:
    page = _rules(_page(), spacing=60)  # rules at rows 30, 90, 150, 210
    page[60:130, 150:156] = 0.1  # a "1" crossing the rule at row 90
    cleaned = remove_printed_lines(ink_darkness(page))
    column = cleaned[60:130, 153]
    assert float(column.min()) > 0.5
    assert float(cleaned[90, 20]) < 0.05


def test_the_bar_of_a_seven_drawn_on_a_rule_is_kept() -> None:
    page = _rules(_page(), spacing=60)
    page[86:96, 100:220] = 0.1  # a thick bar lying along the rule at row 90
    cleaned = remove_printed_lines(ink_darkness(page))
    assert float(cleaned[91, 110:210].mean()) > 0.6


def test_a_tilted_page_is_detected_and_its_rules_removed() -> None:
    ys, xs = np.mgrid[:240, :320]
    tilted = ((ys + xs * np.tan(np.radians(3))) % 30) < 2
    page = _page()
    page[tilted] *= 0.7
    ink = ink_darkness(page)
    assert abs(page_tilt(ink)) == pytest.approx(3.0, abs=0.6)
    assert float(np.percentile(ink, 99.5)) > 0.25
    assert float(np.percentile(remove_printed_lines(ink), 99.5)) < 0.15


def test_an_upright_page_has_no_tilt() -> None:
    assert page_tilt(ink_darkness(_rules(_page()))) == 0.0
    assert page_tilt(np.zeros((100, 100), np.float32)) == 0.0


def test_a_crossing_keeps_the_strokes_own_darkness() -> None:
    page = _rules(_page(), spacing=60, darkness=0.3)
    page[60:130, 150:156] *= 0.4  # a pencil "1", no darker than the stroke plus the rule
    cleaned = remove_printed_lines(ink_darkness(page))
    column = cleaned[62:128, 153]
    assert float(column.max() - column.min()) < 0.15  # no bright stripe where the rule crossed


def test_the_long_stem_of_a_digit_is_not_a_margin_line() -> None:
    page = _page(h=120, w=130)
    page[20:100, 80:85] = 0.2  # a "9": a stem two thirds of the height, a loop on its left
    page[20:25, 40:85] = 0.2
    page[20:60, 40:45] = 0.2
    page[55:60, 40:85] = 0.2
    cleaned = remove_printed_lines(ink_darkness(page))
    assert float(cleaned[30:95, 80:85].mean()) > 0.6


def test_a_tilted_margin_alone_gives_the_pages_tilt() -> None:
    ys, xs = np.mgrid[:240, :320]
    page = _page()
    page[np.abs(xs - 60 - ys * np.tan(np.radians(3))) < 1.2] *= 0.5  # a margin, no rules
    ink = ink_darkness(page)
    assert abs(page_tilt(ink)) == pytest.approx(3.0, abs=0.6)
    assert float(np.percentile(remove_printed_lines(ink), 99.9)) < 0.1


def test_a_rule_darker_at_one_end_leaves_no_dash() -> None:
    page = _page()
    page[120, :] *= 0.8
    page[120, :40] *= 0.85  # nearer the lens, or less faded: 1.6 times as dark there
    cleaned = remove_printed_lines(ink_darkness(page))
    assert float(cleaned[118:123, :40].max()) < 0.05


def test_a_pen_stroke_lying_along_a_rule_is_much_darker_and_stays() -> None:
    page = _rules(_page(), spacing=60, darkness=0.15)
    page[89:92, 100:200] = 0.05  # a thin dark bar exactly on the rule at row 90
    cleaned = remove_printed_lines(ink_darkness(page))
    assert float(cleaned[90, 110:190].mean()) > 0.6
