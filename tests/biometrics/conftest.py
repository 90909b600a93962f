"""Shared fixtures for the face library tests: fixture photo paths and one dlib engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from biometrics import DecodeLimits, DlibFaceEngine, QualityPolicy

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    assert FIXTURES.is_dir(), f"shared fixtures missing at {FIXTURES}"
    return FIXTURES


@pytest.fixture(scope="session")
def engine(face_engine: DlibFaceEngine) -> DlibFaceEngine:
    """The real engine, remembering its answers for the run: the same one the service tests
    get (tests/conftest.py, tests/engines.py)."""
    return face_engine


@pytest.fixture(scope="session")
def limits() -> DecodeLimits:
    return DecodeLimits()


@pytest.fixture(scope="session")
def selfie() -> QualityPolicy:
    return QualityPolicy.selfie()
