# One image for every role (both bridges, the worker, the sandboxes): the command picks the role.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY kafkaclients kafkaclients
COPY deadletters deadletters
COPY adapters adapters
COPY gateways gateways
COPY streams streams
COPY emulators emulators
COPY devstack devstack
COPY telemetry telemetry
COPY bench bench
COPY analytics analytics
COPY console console
RUN pip install --no-cache-dir . \
    && mkdir /data && chown 10001:10001 /data
# The chart runs it as uid 10001 with a read-only root: Faust's table state goes to /data (a volume).
USER 10001:10001
ENV LEC_DATA_DIR=/data PYTHONUNBUFFERED=1
CMD ["python", "-m", "streams"]
