"""Service settings: one pydantic-settings class read from LIFECERT_* environment variables."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import secrets
from enum import StrEnum
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development", "placeholder"}
MIN_SECRET_LENGTH = 32
MEDIA_KEY_BYTES = 32  # AES-256
MEDIA_KEY_HINT = (
    "32 random bytes in URL-safe base64 (generate one with `lifecert media generate-key`)"
)


def new_media_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(MEDIA_KEY_BYTES)).decode()


def parse_media_key(text: str) -> bytes:
    """The raw bytes of a master key for stored media; ValueError names what is wrong."""
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != MEDIA_KEY_BYTES:
        raise ValueError(f"a media master key must be {MEDIA_KEY_HINT}")
    return raw


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class EvidenceTier(StrEnum):
    strong = "strong"  # in person: a hospital visit, real-name travel
    weak = "weak"  # a card transaction, a benefit paid


class EvidenceRule(BaseModel):
    tier: EvidenceTier
    window_days: int = Field(ge=1, le=730)


class IceServer(BaseModel):
    """One RTCIceServer as the browser's RTCPeerConnection takes it."""

    urls: str | list[str]
    username: str | None = None
    credential: str | None = None


SliceDimension = Literal["region", "age_band", "sex"]
SLICE_DIMENSIONS: tuple[SliceDimension, ...] = ("region", "age_band", "sex")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIFECERT_", env_file=None, extra="ignore")

    env: Environment = Environment.development
    data_dir: Path = Path("var")
    database_url: str = ""  # empty: a SQLite file under data_dir
    # Requests of one process holding a database session at once (app.db.SessionSlots): under
    # the 40 server threads and 40 pooled connections. A request waits this long for a slot,
    # then gets 503 Overloaded with Retry-After.
    db_max_sessions: int = Field(default=30, ge=1, le=40)
    db_slot_wait_seconds: float = Field(default=10.0, ge=0.0, le=120.0)
    media_dir: Path | None = None  # None: data_dir / "media"
    # The web pages; None: the static/ folder beside the sources (a checkout). An installed
    # (non-editable) package names the copy it serves, e.g. the image's /srv/lifecert/static.
    static_dir: Path | None = None
    secret_key: str = ""  # empty in development: generated once and kept in data_dir
    # Photos, videos, key frames, call frames and consular scans are encrypted on disk with a
    # data key per file, wrapped by this master key (README "Biometric data at rest"). Empty
    # in development and tests: generated once and kept in data_dir; required in production.
    media_master_key: str = ""
    # Earlier master keys, still able to unwrap files until `lifecert media rotate-keys` has
    # re-wrapped them under the current one (JSON list in LIFECERT_MEDIA_OLD_MASTER_KEYS).
    media_old_master_keys: list[str] = Field(default_factory=list)
    # The audit chain's HMAC key (README "Security"): each event's hash is keyed with it, so
    # someone who can write to the database cannot rebuild the chain after editing it. Empty
    # in development and tests: generated once and kept in data_dir; required in production.
    audit_key: str = ""

    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=14, ge=1, le=365)
    pensioner_token_minutes: int = Field(default=30, ge=1, le=24 * 60)

    otp_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    otp_max_attempts: int = Field(default=5, ge=1, le=20)
    otp_rate_per_id: str = "3/10 minutes"
    otp_rate_per_client: str = "20/hour"
    otp_sender: str = "outbox"  # "outbox" or "module:attribute" of an OtpSender factory
    rate_limit_storage: str = "memory://"  # e.g. redis://127.0.0.1:6379/0 with several processes

    certification_period_months: int = Field(default=12, ge=1, le=60)
    reminder_days_before: int = Field(default=30, ge=1, le=180)
    # Overdue this many days, payment is suspended pending certification.
    overdue_grace_days: int = Field(default=60, ge=0, le=365)

    # Face matching (biometrics/matching.py: the score; biometrics/calibration.py: the bars).
    # The match bar is calibrated on the register (`lifecert faces calibrate`) for this
    # false-match rate, with this confidence in its upper bound; no score constant is set here.
    face_target_fmr: float = Field(default=0.001, gt=0.0, lt=0.5)
    face_calibration_confidence: float = Field(default=0.95, ge=0.5, lt=1.0)
    # `no_match` when a probe is no closer than this share of strangers (impostor quantile).
    face_no_match_quantile: float = Field(default=0.8, gt=0.0, lt=1.0)
    # Slices of the register calibrated on their own (each person gets the strictest bar).
    face_calibration_slices: list[SliceDimension] = Field(
        default_factory=lambda: list(SLICE_DIMENSIONS)
    )
    face_calibration_max_people: int = Field(default=3000, ge=20)  # sampled at scale
    face_tail_fraction: float = Field(default=0.1, gt=0.0, le=1.0)
    face_cohort_min: int = Field(default=20, ge=2)
    face_cohort_max: int = Field(default=5000, ge=20)  # sampled cohort size at national scale
    # Attempts this close below the match bar (impostor standard deviations) are embedded
    # again with this many jitters before they are decided.
    face_second_pass_margin: float = Field(default=1.0, ge=0.0)
    face_second_pass_jitters: int = Field(default=10, ge=1, le=100)
    # Two photos closer than this (dlib space) are one picture re-saved, not two looks: the
    # second is refused at enrolment. Different photos of one person lie far further apart.
    face_duplicate_max_distance: float = Field(default=0.06, ge=0.0, le=0.3)
    face_gallery_max_certification: int = Field(default=3, ge=0, le=20)
    # 1:N duplicate search (app/faces/index.py): two different pensioners' faces closer than
    # this become a duplicate case for staff. Calibrated on the fixtures' distances (README,
    # "Enrolment at scale"): no stranger pair of 174,378 lies below 0.35 (the closest, two
    # East-Asian strangers, at 0.351); copies of one photo lie at 0.1-0.25.
    face_duplicate_case_distance: float = Field(default=0.35, gt=0.0, lt=1.0)
    face_dedup_neighbours: int = Field(default=10, ge=1, le=100)
    # Bulk imports (`lifecert import-faces`, POST /faces/imports): an archive's declared total
    # size and each member's compression ratio are capped (a ZIP bomb is refused unread).
    face_import_max_archive_bytes: int = Field(default=8 * 1024**3, ge=1024)
    face_import_max_ratio: float = Field(default=100.0, ge=1.0)
    face_import_batch_size: int = Field(default=200, ge=1, le=10_000)
    # A selfie this far above the match bar (impostor standard deviations) may join the gallery.
    face_gallery_margin: float = Field(default=1.0, ge=0.0)
    max_photo_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    max_video_bytes: int = Field(default=60 * 1024 * 1024, ge=1024)

    # Remote self-certification attempts.
    challenge_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    # Each API process deletes expired resumable uploads this often (and any it touches).
    upload_purge_seconds: float = Field(default=60.0, gt=0.0, le=3600.0)
    challenge_seed: int | None = None  # only for reproducible tests; production uses the OS RNG
    attempts_failed_limit: int = Field(default=3, ge=1)
    attempts_lockout_hours: int = Field(default=24, ge=1)
    attempt_start_rate: str = "10/hour"
    selfie_check_rate: str = "30/minute"  # preview checks per attempt
    # Selfies, videos and key frames of decided attempts are deleted this long after the decision.
    media_retention_days: int = Field(default=90, ge=1, le=3650)
    # The other stored files, per kind (`lifecert media retention`, also run by run-schedule):
    # call frames this long after their call's last decision (kept while it awaits a second
    # staff member), consular scans after their verification or rejection (kept while
    # pending), photos retired from a gallery after retirement (kept while the pensioner has
    # an open review case).
    call_frame_retention_days: int = Field(default=365, ge=1, le=3650)
    consular_scan_retention_days: int = Field(default=365, ge=1, le=3650)
    retired_photo_retention_days: int = Field(default=90, ge=1, le=3650)
    # "inprocess": a pool of worker processes inside the service (no extra service needed);
    # "redis": jobs go to Redis and `lifecert worker` processes run them.
    job_backend: str = Field(default="inprocess", pattern="^(inprocess|redis)$")
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_namespace: str = "lifecert"
    # A worker that stops sending heartbeats this long is presumed dead and its unfinished
    # jobs are handed to another worker.
    redis_heartbeat_ms: int = Field(default=60_000, ge=1000)
    redis_maintenance_chance: int = Field(default=1000, ge=1, le=1_000_000)  # per million
    inprocess_workers: int = Field(default=1, ge=1, le=16)
    # Face work runs at this CPU niceness (0-19) in `lifecert worker` and the embedded pool, so
    # the API keeps answering on a machine whose cores the jobs would otherwise fill.
    worker_nice: int = Field(default=10, ge=0, le=19)
    job_lease_seconds: int = Field(default=300, ge=10)
    max_photo_pixels: int = Field(default=120_000_000, ge=1_000_000)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_import_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    max_import_rows: int = Field(default=100_000, ge=1)

    # Silent certification by data comparison (app/feeds, app/matching).
    feeds_dir: Path | None = None  # None: data_dir / "feeds"
    max_feed_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)  # one uploaded batch
    # Per feed type: "strong" evidence certifies alone, "weak" needs weak_evidence_days days.
    evidence_rules: dict[str, EvidenceRule] = Field(
        default_factory=lambda: {
            "hospital_visit": EvidenceRule(tier=EvidenceTier.strong, window_days=90),
            "insurance_claim": EvidenceRule(tier=EvidenceTier.weak, window_days=90),
            "air_travel": EvidenceRule(tier=EvidenceTier.strong, window_days=90),
            "rail_travel": EvidenceRule(tier=EvidenceTier.strong, window_days=90),
            "card_use": EvidenceRule(tier=EvidenceTier.weak, window_days=60),
            "benefit_payment": EvidenceRule(tier=EvidenceTier.weak, window_days=60),
        }
    )
    weak_evidence_days: int = Field(default=2, ge=1, le=31)
    # Death records from these authorities suspend payment; others only make candidates.
    trusted_death_sources: list[str] = Field(
        default_factory=lambda: ["public_security", "civil_affairs", "health_commission"]
    )
    recertify_within_days: int = Field(default=60, ge=0, le=366)  # certify silently when due
    name_match_threshold: float = Field(default=0.8, ge=0.5, le=1.0)  # Jaro-Winkler
    task_due_days: int = Field(default=30, ge=1)  # a prompt unanswered by then -> a visit
    payment_day: int = Field(default=10, ge=1, le=28)  # benefits are paid on this day monthly
    # Video-call certification (app/appointments, app/video_calls).
    video_slot_minutes: int = Field(default=20, ge=5, le=120)
    video_booking_notice_hours: int = Field(default=2, ge=0, le=24 * 14)  # book this far ahead
    video_change_notice_hours: int = Field(default=12, ge=0, le=24 * 14)  # cancel/reschedule
    video_booking_horizon_days: int = Field(default=28, ge=1, le=180)
    video_join_early_minutes: int = Field(default=10, ge=0, le=120)
    video_join_grace_minutes: int = Field(default=30, ge=0, le=24 * 60)  # after the slot ends
    # No-shows within a year that open a verification task (1: the first one does).
    video_no_show_limit: int = Field(default=2, ge=1, le=10)
    video_default_timezone: str = "Asia/Shanghai"
    # STUN/TURN servers for the browsers, e.g. [{"urls": "stun:stun.example.org:3478"},
    # {"urls": ["turn:turn.example.org"], "username": "u", "credential": "p"}]. None are
    # needed when both browsers are on one local network.
    ice_servers: list[IceServer] = Field(default_factory=list)
    # The service's own TURN relay (coturn with use-auth-secret and this static-auth-secret):
    # each room token carries credentials minted for its holder, valid until the call's window
    # closes (app/video_calls/turn.py). E.g. ["turn:turn.example.org:3478?transport=udp",
    # "turns:turn.example.org:5349?transport=tcp"].
    turn_secret: str = ""
    turn_urls: list[str] = Field(default_factory=list)
    # Signalling rooms of calls: "memory" keeps them in this process (one API process, or
    # sticky routing by call); "redis" shares them through LIFECERT_REDIS_URL, so the two
    # parties may reach different API processes.
    signalling: str = Field(default="memory", pattern="^(memory|redis)$")
    # A signalling connection must send its room token in its first message within this long.
    signal_auth_seconds: float = Field(default=10.0, gt=0.0, le=120.0)
    max_scan_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)  # consular certificates
    # GET /metrics answers only these addresses (IPs or CIDR networks, as the service sees the
    # client: behind a trusted proxy, the forwarded one) or a request bearing this token;
    # with neither set, nobody (README "Metrics and logs").
    metrics_allowed_addresses: list[str] = Field(default_factory=list)
    metrics_token: str = ""
    # "json": one JSON object per log line with the request id; "text": plain lines; empty:
    # logging is left as the host process set it (tests, embedding). ID numbers are masked.
    log_format: str = Field(default="", pattern="^(|json|text)$")
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = Field(default=2, ge=1)

    # Hardening (README "Security").
    # Pensioner login (POST /auth/pensioner/token): tries per ID number and per client address.
    otp_login_rate_per_id: str = "10/10 minutes"
    otp_login_rate_per_client: str = "60/hour"
    # A code request this soon after the last code sends nothing and leaves that code valid.
    otp_resend_after_seconds: int = Field(default=60, ge=0, le=3600)
    # Addresses (or CIDR networks) of reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed; from anyone else these headers are ignored.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Staff login: after this many failures in a row each try waits 2^(n - backoff_after)
    # seconds (at most staff_login_backoff_max_seconds); at lock_after the account locks
    # until an administrator unlocks it.
    staff_login_backoff_after: int = Field(default=3, ge=1, le=100)
    staff_login_lock_after: int = Field(default=10, ge=2, le=1000)
    staff_login_backoff_max_seconds: int = Field(default=300, ge=1, le=86400)
    staff_login_rate_per_client: str = "20/minute"
    # Global budgets: requests per window that all clients share, per route, beside the per-ID
    # and per-client limits, counted in rate_limit_storage (Redis: across API processes). A
    # flood from many addresses gets 429 with Retry-After instead of running up the text
    # messages, the password hashing or the face work for everyone.
    global_code_request_rate: str = "300/minute"
    global_pensioner_login_rate: str = "600/minute"
    global_staff_login_rate: str = "120/minute"
    global_attempt_start_rate: str = "300/minute"
    global_selfie_check_rate: str = "1200/minute"
    # Preview checks (selfie-check) decode at most this many pixels; every decode refuses a
    # file that declares more pixels per byte than this (a decompression bomb); at most
    # max_concurrent_decodes photos are decoded at once per process, a request waits
    # decode_wait_seconds for a turn and is then refused with 503.
    preview_max_pixels: int = Field(default=12_000_000, ge=100_000)
    max_pixels_per_byte: float = Field(default=1000.0, ge=10.0)
    max_concurrent_decodes: int = Field(default=2, ge=1, le=64)
    decode_wait_seconds: float = Field(default=10.0, ge=0.0, le=300.0)

    @field_validator("video_default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone such as Asia/Shanghai") from exc
        return value

    @field_validator(
        "otp_rate_per_id",
        "otp_rate_per_client",
        "attempt_start_rate",
        "selfie_check_rate",
        "otp_login_rate_per_id",
        "otp_login_rate_per_client",
        "staff_login_rate_per_client",
        "global_code_request_rate",
        "global_pensioner_login_rate",
        "global_staff_login_rate",
        "global_attempt_start_rate",
        "global_selfie_check_rate",
    )
    @classmethod
    def _rate(cls, value: str) -> str:
        # Parsed at start-up, not at the first request the rate would have limited.
        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(
                f"{value!r} is not a rate such as '20/minute' or '3/10 minutes'"
            ) from exc
        return value

    @field_validator("trusted_proxies", "metrics_allowed_addresses")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or network") from exc
        return value

    @field_validator("media_master_key")
    @classmethod
    def _media_key_format(cls, value: str) -> str:
        if value.strip():
            try:
                parse_media_key(value)
            except ValueError as exc:
                raise ValueError(f"LIFECERT_MEDIA_MASTER_KEY must be {MEDIA_KEY_HINT}") from exc
        return value.strip()

    @field_validator("audit_key")
    @classmethod
    def _audit_key_is_random(cls, value: str) -> str:
        key = value.strip()
        if key and (key.lower() in PLACEHOLDER_SECRETS or len(key) < MIN_SECRET_LENGTH):
            raise ValueError(
                f"LIFECERT_AUDIT_KEY must be a random value of at least {MIN_SECRET_LENGTH} "
                "characters (`lifecert audit generate-key`)"
            )
        return key

    @field_validator("media_old_master_keys")
    @classmethod
    def _old_media_keys_format(cls, value: list[str]) -> list[str]:
        for position, key in enumerate(value):
            try:
                parse_media_key(key)
            except ValueError as exc:
                raise ValueError(
                    f"LIFECERT_MEDIA_OLD_MASTER_KEYS[{position}] must be {MEDIA_KEY_HINT}"
                ) from exc
        return [key.strip() for key in value]

    @model_validator(mode="after")
    def _secret_is_real_in_production(self) -> Self:
        if self.env is Environment.production:
            key = self.secret_key.strip()
            if key.lower() in PLACEHOLDER_SECRETS or len(key) < MIN_SECRET_LENGTH:
                raise ValueError(
                    "LIFECERT_SECRET_KEY must be set to a random value of at least "
                    f"{MIN_SECRET_LENGTH} characters when LIFECERT_ENV=production "
                    "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
            if not self.database_url:
                raise ValueError("LIFECERT_DATABASE_URL must be set when LIFECERT_ENV=production")
            if not self.media_master_key:
                # A key generated beside the files would protect nothing a stolen disk holds.
                raise ValueError(
                    "LIFECERT_MEDIA_MASTER_KEY must be set when LIFECERT_ENV=production: it "
                    "encrypts the stored photos, videos and scans. Give it "
                    f"{MEDIA_KEY_HINT}, kept outside the data folder and its backups"
                )
            if not self.audit_key:
                # Kept in the database or beside it, it would let whoever edits the audit
                # trail recompute the chain.
                raise ValueError(
                    "LIFECERT_AUDIT_KEY must be set when LIFECERT_ENV=production: it keys the "
                    "audit chain's hashes. Give it a random value of at least "
                    f"{MIN_SECRET_LENGTH} characters (`lifecert audit generate-key`), kept "
                    "outside the database and its backups"
                )
        return self

    @model_validator(mode="after")
    def _real_sms_sender_in_production(self) -> Self:
        # The outbox writes codes to files: in production nobody would receive them, and
        # anyone who can read the data folder could log in as any pensioner.
        if self.env is Environment.production and self.otp_sender.strip() == "outbox":
            raise ValueError(
                "LIFECERT_OTP_SENDER must name a real SMS sender ('package.module:factory') "
                "when LIFECERT_ENV=production; the development outbox is refused"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'lifecert.db'}"

    @property
    def resolved_media_dir(self) -> Path:
        return self.media_dir or self.data_dir / "media"

    @property
    def resolved_feeds_dir(self) -> Path:
        return self.feeds_dir or self.data_dir / "feeds"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def ensure_dirs(self) -> None:
        """The folders, and the media keys checked (generated in development) at start-up
        rather than at the first upload."""
        for d in (self.data_dir, self.resolved_media_dir, self.outbox_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.resolved_media_dir.chmod(0o700)
        parse_media_key(self.media_keys[0])

    @cached_property
    def signing_key(self) -> str:
        """The JWT signing key; in development it is generated once and kept under data_dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key

    @cached_property
    def audit_signing_key(self) -> bytes:
        """The audit chain's HMAC key; in development it is generated once and kept under
        data_dir (several processes starting together all read the one file written first)."""
        if self.audit_key:
            return self.audit_key.encode()
        path = self.data_dir / "audit_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f".audit_key.{secrets.token_hex(8)}")
            draft.touch(mode=0o600)
            draft.write_text(secrets.token_urlsafe(48))
            try:
                os.link(draft, path)
            except FileExistsError:
                pass  # another process wrote it first: use theirs
            finally:
                draft.unlink()
        key = path.read_text().strip()
        if len(key) < MIN_SECRET_LENGTH:
            raise ValueError(f"{path} holds no usable audit key")
        return key.encode()

    @cached_property
    def media_keys(self) -> tuple[str, ...]:
        """Master keys for stored media, the current one first, then the old ones.

        In development and tests the current key is generated once and kept under data_dir
        (one key per line, the first current), so files are encrypted in every mode.
        """
        if self.media_master_key:
            return (self.media_master_key, *self.media_old_master_keys)
        path = self.data_dir / "media_master_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(new_media_key() + "\n")
        kept = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        for key in kept:
            try:
                parse_media_key(key)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from exc
        if not kept:
            raise ValueError(f"{path} holds no key; delete it only together with the media")
        return (*kept, *self.media_old_master_keys)


@lru_cache
def get_settings() -> Settings:
    return Settings()
