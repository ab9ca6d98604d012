"""The original student design, re-implemented faithfully as the benchmark's baseline.

One Flask process (the development server, threaded, as ``app.run`` starts it): each upload to
``POST /upload`` (field ``image01``) is saved to disk, reopened with Pillow, converted to
grayscale and resized to 28x28 (no MNIST-style normalisation), classified with
``model.predict`` one image at a time, and recorded with a synchronous Cassandra ``INSERT``
before the answer ``"<digit>. success"`` goes back. Same Keras model file as the service.

Uploads stay on disk, as in the original (the benchmark empties the directory afterwards); the
random prefix only keeps concurrent uploads of one file name from clobbering each other. It exists
to be measured, not deployed: no input validation, no size limits.

Usage: python -m benchmarks.baselines.flask_app --model PATH/model.keras --port 5000
"""

from __future__ import annotations

import argparse
import logging
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from flask import Flask, request
from PIL import Image
from werkzeug.utils import secure_filename

UPLOAD_DIR = Path("var/baseline/uploads")


def create_app(model_path: Path, cassandra_host: str, keyspace: str, upload_dir: Path) -> Flask:
    """The Flask app with the model loaded and the Cassandra session open, as the original."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    from cassandra.cluster import Cluster

    model = keras.saving.load_model(model_path, compile=False)
    session = Cluster([cassandra_host], protocol_version=5).connect()
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {keyspace}.predictions "
        "(id uuid PRIMARY KEY, filename text, digit int, created_at timestamp)"
    )
    insert = session.prepare(
        f"INSERT INTO {keyspace}.predictions (id, filename, digit, created_at) VALUES (?, ?, ?, ?)"
    )
    upload_dir.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__)

    @app.route("/upload", methods=["POST"])
    def upload() -> tuple[str, int]:
        file: Any = request.files["image01"]
        path = upload_dir / (uuid.uuid4().hex + "-" + secure_filename(file.filename or "x"))
        file.save(path)
        image = Image.open(path).convert("L").resize((28, 28))
        pixels = np.array(image).reshape(1, 28, 28, 1).astype("float32") / 255.0
        digit = int(np.argmax(model.predict(pixels, verbose=0)))
        session.execute(insert, (uuid.uuid4(), file.filename, digit, datetime.now(UTC)))
        return f"{digit}. success\n", 200

    @app.route("/healthz")
    def healthz() -> tuple[str, int]:
        return "ok\n", 200

    return app


def main() -> None:
    """Serve the baseline on 127.0.0.1 with Flask's built-in threaded server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="The model.keras file")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--cassandra", default="127.0.0.1", help="Cassandra contact point")
    parser.add_argument("--keyspace", default="mnist_baseline")
    parser.add_argument("--upload-dir", type=Path, default=UPLOAD_DIR)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app(args.model, args.cassandra, args.keyspace, args.upload_dir)
    app.run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
