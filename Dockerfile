# One image for every asyncml role; the command picks it (audio.transcribe workers: build
# with --build-arg EXTRAS=ops,speech):
#   api (default) | worker --queues audio | flower | up (everything, embedded broker and store)
# Build: docker build -t asyncml .    Extras baked in: --build-arg EXTRAS=ops (Flower)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: a virtual environment with asyncml and its dependencies ---------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
ARG EXTRAS=ops
# Dependencies first, in their own layer: a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import os, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = [e for e in os.environ.get('EXTRAS', '').split(',') if e]; \
print('\n'.join(p['dependencies'] + [d for e in extras for d in p['optional-dependencies'][e]]))" \
    > /tmp/requirements.txt \
 && pip install --requirement /tmp/requirements.txt
COPY README.md ./
COPY src ./src
RUN pip install --no-deps . \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

# ---- runtime: the environment only, run by an unprivileged user --------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="asyncml" \
      org.opencontainers.image.description="Asynchronous ML inference: FastAPI API, Celery workers, Redis job store" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ASYNCML_HOST=0.0.0.0 \
    ASYNCML_DATA_DIR=/data
RUN groupadd --system --gid 10001 asyncml \
 && useradd --system --uid 10001 --gid asyncml --home-dir /data --shell /usr/sbin/nologin asyncml \
 && mkdir /data \
 && chown asyncml:asyncml /data
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /data
EXPOSE 5000 5555
ENTRYPOINT ["asyncml"]
CMD ["api"]
