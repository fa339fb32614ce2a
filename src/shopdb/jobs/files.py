"""`files/delete`: remove a stored file once the transaction that stopped using it committed.

Enqueued in that transaction (an image's deletion, an import's completion), so a rollback
deletes nothing and a crash after the commit loses nothing. Deleting a missing file succeeds
(both backends), so running twice is harmless.
"""

from __future__ import annotations

from shopdb.jobs.kinds import FILES_DELETE
from shopdb.jobs.queue import RunningJob
from shopdb.jobs.runner import JobContext, Registration


async def delete_file(context: JobContext, job: RunningJob) -> None:
    await context.storage.delete(str(job.payload["key"]))


DELETE_FILE = Registration(FILES_DELETE, delete_file)
