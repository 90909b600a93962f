"""All tables; importing this package registers them on SQLModel.metadata for Alembic."""

from models.attempt import AttemptStatus, CertificationAttempt, ReviewCase, ReviewStatus
from models.audit import AuditEvent
from models.certification import (
    Certification,
    CertificationMethod,
    PaymentSuspension,
    SuspensionReason,
)
from models.face import EnrolledFace, FaceGallery, FaceSource
from models.otp import OtpCode
from models.pensioner import BenefitStatus, BenefitType, Language, Pensioner, Residence, Sex
from models.region import Region
from models.staff import RefreshToken, Role, StaffUser

__all__ = [
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
    "EnrolledFace",
    "FaceGallery",
    "FaceSource",
    "Language",
    "OtpCode",
    "Pensioner",
    "RefreshToken",
    "Region",
    "Residence",
    "Role",
    "Sex",
    "StaffUser",
]
