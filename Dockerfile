# Image of the bridge (`pulse-bridge`) and the worker (`pulse-worker`); docker-compose.yml picks the command.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bridge ./bridge
COPY schemas ./schemas
COPY stack ./stack
COPY streams ./streams
RUN pip install --no-cache-dir .

# Faust keeps its RocksDB tables under the working folder.
WORKDIR /var/lib/pulse-ingest
CMD ["pulse-worker"]
