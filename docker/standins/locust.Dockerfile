# Offline stand-in for the upstream locustio/locust image, built by docker/standins.sh FROM the
# python:3.11-slim (stand-in) only when the real image cannot be pulled. Same contract: Locust on
# PATH as the entrypoint, user locust (uid 1000), work dir /home/locust, ports 8089 and 5557.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

COPY wheelhouse /tmp/locust-wheels
RUN pip install --no-cache-dir --no-index --find-links /tmp/locust-wheels -r /tmp/locust-wheels/requirements.txt \
    && rm -rf /tmp/locust-wheels \
    && useradd --create-home --uid 1000 locust

WORKDIR /home/locust
USER locust
EXPOSE 8089 5557
ENTRYPOINT ["locust"]
