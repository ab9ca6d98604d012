"""The BentoML model store: saving a trained classifier and finding the one that is served."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bentoml

from imaging.contract import KERAS_FILE, LITERT_FILE
from imaging.pipeline import PREPROCESSING_VERSION
from serving.model_choice import PROMOTED, PROMOTED_AT, STAGE, served_tag

if TYPE_CHECKING:
    import keras

FULL_MODE = "full"
MIN_FULL_ACCURACY = 0.994
#: The trained model shipped with the repository (``bentoml models export``), imported by
#: ``make model`` when the store lacks a servable one.
ARCHIVE = Path(__file__).resolve().parents[1] / "models" / "mnist_cnn.bentomodel"


@dataclass(frozen=True)
class StoredModel:
    """A model in the store, as far as training cares.

    Attributes:
        tag: ``name:version``.
        path: Directory holding ``model.keras``.
        metadata: The metadata written by :func:`save_model`.
        labels: Its BentoML labels (``stage``, ``promoted_at``...).
    """

    tag: str
    path: str
    metadata: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def is_promoted(self) -> bool:
        """Promoted at some point (the newest promotion is the one served)."""
        return bool(self.labels.get(PROMOTED_AT))

    @property
    def is_full(self) -> bool:
        """Trained by a default (non-quick) run and accurate enough to serve."""
        accuracy = float(self.metadata.get("test_accuracy", 0.0))
        return self.metadata.get("mode") == FULL_MODE and accuracy >= MIN_FULL_ACCURACY

    @property
    def fits_preprocessing(self) -> bool:
        """Trained on the images the service's current preprocessing makes."""
        return self.metadata.get("preprocessing_version") == PREPROCESSING_VERSION

    @property
    def has_litert(self) -> bool:
        """Holds the LiteRT file the service loads."""
        return (Path(self.path) / LITERT_FILE).is_file()

    @property
    def is_servable(self) -> bool:
        """Full, accurate, trained for the current preprocessing, with its LiteRT file."""
        return self.is_full and self.fits_preprocessing and self.has_litert


def save_model(
    name: str,
    model: keras.Model,
    metadata: dict[str, Any],
    labels: dict[str, str],
    files: Sequence[Path] = (),
) -> str:
    """Store the inference model as a new version of ``name``.

    Args:
        name: Model name in the store (``settings.model_name``).
        model: The inference model (without augmentation layers).
        metadata: JSON-like values describing the run and its evaluation.
        labels: Short string labels (filterable in ``bentoml models list``).
        files: More files for the model's directory (the LiteRT file the service loads).

    Returns:
        The new tag, ``name:version``. It is a candidate (label ``stage``) until
        :func:`promote` makes it the served model.
    """
    labels = {**labels, STAGE: "candidate"}
    with bentoml.models.create(name, labels=labels, metadata=metadata) as stored:
        model.save(os.path.join(stored.path, KERAS_FILE))
        for path in files:
            shutil.copy2(path, stored.path_of(path.name))
    return str(stored.tag)


def find_model(name: str, version: str = PROMOTED) -> StoredModel | None:
    """The model ``name:version`` from the store (``promoted``: the served one), or None."""
    try:
        found = bentoml.models.get(served_tag(name, version))
    except (bentoml.exceptions.NotFound, LookupError):
        return None
    return _stored(found)


def _stored(found: bentoml.Model) -> StoredModel:
    info = found.info
    return StoredModel(str(found.tag), found.path, dict(info.metadata), dict(info.labels))


def promote(tag: str, now: datetime | None = None) -> StoredModel:
    """Make ``tag`` the served model: label it ``stage=production`` with ``promoted_at``.

    The model promoted before it is relabelled ``stage=retired`` (its ``promoted_at`` stays,
    older: promoting it again is how to roll back). Labels live in each version's
    ``model.yaml``, which is rewritten atomically; the service reads them at start-up.
    """
    model = bentoml.models.get(tag)
    previous = find_model(model.tag.name)
    stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    promoted = set_labels(str(model.tag), {STAGE: "production", PROMOTED_AT: stamp})
    if previous is not None and previous.tag != promoted.tag:
        set_labels(previous.tag, {STAGE: "retired"})
    return promoted


def set_labels(tag: str, labels: dict[str, str]) -> StoredModel:
    """Add or replace labels of a stored model (BentoML has no call for it: its model.yaml).

    Raises:
        bentoml.exceptions.NotFound: no such model.
    """
    import yaml

    model = bentoml.models.get(tag)
    path = Path(model.path) / "model.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["labels"] = {**(document.get("labels") or {}), **labels}
    scratch = path.with_name(f".model.yaml.{os.getpid()}")
    scratch.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    os.replace(scratch, path)
    return _stored(bentoml.models.get(tag))


def list_models(name: str) -> list[StoredModel]:
    """All versions of ``name``, newest first."""
    try:
        found = bentoml.models.list(name)
    except bentoml.exceptions.NotFound:
        return []
    found = sorted(found, key=lambda m: m.creation_time, reverse=True)
    return [_stored(m) for m in found]


def import_archive(path: Path = ARCHIVE) -> StoredModel:
    """Import a ``bentoml models export`` archive into the store (a no-op if already there)."""
    try:
        imported = bentoml.models.import_model(str(path))
    except bentoml.exceptions.BentoMLException as exc:
        if "already exists" not in str(exc):
            raise
        imported = bentoml.models.get(_archive_tag(path))
    return _stored(imported)


def export_archive(tag: str, path: Path = ARCHIVE) -> Path:
    """Write the model ``tag`` as an archive (what ``make model-archive`` ships)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    bentoml.models.export_model(tag, str(path))
    return path


def _archive_tag(path: Path) -> str:
    """The tag recorded in an archive's model.yaml."""
    import tarfile

    import yaml

    with tarfile.open(path) as archive:
        # BentoML writes its members as "./model.yaml"; accept the bare name too.
        names = [n for n in archive.getnames() if n.removeprefix("./") == "model.yaml"]
        member = archive.extractfile(names[0]) if names else None
        if member is None:
            raise ValueError(f"{path} holds no model.yaml")
        info = yaml.safe_load(member)
    return f"{info['name']}:{info['version']}"


def copy_baseline(store_home: Path, destination: Path, name: str = "mnist_cnn") -> Path:
    """Copy the newest ``name`` of another BentoML store as a plain baseline folder.

    The folder holds ``model.keras`` and ``metadata.json`` (that model's BentoML metadata): what
    ``make evaluate`` needs to score the version-1 pipelines with the version-1 model, without
    putting that model into the store the service serves from.
    """
    import json
    import shutil

    import yaml

    versions = sorted(
        (store_home / "models" / name).glob("*/model.yaml"), key=lambda p: p.stat().st_mtime
    )
    if not versions:
        raise FileNotFoundError(f"no {name} model in {store_home}")
    newest = versions[-1].parent
    info = yaml.safe_load(versions[-1].read_text())
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy2(newest / KERAS_FILE, destination / KERAS_FILE)
    document = {"tag": f"{info['name']}:{info['version']}", **info.get("metadata", {})}
    (destination / "metadata.json").write_text(json.dumps(document, indent=2) + "\n")
    return destination


def main(argv: list[str] | None = None) -> int:
    """``python -m training.store``: ``--export [TAG]``, ``--promote TAG``, ``--baseline S D``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m training.store")
    parser.add_argument("--export", nargs="?", const=f"mnist_cnn:{PROMOTED}", metavar="TAG")
    parser.add_argument("--promote", metavar="TAG", help="serve this model from now on")
    parser.add_argument("--baseline", nargs=2, type=Path, metavar=("STORE", "DEST"))
    args = parser.parse_args(argv)
    if args.baseline:
        print(copy_baseline(*args.baseline))
        return 0
    if args.promote:
        promoted = promote(args.promote)
        print(f"{promoted.tag} promoted at {promoted.labels[PROMOTED_AT]}")
        return 0
    if not args.export:
        parser.error("nothing to do: pass --export [TAG], --promote TAG or --baseline STORE DEST")
    name, _, version = args.export.partition(":")
    model = bentoml.models.get(served_tag(name, version or "latest"))
    path = export_archive(str(model.tag))
    print(f"{model.tag} -> {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
