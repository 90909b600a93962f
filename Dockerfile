# Production image: the API service (and, later, queue workers) on Python 3.11.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LIFECERT_DATA_DIR=/data
WORKDIR /srv/lifecert

# dlib-bin wheels need the C++ runtime and OpenBLAS only; nothing is compiled here.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libstdc++6 libgomp1 libopenblas0 \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY biometrics ./biometrics
COPY models ./models
COPY migrations ./migrations
COPY static ./static
RUN pip install --no-cache-dir -e . \
    && pip install --no-cache-dir --no-deps face-recognition==1.3.0

RUN useradd --system --home /srv/lifecert lifecert && mkdir -p /data && chown lifecert /data
USER lifecert
VOLUME /data
EXPOSE 8000
# Production needs LIFECERT_ENV=production, LIFECERT_SECRET_KEY, LIFECERT_DATABASE_URL,
# LIFECERT_OTP_SENDER and LIFECERT_MEDIA_MASTER_KEY (kept outside /data and its backups).
CMD ["sh", "-c", "lifecert migrate && lifecert serve --host 0.0.0.0 --port 8000"]
