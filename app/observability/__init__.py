"""Metrics (Prometheus) and structured logs (JSON lines with a request id)."""
