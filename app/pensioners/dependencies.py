"""Dependencies that load a pensioner from the path, for staff with given roles, in scope."""

# No `from __future__ import annotations`: the dependency below is built in a closure and
# FastAPI must see its real annotations, not strings naming local variables.
import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends

from app.db import SessionDep
from app.deps import require_roles
from app.pensioners import service
from models.pensioner import Pensioner
from models.staff import Role, StaffUser


def pensioner_in_scope(*roles: Role) -> Callable[..., Pensioner]:
    """The path's pensioner; 403 without one of `roles`, 404 outside the staff's region."""
    allowed = require_roles(*roles)

    def dependency(
        pensioner_id: uuid.UUID,
        session: SessionDep,
        staff: Annotated[StaffUser, Depends(allowed)],
    ) -> Pensioner:
        return service.get_in_scope(session=session, staff=staff, pensioner_id=pensioner_id)

    return dependency


ReadablePensioner = Annotated[Pensioner, Depends(pensioner_in_scope(Role.admin, Role.reviewer))]
EditablePensioner = Annotated[Pensioner, Depends(pensioner_in_scope(Role.admin))]
EnrollablePensioner = Annotated[
    Pensioner, Depends(pensioner_in_scope(Role.admin, Role.community_worker))
]
FaceReadablePensioner = Annotated[
    Pensioner, Depends(pensioner_in_scope(Role.admin, Role.reviewer, Role.community_worker))
]
# The enrolled photo is also shown to video agents, beside the pensioner's video.
FacePhotoReadablePensioner = Annotated[
    Pensioner,
    Depends(pensioner_in_scope(Role.admin, Role.reviewer, Role.community_worker, Role.video_agent)),
]
