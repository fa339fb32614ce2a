"""/api/v1/customers (with addresses) and /api/v1/customer-groups."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.customers import actions, consent, service
from shopdb.customers import addresses as address_service
from shopdb.customers import groups as group_service
from shopdb.customers.auth import CustomersRead, CustomersReadWrite, CustomersWrite
from shopdb.customers.schemas import (
    AddressInput,
    AddressRead,
    AddressUpdate,
    CustomerCreate,
    CustomerDetail,
    CustomerRead,
    CustomerState,
    CustomerUpdate,
    GroupCreate,
    GroupRead,
    GroupUpdate,
    MarketingConsentRead,
    MemberRead,
    SortDirection,
    SortField,
)
from shopdb.dependencies import SessionDep
from shopdb.errors import NotFound
from shopdb.keys import field_cipher
from shopdb.kit.crypto import FieldCipher
from shopdb.kit.parameters import IfMatch, PageQuery
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.kit.types import round_money
from shopdb.models import Customer, CustomerGroup
from shopdb.orders.service import CustomerStats, customer_order_stats
from shopdb.services import services_of

router = domain_router("/customers", tags=["customers"])
groups_router = domain_router("/customer-groups", tags=["customers"])


def _cipher(request: Request) -> FieldCipher:
    return field_cipher(services_of(request.app).settings)


CipherDep = Annotated[FieldCipher, Depends(_cipher)]


def _via(request: Request) -> str:
    return f"{request.method} {request.url.path}"


def _addresses(found: service.Unsealed) -> list[AddressRead]:
    return [
        AddressRead.model_validate(address).model_copy(
            update={"phone": found.address_phones.get(address.id)}
        )
        for address in found.customer.addresses
    ]


def _consent(customer: Customer, channel: str) -> MarketingConsentRead:
    record = consent.current(customer, channel)
    return MarketingConsentRead.model_validate(record, from_attributes=True)


NO_ORDERS = CustomerStats(orders_count=0, total_spent=Decimal(0))


def _summary(found: service.Unsealed, stats: CustomerStats) -> CustomerRead:
    customer = found.customer
    return CustomerRead(
        id=customer.id,
        email=found.email,
        first_name=customer.first_name,
        last_name=customer.last_name,
        phone=found.phone,
        state=customer.state,
        note=customer.note,
        email_marketing_consent=_consent(customer, "email"),
        sms_marketing_consent=_consent(customer, "sms"),
        tax_exempt=customer.tax_exempt,
        tax_exemptions=list(customer.tax_exemptions),
        tags=sorted(row.tag for row in customer.tag_rows),
        group_ids=sorted(m.customer_group_id for m in customer.group_memberships),
        orders_count=stats.orders_count,
        # In cents even when the sum is a bare 0 (no order, or only cancelled ones).
        total_spent=round_money(stats.total_spent),
        version=customer.version,
        created_at=customer.created_at,
        updated_at=customer.updated_at,
    )


async def _detail(
    session: AsyncSession, found: service.Unsealed, response: Response
) -> CustomerDetail:
    response.headers["ETag"] = service.etag(found.customer)
    addresses = _addresses(found)
    stats = await customer_order_stats(session, [found.customer.id])
    return CustomerDetail(
        **_summary(found, stats.get(found.customer.id, NO_ORDERS)).model_dump(by_alias=False),
        addresses=addresses,
        default_address=next((a for a in addresses if a.is_default), None),
    )


@router.get("", response_model=Page[CustomerRead])
async def list_customers(
    request: Request,
    subject: CustomersRead,
    session: SessionDep,
    cipher: CipherDep,
    page: PageQuery,
    email: Annotated[str | None, Query(max_length=255)] = None,
    state: CustomerState | None = None,
    tag: Annotated[str | None, Query(max_length=255)] = None,
    group_id: Annotated[int | None, Query(alias="groupId", ge=1)] = None,
    q: Annotated[str | None, Query(max_length=255)] = None,
    sort_by: Annotated[SortField, Query(alias="sortBy")] = "id",
    sort_direction: Annotated[SortDirection, Query(alias="sortDirection")] = "asc",
) -> Page[CustomerRead]:
    """Filtered and sorted; deeper than the first 10,000 rows by `cursor` (each page's
    nextCursor); `totalCount` only with `withTotal=true`."""
    found = await service.list_customers(
        session,
        cipher,
        subject,
        email=email,
        state=state,
        tag=tag,
        group_id=group_id,
        q=q,
        sort_by=sort_by,
        direction=sort_direction,
        request=page,
        via=_via(request),
    )
    # One GROUP BY for the whole page, never a query per customer.
    stats = await customer_order_stats(session, [f.customer.id for f in found.rows])
    return Page[CustomerRead](
        items=[_summary(f, stats.get(f.customer.id, NO_ORDERS)) for f in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@router.post("", status_code=201, response_model=CustomerDetail)
async def create_customer(
    body: CustomerCreate,
    request: Request,
    response: Response,
    subject: CustomersReadWrite,
    session: SessionDep,
    cipher: CipherDep,
) -> CustomerDetail:
    found = await service.create_customer(session, cipher, subject, body, via=_via(request))
    response.headers["Location"] = f"{request.url.path}/{found.customer.id}"
    return await _detail(session, found, response)


@router.get("/{customer_id}", response_model=CustomerDetail)
async def get_customer(
    customer_id: int,
    request: Request,
    response: Response,
    subject: CustomersRead,
    session: SessionDep,
    cipher: CipherDep,
) -> CustomerDetail:
    found = await service.read_customer(session, cipher, subject, customer_id, via=_via(request))
    return await _detail(session, found, response)


@router.put("/{customer_id}", response_model=CustomerDetail)
async def update_customer(
    customer_id: int,
    body: CustomerUpdate,
    request: Request,
    response: Response,
    subject: CustomersReadWrite,
    session: SessionDep,
    cipher: CipherDep,
    if_match: IfMatch = None,
) -> CustomerDetail:
    found = await service.update_customer(
        session,
        cipher,
        subject,
        customer_id,
        body.model_dump(exclude_unset=True, by_alias=False),
        if_match=if_match,
        via=_via(request),
    )
    return await _detail(session, found, response)


@router.delete("/{customer_id}", status_code=204)
async def delete_customer(
    customer_id: int, subject: CustomersWrite, session: SessionDep, if_match: IfMatch = None
) -> Response:
    await service.delete_customer(session, subject, customer_id, if_match=if_match)
    return Response(status_code=204)


# --- account state ----------------------------------------------------------------------------


async def _change_state(
    action: str,
    customer_id: int,
    request: Request,
    response: Response,
    subject: CustomersReadWrite,
    session: SessionDep,
    cipher: CipherDep,
    if_match: str | None,
) -> CustomerDetail:
    found = await actions.change_state(
        session, cipher, subject, customer_id, action, if_match=if_match, via=_via(request)
    )
    return await _detail(session, found, response)


@router.post("/{customer_id}/invite", response_model=CustomerDetail)
async def invite_customer(
    customer_id: int,
    request: Request,
    response: Response,
    subject: CustomersReadWrite,
    session: SessionDep,
    cipher: CipherDep,
    if_match: IfMatch = None,
) -> CustomerDetail:
    """disabled or declined -> invited; the invitation email goes out later (notifications)."""
    return await _change_state(
        "invite", customer_id, request, response, subject, session, cipher, if_match
    )


@router.post("/{customer_id}/activate", response_model=CustomerDetail)
async def activate_customer(
    customer_id: int,
    request: Request,
    response: Response,
    subject: CustomersReadWrite,
    session: SessionDep,
    cipher: CipherDep,
    if_match: IfMatch = None,
) -> CustomerDetail:
    """invited or disabled -> enabled (Shopify's account activation)."""
    return await _change_state(
        "activate", customer_id, request, response, subject, session, cipher, if_match
    )


@router.post("/{customer_id}/disable", response_model=CustomerDetail)
async def disable_customer(
    customer_id: int,
    request: Request,
    response: Response,
    subject: CustomersReadWrite,
    session: SessionDep,
    cipher: CipherDep,
    if_match: IfMatch = None,
) -> CustomerDetail:
    """enabled, invited or declined -> disabled."""
    return await _change_state(
        "disable", customer_id, request, response, subject, session, cipher, if_match
    )


# --- addresses --------------------------------------------------------------------------------


@router.get("/{customer_id}/addresses", response_model=list[AddressRead])
async def list_addresses(
    customer_id: int,
    request: Request,
    subject: CustomersRead,
    session: SessionDep,
    cipher: CipherDep,
) -> list[AddressRead]:
    found = await address_service.list_addresses(
        session, cipher, subject, customer_id, via=_via(request)
    )
    return _addresses(found)


@router.get("/{customer_id}/addresses/{address_id}", response_model=AddressRead)
async def get_address(
    customer_id: int,
    address_id: int,
    request: Request,
    subject: CustomersRead,
    session: SessionDep,
    cipher: CipherDep,
) -> AddressRead:
    found = await address_service.list_addresses(
        session, cipher, subject, customer_id, via=_via(request)
    )
    return _one_address(found, address_id)


@router.post("/{customer_id}/addresses", status_code=201, response_model=AddressRead)
async def create_address(
    customer_id: int,
    body: AddressInput,
    request: Request,
    subject: CustomersReadWrite,
    session: SessionDep,
    cipher: CipherDep,
) -> AddressRead:
    found, address_id = await address_service.add_address(
        session, cipher, subject, customer_id, body, via=_via(request)
    )
    return _one_address(found, address_id)


@router.put("/{customer_id}/addresses/{address_id}", response_model=AddressRead)
async def update_address(
    customer_id: int,
    address_id: int,
    body: AddressUpdate,
    request: Request,
    subject: CustomersReadWrite,
    session: SessionDep,
    cipher: CipherDep,
) -> AddressRead:
    found = await address_service.update_address(
        session,
        cipher,
        subject,
        customer_id,
        address_id,
        body.model_dump(exclude_unset=True, by_alias=False),
        via=_via(request),
    )
    return _one_address(found, address_id)


@router.put("/{customer_id}/addresses/{address_id}/default", response_model=AddressRead)
async def set_default_address(
    customer_id: int,
    address_id: int,
    request: Request,
    subject: CustomersReadWrite,
    session: SessionDep,
    cipher: CipherDep,
) -> AddressRead:
    found = await address_service.update_address(
        session, cipher, subject, customer_id, address_id, {"is_default": True}, via=_via(request)
    )
    return _one_address(found, address_id)


@router.delete("/{customer_id}/addresses/{address_id}", status_code=204)
async def delete_address(
    customer_id: int, address_id: int, subject: CustomersWrite, session: SessionDep
) -> Response:
    await address_service.delete_address(session, subject, customer_id, address_id)
    return Response(status_code=204)


def _one_address(found: service.Unsealed, address_id: int) -> AddressRead:
    for address in _addresses(found):
        if address.id == address_id:
            return address
    raise NotFound(f"Address {address_id} of customer {found.customer.id} not found")


# --- groups -----------------------------------------------------------------------------------


def _group(group: CustomerGroup, members: int) -> GroupRead:
    return GroupRead(
        id=group.id,
        name=group.name,
        description=group.description,
        discount_percentage=group.discount_percentage,
        member_count=members,
        created_at=group.created_at,
        updated_at=group.updated_at,
    )


@groups_router.get("", response_model=Page[GroupRead])
async def list_groups(
    _subject: CustomersRead, session: SessionDep, page: PageQuery
) -> Page[GroupRead]:
    """By name."""
    found = await group_service.list_groups(session, page)
    return Page[GroupRead](
        items=[_group(g, n) for g, n in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@groups_router.post("", status_code=201, response_model=GroupRead)
async def create_group(
    body: GroupCreate, subject: CustomersWrite, session: SessionDep
) -> GroupRead:
    group, members = await group_service.create_group(
        session,
        subject,
        name=body.name,
        description=body.description,
        discount_percentage=body.discount_percentage,
    )
    return _group(group, members)


@groups_router.get("/{group_id}", response_model=GroupRead)
async def get_group(group_id: int, _subject: CustomersRead, session: SessionDep) -> GroupRead:
    return _group(*await group_service.get_group(session, group_id))


@groups_router.put("/{group_id}", response_model=GroupRead)
async def update_group(
    group_id: int, body: GroupUpdate, subject: CustomersWrite, session: SessionDep
) -> GroupRead:
    changes = body.model_dump(exclude_unset=True, by_alias=False)
    return _group(*await group_service.update_group(session, subject, group_id, changes))


@groups_router.delete("/{group_id}", status_code=204)
async def delete_group(group_id: int, subject: CustomersWrite, session: SessionDep) -> Response:
    await group_service.delete_group(session, subject, group_id)
    return Response(status_code=204)


@groups_router.get("/{group_id}/customers", response_model=Page[MemberRead])
async def list_members(
    group_id: int,
    _subject: CustomersRead,
    session: SessionDep,
    page: PageQuery,
) -> Page[MemberRead]:
    """By customer id."""
    found = await group_service.list_members(session, group_id, page)
    return Page[MemberRead](
        items=[MemberRead(customer_id=m.customer_id, added_at=m.created_at) for m in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@groups_router.put("/{group_id}/customers/{customer_id}", status_code=204)
async def add_member(
    group_id: int, customer_id: int, subject: CustomersWrite, session: SessionDep
) -> Response:
    await group_service.add_member(session, subject, group_id, customer_id)
    return Response(status_code=204)


@groups_router.delete("/{group_id}/customers/{customer_id}", status_code=204)
async def remove_member(
    group_id: int, customer_id: int, subject: CustomersWrite, session: SessionDep
) -> Response:
    await group_service.remove_member(session, subject, group_id, customer_id)
    return Response(status_code=204)
