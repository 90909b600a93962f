"""Examples of the request and answer bodies in the OpenAPI document, by component schema name
(app/openapi.py puts them in the document). tests/app/test_api_contract.py fails when an
operation's body has no example, and when an example does not match its schema."""

from __future__ import annotations

from typing import Any

# A valid ID number (region 110105, born 1950-03-01) and the ids the examples share.
NATIONAL_ID = "110105195003011019"

SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
ACCESS_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4iLCJraW5kIjoicGVuc2lvbmVyIn0.c2lnbmF0dXJl"
)

EXAMPLES: dict[str, list[Any]] = {
    "AppointmentRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "status": "booked",
            "starts_at": "2026-12-01T08:30:00Z",
            "ends_at": "2026-12-01T08:30:00Z",
            "timezone": "Asia/Shanghai",
            "local_starts_at": "2026-12-01T08:30:00Z",
            "local_ends_at": "2026-12-01T08:30:00Z",
            "agent_name": "王芳",
            "join_opens_at": "2026-12-01T08:30:00Z",
            "join_closes_at": "2026-12-01T08:30:00Z",
            "change_deadline": "2026-12-01T08:30:00Z",
            "eligibility": ["eligibility"],
            "rescheduled_from_id": "97fa8b5a-c9b0-4154-9cf0-a730f8b35128",
            "cancelled_at": "2026-12-01T08:30:00Z",
            "outcome_reason": "Family reported the pensioner moved to a care home",
            "valid_until": "2026-12-01",
            "created_at": "2026-12-01T08:30:00Z",
        }
    ],
    "AttemptRead": [
        {
            "id": "3f0e9a52-8a8e-4d0c-9f39-2f3c1c7a9b10",
            "status": "awaiting_upload",
            "challenge": {
                "actions": ["blink", "turn_left"],
                "nonce": "Qm9vc3RlZC1ub25jZS0xMjM0NTY3ODkwYWJj",
                "expires_at": "2026-12-01T08:35:00Z",
            },
            "operated_by": None,
            "created_at": "2026-12-01T08:30:00Z",
            "uploaded_at": None,
            "decided_at": None,
            "reasons": [],
            "next_steps": [],
            "valid_until": None,
            "decision": None,
        },
        {
            "id": "3f0e9a52-8a8e-4d0c-9f39-2f3c1c7a9b10",
            "status": "certified",
            "challenge": None,
            "operated_by": None,
            "created_at": "2026-12-01T08:30:00Z",
            "uploaded_at": "2026-12-01T08:31:40Z",
            "decided_at": "2026-12-01T08:31:52Z",
            "reasons": [],
            "next_steps": [],
            "valid_until": "2027-12-01",
            "decision": None,
        },
        {
            "id": "3f0e9a52-8a8e-4d0c-9f39-2f3c1c7a9b10",
            "status": "retry",
            "challenge": None,
            "operated_by": None,
            "created_at": "2026-12-01T08:30:00Z",
            "uploaded_at": "2026-12-01T08:31:40Z",
            "decided_at": "2026-12-01T08:31:50Z",
            "reasons": ["too_dark"],
            "next_steps": [
                {"zh": "请到光线明亮的地方再拍一次", "en": "Move somewhere brighter and try again"}
            ],
            "valid_until": None,
            "decision": None,
        },
    ],
    "AttemptStart": [{}, {"operated_by": "daughter Li Na"}],
    "AuditEventRead": [
        {
            "seq": 3,
            "occurred_at": "2026-12-01T08:30:00Z",
            "actor_type": "staff",
            "actor_id": "b39fef6a-9c6e-4bbf-9d7f-14ab2fd7e484",
            "action": "pensioner.update",
            "entity_type": "pensioner",
            "entity_id": "dffc4713-b6bf-426d-80d3-e2805bc742fd",
            "region_code": "110105",
            "before": {"source": "example"},
            "after": {"source": "example"},
            "client_address": "203.0.113.7",
            "prev_hash": SHA256,
            "hash": SHA256,
        }
    ],
    "AvailabilityIn": [
        {
            "timezone": "Asia/Shanghai",
            "weekly": [{"weekday": 1, "start": "09:00", "end": "12:00"}],
            "exceptions": [
                {
                    "kind": "unavailable",
                    "starts_on": "2026-12-01",
                    "ends_on": "2026-12-01",
                    "start": "09:00",
                    "end": "12:00",
                    "reason": "Family reported the pensioner moved to a care home",
                }
            ],
        }
    ],
    "AvailabilityRead": [
        {
            "agent_id": "9b18f05f-4b3e-4283-820c-6ed97b7e83bc",
            "timezone": "Asia/Shanghai",
            "slot_minutes": 3,
            "weekly": [{"weekday": 1, "start": "09:00", "end": "12:00"}],
            "exceptions": [
                {
                    "kind": "unavailable",
                    "starts_on": "2026-12-01",
                    "ends_on": "2026-12-01",
                    "start": "09:00",
                    "end": "12:00",
                    "reason": "Family reported the pensioner moved to a care home",
                    "id": "b80bb774-0288-4da1-b201-890375a60c8f",
                }
            ],
        }
    ],
    "Body_attempts_selfie_check": [{"selfie": "(a JPEG preview frame)"}],
    "Body_attempts_upload": [
        {
            "selfie": "(selfie.jpg, image/jpeg)",
            "video": "(challenge.webm, video/webm)",
            "nonce": "Qm9vc3RlZC1ub25jZS0xMjM0NTY3ODkwYWJj",
            "mirrored": True,
        }
    ],
    "Body_attempts_upload_assisted": [
        {
            "selfie": "(selfie.jpg, image/jpeg)",
            "video": "(challenge.mp4, video/mp4)",
            "nonce": "Qm9vc3RlZC1ub25jZS0xMjM0NTY3ODkwYWJj",
            "mirrored": False,
        }
    ],
    "Body_auth_staff_token": [
        {"grant_type": "password", "username": "li.min", "password": "correct horse battery staple"}
    ],
    "Body_consular_upload_document": [
        {
            "scan": "scan",
            "consulate": "Consulate General of China in Vancouver",
            "issued_on": "2026-12-01",
        }
    ],
    "Body_faces_enrol_face": [{"photo": "photo", "kind": "photo"}],
    "Body_faces_start_import": [{"archive": "archive", "kind": "id_card"}],
    "Body_video_calls_check_frame": [{"frame": "frame"}],
    "BookingRequest": [{"starts_at": "2026-12-01T08:30:00Z", "timezone": "Asia/Shanghai"}],
    "CalibrationRead": [
        {
            "id": 3,
            "model_name": "dlib_face_recognition_resnet_model_v1",
            "model_version": "19.24",
            "target_fmr": 0.42,
            "confidence": 0.42,
            "population": 3,
            "impostor_pairs": 3,
            "relative_pairs": 3,
            "auto_accept": False,
            "reason": "Family reported the pensioner moved to a care home",
            "thresholds": {"match": 0.42, "no_match": 0.55},
            "figures": {"source": "example"},
            "created_by": "2d6f1c8e-4b7a-4f0e-9a51-0c3e7d2b9f14",
            "created_at": "2026-12-01T08:30:00Z",
        }
    ],
    "CalibrationRequest": [{"target_fmr": 0.42}],
    "CallConfirmation": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "status": "booked",
            "starts_at": "2026-12-01T08:30:00Z",
            "ends_at": "2026-12-01T08:30:00Z",
            "join_opens_at": "2026-12-01T08:30:00Z",
            "join_closes_at": "2026-12-01T08:30:00Z",
            "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
            "pensioner_name": "张秀英",
            "region_code": "110105",
            "pensioner_timezone": "Asia/Shanghai",
            "eligibility": ["eligibility"],
            "agent_id": "9b18f05f-4b3e-4283-820c-6ed97b7e83bc",
            "decided_by_id": "db62c9cd-0146-44f8-91aa-a03a48201cb0",
            "decided_at": "2026-12-01T08:30:00Z",
            "override_reason": "Family reported the pensioner moved to a care home",
            "notes": "Confirmed by phone with the pensioner's daughter",
            "outcome_reason": "Family reported the pensioner moved to a care home",
            "confirmation_needed": ["confirmation needed"],
            "evidence": {"source": "example"},
            "confirmed_by_id": "46178974-bd33-46cf-809a-4e00de3691cd",
            "confirmed_at": "2026-12-01T08:30:00Z",
            "certification_id": "22980fc6-cfb8-4083-8da6-09602200a387",
        }
    ],
    "CallDetail": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "status": "booked",
            "starts_at": "2026-12-01T08:30:00Z",
            "ends_at": "2026-12-01T08:30:00Z",
            "join_opens_at": "2026-12-01T08:30:00Z",
            "join_closes_at": "2026-12-01T08:30:00Z",
            "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
            "pensioner_name": "张秀英",
            "region_code": "110105",
            "pensioner_timezone": "Asia/Shanghai",
            "eligibility": ["eligibility"],
            "pensioner": {
                "id": "b80bb774-0288-4da1-b201-890375a60c8f",
                "national_id": NATIONAL_ID,
                "name": "张秀英",
                "date_of_birth": "2026-12-01",
                "sex": "M",
                "phone": "13800138000",
                "region_code": "110105",
                "residence": "local",
                "overseas_country": "CA",
                "overseas_timezone": "Asia/Shanghai",
                "benefit_type": "pension",
                "benefit_status": "active",
                "preferred_language": "zh",
                "certified_until": "2026-12-01",
            },
            "enrolled_photos": [
                {
                    "face_id": "36e4540f-a1b6-4045-be55-dece7a6198cc",
                    "url": "https://lifecert.example.org/api/v1/...",
                    "source": "source",
                    "created_at": "2026-12-01T08:30:00Z",
                }
            ],
            "frames": [
                {
                    "id": "b80bb774-0288-4da1-b201-890375a60c8f",
                    "decision": "match",
                    "score": 0.42,
                    "distance": 0.42,
                    "reasons": ["Family reported the pensioner moved to a care home"],
                    "thresholds": {"match": 0.42, "no_match": 0.55},
                    "quality_findings": [{"source": "example"}],
                    "cohort_size": 3,
                    "model": "dlib_face_recognition_resnet_model_v1",
                    "image_url": "https://lifecert.example.org/api/v1/...",
                    "created_at": "2026-12-01T08:30:00Z",
                }
            ],
            "read_codes": [{"source": "example"}],
            "outcome_reason": "Family reported the pensioner moved to a care home",
            "override_reason": "Family reported the pensioner moved to a care home",
            "notes": "Confirmed by phone with the pensioner's daughter",
            "decided_by_id": "db62c9cd-0146-44f8-91aa-a03a48201cb0",
            "decided_at": "2026-12-01T08:30:00Z",
            "certification_id": "22980fc6-cfb8-4083-8da6-09602200a387",
            "valid_until": "2026-12-01",
            "follow_up_task_id": "1216f241-91f3-4fde-ad01-443611772278",
        }
    ],
    "CallSummary": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "status": "booked",
            "starts_at": "2026-12-01T08:30:00Z",
            "ends_at": "2026-12-01T08:30:00Z",
            "join_opens_at": "2026-12-01T08:30:00Z",
            "join_closes_at": "2026-12-01T08:30:00Z",
            "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
            "pensioner_name": "张秀英",
            "region_code": "110105",
            "pensioner_timezone": "Asia/Shanghai",
            "eligibility": ["eligibility"],
        }
    ],
    "CancelRequest": [{"reason": "Family reported the pensioner moved to a care home"}],
    "CandidateDecided": [
        {
            "candidate": {
                "id": "b80bb774-0288-4da1-b201-890375a60c8f",
                "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
                "region_code": "110105",
                "kind": "death_by_name",
                "status": "pending",
                "record_key": "death:110105195003011019:2026-11-20",
                "feed_type": "death",
                "event_date": "2026-12-01",
                "record_name": "张秀英",
                "record_date_of_birth": "2026-12-01",
                "score": 0.42,
                "evidence": {"source": "example"},
                "created_at": "2026-12-01T08:30:00Z",
                "decided_by_id": "db62c9cd-0146-44f8-91aa-a03a48201cb0",
                "decided_at": "2026-12-01T08:30:00Z",
                "decision_note": "Confirmed by phone with the pensioner's daughter",
            },
            "effect": {"source": "example"},
        }
    ],
    "CandidateDecision": [
        {"confirm": False, "note": "Confirmed by phone with the pensioner's daughter"}
    ],
    "CandidateRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
            "region_code": "110105",
            "kind": "death_by_name",
            "status": "pending",
            "record_key": "death:110105195003011019:2026-11-20",
            "feed_type": "death",
            "event_date": "2026-12-01",
            "record_name": "张秀英",
            "record_date_of_birth": "2026-12-01",
            "score": 0.42,
            "evidence": {"source": "example"},
            "created_at": "2026-12-01T08:30:00Z",
            "decided_by_id": "db62c9cd-0146-44f8-91aa-a03a48201cb0",
            "decided_at": "2026-12-01T08:30:00Z",
            "decision_note": "Confirmed by phone with the pensioner's daughter",
        }
    ],
    "CertificationRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "method": "data_comparison",
            "certified_at": "2026-12-01T08:30:00Z",
            "valid_until": "2026-12-01",
            "evidence": {"source": "example"},
            "decided_by_type": "staff",
            "decided_by_id": "db62c9cd-0146-44f8-91aa-a03a48201cb0",
            "operated_by": "daughter Li Na",
        }
    ],
    "ChainVerification": [
        {
            "ok": False,
            "events": 3,
            "problems": [
                {
                    "seq": 3,
                    "problem": "invalid_national_id",
                    "detail": "national_id: not a valid ID number",
                }
            ],
        }
    ],
    "ClaimDetail": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
            "suspension_id": "0839a1cd-799d-4da8-8803-b329247d052c",
            "region_code": "110105",
            "date_of_death": "2026-12-01",
            "first_payment_date": "2026-12-01",
            "last_payment_date": "2026-12-01",
            "payments": 3,
            "amount_fen": 350000,
            "recovered_fen": 350000,
            "status": "open",
            "evidence": {"source": "example"},
            "created_at": "2026-12-01T08:30:00Z",
            "updated_at": "2026-12-01T08:30:00Z",
            "events": [
                {
                    "from_status": "open",
                    "to_status": "open",
                    "amount_fen": 350000,
                    "note": "Confirmed by phone with the pensioner's daughter",
                    "actor_id": "b39fef6a-9c6e-4bbf-9d7f-14ab2fd7e484",
                    "occurred_at": "2026-12-01T08:30:00Z",
                }
            ],
        }
    ],
    "ClaimRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
            "suspension_id": "0839a1cd-799d-4da8-8803-b329247d052c",
            "region_code": "110105",
            "date_of_death": "2026-12-01",
            "first_payment_date": "2026-12-01",
            "last_payment_date": "2026-12-01",
            "payments": 3,
            "amount_fen": 350000,
            "recovered_fen": 350000,
            "status": "open",
            "evidence": {"source": "example"},
            "created_at": "2026-12-01T08:30:00Z",
            "updated_at": "2026-12-01T08:30:00Z",
        }
    ],
    "CodeLogin": [{"national_id": NATIONAL_ID, "code": "482913"}],
    "CodeRequest": [{"national_id": NATIONAL_ID}],
    "CodeSent": [
        {
            "detail": "If this ID number is registered, a code was sent to its phone.",
            "expires_in": 300,
        }
    ],
    "ConfirmationIn": [
        {"confirm": False, "reason": "Family reported the pensioner moved to a care home"}
    ],
    "ConsularDocumentRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "status": "pending",
            "file_format": "pdf",
            "file_bytes": 3,
            "file_sha256": SHA256,
            "consulate": "Consulate General of China in Vancouver",
            "issued_on": "2026-12-01",
            "uploaded_at": "2026-12-01T08:30:00Z",
            "decided_at": "2026-12-01T08:30:00Z",
            "decision_reason": "Family reported the pensioner moved to a care home",
            "valid_until": "2026-12-01",
        }
    ],
    "ConsularDocumentStaffRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "status": "pending",
            "file_format": "pdf",
            "file_bytes": 3,
            "file_sha256": SHA256,
            "consulate": "Consulate General of China in Vancouver",
            "issued_on": "2026-12-01",
            "uploaded_at": "2026-12-01T08:30:00Z",
            "decided_at": "2026-12-01T08:30:00Z",
            "decision_reason": "Family reported the pensioner moved to a care home",
            "valid_until": "2026-12-01",
            "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
            "pensioner_name": "张秀英",
            "region_code": "110105",
            "overseas_country": "CA",
            "decided_by_id": "db62c9cd-0146-44f8-91aa-a03a48201cb0",
            "scan_url": "https://lifecert.example.org/api/v1/...",
        }
    ],
    "Dashboard": [
        {
            "region_code": "110105",
            "as_of": "2026-12-01",
            "by_status": {"active": 1150, "suspended": 12},
            "by_method": {"remote_self_service": 834, "video_call": 41},
            "months": [
                {"month": "2026-11", "by_method": {"remote_self_service": 834, "video_call": 41}}
            ],
            "remote_attempts": [
                {
                    "month": "2026-11",
                    "region_code": "110105",
                    "age_band": "80-89",
                    "decided": 3,
                    "auto_certified": 3,
                    "reviewed": 3,
                    "refused": 3,
                    "retry": 3,
                    "auto_certified_share": 0.42,
                    "reviewed_share": 0.42,
                    "refused_share": 0.42,
                }
            ],
        }
    ],
    "DocumentDecision": [
        {"verdict": "verify", "reason": "Family reported the pensioner moved to a care home"}
    ],
    "DuplicateCaseRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "status": "status",
            "outcome": "outcome",
            "distance": 0.42,
            "threshold": 0.42,
            "found_by": "found by",
            "earlier": {
                "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
                "face_id": "36e4540f-a1b6-4045-be55-dece7a6198cc",
                "national_id": NATIONAL_ID,
                "name": "张秀英",
                "region_code": "110105",
                "benefit_status": "active",
                "enrolled_at": "2026-12-01T08:30:00Z",
            },
            "later": {
                "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
                "face_id": "36e4540f-a1b6-4045-be55-dece7a6198cc",
                "national_id": NATIONAL_ID,
                "name": "张秀英",
                "region_code": "110105",
                "benefit_status": "active",
                "enrolled_at": "2026-12-01T08:30:00Z",
            },
            "first_reviewer_id": "ba18e515-7ee5-4e0f-9730-bca05e8db6d0",
            "first_outcome": "certified",
            "first_note": "Confirmed by phone with the pensioner's daughter",
            "second_reviewer_id": "f010ff17-49c7-4de9-8044-0085e805ca30",
            "second_note": "Confirmed by phone with the pensioner's daughter",
            "created_at": "2026-12-01T08:30:00Z",
            "decided_at": "2026-12-01T08:30:00Z",
        }
    ],
    "DuplicateDecision": [
        {"outcome": "same_person", "note": "Confirmed by phone with the pensioner's daughter"}
    ],
    "Eligibility": [
        {
            "eligible": False,
            "reasons": ["Family reported the pensioner moved to a care home"],
            "timezone": "Asia/Shanghai",
            "message": {"zh": "请靠近一点", "en": "Come a little closer"},
        }
    ],
    "EnrolledFaceRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
            "source": "enrolment",
            "photo_format": "jpeg",
            "photo_width": 3,
            "photo_height": 3,
            "photo_sha256": SHA256,
            "model_name": "dlib_face_recognition_resnet_model_v1",
            "model_version": "19.24",
            "quality": {"source": "example"},
            "active": False,
            "pending": False,
            "enrolment_check": {"source": "example"},
            "approved_by_id": "471c3cd5-db65-4a43-bf5a-9ecda35e8e97",
            "approved_at": "2026-12-01T08:30:00Z",
            "added_by_type": "staff",
            "added_by_id": "0c5d7d4e-aedf-495b-b6ed-bf9621c77d5e",
            "created_at": "2026-12-01T08:30:00Z",
            "retired_at": "2026-12-01T08:30:00Z",
        }
    ],
    "FaceApproval": [
        {"approve": False, "reason": "Family reported the pensioner moved to a care home"}
    ],
    "FeedBatchRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "feed_type": "death",
            "format": "csv",
            "source_authority": "北京市民政局",
            "file_name": "deaths-2026-11.csv",
            "content_sha256": SHA256,
            "rows": 3,
            "accepted": 3,
            "quarantined": 3,
            "imported_by_type": "staff",
            "imported_by_id": "1ba9c431-5a8a-49f3-bdc4-9215fb1a465d",
            "region_scope": "11",
            "created_at": "2026-12-01T08:30:00Z",
        }
    ],
    "FeedClientCreate": [{"name": "张秀英", "source_authority": "北京市民政局"}],
    "FeedClientCreated": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "name": "张秀英",
            "source_authority": "北京市民政局",
            "key_prefix": "lcf_3f0e9a",
            "created_by_id": "e93cb7eb-f4b3-4ede-b7b7-b05b13446ec2",
            "created_at": "2026-12-01T08:30:00Z",
            "revoked_at": "2026-12-01T08:30:00Z",
            "revoked_by_id": "87104232-9ba5-43ab-844b-271436d4d7bc",
            "key": "key",
        }
    ],
    "FeedClientRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "name": "张秀英",
            "source_authority": "北京市民政局",
            "key_prefix": "lcf_3f0e9a",
            "created_by_id": "e93cb7eb-f4b3-4ede-b7b7-b05b13446ec2",
            "created_at": "2026-12-01T08:30:00Z",
            "revoked_at": "2026-12-01T08:30:00Z",
            "revoked_by_id": "87104232-9ba5-43ab-844b-271436d4d7bc",
        }
    ],
    "FeedReport": [
        {
            "batch_id": "d4e60137-8058-4412-8296-5e900c9af17f",
            "feed_type": "death",
            "format": "csv",
            "source_authority": "北京市民政局",
            "content_sha256": SHA256,
            "duplicate": False,
            "rows": 3,
            "accepted": 3,
            "quarantined": 3,
            "ids_normalised": 3,
            "without_id": 3,
            "problems": {"invalid_national_id": 2, "unknown_person": 5},
            "awaiting_confirmation": 0,
            "examples": [
                {
                    "row": 3,
                    "national_id": NATIONAL_ID,
                    "problem": "invalid_national_id",
                    "message": "national_id: not a valid ID number",
                }
            ],
            "ignored_columns": ["ignored column"],
            "created_at": "2026-12-01T08:30:00Z",
            "matching": {"source": "example"},
        }
    ],
    "FrameCheck": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "decision": "match",
            "score": 0.42,
            "distance": 0.42,
            "reasons": ["Family reported the pensioner moved to a care home"],
            "thresholds": {"match": 0.42, "no_match": 0.55},
            "quality_findings": [{"source": "example"}],
            "cohort_size": 3,
            "model": "dlib_face_recognition_resnet_model_v1",
            "image_url": "https://lifecert.example.org/api/v1/...",
            "created_at": "2026-12-01T08:30:00Z",
        }
    ],
    "GalleryRead": [
        {
            "active_faces": 3,
            "cohort_size": 3,
            "cohort_ready": False,
            "faces": [
                {
                    "id": "b80bb774-0288-4da1-b201-890375a60c8f",
                    "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
                    "source": "enrolment",
                    "photo_format": "jpeg",
                    "photo_width": 3,
                    "photo_height": 3,
                    "photo_sha256": SHA256,
                    "model_name": "dlib_face_recognition_resnet_model_v1",
                    "model_version": "19.24",
                    "quality": {"source": "example"},
                    "active": False,
                    "pending": False,
                    "enrolment_check": {"source": "example"},
                    "approved_by_id": "471c3cd5-db65-4a43-bf5a-9ecda35e8e97",
                    "approved_at": "2026-12-01T08:30:00Z",
                    "added_by_type": "staff",
                    "added_by_id": "0c5d7d4e-aedf-495b-b6ed-bf9621c77d5e",
                    "created_at": "2026-12-01T08:30:00Z",
                    "retired_at": "2026-12-01T08:30:00Z",
                }
            ],
        }
    ],
    "HeldDeathRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "batch_id": "d4e60137-8058-4412-8296-5e900c9af17f",
            "row_number": 3,
            "feed_type": "death",
            "national_id": NATIONAL_ID,
            "name": "张秀英",
            "date_of_birth": "2026-12-01",
            "event_date": "2026-12-01",
            "source_authority": "北京市民政局",
            "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
            "reasons": ["sent_by_person"],
            "status": "awaiting_confirmation",
            "decided_by_id": "db62c9cd-0146-44f8-91aa-a03a48201cb0",
            "decided_at": "2026-12-01T08:30:00Z",
            "decision_reason": "Family reported the pensioner moved to a care home",
            "created_at": "2026-12-01T08:30:00Z",
            "matching": {"source": "example"},
        }
    ],
    "ImportBatchRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "source": "scans-2026-11.zip",
            "kind": "photo",
            "status": "finished",
            "total": 120,
            "processed": 120,
            "enrolled": 112,
            "refused": 6,
            "skipped": 2,
            "error": None,
            "created_at": "2026-12-01T08:30:00Z",
            "finished_at": "2026-12-01T08:30:00Z",
        }
    ],
    "ImportReport": [
        {
            "mode": "all_or_nothing",
            "dry_run": False,
            "rows": 3,
            "valid": 3,
            "created": 3,
            "errors": [
                {
                    "row": 3,
                    "national_id": NATIONAL_ID,
                    "field": "field",
                    "code": "110105",
                    "message": "national_id: not a valid ID number",
                }
            ],
        }
    ],
    "OutcomeIn": [
        {
            "outcome": "certified",
            "reason": "Family reported the pensioner moved to a care home",
            "override_reason": "Family reported the pensioner moved to a care home",
            "notes": "Confirmed by phone with the pensioner's daughter",
        }
    ],
    "PensionerCreate": [
        {
            "national_id": NATIONAL_ID,
            "name": "张秀英",
            "date_of_birth": "2026-12-01",
            "sex": "M",
            "phone": "13800138000",
            "region_code": "482913",
            "residence": "local",
            "overseas_country": "CA",
            "overseas_timezone": "Asia/Shanghai",
            "benefit_type": "pension",
            "benefit_status": "active",
            "monthly_amount_fen": 350000,
            "mobility_limited": False,
            "preferred_language": "zh",
        }
    ],
    "PensionerRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "national_id": NATIONAL_ID,
            "name": "张秀英",
            "date_of_birth": "2026-12-01",
            "sex": "M",
            "phone": "13800138000",
            "region_code": "110105",
            "residence": "local",
            "overseas_country": "CA",
            "overseas_timezone": "Asia/Shanghai",
            "benefit_type": "pension",
            "benefit_status": "active",
            "monthly_amount_fen": 350000,
            "mobility_limited": False,
            "preferred_language": "zh",
            "certified_until": "2026-12-01",
            "created_at": "2026-12-01T08:30:00Z",
            "updated_at": "2026-12-01T08:30:00Z",
        }
    ],
    "PensionerSelf": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "name": "张秀英",
            "national_id_masked": "110105********1019",
            "region_code": "110105",
            "residence": "local",
            "benefit_type": "pension",
            "benefit_status": "active",
            "preferred_language": "zh",
            "certified_until": "2026-12-01",
            "certification_status": "certified",
            "media_retention_days": 3,
            "timezone": "Asia/Shanghai",
            "display_timezone": "Asia/Shanghai",
        }
    ],
    "PensionerSelfUpdate": [{"display_timezone": "Asia/Shanghai", "preferred_language": "zh"}],
    "PensionerToken": [{"access_token": ACCESS_TOKEN, "token_type": "bearer", "expires_in": 1800}],
    "PensionerUpdate": [
        {
            "name": "张秀英",
            "phone": "13800138000",
            "region_code": "482913",
            "residence": "local",
            "overseas_country": "CA",
            "overseas_timezone": "Asia/Shanghai",
            "benefit_type": "pension",
            "benefit_status": "active",
            "monthly_amount_fen": 350000,
            "mobility_limited": False,
            "preferred_language": "zh",
        }
    ],
    "QuarantinedRead": [
        {
            "row_number": 3,
            "problem": "invalid_national_id",
            "message": "national_id: not a valid ID number",
            "raw_national_id": NATIONAL_ID,
            "name": "张秀英",
            "date_of_birth": "2026-12-01",
            "event_date": "2026-12-01",
            "raw": {"source": "example"},
        }
    ],
    "ReadCode": [{"code": "110105", "issued_at": "2026-12-01T08:30:00Z", "delivered": False}],
    "RecordPush": [
        {
            "source_authority": "北京市民政局",
            "records": [
                {
                    "national_id": NATIONAL_ID,
                    "name": "张秀英",
                    "date_of_birth": "1950-03-01",
                    "event_date": "2026-11-02",
                    "facility": "facility",
                }
            ],
            "match": True,
        }
    ],
    "RecoveryStep": [
        {"to": "open", "amount_fen": 0, "note": "Confirmed by phone with the pensioner's daughter"}
    ],
    "RefreshRequest": [{"refresh_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI...signature"}],
    "RegionCreate": [{"code": "482913", "name": "张秀英", "certification_period_months": 12}],
    "RegionMonth": [
        {
            "region_code": "110105",
            "region_name": "北京市朝阳区",
            "month": "2026-11",
            "recipients": 0,
            "certified_data_comparison": 0,
            "certified_remote_self_service": 0,
            "certified_video_call": 0,
            "certified_visit": 0,
            "certified_other": 0,
            "overdue": 0,
            "suspended": 0,
            "deaths_found": 0,
            "overpayment_claimed_fen": 0,
            "overpayment_recovered_fen": 0,
        }
    ],
    "RegionRead": [
        {
            "code": "110105",
            "name": "张秀英",
            "certification_period_months": 12,
            "effective_period_months": 12,
        }
    ],
    "RegionUpdate": [{"name": "张秀英", "certification_period_months": 12}],
    "ReviewCaseRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "attempt_id": "8a4e071c-c5da-4177-b3e1-806cf0ccbe22",
            "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
            "pensioner_name": "张秀英",
            "region_code": "110105",
            "status": "open",
            "low_score": False,
            "reasons": ["Family reported the pensioner moved to a care home"],
            "created_at": "2026-12-01T08:30:00Z",
            "age_hours": 0.42,
            "operated_by": "daughter Li Na",
            "decision": {
                "face": {"decision": "match", "distance": 0.38},
                "liveness": {"live": True, "score": 0.91},
            },
            "enrolled_photos": ["enrolled photo"],
            "selfie": "selfie",
            "key_frames": ["key frame"],
            "first_approver_id": "4a0dcbe0-dfa1-44eb-a394-b899a211533c",
            "decided_by_id": "db62c9cd-0146-44f8-91aa-a03a48201cb0",
            "decision_reason": "Family reported the pensioner moved to a care home",
        }
    ],
    "ReviewDecision": [
        {
            "verdict": "approve",
            "reason": "Family reported the pensioner moved to a care home",
            "same_person": False,
        }
    ],
    "ReviewSummary": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "attempt_id": "8a4e071c-c5da-4177-b3e1-806cf0ccbe22",
            "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
            "pensioner_name": "张秀英",
            "region_code": "110105",
            "status": "open",
            "low_score": False,
            "reasons": ["Family reported the pensioner moved to a care home"],
            "created_at": "2026-12-01T08:30:00Z",
            "age_hours": 0.42,
        }
    ],
    "RoomToken": [
        {
            "appointment_id": "54c91d3b-a040-403b-8f74-286668217828",
            "role": "pensioner",
            "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI...signature",
            "not_before": "2026-12-01T08:30:00Z",
            "expires_at": "2026-12-01T08:30:00Z",
            "signal_path": "/api/v1/video-calls/3f0e9a52-8a8e-4d0c-9f39-2f3c1c7a9b10/signal",
            "ice_servers": [
                {
                    "urls": "turn:turn.example.org:3478?transport=udp",
                    "username": "li.min",
                    "credential": "credential",
                }
            ],
        }
    ],
    "RunRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "kind": "monthly",
            "as_of": "2026-12-01",
            "region_scope": "11",
            "counts": {"pensioners": 1200, "candidates": 3},
            "timings": {"total_seconds": 4.2},
            "started_by_id": "62c990b1-79bd-4d2b-9811-ec2ea5eb7e07",
            "started_at": "2026-12-01T08:30:00Z",
            "finished_at": "2026-12-01T08:30:00Z",
        }
    ],
    "RunRequest": [{"as_of": "2026-12-01", "region_scope": "1101"}],
    "SelfieCheck": [
        {
            "ok": False,
            "faces": 1,
            "hints": [
                {"issue": "face_too_small", "zh": "请靠近一点", "en": "Come a little closer"}
            ],
            "face": {"left": 0.41, "top": 0.33, "width": 0.12, "height": 0.16},
        },
        {
            "ok": True,
            "faces": 1,
            "hints": [],
            "face": {"left": 0.3, "top": 0.22, "width": 0.38, "height": 0.5},
        },
    ],
    "SlotList": [
        {
            "timezone": "Asia/Shanghai",
            "slot_minutes": 3,
            "from_date": "2026-12-01",
            "days": 3,
            "slots": [
                {
                    "starts_at": "2026-12-01T08:30:00Z",
                    "ends_at": "2026-12-01T08:30:00Z",
                    "local_starts_at": "2026-12-01T08:30:00Z",
                    "local_ends_at": "2026-12-01T08:30:00Z",
                    "local_date": "2026-12-01",
                }
            ],
        }
    ],
    "StaffCreate": [
        {
            "username": "li.min",
            "full_name": "李敏",
            "password": "correct horse battery staple",
            "roles": ["reviewer"],
            "region_scope": "110105",
        }
    ],
    "StaffRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "username": "li.min",
            "full_name": "李敏",
            "roles": ["admin"],
            "region_scope": "11",
            "is_active": False,
            "created_at": "2026-12-01T08:30:00Z",
            "locked_at": "2026-12-01T08:30:00Z",
            "failed_logins": 0,
        }
    ],
    "StaffUpdate": [
        {"roles": ["reviewer", "video_agent"], "region_scope": "11", "is_active": True}
    ],
    "TaskCreate": [
        {
            "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
            "kind": "remote_prompt",
            "reason": "requested_by_staff",
        }
    ],
    "TaskRead": [
        {
            "id": "b80bb774-0288-4da1-b201-890375a60c8f",
            "pensioner_id": "ef953fbb-d370-4a00-ad26-41f781f17551",
            "region_code": "110105",
            "kind": "remote_prompt",
            "status": "open",
            "reason": "Family reported the pensioner moved to a care home",
            "due_date": "2026-12-01",
            "run_id": "0acf093b-3c88-4560-8dc6-22a33921d360",
            "created_at": "2026-12-01T08:30:00Z",
            "outcome": "confirmed_alive",
            "visit_date": "2026-12-01",
            "date_of_death": "2026-12-01",
            "notes": "Confirmed by phone with the pensioner's daughter",
            "evidence": {"source": "example"},
            "completed_by_id": "48ab4cdf-e790-4372-8460-2b8f92154db7",
            "completed_at": "2026-12-01T08:30:00Z",
            "confirmed_by_id": "46178974-bd33-46cf-809a-4e00de3691cd",
            "confirmed_at": "2026-12-01T08:30:00Z",
        }
    ],
    "TokenPair": [
        {
            "access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI...signature",
            "token_type": "bearer",
            "expires_in": 1800,
            "refresh_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI...signature",
        }
    ],
    "VisitConfirmation": [
        {"confirm": False, "reason": "Family reported the pensioner moved to a care home"}
    ],
    "VisitReport": [
        {
            "visit_date": "2026-12-01",
            "outcome": "confirmed_alive",
            "date_of_death": "2026-12-01",
            "death_evidence": "Death certificate No. 2026-0142, seen at the family home",
            "notes": "Confirmed by phone with the pensioner's daughter",
        }
    ],
}

# Answers without a schema of their own, by operation id and status.
ANSWER_EXAMPLES: dict[str, dict[str, dict[str, Any]]] = {
    "health_healthz": {"200": {"application/json": {"status": "ok"}}},
    "health_readyz": {"200": {"application/json": {"status": "ready", "database": "ok"}}},
    "faces_calibration_report": {
        "200": {
            "application/json": {
                "live_fmr": 0.0008,
                "live_fnmr": 0.031,
                "labelled_pairs": 412,
                "warnings": ["drift: genuine distances rose 0.02 since the calibration"],
            }
        }
    },
    "reports_monthly_csv": {
        "200": {
            "text/csv": "region_code,region_name,month,recipients,certified_remote_self_service\n"
            "110105,北京市朝阳区,2026-11,1200,834\n"
        }
    },
}
