"""What an endpoint asks for: the Services, and the request's database sessions.

The sessions are opened on first use and ended by the unit of work (UnitOfWorkRoute commits
the primary one before the response leaves; SessionGuardMiddleware closes anything left).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import READ_SESSION_STATE, SESSION_STATE
from shopdb.replicas import read_after
from shopdb.services import Services, services_of


# `async def` although they never await: FastAPI runs a plain `def` dependency on a worker
# thread, a cost paid on every request for nothing.
async def get_services(request: Request) -> Services:
    return services_of(request.app)


def _request_session(request: Request) -> AsyncSession:
    session: AsyncSession | None = getattr(request.state, SESSION_STATE, None)
    if session is None:
        database = services_of(request.app).database
        session = database.sessionmaker()
        database.route_reads(session, request)  # replicas, if any, for reads that may lag
        setattr(request.state, SESSION_STATE, session)
    return session


async def get_session(request: Request) -> AsyncSession:
    """The request's primary session, opened on first use and committed by UnitOfWorkRoute."""
    return _request_session(request)


async def get_read_session(request: Request) -> AsyncSession:
    """A session on a read replica, for reads that tolerate replication lag (exports, reports).

    Without replicas configured it is the request's primary session, so it sees its own writes.
    With replicas, a usable one that has replayed the client's last write (replicas.py), else
    the primary.
    """
    database = services_of(request.app).database
    if not database.replicas:
        return _request_session(request)
    session: AsyncSession | None = getattr(request.state, READ_SESSION_STATE, None)
    if session is None:
        session = database.read_sessionmaker(read_after(request.headers, request.cookies))()
        setattr(request.state, READ_SESSION_STATE, session)
    return session


ServicesDep = Annotated[Services, Depends(get_services)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]
