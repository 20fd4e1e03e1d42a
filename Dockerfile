# Two images from one file.
#   connector (the default, last stage): both bridges, the worker and their tools, nothing else. The command picks
#     the role: lec-worker (the default), lec-bridge channel|liveengage, lec-dead-letters, ... (README, "Releases").
#   sandbox (--target sandbox): the same, plus the LiveEngage and channel sandboxes and the sandbox console, for
#     trials and docker-compose. Never deploy it against a real account: the sandboxes play LiveEngage.
# `make image` builds both with the version and revision in their labels; by hand:
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t lec-connector:0.1.0 .
FROM python:3.11-slim AS base
WORKDIR /app
# The dependencies exactly as locked, with their hashes (`make lock`): a rebuild installs the same files.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock \
    && mkdir /data && chown 10001:10001 /data
ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="lec-connector" \
      org.opencontainers.image.description="LiveEngage Connector API bridge for messaging channels, on Kafka" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# The chart runs it as uid 10001 with a read-only root: the worker's table state goes to /data (a volume).
ENV LEC_DATA_DIR=/data PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY kafkaclients kafkaclients
COPY deadletters deadletters
COPY adapters adapters
COPY gateways gateways
COPY streams streams
COPY telemetry telemetry
COPY analytics analytics

FROM base AS sandbox
COPY emulators emulators
COPY console console
RUN pip install --no-cache-dir --no-deps --no-build-isolation .
USER 10001:10001
CMD ["lec-worker"]

FROM base AS connector
# The sandboxes' commands come with the package's metadata; their code is not in this image, so neither are they.
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && rm /usr/local/bin/lec-sandbox-*
USER 10001:10001
CMD ["lec-worker"]
