# Offline stand-in for the upstream python:3.11-slim image (Debian bookworm + CPython 3.11), built
# by docker/standins.sh FROM a debootstrap root file system only when the real image cannot be pulled.
# It adds what BentoML's generated Dockerfile expects, so that Dockerfile runs unchanged:
#   - the Debian packages the Bento's first RUN installs (then that step only re-checks them),
#   - uv on PATH (the Bento skips `pip install uv`),
#   - a wheelhouse of the pinned runtime packages with uv and pip pointed at it and kept offline.
ARG BASE_IMAGE=digits-standin/bookworm:minbase
FROM ${BASE_IMAGE}

ENV LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive

RUN apt-get update \
    && apt-get install -q -y --no-install-recommends \
        python3.11 python3.11-venv python3-pip ca-certificates gnupg2 bash build-essential git curl \
    && rm -rf /var/lib/apt/lists/* \
    && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED \
    && ln -s /usr/bin/python3.11 /usr/local/bin/python \
    && ln -s /usr/bin/python3.11 /usr/local/bin/python3

COPY wheelhouse /opt/wheelhouse

ENV UV_FIND_LINKS=/opt/wheelhouse \
    UV_OFFLINE=1 \
    UV_PYTHON_DOWNLOADS=never \
    PIP_FIND_LINKS=/opt/wheelhouse \
    PIP_NO_INDEX=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python3.11 -m pip install --no-cache-dir uv && uv --version

CMD ["python3"]
