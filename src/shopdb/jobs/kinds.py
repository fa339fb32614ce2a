"""Every kind of job, in one table: who may read it, what its failure says, how often it is tried.

The handlers live with their domains and are bound to these names in shopdb.worker, so this
module stays free of domain imports; GET /api/v1/jobs/{id} reads the permission from here, and
a test checks that every kind has exactly one handler.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobKind:
    name: str
    # The permission a caller needs to read such a job through GET /api/v1/jobs/{id}.
    permission: str
    # What `error` says once the job failed for good: never an exception's text, which can
    # hold SQL and customer data (the log has that, under the job's id).
    failure_message: str
    # Claims before the job is failed for good; each failure waits longer (shopdb.jobs.runner).
    max_attempts: int = 5
    # Waits while the worker's webhook sender has more due deliveries than it can take
    # (Worker's `defer_while`), within WorkerOptions.max_deferral_seconds: messages to people
    # can be late by seconds; apps reacting to events should not be.
    deferrable: bool = False


PRODUCTS_IMPORT = JobKind(
    "products/import",
    permission="products:read",
    failure_message="The import stopped on an unexpected error; the server log has the details",
    # An import resumes where its last committed batch ended, so a retry redoes little.
    max_attempts=3,
)
FILES_DELETE = JobKind(
    "files/delete",
    permission="products:read",
    failure_message="The file could not be deleted; the server log has the details",
    # Storage outages are the expected failure; with the default backoff (10 s doubling, at
    # most an hour) twelve attempts span a few hours.
    max_attempts=12,
)
IMAGES_FETCH = JobKind(
    "images/fetch",
    permission="products:read",
    failure_message="The image could not be downloaded; the image's errorMessage says why",
    # Network errors and 5xx answers are retried (10 s, 20 s, 40 s, 80 s with the default
    # backoff); a refused address, a file too large or not an image fails at once.
    max_attempts=5,
)

# Notifications (shopdb.notifications). A mail server that is away is the expected failure;
# with the default backoff (10 s doubling) eight attempts span about 40 minutes. A recipient
# the server refuses for good fails the job at once.
EMAIL_ATTEMPTS = 8

ORDERS_CONFIRMATION_EMAIL = JobKind(
    "orders/confirmation_email",
    permission="orders:read",
    failure_message="The order confirmation could not be sent; the server log has the details",
    max_attempts=EMAIL_ATTEMPTS,
    deferrable=True,
)
ORDERS_SHIPPING_CONFIRMATION_EMAIL = JobKind(
    "orders/shipping_confirmation_email",
    permission="orders:read",
    failure_message="The shipping confirmation could not be sent; the server log has the details",
    max_attempts=EMAIL_ATTEMPTS,
    deferrable=True,
)
REFUNDS_NOTIFICATION_EMAIL = JobKind(
    "refunds/notification_email",
    permission="orders:read",
    failure_message="The refund notification could not be sent; the server log has the details",
    max_attempts=EMAIL_ATTEMPTS,
    deferrable=True,
)
CHECKOUTS_RECOVERY_EMAIL = JobKind(
    "checkouts/recovery_email",
    permission="orders:read",
    failure_message="The checkout recovery email could not be sent; the log has the details",
    max_attempts=EMAIL_ATTEMPTS,
    deferrable=True,
)
GIFT_CARDS_ISSUED_EMAIL = JobKind(
    "gift_cards/issued_email",
    permission="discounts:read",
    failure_message="The gift card email could not be sent; the server log has the details",
    max_attempts=EMAIL_ATTEMPTS,
    deferrable=True,
)
ORDERS_RELEASE_RESERVATION = JobKind(
    "orders/release_expired_reservations",
    permission="orders:read",
    failure_message="Expired order reservations could not be released; the log has details",
    # The gateway may be down when an authorization must be voided first: keep trying.
    max_attempts=12,
)

CHECKOUTS_MARK_ABANDONED = JobKind(
    "checkouts/mark_abandoned",
    permission="orders:read",
    failure_message="Abandoned checkouts could not be recorded; the log has the details",
)

# Kinds queued today whose handler comes with a later issue: their jobs stay queued, visible
# at /api/v1/jobs, and no worker claims them.
AWAITING_HANDLER: frozenset[str] = frozenset()

KINDS: dict[str, JobKind] = {
    kind.name: kind
    for kind in (
        PRODUCTS_IMPORT,
        FILES_DELETE,
        IMAGES_FETCH,
        ORDERS_CONFIRMATION_EMAIL,
        ORDERS_SHIPPING_CONFIRMATION_EMAIL,
        REFUNDS_NOTIFICATION_EMAIL,
        CHECKOUTS_RECOVERY_EMAIL,
        GIFT_CARDS_ISSUED_EMAIL,
        ORDERS_RELEASE_RESERVATION,
        CHECKOUTS_MARK_ABANDONED,
    )
}
