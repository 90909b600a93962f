"""All tables; importing this package registers them on SQLModel.metadata for Alembic."""

from models.attempt import AttemptStatus, CertificationAttempt, ReviewCase, ReviewStatus
from models.audit import AuditEvent
from models.certification import (
    Certification,
    CertificationMethod,
    PaymentSuspension,
    SuspensionReason,
)
from models.consular import ConsularDocument, DocumentStatus
from models.face import EnrolledFace, FaceCalibration, FaceGallery, FaceLabel, FaceSource
from models.face_dedup import (
    DuplicateCase,
    DuplicateOutcome,
    DuplicateStatus,
    FaceImportBatch,
    FaceImportItem,
    FaceIndexChange,
    ImportStatus,
)
from models.matching import (
    CandidateKind,
    CandidateStatus,
    MatchCandidate,
    MatchingRun,
    RunKind,
)
from models.otp import OtpCode
from models.overpayment import OverpaymentClaim, RecoveryEvent, RecoveryStatus
from models.pensioner import BenefitStatus, BenefitType, Language, Pensioner, Residence, Sex
from models.records import (
    FeedBatch,
    FeedClient,
    FeedFormat,
    FeedRecord,
    FeedType,
    HeldDeathRecord,
    HoldReason,
    HoldStatus,
    QuarantinedRecord,
)
from models.region import Region
from models.reminder import CertificationReminder, ReminderStage
from models.staff import RefreshToken, Role, StaffUser
from models.upload import ResumableUpload, UploadPart
from models.verification import TaskKind, TaskStatus, VerificationTask, VisitOutcome
from models.video_call import (
    AppointmentReminder,
    AppointmentStatus,
    AvailabilityException,
    AvailabilityRule,
    CallFrame,
    CallReminderKind,
    ExceptionKind,
    VideoAppointment,
)

__all__ = [
    "AppointmentReminder",
    "AppointmentStatus",
    "AvailabilityException",
    "AvailabilityRule",
    "CallFrame",
    "CallReminderKind",
    "ConsularDocument",
    "DocumentStatus",
    "ExceptionKind",
    "VideoAppointment",
    "CandidateKind",
    "CertificationReminder",
    "ReminderStage",
    "CandidateStatus",
    "FeedBatch",
    "FeedClient",
    "FeedFormat",
    "FeedRecord",
    "FeedType",
    "HeldDeathRecord",
    "HoldReason",
    "HoldStatus",
    "MatchCandidate",
    "MatchingRun",
    "OverpaymentClaim",
    "QuarantinedRecord",
    "RecoveryEvent",
    "RecoveryStatus",
    "RunKind",
    "TaskKind",
    "TaskStatus",
    "UploadPart",
    "VerificationTask",
    "VisitOutcome",
    "AttemptStatus",
    "CertificationAttempt",
    "ReviewCase",
    "ReviewStatus",
    "AuditEvent",
    "BenefitStatus",
    "BenefitType",
    "Certification",
    "CertificationMethod",
    "PaymentSuspension",
    "SuspensionReason",
    "DuplicateCase",
    "DuplicateOutcome",
    "DuplicateStatus",
    "EnrolledFace",
    "FaceCalibration",
    "FaceGallery",
    "FaceImportBatch",
    "FaceImportItem",
    "FaceIndexChange",
    "FaceLabel",
    "FaceSource",
    "ImportStatus",
    "Language",
    "OtpCode",
    "Pensioner",
    "RefreshToken",
    "Region",
    "Residence",
    "ResumableUpload",
    "Role",
    "Sex",
    "StaffUser",
]
