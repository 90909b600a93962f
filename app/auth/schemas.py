"""Request and response bodies of staff and pensioner login."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from app import national_id


class TokenPair(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    # Also set as the HttpOnly refresh cookie; null for the pages (requests with
    # `X-Requested-With: lifecert`), whose scripts never see the refresh token.
    refresh_token: str | None


class RefreshRequest(BaseModel):
    # Optional: without it, the refresh cookie is used (README "Staff login").
    refresh_token: str | None = Field(default=None, min_length=10, max_length=200)


class CodeRequest(BaseModel):
    national_id: str = Field(max_length=32)

    @field_validator("national_id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return national_id.validate(value)


class CodeSent(BaseModel):
    detail: str
    expires_in: int


class CodeLogin(CodeRequest):
    code: str = Field(pattern=r"^\d{6}$", description="The 6-digit code from the text message")


class PensionerToken(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
