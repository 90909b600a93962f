"""Alembic migrations of the lifecert schema."""
