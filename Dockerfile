# Production image: one image for every role (deploy/docker-entrypoint.sh):
#   docker run IMAGE serve | worker | run-schedule | call-reminders | migrate | backup DIR ...
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LIFECERT_DATA_DIR=/data LIFECERT_STATIC_DIR=/srv/lifecert/static LIFECERT_LOG_FORMAT=json

# dlib-bin wheels need the C++ runtime and OpenBLAS only; nothing is compiled here. pg_dump
# and pg_restore are for lifecert backup / restore.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libstdc++6 libgomp1 libopenblas0 \
       postgresql-client \
    && rm -rf /var/lib/apt/lists/*

# Installed as a package (not editable), then the sources are removed: what runs is what was
# installed, and `python -m dramatiq app.worker` cannot pick up a stray copy from this folder.
WORKDIR /build
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY biometrics ./biometrics
COPY models ./models
COPY migrations ./migrations
RUN pip install --no-cache-dir . \
    && pip install --no-cache-dir --no-deps face-recognition==1.3.0 \
    && cd / && rm -rf /build

WORKDIR /srv/lifecert
COPY static ./static
COPY deploy/docker-entrypoint.sh /usr/local/bin/lifecert-entrypoint
RUN useradd --system --home /srv/lifecert lifecert && mkdir -p /data && chown lifecert /data
USER lifecert
VOLUME /data
EXPOSE 8000
# Production needs LIFECERT_ENV=production, LIFECERT_SECRET_KEY, LIFECERT_DATABASE_URL,
# LIFECERT_OTP_SENDER and LIFECERT_MEDIA_MASTER_KEY (kept outside /data and its backups);
# deploy/systemd/lifecert.env.example lists the rest.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["lifecert-entrypoint", "healthcheck"]
ENTRYPOINT ["lifecert-entrypoint"]
CMD ["serve"]
