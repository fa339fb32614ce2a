"""/api/v1/users, their permission grants, and /api/v1/permissions (all need users:admin).

Cached standings of a changed user are forgotten after the commit by the after-commit hook
(shopdb.auth.invalidation), not here: forgetting before the commit let a concurrent request
cache the old standing again.
"""

from __future__ import annotations

from fastapi import Response

from shopdb.dependencies import SessionDep
from shopdb.kit.parameters import PageQuery
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.kit.types import utcnow
from shopdb.models import UserPermission
from shopdb.users import service
from shopdb.users.auth import UsersAdmin
from shopdb.users.schemas import (
    GrantCreate,
    GrantRead,
    PermissionRead,
    Role,
    UserCreate,
    UserDetail,
    UserRead,
    UserUpdate,
)

router = domain_router("/users", tags=["users"])
permissions_router = domain_router("/permissions", tags=["users"])


def _grant(grant: UserPermission) -> GrantRead:
    return GrantRead(
        permission=grant.permission.name,
        granted_at=grant.granted_at,
        expires_at=grant.expires_at,
        expired=grant.expires_at is not None and grant.expires_at <= utcnow(),
    )


def _detail(found: service.UserWithGrants) -> UserDetail:
    return UserDetail.model_validate(
        {
            **UserRead.model_validate(found.user).model_dump(),
            "grants": [_grant(g) for g in found.grants],
            "effectivePermissions": found.effective_permissions,
        }
    )


@router.get("", response_model=Page[UserRead])
async def list_users(
    _subject: UsersAdmin,
    session: SessionDep,
    page: PageQuery,
    role: Role | None = None,
    active: bool | None = None,
) -> Page[UserRead]:
    """By id."""
    found = await service.list_users(session, role=role, active=active, request=page)
    return Page[UserRead](
        items=[UserRead.model_validate(u) for u in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@router.post("", status_code=201, response_model=UserDetail)
async def create_user(body: UserCreate, subject: UsersAdmin, session: SessionDep) -> UserDetail:
    found = await service.register_user(
        session,
        subject,
        email=body.email,
        password=body.password,
        role=body.role,
        first_name=body.first_name,
        last_name=body.last_name,
        phone=body.phone,
        active=body.active,
        permissions=body.permissions,
    )
    return _detail(found)


@router.get("/{user_id}", response_model=UserDetail)
async def get_user(user_id: int, _subject: UsersAdmin, session: SessionDep) -> UserDetail:
    return _detail(await service.get_user(session, user_id))


@router.put("/{user_id}", response_model=UserDetail)
async def update_user(
    user_id: int, body: UserUpdate, subject: UsersAdmin, session: SessionDep
) -> UserDetail:
    changes = body.model_dump(exclude_unset=True, by_alias=False)
    return _detail(await service.update_user(session, subject, user_id, changes))


@router.delete("/{user_id}", status_code=204)
async def delete_user(user_id: int, subject: UsersAdmin, session: SessionDep) -> Response:
    await service.delete_user(session, subject, user_id)
    return Response(status_code=204)


@router.get("/{user_id}/permissions", response_model=list[GrantRead])
async def list_user_permissions(
    user_id: int, _subject: UsersAdmin, session: SessionDep
) -> list[GrantRead]:
    return [_grant(g) for g in (await service.get_user(session, user_id)).grants]


@router.post("/{user_id}/permissions", status_code=201, response_model=GrantRead)
async def grant_permission(
    user_id: int, body: GrantCreate, subject: UsersAdmin, session: SessionDep
) -> GrantRead:
    grant = await service.grant_permission(
        session, subject, user_id, permission=body.permission, expires_at=body.expires_at
    )
    return _grant(grant)


@router.delete("/{user_id}/permissions/{permission}", status_code=204)
async def revoke_permission(
    user_id: int, permission: str, subject: UsersAdmin, session: SessionDep
) -> Response:
    await service.revoke_permission(session, subject, user_id, permission)
    return Response(status_code=204)


@permissions_router.get("", response_model=list[PermissionRead])
async def list_permissions(_subject: UsersAdmin, session: SessionDep) -> list[PermissionRead]:
    return [PermissionRead.model_validate(p) for p in await service.list_permissions(session)]
