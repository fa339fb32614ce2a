"""A customer's addresses: exactly one is the default whenever there is any.

The database holds at most one default per customer (partial unique index
ux_customer_addresses_customer_id_default); these rules add "at least one": the first address
becomes the default, moving the default clears the old one first in the same transaction, and
deleting the default promotes the oldest remaining address. Every change locks the customer
row, so two requests moving the default serialise instead of colliding on the index, and
bumps the customer's version, since addresses are part of what its ETag covers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.customers.errors import DefaultAddressRequired
from shopdb.customers.pii import ADDRESS_PHONE
from shopdb.customers.repository import CustomerRepository
from shopdb.customers.schemas import AddressInput
from shopdb.customers.service import (
    Unsealed,
    camel,
    load_customer,
    record_data_access,
    unseal,
)
from shopdb.errors import NotFound, ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.crypto import FieldCipher
from shopdb.kit.types import utcnow
from shopdb.models import Customer, CustomerAddress


def _find(customer: Customer, address_id: int) -> CustomerAddress:
    for address in customer.addresses:
        if address.id == address_id:
            return address
    raise NotFound(f"Address {address_id} of customer {customer.id} not found")


async def _touch(session: AsyncSession, customer: Customer) -> None:
    customer.updated_at = utcnow()
    await session.flush()


def _event(
    session: AsyncSession, actor: Subject, customer: Customer, verb: str, address_id: int
) -> None:
    record_event(
        session,
        topic=f"customers/address_{verb}",
        subject_type="Customer",
        subject_id=customer.id,
        body={"id": customer.id, "addressId": address_id},
        actor=actor.principal,
    )


async def list_addresses(
    session: AsyncSession, cipher: FieldCipher, actor: Subject, customer_id: int, *, via: str
) -> Unsealed:
    customer = await load_customer(session, customer_id)
    await record_data_access(session, actor, [customer.id], via=via)
    return unseal(cipher, customer, with_addresses=True)


async def add_address(
    session: AsyncSession,
    cipher: FieldCipher,
    actor: Subject,
    customer_id: int,
    data: AddressInput,
    *,
    via: str,
) -> tuple[Unsealed, int]:
    repository = CustomerRepository(session)
    customer = await load_customer(session, customer_id, lock=True)
    make_default = data.is_default or not customer.addresses
    if make_default:
        await repository.clear_default_address(customer.id)
    address = await repository.add_address(
        CustomerAddress(
            customer_id=customer.id,
            **data.model_dump(by_alias=False, exclude={"phone", "is_default"}),
            phone=cipher.encrypt(data.phone, context=ADDRESS_PHONE) if data.phone else None,
            is_default=make_default,
        )
    )
    await _touch(session, customer)
    _event(session, actor, customer, "create", address.id)
    return await _reread(session, cipher, actor, customer.id, via=via), address.id


async def update_address(
    session: AsyncSession,
    cipher: FieldCipher,
    actor: Subject,
    customer_id: int,
    address_id: int,
    changes: dict[str, Any],
    *,
    via: str,
) -> Unsealed:
    repository = CustomerRepository(session)
    customer = await load_customer(session, customer_id, lock=True)
    address = _find(customer, address_id)
    for field in ("address1", "city", "country", "is_default"):
        if field in changes and changes[field] is None:
            raise ValidationFailed.on(camel(field), "must not be null")
    becomes_default = changes.pop("is_default", None)
    if becomes_default is False and address.is_default:
        raise DefaultAddressRequired
    if becomes_default and not address.is_default:
        await repository.clear_default_address(customer.id)
        await repository.mark_default_address(address.id)
    if "phone" in changes:
        phone = changes.pop("phone")
        address.phone = cipher.encrypt(phone, context=ADDRESS_PHONE) if phone else None
    for field, value in changes.items():
        setattr(address, field, value)
    address.updated_at = utcnow()
    await _touch(session, customer)
    _event(session, actor, customer, "update", address.id)
    return await _reread(session, cipher, actor, customer.id, via=via)


async def delete_address(
    session: AsyncSession, actor: Subject, customer_id: int, address_id: int
) -> None:
    repository = CustomerRepository(session)
    customer = await load_customer(session, customer_id, lock=True)
    address = _find(customer, address_id)
    was_default = address.is_default
    await repository.delete_address(address.id)
    if was_default:
        successor = await repository.first_address_id(customer.id)
        if successor is not None:
            await repository.mark_default_address(successor)
    await _touch(session, customer)
    _event(session, actor, customer, "delete", address_id)


async def _reread(
    session: AsyncSession, cipher: FieldCipher, actor: Subject, customer_id: int, *, via: str
) -> Unsealed:
    customer = await load_customer(session, customer_id)
    await record_data_access(session, actor, [customer.id], via=via)
    return unseal(cipher, customer, with_addresses=True)
