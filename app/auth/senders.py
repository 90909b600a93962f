"""Pluggable delivery of login codes to a pensioner's phone."""

from __future__ import annotations

import importlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from app.config import Settings

log = logging.getLogger(__name__)


class OtpSender(Protocol):
    def send(self, *, phone: str, message: str) -> None: ...


class OutboxSender:
    """Development sender: the text message goes to the log and to a file in the outbox folder."""

    def __init__(self, outbox_dir: Path) -> None:
        self.outbox_dir = outbox_dir

    def send(self, *, phone: str, message: str) -> None:
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        digits = "".join(c for c in phone if c.isdigit()) or "unknown"
        (self.outbox_dir / f"{stamp}-{digits}.txt").write_text(
            f"To: {phone}\n\n{message}\n", encoding="utf-8"
        )
        log.info("SMS to %s: %s", phone, message)


def make_sender(settings: Settings) -> OtpSender:
    """`outbox`, or `package.module:factory` where factory(settings) returns an OtpSender."""
    if settings.otp_sender == "outbox":
        return OutboxSender(settings.outbox_dir)
    module_name, _, attr = settings.otp_sender.partition(":")
    if not attr:
        raise ValueError("LIFECERT_OTP_SENDER must be 'outbox' or 'package.module:factory'")
    factory = getattr(importlib.import_module(module_name), attr)
    sender: OtpSender = factory(settings)
    return sender


def code_message(*, code: str, minutes: int, language: str) -> str:
    if language == "en":
        return (
            f"[lifecert] Your login code is {code}. It is valid for {minutes} minutes. "
            "Do not tell anyone this code."
        )
    return f"【养老金资格认证】您的登录验证码是 {code}，{minutes} 分钟内有效。请勿告诉他人。"
