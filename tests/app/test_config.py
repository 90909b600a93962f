"""Settings: embedded development defaults, and production refusing placeholder secrets."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings, new_media_key

MEDIA_KEY = new_media_key()
AUDIT_KEY = "a" * 12 + "udit-key-for-tests-0123456789"


def test_development_defaults_use_files_under_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'lifecert.db'}"
    assert settings.resolved_media_dir == tmp_path / "media"


def test_development_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    key = Settings(data_dir=tmp_path).signing_key
    assert len(key) >= 32
    assert Settings(data_dir=tmp_path).signing_key == key
    mode = (tmp_path / "secret_key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


@pytest.mark.parametrize("secret", ["", "changeme", "short-key"])
def test_production_refuses_missing_or_placeholder_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="LIFECERT_SECRET_KEY"):
        Settings(env="production", secret_key=secret, database_url="postgresql+psycopg://x/y")


def test_production_needs_a_database_url() -> None:
    with pytest.raises(ValidationError, match="LIFECERT_DATABASE_URL"):
        Settings(env="production", secret_key="k" * 48)


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFECERT_ENV", "production")
    monkeypatch.setenv("LIFECERT_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("LIFECERT_DATABASE_URL", "postgresql+psycopg://db/lifecert")
    monkeypatch.setenv("LIFECERT_OTP_SENDER", "sms_gateway.client:make_sender")
    monkeypatch.setenv("LIFECERT_MEDIA_MASTER_KEY", MEDIA_KEY)
    monkeypatch.setenv("LIFECERT_AUDIT_KEY", AUDIT_KEY)
    monkeypatch.setenv("LIFECERT_CERTIFICATION_PERIOD_MONTHS", "6")
    settings = Settings()
    assert settings.certification_period_months == 6
    assert settings.signing_key == "s" * 40


def test_production_refuses_the_outbox_sms_sender() -> None:
    with pytest.raises(ValidationError, match="LIFECERT_OTP_SENDER"):
        Settings(
            env="production",
            secret_key="k" * 48,
            database_url="postgresql+psycopg://x/y",
            media_master_key=MEDIA_KEY,
            audit_key=AUDIT_KEY,
        )
    settings = Settings(
        env="production",
        secret_key="k" * 48,
        database_url="postgresql+psycopg://x/y",
        otp_sender="sms_gateway.client:make_sender",
        media_master_key=MEDIA_KEY,
        audit_key=AUDIT_KEY,
    )
    assert settings.otp_sender == "sms_gateway.client:make_sender"
    assert Settings(env="development").otp_sender == "outbox"


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert Settings(trusted_proxies=["10.0.0.0/8", "127.0.0.1"]).trusted_proxies
    with pytest.raises(ValidationError, match="not an IP address"):
        Settings(trusted_proxies=["proxy.example.org"])


def test_production_refuses_to_start_without_a_media_master_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="LIFECERT_MEDIA_MASTER_KEY must be set"):
        Settings(
            env="production",
            secret_key="k" * 48,
            database_url="postgresql+psycopg://x/y",
            otp_sender="sms_gateway.client:make_sender",
        )
    environment = {
        **os.environ,
        "LIFECERT_ENV": "production",
        "LIFECERT_DATA_DIR": str(tmp_path),
        "LIFECERT_SECRET_KEY": "s" * 48,
        "LIFECERT_DATABASE_URL": "postgresql+psycopg://db/lifecert",
        "LIFECERT_OTP_SENDER": "sms_gateway.client:make_sender",
    }
    environment.pop("LIFECERT_MEDIA_MASTER_KEY", None)
    lifecert = Path(sys.executable).parent / "lifecert"
    started = subprocess.run(
        [str(lifecert), "serve"], env=environment, capture_output=True, text=True, timeout=30
    )
    assert started.returncode == 2
    assert "LIFECERT_MEDIA_MASTER_KEY must be set" in started.stderr
    assert "Traceback" not in started.stderr
    assert not (tmp_path / "media_master_key").exists()  # nothing generated beside the data


def test_old_media_keys_that_are_not_a_json_list_are_a_clear_error(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "LIFECERT_DATA_DIR": str(tmp_path),
        "LIFECERT_MEDIA_OLD_MASTER_KEYS": new_media_key(),  # one key, not a list
    }
    lifecert = Path(sys.executable).parent / "lifecert"
    ran = subprocess.run(
        [str(lifecert), "media", "verify"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ran.returncode == 2
    assert '"media_old_master_keys"' in ran.stderr and "Traceback" not in ran.stderr


@pytest.mark.parametrize(
    "key", ["short", "x" * 44, new_media_key()[:-4]], ids=["short", "not_base64", "truncated"]
)
def test_a_malformed_media_key_is_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="LIFECERT_MEDIA_MASTER_KEY must be 32 random"):
        Settings(media_master_key=key)
    with pytest.raises(ValidationError, match=r"LIFECERT_MEDIA_OLD_MASTER_KEYS\[1\]"):
        Settings(media_old_master_keys=[new_media_key(), key])


def test_a_damaged_development_key_file_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "media_master_key").write_text("not a key\n")
    with pytest.raises(ValueError, match="media_master_key: a media master key must be"):
        Settings(data_dir=tmp_path).ensure_dirs()


def test_production_refuses_to_start_without_an_audit_key(tmp_path: Path) -> None:
    production = {
        "env": "production",
        "data_dir": tmp_path,
        "secret_key": "k" * 48,
        "database_url": "postgresql+psycopg://x/y",
        "otp_sender": "sms_gateway.client:make_sender",
        "media_master_key": MEDIA_KEY,
    }
    with pytest.raises(ValidationError, match="LIFECERT_AUDIT_KEY must be set"):
        Settings(**production)  # type: ignore[arg-type]
    assert not (tmp_path / "audit_key").exists()  # nothing generated beside the data
    settings = Settings(**production, audit_key=AUDIT_KEY)  # type: ignore[arg-type]
    assert settings.audit_signing_key == AUDIT_KEY.encode()


@pytest.mark.parametrize("key", ["short", "changeme", " " + "x" * 20 + " "])
def test_a_weak_audit_key_is_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="LIFECERT_AUDIT_KEY must be a random value"):
        Settings(audit_key=key)


def test_development_audit_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    key = Settings(data_dir=tmp_path).audit_signing_key
    assert len(key) >= 32
    assert Settings(data_dir=tmp_path).audit_signing_key == key
    assert stat.S_IMODE((tmp_path / "audit_key").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["audit_key"]  # no draft left behind
    assert Settings(data_dir=tmp_path / "other").audit_signing_key != key
