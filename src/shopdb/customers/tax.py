"""A customer's tax status: exempt from every tax, or from the specific ones Shopify names.

`TAX_EXEMPTIONS` is Shopify's `TaxExemption` enum (GraphQL Admin API, stable versions): the
Canadian status card, diplomat, provincial reseller, farmer, fishery, contractor and machinery
exemptions, the EU reverse charge rule, and one reseller exemption per US state and DC.
Shopify's `unstable` version adds `AUSTRALIA_RESELLER_EXEMPTION`; it is left out until a
stable version has it.

The checkout's tax calculation reads a customer's status through
`shopdb.customers.service.tax_status`, never the table: `exempt` means no tax at all;
otherwise each code in `exemptions` lifts the taxes of its region and kind, and applying them
is the tax calculation's business.
"""

from __future__ import annotations

from dataclasses import dataclass

_CANADA = (
    "CA_STATUS_CARD_EXEMPTION",
    "CA_DIPLOMAT_EXEMPTION",
    "CA_BC_RESELLER_EXEMPTION",
    "CA_MB_RESELLER_EXEMPTION",
    "CA_SK_RESELLER_EXEMPTION",
    "CA_SK_VPT_RESELLER_EXEMPTION",
    "CA_NL_VPT_RESELLER_EXEMPTION",
    "CA_BC_COMMERCIAL_FISHERY_EXEMPTION",
    "CA_MB_COMMERCIAL_FISHERY_EXEMPTION",
    "CA_NS_COMMERCIAL_FISHERY_EXEMPTION",
    "CA_PE_COMMERCIAL_FISHERY_EXEMPTION",
    "CA_SK_COMMERCIAL_FISHERY_EXEMPTION",
    "CA_BC_PRODUCTION_AND_MACHINERY_EXEMPTION",
    "CA_SK_PRODUCTION_AND_MACHINERY_EXEMPTION",
    "CA_BC_SUB_CONTRACTOR_EXEMPTION",
    "CA_SK_SUB_CONTRACTOR_EXEMPTION",
    "CA_BC_CONTRACTOR_EXEMPTION",
    "CA_SK_CONTRACTOR_EXEMPTION",
    "CA_ON_PURCHASE_EXEMPTION",
    "CA_MB_FARMER_EXEMPTION",
    "CA_NS_FARMER_EXEMPTION",
    "CA_SK_FARMER_EXEMPTION",
)
_US_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH"
    " NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY"
).split()

TAX_EXEMPTIONS: frozenset[str] = frozenset(
    (
        *_CANADA,
        "EU_REVERSE_CHARGE_EXEMPTION_RULE",
        *(f"US_{state}_RESELLER_EXEMPTION" for state in _US_STATES),
    )
)
# In the API's documentation (an enum) and in error messages, in a stable order.
TAX_EXEMPTION_CODES: tuple[str, ...] = tuple(sorted(TAX_EXEMPTIONS))


def check_tax_exemption(code: str) -> str:
    if code not in TAX_EXEMPTIONS:
        raise ValueError(
            "is not one of Shopify's TaxExemption codes (e.g. CA_STATUS_CARD_EXEMPTION, "
            "US_CA_RESELLER_EXEMPTION, EU_REVERSE_CHARGE_EXEMPTION_RULE)"
        )
    return code


@dataclass(frozen=True)
class TaxStatus:
    """What a customer is exempt from: everything (`exempt`), or the listed Shopify codes."""

    exempt: bool
    exemptions: tuple[str, ...]

    def is_exempt_from(self, code: str) -> bool:
        return self.exempt or code in self.exemptions
