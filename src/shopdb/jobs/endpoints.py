"""GET /api/v1/jobs/{id}: any job's state, for the callers allowed to read its kind."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticated, Subject
from shopdb.dependencies import SessionDep
from shopdb.errors import Forbidden, NotFound
from shopdb.jobs.kinds import KINDS
from shopdb.jobs.queue import get_job as find_job
from shopdb.jobs.schemas import JobOut, job_out
from shopdb.kit.routing import domain_router

router = domain_router("/jobs", tags=["jobs"])

READ_PERMISSIONS = frozenset(kind.permission for kind in KINDS.values())


async def job_reader(subject: Authenticated) -> Subject:
    """A caller who may read at least one kind of job; the job's own kind is checked once it is
    loaded. Refusing the others first keeps a caller without any such permission from telling
    an existing id from a missing one."""
    if not subject.permissions & READ_PERMISSIONS:
        raise Forbidden(
            "Missing permission: one of " + ", ".join(sorted(READ_PERMISSIONS)),
            [
                {"field": "permissions", "message": f"requires {p}"}
                for p in sorted(READ_PERMISSIONS)
            ],
        )
    return subject


JobReader = Annotated[Subject, Depends(job_reader)]


@router.get("/{job_id}", response_model=JobOut)
async def get_job(session: SessionDep, subject: JobReader, job_id: int) -> JobOut:
    """Poll a job: queued, running (with progress), completed (with its result) or failed."""
    job = await find_job(session, job_id)
    if job is None:
        raise NotFound.resource("Job", job_id)
    kind = KINDS.get(job.kind)
    if kind is None or not subject.can(kind.permission):
        needed = kind.permission if kind else "an unknown kind's permission"
        raise Forbidden(
            f"Missing permission: {needed}",
            [{"field": "permissions", "message": f"requires {needed}"}],
        )
    return job_out(job)
