"""The durable job queue: jobs are rows written in the transaction of the change that causes them.

    from shopdb.jobs import enqueue
    from shopdb.jobs.kinds import FILES_DELETE

    await enqueue(session, FILES_DELETE, {"key": image.storage_key})   # never commits

The job exists if and only if the caller's transaction commits (a transactional outbox); a
`shopdb worker` process claims it (FOR UPDATE SKIP LOCKED on PostgreSQL), runs its handler
under a renewed lease, retries it with backoff, and records the outcome on the row, which
GET /api/v1/jobs/{id} shows. The queue is the database itself: no broker, no other service.

- kinds.py: every kind, with its read permission, failure message and attempts.
- queue.py: enqueue, the claim and the fenced writes of a running job.
- runner.py: the worker loop (leases, heartbeats, retries, graceful stop).
- endpoints.py: GET /api/v1/jobs/{id}.
Handlers live with their domains; shopdb.worker binds them to their kinds.
"""

from __future__ import annotations

from shopdb.jobs.queue import LeaseLost, PermanentJobError, RunningJob, enqueue

__all__ = ["LeaseLost", "PermanentJobError", "RunningJob", "enqueue"]
