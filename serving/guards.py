"""Strict multipart parsing for the BentoML 1.4 APIs.

BentoML's own multipart parser answers 500 to a file sent under a field name it does not expect,
downloads a URL given as text where a file is expected (an SSRF hole for a public service), and
forgets the filename and content type the client declared. This replacement refuses all of that
with a 400 and keeps what was declared in ``request.state.uploads``.

BentoML also spools each file to a temp file named with the client's filename as suffix, so a
250-character or NUL-bearing name made ``open`` fail (500). The filename is only metadata: it is
kept (cut to :data:`MAX_DECLARED_FILENAME` bytes) and hidden from BentoML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, get_args

from bentoml.exceptions import InvalidArgument
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.errors import error_response

#: request.state attribute: {field: [(filename, content_type), ...]}
DECLARED = "uploads"
#: Longest declared filename kept, in UTF-8 bytes (a common file-system limit).
MAX_DECLARED_FILENAME = 255


@dataclass(frozen=True, slots=True)
class FilePart:
    """One file part of a request: its form field and, in a repeated field, its position."""

    field: str
    index: int | None = None

    def __str__(self) -> str:
        """How messages name it: ``image``, or ``images[3]`` in a batch."""
        return self.field if self.index is None else f"{self.field}[{self.index}]"


def declared(state: object, part: FilePart) -> tuple[str | None, str | None]:
    """Filename and content type the client declared for ``part`` (kept by the parser)."""
    parts = getattr(state, DECLARED, {}).get(part.field, [])
    position = part.index or 0
    return parts[position] if position < len(parts) else (None, None)


def install_strict_multipart() -> None:
    """Replace BentoML's multipart request parser with :func:`parse_multipart`."""
    from _bentoml_impl import serde

    serde.MultipartSerde.parse_request = parse_multipart


async def parse_multipart(_serde: Any, request: Request, cls: Any) -> Any:
    """Validate a multipart request against the API's input model.

    Raises:
        InvalidArgument: malformed or incomplete body, unknown field, text where a file belongs
            or a file where text belongs, JSON nested too deeply (all 400).
    """
    try:
        form = await request.form()
    except ClientDisconnect as exc:
        raise InvalidArgument("the client went away before the body was complete") from exc
    except (MultiPartException, HTTPException) as exc:
        detail = getattr(exc, "detail", None) or getattr(exc, "message", str(exc))
        raise InvalidArgument(f"malformed multipart body: {detail}") from exc
    expected = [name for name in cls.model_fields if name != "ctx"]
    unexpected = sorted({key for key in form if key not in cls.model_fields})
    if unexpected:
        raise InvalidArgument(
            f"unexpected form field {', '.join(unexpected)}; expected {', '.join(expected)}"
        )
    data: dict[str, Any] = {}
    declared: dict[str, list[tuple[str | None, str | None]]] = {}
    for key in form:
        if key in cls.multipart_fields:
            parts = [part for part in form.getlist(key) if isinstance(part, UploadFile)]
            if len(parts) != len(form.getlist(key)):
                raise InvalidArgument(f"field {key} must be an uploaded file, not text or a URL")
            declared[key] = [_declared_of(part) for part in parts]
            data[key] = parts if _is_list(cls.model_fields[key].annotation) else parts[0]
        else:
            data[key] = _text_value(key, form[key])
    request.state.uploads = declared
    return cls.model_validate(data)


def _declared_of(part: UploadFile) -> tuple[str | None, str | None]:
    """What the client declared about a file part; the part loses its filename.

    BentoML would otherwise use the filename as the suffix of its temp file.
    """
    filename = part.filename
    part.filename = None
    if filename is not None:
        kept = filename.encode("utf-8", "replace")[:MAX_DECLARED_FILENAME]
        filename = kept.decode("utf-8", "ignore")
    return filename, part.content_type


def _text_value(key: str, value: Any) -> Any:
    """A text field's value: its JSON reading if it is JSON, else the text itself.

    Raises:
        InvalidArgument: a file where text belongs, or JSON nested too deeply to read (400).
    """
    if isinstance(value, UploadFile):
        raise InvalidArgument(f"field {key} must be text, not a file")
    try:
        return json.loads(value)
    except ValueError:
        return value
    except RecursionError as exc:
        raise InvalidArgument(f"field {key}: JSON nested too deeply") from exc


def _is_list(annotation: Any) -> bool:
    origin = getattr(annotation, "__origin__", None)
    if origin is list:
        return True
    return any(getattr(arg, "__origin__", None) is list for arg in get_args(annotation))


class MultipartOnlyMiddleware:
    """Answer 415 to an upload route called with anything but multipart/form-data."""

    def __init__(self, app: ASGIApp, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        path = scope.get("path", "")
        if scope["type"] == "http" and scope.get("method") == "POST" and path in self.paths:
            content_type = dict(scope.get("headers", [])).get(b"content-type", b"")
            if not content_type.lower().startswith(b"multipart/form-data"):
                message = "send the image as multipart/form-data (e.g. curl -F image=@digit.png)"
                await error_response(415, message, path)(scope, receive, send)
                return
        await self.app(scope, receive, send)
