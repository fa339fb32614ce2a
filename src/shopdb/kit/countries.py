"""ISO 3166-1 alpha-2 country codes, and the codes shipping zones and tax rates accept.

The 249 officially assigned codes (as tzdata's iso3166.tab lists them). A province is the
subdivision part of an ISO 3166-2 code ("QC" in "CA-QC"): one to three letters or digits.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

COUNTRY_CODES: frozenset[str] = frozenset(
    (
        "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN "
        "BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ "
        "DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL "
        "GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM "
        "JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME "
        "MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP "
        "NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD "
        "SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO "
        "TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"
    ).split()
)
# A zone naming "*" covers every country that no other zone names (Shopify's rest of world).
REST_OF_WORLD = "*"
PROVINCE_CODE = re.compile(r"[A-Z0-9]{1,3}")


def country_problem(code: str) -> str | None:
    if code not in COUNTRY_CODES:
        return "is not an ISO 3166-1 alpha-2 country code (such as US, CA, DE)"
    return None


def province_problem(code: str) -> str | None:
    if PROVINCE_CODE.fullmatch(code) is None:
        return "is not a province code (the part after the hyphen of ISO 3166-2, such as QC)"
    return None


def _checked_country(value: str) -> str:
    value = value.upper()
    if (problem := country_problem(value)) is not None:
        raise ValueError(problem)
    return value


def _checked_province(value: str) -> str:
    value = value.upper()
    if (problem := province_problem(value)) is not None:
        raise ValueError(problem)
    return value


# Request fields: a country or province code in any letter case, stored upper-case; a code
# that is not one is a 400 naming the field.
CountryCode = Annotated[str, Field(min_length=2, max_length=2), AfterValidator(_checked_country)]
ProvinceCode = Annotated[str, Field(min_length=1, max_length=3), AfterValidator(_checked_province)]
