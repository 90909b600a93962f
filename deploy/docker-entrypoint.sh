#!/bin/sh
# The image's entry point: one image, either role.
#   serve    migrate the database, then serve the API on :8000 (LIFECERT_SERVE_WORKERS processes)
#   worker   run certification jobs from Redis (LIFECERT_WORKER_PROCESSES processes)
#   healthcheck  what HEALTHCHECK runs: the API answers /healthz, or the worker is running
#   anything else: a lifecert command (migrate, run-schedule, call-reminders, backup DIR, ...)
set -eu
role="${1:-serve}"
case "$role" in
serve)
    lifecert migrate
    exec lifecert serve --host 0.0.0.0 --port 8000 --workers "${LIFECERT_SERVE_WORKERS:-2}"
    ;;
worker)
    exec lifecert worker --processes "${LIFECERT_WORKER_PROCESSES:-2}"
    ;;
healthcheck)
    if tr '\0' ' ' < /proc/1/cmdline | grep -q dramatiq; then
        exit 0
    fi
    exec python -c 'import sys, urllib.request
try:
    urllib.request.urlopen("http://127.0.0.1:8000/healthz", timeout=4)
except Exception as exc:
    sys.exit(f"unhealthy: {exc}")'
    ;;
*)
    exec lifecert "$@"
    ;;
esac
