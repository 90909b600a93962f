"""All tables; importing this package registers them on SQLModel.metadata for Alembic."""

from models.audit import AuditEvent
from models.otp import OtpCode
from models.pensioner import BenefitStatus, BenefitType, Language, Pensioner, Residence, Sex
from models.region import Region
from models.staff import RefreshToken, Role, StaffUser

__all__ = [
    "AuditEvent",
    "BenefitStatus",
    "BenefitType",
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
