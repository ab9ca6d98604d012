# Offline stand-in for the upstream python:3.11-slim image (Debian bookworm + CPython 3.11), built
# by docker/standins.sh FROM a debootstrap root file system only when the real image cannot be pulled.
# Like the real image it holds Python and CA certificates, and no compilers; it adds uv on PATH (the
# Bento's Dockerfile then skips `pip install uv`). uv comes from the host's wheelhouse, served on the
# build host's loopback for this build only (docker build --network host, PIP_FIND_LINKS): no wheel
# stays in the image.
ARG BASE_IMAGE=digits-standin/bookworm:minbase
FROM ${BASE_IMAGE}

ENV LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive

RUN apt-get update \
    && apt-get install -q -y --no-install-recommends \
        python3.11 python3.11-venv python3-pip ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED \
    && ln -s /usr/bin/python3.11 /usr/local/bin/python \
    && ln -s /usr/bin/python3.11 /usr/local/bin/python3

ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX=1
COPY uv-requirement.txt /tmp/uv-requirement.txt
RUN python3.11 -m pip install --no-cache-dir -r /tmp/uv-requirement.txt \
    && rm /tmp/uv-requirement.txt && uv --version

ENV UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1

CMD ["python3"]
