from __future__ import annotations

from datetime import timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.permissions import PERMISSIONS
from shopdb.kit.types import utcnow
from shopdb.models import ApiKey, Event, User, UserPermission
from tests.auth.helpers import PASSWORD, bearer, make_api_key, make_user
from tests.kit.api_pages import read_all, walk_pages

USERS = "/api/v1/users"
NEW_PASSWORD = "a much longer passphrase"


@pytest.fixture
async def admin(db_session: AsyncSession) -> User:
    return await make_user(db_session, role="admin")


@pytest.fixture
def as_admin(app: FastAPI, admin: User) -> dict[str, str]:
    return bearer(app, admin)


async def _user_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(User.id))) or 0)


class TestCreate:
    async def test_creates_a_user_with_an_argon2_hash_it_never_shows(
        self,
        client: httpx.AsyncClient,
        db_session: AsyncSession,
        admin: User,
        as_admin: dict[str, str],
    ) -> None:
        response = await client.post(
            USERS,
            json={
                "email": " New.Staff@Example.com ",
                "password": NEW_PASSWORD,
                "firstName": "New",
                "lastName": "Staff",
                "permissions": ["orders:read", "products:read"],
            },
            headers=as_admin,
        )

        assert response.status_code == 201
        body = response.json()
        assert body["email"] == "new.staff@example.com"
        assert body["role"] == "staff"
        assert body["active"] is True
        assert body["effectivePermissions"] == ["orders:read", "products:read"]
        assert [g["permission"] for g in body["grants"]] == ["orders:read", "products:read"]
        assert "password" not in response.text.lower()
        stored = await db_session.scalar(
            text("SELECT password_hash FROM users WHERE id = :id"), {"id": body["id"]}
        )
        assert stored.startswith("$argon2id$")
        event = await db_session.scalar(
            select(Event).where(Event.topic == "users/create", Event.subject_id == body["id"])
        )
        assert event is not None
        assert event.actor == f"user:{admin.id}"
        # No personal data in the event log: the id is the subject, not the email.
        assert event.body == {"role": "staff", "permissions": ["orders:read", "products:read"]}

    async def test_the_new_user_can_log_in(
        self, client: httpx.AsyncClient, as_admin: dict[str, str]
    ) -> None:
        await client.post(
            USERS, json={"email": "login@example.com", "password": NEW_PASSWORD}, headers=as_admin
        )

        response = await client.post(
            "/api/v1/auth/token", json={"email": "login@example.com", "password": NEW_PASSWORD}
        )

        assert response.status_code == 200

    async def test_refuses_a_duplicate_email_in_any_case(
        self, client: httpx.AsyncClient, db_session: AsyncSession, as_admin: dict[str, str]
    ) -> None:
        await make_user(db_session, email="taken@example.com")
        before = await _user_count(db_session)

        response = await client.post(
            USERS, json={"email": "TAKEN@example.com", "password": NEW_PASSWORD}, headers=as_admin
        )

        assert response.status_code == 409
        assert response.json() == {
            "code": "EMAIL_TAKEN",
            "message": "A user with this email already exists",
            "details": [{"field": "email", "message": "is already used by another user"}],
        }
        assert await _user_count(db_session) == before

    async def test_a_password_is_checked_after_surrounding_spaces_are_dropped(
        self, client: httpx.AsyncClient, db_session: AsyncSession, as_admin: dict[str, str]
    ) -> None:
        before = await _user_count(db_session)

        padded = await client.post(
            USERS,
            json={"email": "padded@example.com", "password": "   short pw      "},
            headers=as_admin,
        )

        assert padded.status_code == 400
        assert padded.json()["details"] == [
            {"field": "password", "message": "must be at least 12 characters long"}
        ]
        assert await _user_count(db_session) == before

    async def test_refuses_invalid_users(
        self, client: httpx.AsyncClient, db_session: AsyncSession, as_admin: dict[str, str]
    ) -> None:
        cases: dict[str, tuple[dict[str, object], str]] = {
            "email": ({"email": "not-an-email", "password": NEW_PASSWORD}, "email"),
            "weak password": ({"email": "short@example.com", "password": "too short"}, "password"),
            "role": ({"email": "r@example.com", "password": NEW_PASSWORD, "role": "owner"}, "role"),
            "unknown permission": (
                {"email": "p@example.com", "password": NEW_PASSWORD, "permissions": ["x:y"]},
                "permissions",
            ),
            "extra field": (
                {"email": "x@example.com", "password": NEW_PASSWORD, "passwordHash": "h"},
                "passwordHash",
            ),
        }
        before = await _user_count(db_session)

        answers = {}
        for case, (body, _field) in cases.items():
            response = await client.post(USERS, json=body, headers=as_admin)
            answers[case] = (response.status_code, [d["field"] for d in response.json()["details"]])

        assert answers == {case: (400, [field]) for case, (_body, field) in cases.items()}
        assert await _user_count(db_session) == before


class TestReadAndList:
    async def test_shows_a_user_with_grants_and_what_a_token_would_carry(
        self,
        client: httpx.AsyncClient,
        db_session: AsyncSession,
        as_admin: dict[str, str],
    ) -> None:
        staff = await make_user(db_session, permissions=["orders:read"])

        response = await client.get(f"{USERS}/{staff.id}", headers=as_admin)

        body = response.json()
        assert response.status_code == 200
        assert body["effectivePermissions"] == ["orders:read"]
        assert body["grants"][0]["permission"] == "orders:read"
        assert body["grants"][0]["expired"] is False
        assert "passwordHash" not in body

    async def test_an_admin_holds_every_permission(
        self, client: httpx.AsyncClient, admin: User, as_admin: dict[str, str]
    ) -> None:
        body = (await client.get(f"{USERS}/{admin.id}", headers=as_admin)).json()

        assert body["effectivePermissions"] == sorted(PERMISSIONS)

    async def test_lists_with_filters_and_pages(
        self,
        client: httpx.AsyncClient,
        db_session: AsyncSession,
        admin: User,
        as_admin: dict[str, str],
    ) -> None:
        staff = [await make_user(db_session) for _ in range(3)]
        gone = await make_user(db_session, active=False)

        page = (await client.get(USERS, params={"pageSize": 2, "page": 2}, headers=as_admin)).json()
        inactive = (await client.get(USERS, params={"active": "false"}, headers=as_admin)).json()
        admins = (await client.get(USERS, params={"role": "admin"}, headers=as_admin)).json()

        assert page["totalCount"] is None
        assert [u["id"] for u in page["items"]] == [staff[1].id, staff[2].id]
        assert (page["page"], page["pageSize"]) == (2, 2)
        assert [u["id"] for u in inactive["items"]] == [gone.id]
        assert [u["id"] for u in admins["items"]] == [admin.id]
        assert (await read_all(client, USERS, as_admin))["totalCount"] == 5

    async def test_cursor_pages_walk_every_user_with_the_filter(
        self,
        client: httpx.AsyncClient,
        db_session: AsyncSession,
        admin: User,
        as_admin: dict[str, str],
    ) -> None:
        active = [admin] + [await make_user(db_session) for _ in range(4)]
        await make_user(db_session, active=False)

        walked = await walk_pages(client, USERS, as_admin, {"active": "true"})

        assert [u["id"] for u in walked] == sorted(u.id for u in active)

    async def test_unknown_user(self, client: httpx.AsyncClient, as_admin: dict[str, str]) -> None:
        assert (await client.get(f"{USERS}/999999", headers=as_admin)).status_code == 404


class TestUpdate:
    async def test_changes_only_the_fields_sent(
        self, client: httpx.AsyncClient, db_session: AsyncSession, as_admin: dict[str, str]
    ) -> None:
        staff = await make_user(db_session)
        staff.first_name = "Before"
        await db_session.flush()

        response = await client.put(
            f"{USERS}/{staff.id}", json={"lastName": "After", "role": "admin"}, headers=as_admin
        )

        body = response.json()
        assert response.status_code == 200
        assert (body["firstName"], body["lastName"], body["role"]) == ("Before", "After", "admin")

    async def test_a_new_password_replaces_the_old_one(
        self, client: httpx.AsyncClient, db_session: AsyncSession, as_admin: dict[str, str]
    ) -> None:
        staff = await make_user(db_session)

        await client.put(f"{USERS}/{staff.id}", json={"password": NEW_PASSWORD}, headers=as_admin)

        old = await client.post(
            "/api/v1/auth/token", json={"email": staff.email, "password": PASSWORD}
        )
        new = await client.post(
            "/api/v1/auth/token", json={"email": staff.email, "password": NEW_PASSWORD}
        )
        assert (old.status_code, new.status_code) == (401, 200)

    async def test_nobody_deactivates_or_demotes_themselves(
        self,
        client: httpx.AsyncClient,
        db_session: AsyncSession,
        admin: User,
        as_admin: dict[str, str],
    ) -> None:
        deactivate = await client.put(
            f"{USERS}/{admin.id}", json={"active": False}, headers=as_admin
        )
        demote = await client.put(f"{USERS}/{admin.id}", json={"role": "staff"}, headers=as_admin)

        assert (deactivate.status_code, demote.status_code) == (409, 409)
        assert (deactivate.json()["code"], demote.json()["code"]) == (
            "CANNOT_CHANGE_SELF",
            "CANNOT_CHANGE_SELF",
        )
        assert deactivate.json()["details"] == [
            {"field": "active", "message": "you cannot deactivate yourself"}
        ]
        assert demote.json()["details"] == [
            {"field": "role", "message": "you cannot demote yourself"}
        ]
        await db_session.refresh(admin)
        assert (admin.active, admin.role, admin.token_generation) == (True, "admin", 0)

    async def test_a_refused_password_changes_nothing(
        self, client: httpx.AsyncClient, db_session: AsyncSession, as_admin: dict[str, str]
    ) -> None:
        staff = await make_user(db_session)
        before = (staff.password_hash, staff.token_generation, staff.last_name)

        response = await client.put(
            f"{USERS}/{staff.id}", json={"password": "too short", "lastName": "X"}, headers=as_admin
        )

        assert response.status_code == 400
        await db_session.refresh(staff)
        assert (staff.password_hash, staff.token_generation, staff.last_name) == before

    async def test_a_password_change_and_a_deactivation_end_the_users_tokens(
        self, client: httpx.AsyncClient, db_session: AsyncSession, as_admin: dict[str, str]
    ) -> None:
        changed = await make_user(db_session)
        deactivated = await make_user(db_session)
        renamed = await make_user(db_session)

        await client.put(f"{USERS}/{changed.id}", json={"password": NEW_PASSWORD}, headers=as_admin)
        await client.put(f"{USERS}/{deactivated.id}", json={"active": False}, headers=as_admin)
        await client.put(f"{USERS}/{renamed.id}", json={"firstName": "Re"}, headers=as_admin)

        generations = [
            await db_session.scalar(select(User.token_generation).where(User.id == user.id))
            for user in (changed, deactivated, renamed)
        ]
        assert generations == [1, 1, 0]
        events = (
            await db_session.scalars(
                select(Event.body).where(Event.topic == "users/update").order_by(Event.id)
            )
        ).all()
        assert events == [
            {"changed": ["password"]},
            {"changed": ["active"]},
            {"changed": ["first_name"]},
        ]

    async def test_a_deactivated_user_cannot_log_in(
        self, client: httpx.AsyncClient, db_session: AsyncSession, as_admin: dict[str, str]
    ) -> None:
        staff = await make_user(db_session)

        await client.put(f"{USERS}/{staff.id}", json={"active": False}, headers=as_admin)

        response = await client.post(
            "/api/v1/auth/token", json={"email": staff.email, "password": PASSWORD}
        )
        assert response.status_code == 401


class TestDelete:
    async def test_deletes_a_user_with_their_grants_and_keys(
        self, client: httpx.AsyncClient, db_session: AsyncSession, as_admin: dict[str, str]
    ) -> None:
        staff = await make_user(db_session, permissions=["orders:read"])
        await make_api_key(db_session, staff, ["orders:read"])

        response = await client.delete(f"{USERS}/{staff.id}", headers=as_admin)

        assert response.status_code == 204
        assert (await client.get(f"{USERS}/{staff.id}", headers=as_admin)).status_code == 404
        keys = await db_session.scalar(
            select(func.count(ApiKey.id)).where(ApiKey.user_id == staff.id)
        )
        grants = await db_session.scalar(
            select(func.count(UserPermission.id)).where(UserPermission.user_id == staff.id)
        )
        assert (keys, grants) == (0, 0)
        event = await db_session.scalar(
            select(Event).where(Event.topic == "users/delete", Event.subject_id == staff.id)
        )
        assert event is not None
        assert event.body == {"role": "staff"}

    async def test_nobody_deletes_themselves(
        self,
        client: httpx.AsyncClient,
        db_session: AsyncSession,
        admin: User,
        as_admin: dict[str, str],
    ) -> None:
        response = await client.delete(f"{USERS}/{admin.id}", headers=as_admin)

        assert response.status_code == 409
        assert response.json()["code"] == "CANNOT_CHANGE_SELF"
        assert response.json()["details"] == [
            {"field": "id", "message": "you cannot delete yourself"}
        ]
        assert await db_session.get(User, admin.id) is not None

    async def test_a_user_other_records_point_to_is_kept(
        self, client: httpx.AsyncClient, db_session: AsyncSession, as_admin: dict[str, str]
    ) -> None:
        from shopdb.models import AbandonedCheckoutEnhanced

        clerk = await make_user(db_session)
        db_session.add(AbandonedCheckoutEnhanced(token="chk-1", user_id=clerk.id))
        await db_session.flush()

        response = await client.delete(f"{USERS}/{clerk.id}", headers=as_admin)

        assert response.status_code == 409
        assert response.json()["code"] == "USER_HAS_ORDERS"
        assert response.json()["details"] == [
            {"field": "id", "message": "is referenced by orders or transactions"}
        ]
        assert "deactivate" in response.json()["message"]
        assert (await client.get(f"{USERS}/{clerk.id}", headers=as_admin)).status_code == 200


class TestGrants:
    async def test_grants_with_an_expiry_that_is_honoured(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        db_session: AsyncSession,
        as_admin: dict[str, str],
    ) -> None:
        staff = await make_user(db_session)
        expires = (utcnow() + timedelta(hours=1)).isoformat()

        granted = await client.post(
            f"{USERS}/{staff.id}/permissions",
            json={"permission": "orders:read", "expiresAt": expires},
            headers=as_admin,
        )
        listed = await client.get(f"{USERS}/{staff.id}/permissions", headers=as_admin)

        assert granted.status_code == 201
        assert granted.json()["permission"] == "orders:read"
        assert granted.json()["expired"] is False
        assert [g["permission"] for g in listed.json()] == ["orders:read"]
        login = await client.post(
            "/api/v1/auth/token", json={"email": staff.email, "password": PASSWORD}
        )
        claims = jwt.decode(login.json()["accessToken"], options={"verify_signature": False})
        assert claims["permissions"] == ["orders:read"]

    async def test_regranting_replaces_the_expiry(
        self, client: httpx.AsyncClient, db_session: AsyncSession, as_admin: dict[str, str]
    ) -> None:
        staff = await make_user(
            db_session, permissions=["orders:read"], expires_at=utcnow() - timedelta(days=1)
        )

        response = await client.post(
            f"{USERS}/{staff.id}/permissions", json={"permission": "orders:read"}, headers=as_admin
        )

        assert response.status_code == 201
        assert response.json()["expiresAt"] is None
        count = await db_session.scalar(
            select(func.count(UserPermission.id)).where(UserPermission.user_id == staff.id)
        )
        assert count == 1

    async def test_refuses_unknown_permissions_and_past_expiries(
        self, client: httpx.AsyncClient, db_session: AsyncSession, as_admin: dict[str, str]
    ) -> None:
        staff = await make_user(db_session)
        path = f"{USERS}/{staff.id}/permissions"

        unknown = await client.post(path, json={"permission": "orders:fly"}, headers=as_admin)
        past = await client.post(
            path,
            json={"permission": "orders:read", "expiresAt": "2000-01-01T00:00:00Z"},
            headers=as_admin,
        )

        assert (unknown.status_code, unknown.json()["details"][0]["field"]) == (400, "permission")
        assert (past.status_code, past.json()["details"][0]["field"]) == (400, "expiresAt")
        assert (await client.get(path, headers=as_admin)).json() == []

    async def test_revokes_a_grant_once(
        self, client: httpx.AsyncClient, db_session: AsyncSession, as_admin: dict[str, str]
    ) -> None:
        staff = await make_user(db_session, permissions=["orders:read", "orders:write"])

        first = await client.delete(f"{USERS}/{staff.id}/permissions/orders:read", headers=as_admin)
        again = await client.delete(f"{USERS}/{staff.id}/permissions/orders:read", headers=as_admin)

        assert (first.status_code, again.status_code) == (204, 404)
        remaining = (await client.get(f"{USERS}/{staff.id}/permissions", headers=as_admin)).json()
        assert [g["permission"] for g in remaining] == ["orders:write"]
        topics = (
            await db_session.scalars(
                select(Event.topic).where(
                    Event.subject_type == "User", Event.subject_id == staff.id
                )
            )
        ).all()
        assert topics == ["users/permission_revoke"]


class TestPermissionCatalogue:
    async def test_lists_every_permission(
        self, client: httpx.AsyncClient, as_admin: dict[str, str]
    ) -> None:
        response = await client.get("/api/v1/permissions", headers=as_admin)

        assert response.status_code == 200
        names = [p["name"] for p in response.json()]
        assert names == sorted(PERMISSIONS)
        first = response.json()[0]
        assert first["resource"] + ":" + first["action"] == first["name"]


class TestNeedsUsersAdmin:
    async def test_staff_without_users_admin_is_refused_everywhere(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        staff = await make_user(db_session, permissions=["orders:read", "orders:write"])
        target = await make_user(db_session, permissions=["orders:read"])
        before = await _user_count(db_session)
        routes = [
            ("GET", USERS),
            ("POST", USERS),
            ("GET", f"{USERS}/{target.id}"),
            ("PUT", f"{USERS}/{target.id}"),
            ("DELETE", f"{USERS}/{target.id}"),
            ("GET", f"{USERS}/{target.id}/permissions"),
            ("POST", f"{USERS}/{target.id}/permissions"),
            ("DELETE", f"{USERS}/{target.id}/permissions/orders:read"),
            ("GET", "/api/v1/permissions"),
        ]

        answers = {
            (method, path): (
                await client.request(method, path, json={}, headers=bearer(app, staff))
            ).status_code
            for method, path in routes
        }

        assert answers == dict.fromkeys(routes, 403)
        assert await _user_count(db_session) == before
        assert (await db_session.get(User, target.id)) is not None
