"""Pure shipping rules, no database: how a zone's countries are stored and matched, and
whether a rate's weight and subtotal bounds take a cart.

A zone's countries are stored as the seed's JSON array of codes: "US" for a whole country,
"CA-QC" (ISO 3166-2) for a province, "*" for the rest of the world. On the wire they are
`[{"code": "CA", "provinces": ["QC"]}, {"code": "US"}, {"code": "*"}]`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from shopdb.kit.countries import REST_OF_WORLD, country_problem, province_problem


class Match(IntEnum):
    """How closely a zone names an address; the closest zones win."""

    REST_OF_WORLD = 0
    COUNTRY = 1
    PROVINCE = 2


@dataclass(frozen=True)
class ZoneCountry:
    code: str
    provinces: tuple[str, ...] = ()


Problem = tuple[str, str]  # (field, message)


def check_countries(countries: Sequence[ZoneCountry]) -> list[Problem]:
    """Every code known, no country listed twice, provinces only under a real country."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for position, entry in enumerate(countries):
        field = f"countries[{position}]"
        if entry.code == REST_OF_WORLD:
            if entry.provinces:
                problems.append((f"{field}.provinces", 'must be empty for "*" (rest of world)'))
        elif (problem := country_problem(entry.code)) is not None:
            problems.append((f"{field}.code", problem))
        if entry.code in seen:
            problems.append((f"{field}.code", "is listed twice in this zone"))
        seen.add(entry.code)
        provinces_seen: set[str] = set()
        for index, province in enumerate(entry.provinces):
            province_field = f"{field}.provinces[{index}]"
            if (problem := province_problem(province)) is not None:
                problems.append((province_field, problem))
            elif province in provinces_seen:
                problems.append((province_field, "is listed twice"))
            provinces_seen.add(province)
    return problems


def encode(countries: Iterable[ZoneCountry]) -> list[str]:
    codes: list[str] = []
    for entry in countries:
        if entry.provinces:
            codes.extend(f"{entry.code}-{province}" for province in entry.provinces)
        else:
            codes.append(entry.code)
    return codes


def decode(codes: Iterable[str] | None) -> list[ZoneCountry]:
    """The stored codes grouped back by country, in the order first named."""
    whole: dict[str, list[str]] = {}
    for code in codes or ():
        country, _, province = str(code).partition("-")
        provinces = whole.setdefault(country, [])
        if province:
            provinces.append(province)
    return [ZoneCountry(code, tuple(provinces)) for code, provinces in whole.items()]


def match(codes: Iterable[str] | None, country: str, province: str | None) -> Match | None:
    """How closely the zone's codes name the address, or None if they do not."""
    named = set(codes or ())
    if province and f"{country}-{province}" in named:
        return Match.PROVINCE
    if country in named:
        return Match.COUNTRY
    if REST_OF_WORLD in named:
        return Match.REST_OF_WORLD
    return None


def overlap(mine: Iterable[str], theirs: Iterable[str] | None) -> list[str]:
    """Codes two zones both name: an address would belong to both at the same closeness."""
    return sorted(set(mine) & set(theirs or ()))


def within(value: Decimal, minimum: Decimal | None, maximum: Decimal | None) -> bool:
    """Minimum inclusive, maximum exclusive: adjacent bands tile with neither gap nor overlap."""
    if minimum is not None and value < minimum:
        return False
    return maximum is None or value < maximum


def check_range(
    minimum: Decimal | None, maximum: Decimal | None, min_field: str, max_field: str
) -> list[Problem]:
    if minimum is not None and maximum is not None and maximum <= minimum:
        return [(max_field, f"must be greater than {min_field} (the maximum is exclusive)")]
    return []
