"""Which stored model the service serves: the promoted one, named by a model label.

``DIGITS_MODEL_VERSION=promoted`` (the default) serves the model whose ``promoted_at`` label is
the most recent: promotion (``training.store.promote``, run by ``make model``, ``make train``
and the retraining gate) stamps that label, so a candidate that is stored but not promoted,
although it is the store's ``latest``, is never served by accident. Any other value is a
BentoML version (or ``latest``) and is served as given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import bentoml

#: The ``DIGITS_MODEL_VERSION`` that means "the model promoted last".
PROMOTED = "promoted"
#: Label holding the UTC time (ISO 8601) a model was promoted at; the newest one is served.
PROMOTED_AT = "promoted_at"
#: Label naming where a model stands: candidate, production, retired or refused.
STAGE = "stage"


class NoPromotedModelError(LookupError):
    """The store holds no promoted version of the model."""


def served_tag(name: str, version: str) -> str:
    """The tag ``name:version`` to serve, resolving ``promoted`` to the newest promotion.

    Raises:
        NoPromotedModelError: ``version`` is ``promoted`` and no version of ``name`` is.
    """
    if version != PROMOTED:
        return f"{name}:{version}"
    try:
        models = bentoml.models.list(name)
    except bentoml.exceptions.NotFound:
        models = []
    tag = newest_promotion((str(m.tag), m.info.labels) for m in models)
    if tag is None:
        raise NoPromotedModelError(
            f"no version of {name!r} is promoted (label {PROMOTED_AT!r}): run `make model`, "
            f"or set DIGITS_MODEL_VERSION to a version"
        )
    return tag


def newest_promotion(models: Iterable[tuple[str, Mapping[str, str]]]) -> str | None:
    """The tag with the latest ``promoted_at`` label among ``(tag, labels)`` pairs, or None."""
    stamped = [(labels[PROMOTED_AT], tag) for tag, labels in models if labels.get(PROMOTED_AT)]
    return max(stamped)[1] if stamped else None
