# bankrisk serving image: FastAPI + Uvicorn + numpy and the champion bundle, nothing else.
# No TensorFlow, scikit-learn, MLflow, pandas, compilers or data: the bundle scores with numpy.
#
#   make image [VERSION=N]                     # fetches the bundle if missing, then builds
#   docker build --build-arg MODEL_VERSION=7 -t bankrisk:dev .
#   docker build --build-arg FEATURES=true -t bankrisk:features .   # with Feast (by-id scoring)
#   docker build --build-arg CONSOLE=true -t bankrisk:console .      # also the analyst console
#       (run it beside the API: docker run ... --entrypoint bankrisk bankrisk:console console
#        --model-dir /app/model --host 0.0.0.0 --port 8080)
#
# The build context is an allowlist (.dockerignore); models/champion/ must hold the bundle.
# No `# syntax=` line on purpose: it would pull a frontend image (none can be pulled offline).

# ---------------------------------------------------------------------------------------
# builder: a venv with the hash-pinned serving dependencies (wheels only), then the project.
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build
# binutils only for `strip` below; this stage is thrown away, the runtime never has it.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv

# Dependencies first: this layer is reused until the requirements change. The default image
# has no feature-store client; `--build-arg FEATURES=true` adds Feast (scoring by customer id,
# README "Feature store"; 40 more packages, pandas and pyarrow among them).
# `--build-arg CONSOLE=true` adds the analyst console's (`bankrisk console`: monitoring's pandas
# and scipy, Jinja2, Feast for look-ups by id); the scoring service in it is the same. Both
# files are uv.lock's whole closure, installed `--no-deps`: pip re-resolving Feast's
# `dask[dataframe]` would ask for an unpinned requirement, which --require-hashes refuses.
ARG FEATURES=false
ARG CONSOLE=false
COPY requirements/serve.txt requirements/serve-features.txt requirements/console.txt requirements/
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: \
        -r requirements/serve.txt \
    && if [ "$FEATURES" = true ]; then \
        /opt/venv/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: \
            --no-deps -r requirements/serve-features.txt; \
    fi \
    && if [ "$CONSOLE" = true ]; then \
        /opt/venv/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: \
            --no-deps -r requirements/console.txt; \
    fi

COPY pyproject.toml README.md ./
COPY src/ src/
# The project itself, without dependencies (they are all pinned above); then drop what the
# running service never imports (installers, test suites, onnxruntime's offline tooling), strip
# the debug symbols that uvloop and SQLAlchemy ship (uvloop's 14 MB extension is 2 MB stripped;
# not the auditwheel-patched libraries, which stripping breaks) and precompile the rest (the
# runtime user cannot write bytecode).
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-compile ./ \
    && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools \
    && find /opt/venv/lib -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} + \
    && rm -rf /opt/venv/lib/python3*/site-packages/onnxruntime/transformers \
        /opt/venv/lib/python3*/site-packages/onnxruntime/quantization \
        /opt/venv/lib/python3*/site-packages/onnxruntime/tools \
        /opt/venv/lib/python3*/site-packages/onnxruntime/datasets \
    && find /opt/venv/lib/python3*/site-packages/uvloop /opt/venv/lib/python3*/site-packages/sqlalchemy \
        -name '*.so' -type f -exec strip --strip-unneeded {} + \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# ---------------------------------------------------------------------------------------
# runtime: the slim base, the venv, the bundle, an unprivileged user.
FROM python:3.11-slim AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/bankrisk/bankrisk
ARG MODEL_NAME=bank-default-risk
ARG MODEL_VERSION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="bankrisk" \
      org.opencontainers.image.description="Credit-card default risk API (calibrated probability of default)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.bankrisk.model.name="${MODEL_NAME}" \
      io.bankrisk.model.version="${MODEL_VERSION}"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8080 \
    BANKRISK_MODEL_DIR=/app/model \
    BANKRISK_MODEL_VERSION=${MODEL_VERSION} \
    BANKRISK_DATA_DIR=/tmp/bankrisk
# The image's file system is read-only (run with --read-only and a tmpfs on /tmp, as the
# container test does): the default SQLite log and the writer's spool go under /tmp.

RUN groupadd --system --gid 10001 bankrisk \
    && useradd --system --uid 10001 --gid bankrisk --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin bankrisk

COPY --from=builder /opt/venv /opt/venv
# The bundle stays owned by root and read-only for the service user.
COPY models/champion/ /app/model/

WORKDIR /app
USER 10001:10001
EXPOSE 8080

# /ready answers 200 once the bundle is loaded (503 before); Cloud Run uses its own probes.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8080') + '/ready', timeout=2)"]

# Exec form: the server is PID 1 and gets SIGTERM directly. PORT (Cloud Run) sets the port.
ENTRYPOINT ["bankrisk", "serve"]
CMD ["--model-dir", "/app/model", "--host", "0.0.0.0"]
