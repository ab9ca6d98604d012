"""Finding the digit among the marks on a page: strokes grouped into one dominant, central digit.

Ink is thresholded, bridged over small gaps (a pencil's grain, a dry pen) and split into
connected components. The digit is the component with the most ink, weighted towards the centre;
nearby pieces of a broken stroke join it; specks, dots of a dotted grid, lines running off the
page and text far away are dropped. A second mark as large as the digit means the image does not
hold *one* digit, and is refused rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from imaging.normalize import BlankImage

#: Ink below this share of the darkest ink (or below the absolute floor) is paper texture.
RELATIVE_THRESHOLD = 0.35
ABSOLUTE_THRESHOLD = 0.08
#: Darkest ink (99.9th percentile) below which the page is taken to be blank.
MIN_CONTRAST = 0.12
#: Pieces smaller than this share of the digit's main stroke are specks or grid dots.
MIN_PIECE = 0.05
#: A piece joins the digit when the gap between them is below this share of the digit's size,
#: across (side by side) and along (above or below: the broken bar of a 5, a 7's foot).
JOIN_GAP_ACROSS = 0.25
JOIN_GAP_ALONG = 0.5
#: ... and straight above or below it (a "1" broken in the middle; digits sit side by side).
JOIN_GAP_STACKED = 1.0
#: A separate mark with at least this share of the main stroke's ink is a rival digit.
RIVAL_SHARE = 0.4
#: Smallest digit, as a share of the image's shorter side.
MIN_HEIGHT = 0.05
#: Grid dots: small, roughly square marks (side up to this share of the shorter side plus 4 px),
#: at least this many of them, and up to this multiple of their typical size.
DOT_SIDE = 0.03
MIN_DOTS = 12
DOT_SPREAD = 2.5
#: The frame band (share of the shorter side) where a desk or a sheet's edge shows in a photo,
#: and the share of the frame a mark must run along to be taken for one.
FRAME_BAND = 0.12
FRAME_SPAN = 0.15
#: Half-width of the band around the page's own edge (where the paper gives way to a desk or a
#: deep shadow; share of the shorter side), and the share of a slim mark lying in it that makes
#: it the sheet's edge or a shadow's rim rather than writing.
RIM_BAND = 0.02
RIM_SHARE = 0.7


class AmbiguousImage(BlankImage):
    """The image holds several digit-sized marks: not one digit to read."""


@dataclass(frozen=True, slots=True)
class Piece:
    """One connected component: its box (x, y, width, height), ink pixels and mask label."""

    label: int
    x: int
    y: int
    w: int
    h: int
    area: int

    @property
    def right(self) -> int:
        """One past the last column."""
        return self.x + self.w

    @property
    def bottom(self) -> int:
        """One past the last row."""
        return self.y + self.h


def ink_mask(ink: np.ndarray) -> np.ndarray:
    """Binary uint8 mask of the pixels that are ink.

    Raises:
        BlankImage: nothing on the page is dark enough to be ink.
    """
    peak = float(np.percentile(ink, 99.9))
    if peak < MIN_CONTRAST:
        raise BlankImage("no digit found: the image is blank or has too little contrast")
    threshold = max(ABSOLUTE_THRESHOLD, RELATIVE_THRESHOLD * peak)
    return (ink > threshold).astype(np.uint8)


def pieces(mask: np.ndarray) -> tuple[np.ndarray, list[Piece]]:
    """Connected components of ``mask`` after bridging one-pixel gaps (8-connectivity).

    Returns:
        The label image and one :class:`Piece` per component, largest first.
    """
    bridged = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bridged, connectivity=8)
    found = [
        Piece(i, *_box(stats[i]), area=int(stats[i, cv2.CC_STAT_AREA])) for i in range(1, count)
    ]
    return labels, sorted(found, key=lambda p: p.area, reverse=True)


def grid_dots(found: list[Piece], shape: tuple[int, int]) -> set[int]:
    """Labels of the dots of a dotted page: many small, square, alike marks.

    A dot grid printed next to a small digit would otherwise join it as "pieces of a broken
    stroke"; a page has dozens of them, all of one size, which no handwriting has.
    """
    side = DOT_SIDE * min(shape) + 4
    small = [
        p for p in found if max(p.w, p.h) <= side and p.w <= 2 * p.h + 1 and p.h <= 2 * p.w + 1
    ]
    if len(small) < MIN_DOTS:
        return set()
    typical = float(np.median([p.area for p in small]))
    return {p.label for p in small if p.area <= DOT_SPREAD * typical}


def is_page_line(piece: Piece, shape: tuple[int, int]) -> bool:
    """A line of the page rather than the writing: a page edge, a shadow's rim, a tilted rule.

    Such marks are slim and run across or along the frame: thin and touching two borders (or
    one, reaching three quarters across the frame), slim and nearly as long as the frame's
    diagonal, or slim and crossing the frame or running along half a side of it. (A desk
    around the sheet is :func:`frame_region`'s.)
    """
    h, w = shape
    length = float(np.hypot(piece.w, piece.h))
    thickness = piece.area / max(length, 1.0)
    thin = thickness <= 0.02 * min(h, w) + 2
    slim = thickness <= 0.04 * min(h, w) + 2
    top, left, bottom, right = frame_sides(piece, shape)
    borders = int(top) + int(left) + int(bottom) + int(right)
    along = ((top or bottom) and piece.w >= 0.5 * w) or ((left or right) and piece.h >= 0.5 * h)
    crossing = (top and bottom) or (left and right)
    long_line = length >= 0.8 * float(np.hypot(h, w))
    # A margin or a sheet's edge that leaves the frame on one side and fades out (or is cut
    # by a shadow) before the other.
    reaching = borders >= 1 and (piece.h >= 0.75 * h or piece.w >= 0.75 * w)
    return (thin and (borders >= 2 or reaching)) or (slim and (long_line or along or crossing))


def frame_region(mask: np.ndarray, off_page: np.ndarray | None = None) -> np.ndarray:
    """Where the desk or the sheet's edge shows around a photographed page (boolean mask).

    Desk texture, edges and vignetted corners are ink-like marks that touch the frame and lie
    almost entirely in a band next to it, and either run along a good part of the frame or
    (when ``off_page`` is given) lie where the paper is far darker than the page's; a close
    merges their speckle into one region. A ruled
    line crossing the page touches the frame too, but lies mostly inside; a digit near the edge
    sits on ordinary paper.
    """
    h, w = mask.shape
    merged = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
    total = np.bincount(labels.ravel(), minlength=count)
    # The band is the frame minus its inner rectangle; counting the rectangle is cheaper.
    band = _band_width((h, w))
    in_band = total - np.bincount(labels[band:-band, band:-band].ravel(), minlength=count)
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    touching = np.bincount(edge, minlength=count) > 0
    span = (stats[:, cv2.CC_STAT_WIDTH] >= FRAME_SPAN * w) | (
        stats[:, cv2.CC_STAT_HEIGHT] >= FRAME_SPAN * h
    )
    frame = touching & (in_band >= 0.6 * np.maximum(total, 1))
    if off_page is None:
        frame &= span
    else:
        # Where the paper is known to be dark, a short mark will do: a vignetted corner.
        dark = np.bincount(labels[off_page], minlength=count)
        frame &= dark >= 0.5 * np.maximum(total, 1)
    frame[0] = False
    in_frame: np.ndarray = frame[labels]
    return in_frame


def frame_band(shape: tuple[int, int]) -> np.ndarray:
    """The band along the frame where a desk or a sheet's edge shows (boolean, ``FRAME_BAND``)."""
    h, w = shape
    band = _band_width(shape)
    near = np.ones((h, w), bool)
    near[band:-band, band:-band] = False
    return near


def _band_width(shape: tuple[int, int]) -> int:
    return max(2, int(FRAME_BAND * min(shape)))


def frame_sides(piece: Piece, shape: tuple[int, int]) -> tuple[bool, bool, bool, bool]:
    """Whether the piece reaches the image's top, left, bottom and right borders."""
    return piece.y == 0, piece.x == 0, piece.bottom >= shape[0], piece.right >= shape[1]


def touches_frame(piece: Piece, shape: tuple[int, int]) -> bool:
    """True when the piece reaches the image's border."""
    return any(frame_sides(piece, shape))


def page_rim(off_page: np.ndarray) -> np.ndarray:
    """The band along the boundary between the page and what is off it (boolean).

    A sheet's edge, its shadow on the desk and a shadow's rim lie right on that boundary,
    wherever it runs through the frame; writing lies on the page, at most crossing it.
    """
    side = max(3, 2 * round(RIM_BAND * min(off_page.shape)) + 1)
    kernel = np.ones((side, side), np.uint8)
    off = off_page.astype(np.uint8)
    rim: np.ndarray = cv2.dilate(off, kernel).astype(bool) & ~cv2.erode(off, kernel).astype(bool)
    return rim


def on_rim(piece: Piece, rim_pixels: int, shape: tuple[int, int]) -> bool:
    """A slim mark lying almost entirely in the page's rim (see :func:`page_rim`)."""
    length = float(np.hypot(piece.w, piece.h))
    slim = piece.area / max(length, 1.0) <= 0.04 * min(shape) + 2
    return slim and rim_pixels >= RIM_SHARE * piece.area


def main_piece(candidates: list[Piece], shape: tuple[int, int]) -> Piece:
    """The piece with the most ink, discounted by its distance from the image centre."""
    h, w = shape

    def score(p: Piece) -> float:
        dx = (p.x + p.w / 2 - w / 2) / w
        dy = (p.y + p.h / 2 - h / 2) / h
        return p.area * (1.0 - 0.8 * min(1.0, float(np.hypot(dx, dy))))

    return max(candidates, key=score)


def group_digit(main: Piece, candidates: list[Piece]) -> list[Piece]:
    """The main piece plus the nearby pieces of the same (broken) digit."""
    group = [main]
    pending = [p for p in candidates if p is not main and p.area >= MIN_PIECE * main.area]
    changed = True
    while changed:
        changed = False
        box = _union(group)
        size = max(box.w, box.h)
        for piece in list(pending):
            dx, dy = _gaps(box, piece)
            stacked = dx == 0 and dy <= JOIN_GAP_STACKED * size
            near = stacked or (dx <= JOIN_GAP_ACROSS * size and dy <= JOIN_GAP_ALONG * size)
            if near and not _too_wide(_union([*group, piece]), main):
                group.append(piece)
                pending.remove(piece)
                changed = True
    return group


def rivals(main: Piece, group: list[Piece], candidates: list[Piece]) -> list[Piece]:
    """Marks outside the group with about as much ink and height as the digit itself."""
    return [
        p
        for p in candidates
        if p not in group and p.area >= RIVAL_SHARE * main.area and p.h >= 0.5 * main.h
    ]


def digit_region(ink: np.ndarray, off_page: np.ndarray | None = None) -> np.ndarray:
    """The ink of the one digit on the page, cropped to it; everything else zeroed.

    Args:
        ink: Darkness in [0, 1] with printed lines removed.
        off_page: Where the paper is not the page's (:func:`imaging.paper.off_page`), if known.

    Raises:
        BlankImage: no ink, or only specks and lines.
        AmbiguousImage: two or more digit-sized marks.
    """
    mask = ink_mask(ink)
    labels, found = pieces(mask)
    shape = (ink.shape[0], ink.shape[1])
    frame = frame_region(mask, off_page)
    framed = np.bincount(labels[frame], minlength=len(found) + 1)
    # A digit written near the sheet's edge merges with the desk in frame_region's close; unless
    # it reaches the border itself, only what of it lies in the frame band is the desk's.
    banded = np.bincount(labels[frame & frame_band(shape)], minlength=len(found) + 1)
    rim = np.zeros_like(framed)
    if off_page is not None:
        rim = np.bincount(labels[page_rim(off_page) & (mask > 0)], minlength=len(found) + 1)
    dots = grid_dots(found, shape)
    candidates = [
        p
        for p in found
        if p.label not in dots
        and not is_page_line(p, shape)
        and (banded if not touches_frame(p, shape) else framed)[p.label] < 0.5 * p.area
        and not on_rim(p, int(rim[p.label]), shape)
    ]
    if not candidates:
        raise BlankImage("no digit found: only lines or specks on the page")
    main = main_piece(candidates, shape)
    group = group_digit(main, candidates)
    box = _union(group)
    if box.h < MIN_HEIGHT * min(shape) or main.area < 12:
        raise BlankImage("no digit found: the marks are too small to be a digit")
    if rivals(main, group, candidates):
        raise AmbiguousImage("more than one digit or mark found: send one digit per image")
    keep = np.isin(labels[box.y : box.bottom, box.x : box.right], [p.label for p in group])
    return np.where(keep, ink[box.y : box.bottom, box.x : box.right], 0.0).astype(np.float32)


def _box(row: np.ndarray) -> tuple[int, int, int, int]:
    """x, y, width, height of one row of ``connectedComponentsWithStats``' statistics."""
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def _union(group: list[Piece]) -> Piece:
    x = min(p.x for p in group)
    y = min(p.y for p in group)
    right = max(p.right for p in group)
    bottom = max(p.bottom for p in group)
    return Piece(0, x, y, right - x, bottom - y, sum(p.area for p in group))


def _gaps(a: Piece, b: Piece) -> tuple[int, int]:
    """Horizontal and vertical gap between two boxes (0 where they overlap)."""
    dx = max(0, max(a.x, b.x) - min(a.right, b.right))
    dy = max(0, max(a.y, b.y) - min(a.bottom, b.bottom))
    return dx, dy


def _too_wide(box: Piece, main: Piece) -> bool:
    """Joining would make a box much wider than tall: a second digit beside the first."""
    return box.w > 1.4 * max(box.h, main.h) and box.w > 1.6 * main.w
