# syntax=docker/dockerfile:1
# Mardonar's Discord bot. Build: `docker compose build` (or `docker build -t mardonar .`).
# Operating it (volumes, health, upgrade, backup): docs/operations.md.

ARG PYTHON_VERSION=3.12

# ---------------------------------------------------------------- builder
# Builds the mardonar wheel and collects wheels for every dependency, so the runtime image
# installs from local files only and carries no build tools.
FROM python:${PYTHON_VERSION}-slim AS builder

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mardonar ./mardonar
RUN python -m pip wheel --wheel-dir /wheels .

# ---------------------------------------------------------------- runtime
FROM python:${PYTHON_VERSION}-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed uid, so an operator can `chown -R 10001:10001` a bind-mounted data folder.
RUN groupadd --system --gid 10001 mardonar \
 && useradd --system --uid 10001 --gid mardonar --create-home --home-dir /home/mardonar \
      --shell /usr/sbin/nologin mardonar

RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m pip install --no-index --find-links=/wheels mardonar

# The content the bot plays: the repository root is the folder holding persona.yaml.
# Mount your own over these (read-only is fine) to change them without a rebuild.
WORKDIR /app
COPY persona.yaml party.yaml ./
COPY specs ./specs
COPY lore ./lore

# Created before VOLUME so a fresh named volume starts owned by the bot's user.
RUN mkdir -p /data && chown mardonar:mardonar /data

# The health server listens on every address of the container (its loopback is not the
# host's), so `-p 127.0.0.1:8080:8080` reaches it; outside a container it is 127.0.0.1.
ENV DATA_DIR=/data \
    LOG_LEVEL=info \
    MARDONAR_HEALTH_HOST=0.0.0.0
VOLUME ["/data"]

USER mardonar
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["mardonar", "serve", "discord", "--health-port", "8080"]
