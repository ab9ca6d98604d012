"""Safe decoding of untrusted uploads into a single-frame PIL image.

Everything a client can send ends here as either a loaded image or an :class:`ImageRejected`
carrying the HTTP status the client should get (400, 413, 415). Nothing in this module raises
anything else for bad bytes.

Corrupt EXIF metadata is not a reason to refuse an image whose pixels decode: the image is then
used as stored, without the EXIF orientation (see :func:`upright`).
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

#: Formats Pillow may decode for us. Everything else (TIFF, PSD, ICO, SVG, ...) is a 415.
ALLOWED_FORMATS: frozenset[str] = frozenset({"PNG", "JPEG", "GIF", "BMP", "WEBP"})
#: Colour modes we know how to turn into gray levels faithfully.
ALLOWED_MODES: frozenset[str] = frozenset(
    {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I"}
)
_SVG_SNIFF = (b"<?xml", b"<svg", b"<!DOCTYPE svg")

# Truncated files must fail loudly instead of decoding as half-grey images.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageRejected(Exception):  # noqa: N818 - reads better at call sites than ...Error
    """An upload we refuse, with the HTTP status and a message meant for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """A fully loaded, EXIF-upright, single-frame image and what it was."""

    image: Image.Image
    format: str
    width: int
    height: int


def decode_image(
    data: bytes,
    max_pixels: int,
    declared_type: str | None = None,
    draft_side: int | None = None,
    max_decoded_pixels: int | None = None,
    luma: bool = False,
) -> DecodedImage:
    """Decode untrusted bytes into a loaded, upright image.

    Args:
        data: The uploaded bytes.
        max_pixels: Largest accepted width x height (decompression-bomb guard).
        declared_type: The content type the client declared, used only to word errors.
        draft_side: When set, a JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8) that
            keeps its longer side at least this long: a 12 MP photo costs a fraction of a full
            decode and of its memory. Other formats decode at full size.
        max_decoded_pixels: Largest width x height actually decoded (after the reduced-size
            JPEG decode): what bounds the memory and time one image costs.
        luma: Decode a colour JPEG to its luma channel only (mode ``L``), skipping chroma
            upsampling and the colour conversion, for callers that only use gray levels.

    Raises:
        ImageRejected: 400 empty, undecodable, truncated or multi-frame; 413 too many pixels;
            415 a format or colour mode outside the allow-lists.
    """
    if not data:
        raise ImageRejected(400, "empty upload: the image file has no bytes")
    image = _open(data, declared_type)
    fmt = image.format or "unknown"
    if fmt not in ALLOWED_FORMATS:
        raise ImageRejected(
            415, f"unsupported image format {fmt}; send one of {', '.join(sorted(ALLOWED_FORMATS))}"
        )
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRejected(
            413, f"image too large: {width}x{height} pixels (limit {max_pixels} pixels)"
        )
    if getattr(image, "n_frames", 1) > 1:
        raise ImageRejected(400, "animated or multi-frame images are not accepted")
    if image.mode not in ALLOWED_MODES:
        raise ImageRejected(
            415, f"unsupported colour mode {image.mode}; send RGB, RGBA or grayscale"
        )
    if fmt == "JPEG":
        _draft(image, draft_side, luma)
    _check_decoded(image, max_decoded_pixels)
    _load(image)
    shown = upright(image)
    return DecodedImage(shown, fmt, shown.width, shown.height)


def decoded_pixels(data: bytes, draft_side: int | None) -> int:
    """How many pixels decoding ``data`` would produce (header only; 0 if it is no image).

    What a request's pixel budget is charged, before anything is decoded.
    """
    try:
        image = _open(data, None)
    except ImageRejected:  # decode_image refuses it, and says why
        return 0
    if image.format not in ALLOWED_FORMATS:  # a TIFF: refused (415) before any budget applies
        return 0
    if image.format == "JPEG":
        _draft(image, draft_side, luma=False)
    return image.width * image.height


def _check_decoded(image: Image.Image, limit: int | None) -> None:
    width, height = image.size
    if limit is not None and width * height > limit:
        raise ImageRejected(
            413,
            f"image too large to decode: {width}x{height} pixels (limit {limit} pixels; "
            "JPEG photos are decoded at reduced size and may be larger)",
        )


def upright(image: Image.Image) -> Image.Image:
    """The loaded image turned as its EXIF orientation says, or as stored if EXIF is corrupt.

    Pillow raises assorted exceptions on malformed metadata (``struct.error`` and ``TypeError``
    when it rewrites a mistyped tag, and others); any of them means "no usable orientation",
    never a refusal.
    """
    try:
        return ImageOps.exif_transpose(image) or image
    except Exception:  # corrupt metadata of any kind: use the pixels as stored
        return image


def _open(data: bytes, declared_type: str | None) -> Image.Image:
    if data.lstrip()[:64].startswith(_SVG_SNIFF) or (declared_type or "").startswith("image/svg"):
        raise ImageRejected(415, "SVG is not supported; send a PNG or JPEG")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Restrict Pillow's format probing to the formats we accept plus TIFF, so that
            # a TIFF is recognised (and refused with 415) instead of looking like garbage.
            return Image.open(io.BytesIO(data), formats=[*ALLOWED_FORMATS, "TIFF"])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(413, "image too large: decompression bomb refused") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected(400, "not a decodable image (PNG, JPEG, GIF, BMP or WebP)") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected(400, f"corrupt image: {exc}") from exc


def _draft(image: Image.Image, side: int | None, luma: bool) -> None:
    """Ask the JPEG decoder for a reduced-size and/or luma-only decode (Pillow picks the scale).

    Pillow honours only the first ``draft`` call on an image, so both requests go in one.
    """
    width, height = image.size
    size = None
    if side is not None and side / max(width, height) <= 0.5:
        scale = side / max(width, height)
        size = (math.ceil(width * scale), math.ceil(height * scale))
    if size is None and not luma:
        return
    image.draft("L" if luma or image.mode == "L" else "RGB", size)


def _load(image: Image.Image) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(413, "image too large: decompression bomb refused") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageRejected(400, f"truncated or corrupt image data: {exc}") from exc
