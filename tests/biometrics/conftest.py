"""Shared fixtures for the face library tests: fixture photo paths and one dlib engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from biometrics import DecodeLimits, DlibFaceEngine, QualityPolicy
from tests.engines import MemoFaceEngine

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    assert FIXTURES.is_dir(), f"shared fixtures missing at {FIXTURES}"
    return FIXTURES


@pytest.fixture(scope="session")
def engine() -> DlibFaceEngine:
    """The real engine, remembering its answers for the run (tests/engines.py)."""
    return MemoFaceEngine(DlibFaceEngine())  # type: ignore[return-value]


@pytest.fixture(scope="session")
def limits() -> DecodeLimits:
    return DecodeLimits()


@pytest.fixture(scope="session")
def selfie() -> QualityPolicy:
    return QualityPolicy.selfie()
