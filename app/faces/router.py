"""Face enrolment by staff, the gallery of a pensioner, and the stored photos."""

from __future__ import annotations

import shutil
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.responses import Response

from app import media
from app.db import SessionDep
from app.deps import (
    CohortCacheDep,
    CurrentStaff,
    FaceEngineDep,
    RequireAdmin,
    RequireRegisterReader,
    SettingsDep,
    StaffActor,
)
from app.errors import NotFound
from app.faces import bulk, calibration, duplicates, jobs, service
from app.faces.errors import FaceNotFound
from app.faces.schemas import (
    CalibrationRead,
    CalibrationRequest,
    DuplicateCaseRead,
    DuplicateDecision,
    DuplicateSide,
    EnrolledFaceRead,
    FaceApproval,
    GalleryRead,
    ImportBatchRead,
)
from app.kit import audited, scope
from app.pensioners.dependencies import (
    EditablePensioner,
    EnrollablePensioner,
    FacePhotoReadablePensioner,
    FaceReadablePensioner,
    ReadablePensioner,
)
from biometrics import read_limited
from models.face import EnrolledFace, FaceSource
from models.face_dedup import DuplicateCase, DuplicateOutcome, DuplicateStatus, FaceImportBatch
from models.staff import StaffUser

router = APIRouter(prefix="/pensioners/{pensioner_id}/faces", tags=["faces"])


@router.post(
    "",
    response_model=EnrolledFaceRead,
    status_code=status.HTTP_201_CREATED,
    summary="Enrol a face photo (JPEG, PNG, WebP or HEIC) as the `photo` form field",
    description="The photo must pass the strict enrolment gate (one frontal, sharp, evenly lit "
    "face); otherwise 422 `PhotoQualityFailed` lists what to change. Earlier photos stay in "
    "the gallery; retire one explicitly to remove it. `kind=id_card` enrols an ID card's chip "
    "photo (about 102x126, possibly grey) under its own gate; a gallery of only such photos "
    "decides at best `review` (low resolution).",
)
def enrol_face(
    session: SessionDep,
    settings: SettingsDep,
    engine: FaceEngineDep,
    cohort_cache: CohortCacheDep,
    actor: StaffActor,
    pensioner: EnrollablePensioner,
    photo: Annotated[UploadFile, File(description="The face photo")],
    kind: Annotated[
        Literal["photo", "id_card"],
        Form(description="`photo` (default) or `id_card`: the ID card's chip photo"),
    ] = "photo",
) -> EnrolledFace:
    # A sync route runs in the thread pool: decoding and dlib stay off the event loop.
    data = read_limited(photo.file, max_bytes=settings.max_photo_bytes)
    return service.enrol(
        session=session,
        settings=settings,
        engine=engine,
        pensioner=pensioner,
        data=data,
        actor=actor,
        cohort_cache=cohort_cache,
        source=FaceSource.id_card if kind == "id_card" else FaceSource.enrolment,
    )


@router.get("", response_model=GalleryRead, summary="The pensioner's faces, retired included")
def list_faces(session: SessionDep, pensioner: FaceReadablePensioner) -> GalleryRead:
    from models.face import FaceGallery

    faces = service.all_faces(session=session, pensioner_id=pensioner.id)
    gallery = session.get(FaceGallery, pensioner.id)
    return GalleryRead(
        active_faces=sum(f.active for f in faces),
        cohort_size=gallery.cohort_size if gallery else 0,
        cohort_ready=gallery is not None and gallery.cohort_mean is not None,
        faces=[EnrolledFaceRead.model_validate(f) for f in faces],
    )


@router.get("/{face_id}/photo", response_class=Response, summary="The stored photo")
def face_photo(
    face_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    staff: CurrentStaff,
    actor: StaffActor,
    pensioner: FacePhotoReadablePensioner,
) -> Response:
    if not service.may_see_photos(session=session, staff=staff, pensioner_id=pensioner.id):
        raise FaceNotFound()
    face = service.get_face(session=session, pensioner_id=pensioner.id, face_id=face_id)
    audited.read(
        session=session,
        actor=actor,
        action="face.photo_read",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        after={"face_id": str(face.id)},
    )
    media_type = {
        "jpeg": "image/jpeg",
        "png": "image/png",
        "webp": "image/webp",
        "heif": "image/heic",
    }.get(face.photo_format, "application/octet-stream")
    return media.response(settings=settings, relative=face.photo_path, media_type=media_type)


@router.post(
    "/{face_id}/approval",
    response_model=EnrolledFaceRead,
    summary="A second staff member lets a waiting photo into the gallery, or turns it away",
    description="Photos enrolled by staff wait when they are the first, do not match the "
    "photos on file, or resemble someone enrolled under another ID (`enrolment_check`). The "
    "person who enrolled the photo cannot decide it (403); turning it away needs a `reason`.",
)
def decide_face(
    face_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    actor: StaffActor,
    staff: CurrentStaff,
    pensioner: ReadablePensioner,
    body: FaceApproval,
) -> EnrolledFace:
    face = service.get_face(session=session, pensioner_id=pensioner.id, face_id=face_id)
    return service.decide_pending(
        session=session,
        settings=settings,
        staff_id=staff.id,
        actor=actor,
        pensioner=pensioner,
        face=face,
        approve=body.approve,
        reason=body.reason,
    )


@router.post(
    "/{face_id}/retire",
    response_model=EnrolledFaceRead,
    summary="Take a face out of the gallery (kept as history)",
)
def retire_face(
    face_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    actor: StaffActor,
    pensioner: EditablePensioner,
) -> EnrolledFace:
    face = service.get_face(session=session, pensioner_id=pensioner.id, face_id=face_id)
    return service.retire(
        session=session,
        settings=settings,
        pensioner=pensioner,
        face=face,
        actor=actor,
        reason="retired_by_staff",
    )


pending_router = APIRouter(prefix="/faces", tags=["faces"])


@pending_router.get(
    "/pending",
    response_model=list[EnrolledFaceRead],
    summary="Photos waiting for a second staff member, oldest first, within scope",
)
def list_pending(session: SessionDep, staff: RequireRegisterReader) -> list[EnrolledFace]:
    return service.pending_faces(session=session, region_prefix=staff.region_scope)


calibration_router = APIRouter(prefix="/faces/calibrations", tags=["faces"])


def _national_admin(staff: StaffUser) -> StaffUser:
    return scope.national(
        staff, "Face thresholds apply to the whole register: only a national admin may change them."
    )


@calibration_router.get(
    "/current",
    response_model=CalibrationRead,
    summary="The calibration face decisions use now (404 when there is none)",
)
def current_calibration(
    session: SessionDep, settings: SettingsDep, engine: FaceEngineDep, _: RequireAdmin
) -> CalibrationRead:
    current = calibration.current_calibration(
        session=session,
        model_name=engine.model_name,
        model_version=engine.model_version,
        tail_fraction=settings.face_tail_fraction,
    )
    if current is None:
        raise NotFound(
            "No calibration for the running face model: auto-accept is off until a national "
            "admin runs one (POST /faces/calibrations or `lifecert faces calibrate`)."
        )
    return CalibrationRead.from_model(current)


@calibration_router.post(
    "",
    response_model=CalibrationRead,
    status_code=status.HTTP_201_CREATED,
    summary="Calibrate the face decision on the enrolled register (national admin, audited)",
    description="Scores impostor pairs among enrolled pensioners and sets the bars that give "
    "the target false-match rate with a 95% upper bound, overall and per province, age band "
    "and sex. Too few people: stored with `auto_accept` false and the number needed.",
)
def make_calibration(
    session: SessionDep,
    settings: SettingsDep,
    engine: FaceEngineDep,
    cohort_cache: CohortCacheDep,
    actor: StaffActor,
    staff: RequireAdmin,
    body: CalibrationRequest,
) -> CalibrationRead:
    _national_admin(staff)
    cohort, owners = cohort_cache.get(
        session=session,
        model_name=engine.model_name,
        model_version=engine.model_version,
        limit=settings.face_cohort_max,
    )
    made = calibration.calibrate(
        session=session,
        settings=settings,
        actor=actor,
        model_name=engine.model_name,
        model_version=engine.model_version,
        target_fmr=body.target_fmr or settings.face_target_fmr,
        cohort=cohort,
        owners=owners,
    )
    return CalibrationRead.from_model(made)


@calibration_router.get(
    "/report",
    summary="Live false-match and false-non-match rates, reviewers' labels and drift warnings",
)
def calibration_report(
    session: SessionDep,
    settings: SettingsDep,
    engine: FaceEngineDep,
    cohort_cache: CohortCacheDep,
    staff: RequireAdmin,
) -> dict[str, Any]:
    _national_admin(staff)
    cohort, owners = cohort_cache.get(
        session=session,
        model_name=engine.model_name,
        model_version=engine.model_version,
        limit=settings.face_cohort_max,
    )
    return calibration.report(
        session=session,
        settings=settings,
        model_name=engine.model_name,
        model_version=engine.model_version,
        cohort=cohort,
        owners=owners,
    )


# --- 1:N duplicate cases --------------------------------------------------------------------


def _side(session: SessionDep, pensioner_id: uuid.UUID, face_id: uuid.UUID) -> DuplicateSide:
    from models.pensioner import Pensioner

    person = session.get(Pensioner, pensioner_id)
    face = session.get(EnrolledFace, face_id)
    if person is None:
        raise NotFound()
    return DuplicateSide(
        pensioner_id=person.id,
        face_id=face_id,
        national_id=person.national_id,
        name=person.name,
        region_code=person.region_code,
        benefit_status=person.benefit_status.value,
        enrolled_at=face.created_at if face else None,
    )


def _case_read(session: SessionDep, case: DuplicateCase) -> DuplicateCaseRead:
    def value(x: object) -> str | None:
        return None if x is None else str(getattr(x, "value", x))

    return DuplicateCaseRead(
        id=case.id,
        status=case.status.value,
        outcome=value(case.outcome),
        distance=case.distance,
        threshold=case.threshold,
        found_by=case.found_by,
        earlier=_side(session, case.earlier_pensioner_id, case.earlier_face_id),
        later=_side(session, case.later_pensioner_id, case.later_face_id),
        first_reviewer_id=case.first_reviewer_id,
        first_outcome=value(case.first_outcome),
        first_note=case.first_note,
        second_reviewer_id=case.second_reviewer_id,
        second_note=case.second_note,
        created_at=case.created_at,
        decided_at=case.decided_at,
    )


@pending_router.get(
    "/duplicates",
    response_model=list[DuplicateCaseRead],
    summary="Duplicate cases (one face under two identities) with either person in scope",
    description="Each side's photo is `GET /pensioners/{pensioner_id}/faces/{face_id}/photo`.",
)
def list_duplicates(
    session: SessionDep,
    staff: RequireRegisterReader,
    status: Annotated[DuplicateStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[DuplicateCaseRead]:
    cases = duplicates.list_cases(
        session=session,
        region_prefix=staff.region_scope,
        status=status,
        limit=limit,
        offset=offset,
    )
    return [_case_read(session, c) for c in cases]


@pending_router.get(
    "/duplicates/{case_id}", response_model=DuplicateCaseRead, summary="One duplicate case"
)
def get_duplicate(
    case_id: uuid.UUID, session: SessionDep, staff: RequireRegisterReader
) -> DuplicateCaseRead:
    case = duplicates.get_case(session=session, case_id=case_id, region_prefix=staff.region_scope)
    return _case_read(session, case)


@pending_router.post(
    "/duplicates/{case_id}/decision",
    response_model=DuplicateCaseRead,
    summary="A reviewer's verdict: same_person, relatives or data_error",
    description="`relatives` and `data_error` close the case (the pair is not raised again). "
    "`same_person` waits for a second reviewer (403 for the first one); when they agree, the "
    "later identity's payments are suspended (`fraud_suspected`).",
)
def decide_duplicate(
    case_id: uuid.UUID,
    body: DuplicateDecision,
    session: SessionDep,
    staff: RequireRegisterReader,
    actor: StaffActor,
) -> DuplicateCaseRead:
    case = duplicates.get_case(session=session, case_id=case_id, region_prefix=staff.region_scope)
    decided = duplicates.decide(
        session=session,
        case=case,
        staff_id=staff.id,
        actor=actor,
        outcome=DuplicateOutcome(body.outcome),
        note=body.note,
    )
    return _case_read(session, decided)


# --- bulk imports of an uploaded archive ----------------------------------------------------


def _import_admin(staff: StaffUser) -> StaffUser:
    return scope.national(
        staff, "A bulk import enrols people in every region: only a national admin may run it."
    )


@pending_router.post(
    "/imports",
    response_model=ImportBatchRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Enrol a ZIP of photos named by national ID, in the background (national admin)",
    description="The same import as `lifecert import-faces`: progress at "
    "`GET /faces/imports/{id}`, refusals at `GET /faces/imports/{id}/refusals`. An archive "
    "that unpacks to more than the limit is refused at once (422 `ArchiveRefused`).",
)
def start_import(
    session: SessionDep,
    settings: SettingsDep,
    staff: RequireAdmin,
    actor: StaffActor,
    archive: Annotated[UploadFile, File(description="A ZIP of photos")],
    kind: Annotated[Literal["id_card", "photo"], Form()] = "id_card",
) -> FaceImportBatch:
    from app import broker
    from app.db import after_commit

    _import_admin(staff)
    source = FaceSource.id_card if kind == "id_card" else FaceSource.enrolment
    batch = bulk.start_batch(
        session=session,
        source=archive.filename or "archive.zip",
        kind=source,
        actor=actor,
        region_scope=staff.region_scope,
    )
    path = jobs.archive_path(settings, batch.id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with path.open("wb") as out:
        shutil.copyfileobj(archive.file, out)
    try:
        batch.total = len(bulk.open_source(path, settings=settings))
    except bulk.ArchiveRefused:
        path.unlink(missing_ok=True)
        raise
    after_commit(
        session,
        lambda: broker.send(
            settings, jobs.IMPORT_FACES, str(batch.id), queue_name=jobs.IMPORTS_QUEUE
        ),
    )
    return batch


def _batch(session: SessionDep, batch_id: uuid.UUID) -> FaceImportBatch:
    batch = session.get(FaceImportBatch, batch_id)
    if batch is None:
        raise NotFound("No such import.")
    return batch


@pending_router.get(
    "/imports/{batch_id}", response_model=ImportBatchRead, summary="An import's progress"
)
def import_progress(
    batch_id: uuid.UUID, session: SessionDep, staff: RequireAdmin
) -> FaceImportBatch:
    _import_admin(staff)
    return _batch(session, batch_id)


@pending_router.get(
    "/imports/{batch_id}/refusals",
    response_class=Response,
    summary="Every refused photo of an import and why, as CSV",
)
def import_refusals(batch_id: uuid.UUID, session: SessionDep, staff: RequireAdmin) -> Response:
    _import_admin(staff)
    batch = _batch(session, batch_id)
    body = bulk.report_csv(bulk.batch_refusals(session=session, batch_id=batch.id))
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{batch.id}-refusals.csv"'},
    )
