# syntax=docker/dockerfile:1.7
# One image for every Siar service; the command chooses which one runs:
#   python -m siar_scheduler | siar_publisher | siar_sandbox    a service
#   python -m siar_runtime.migrate                             the one-shot migrations
#   python -m siar_devstack.demo                               the one-shot demo data
# Built from uv.lock exactly (uv sync --frozen --no-dev); see compose.yaml and docs/operations.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13

FROM ${UV_IMAGE} AS uv

# ---- build: resolve nothing, install exactly what the lock file says ----
FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# Third-party dependencies first: this layer changes only when uv.lock does.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-dev --no-install-workspace

# Then Siar's own packages, installed into the environment (not linked to the sources).
COPY pyproject.toml uv.lock ./
COPY packages packages
COPY services services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# Every service's SQL migrations, for python -m siar_runtime.migrate.
RUN mkdir -p /out && find services -path '*/migrations/*.sql' -exec cp --parents {} /out/ \;

# ---- runtime: the environment and the migrations, nothing else, as a user without privileges ----
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 siar \
 && useradd --system --uid 10001 --gid siar --home-dir /app --no-create-home --shell /usr/sbin/nologin siar
COPY --from=build --chown=root:root /app/.venv /app/.venv
COPY --from=build --chown=root:root /out/services /app/services
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SIAR_MIGRATIONS_ROOT=/app \
    SIAR_HTTP_HOST=0.0.0.0
WORKDIR /app
USER 10001:10001
EXPOSE 8001 8002 8003 8004 8010
CMD ["python", "-c", "raise SystemExit('choose a command: python -m siar_scheduler | siar_publisher | siar_metrics | siar_feedback | siar_sandbox | siar_runtime.migrate | siar_devstack.demo')"]
