"""The pure shipping rules: stored codes, matching closeness, bounds."""

from __future__ import annotations

from decimal import Decimal

from shopdb.kit.countries import COUNTRY_CODES
from shopdb.shipping import rules
from shopdb.shipping.rules import Match, ZoneCountry


class TestCountryCodes:
    def test_holds_the_249_assigned_alpha_2_codes(self) -> None:
        assert len(COUNTRY_CODES) == 249
        assert {"US", "CA", "DE", "GB", "JP", "AX", "SS"} <= COUNTRY_CODES
        assert "UK" not in COUNTRY_CODES  # the UK's code is GB
        assert "XK" not in COUNTRY_CODES  # user-assigned, not ISO


class TestStoredCodes:
    def test_encodes_provinces_as_iso_3166_2_and_decodes_back(self) -> None:
        countries = [ZoneCountry("CA", ("QC", "ON")), ZoneCountry("US"), ZoneCountry("*")]

        codes = rules.encode(countries)

        assert codes == ["CA-QC", "CA-ON", "US", "*"]
        assert rules.decode(codes) == countries

    def test_decodes_nothing_stored_as_no_countries(self) -> None:
        assert rules.decode(None) == []


class TestCheckCountries:
    def test_accepts_countries_provinces_and_rest_of_world(self) -> None:
        countries = [ZoneCountry("CA", ("QC",)), ZoneCountry("US"), ZoneCountry("*")]
        assert rules.check_countries(countries) == []

    def test_names_each_problem_by_its_position(self) -> None:
        countries = [
            ZoneCountry("ZZ"),
            ZoneCountry("*", ("QC",)),
            ZoneCountry("CA", ("QC", "QC", "Q-C")),
            ZoneCountry("ZZ"),
        ]

        problems = rules.check_countries(countries)

        assert [field for field, _message in problems] == [
            "countries[0].code",
            "countries[1].provinces",
            "countries[2].provinces[1]",
            "countries[2].provinces[2]",
            "countries[3].code",
            "countries[3].code",
        ]


class TestMatch:
    def test_a_province_is_closer_than_its_country_closer_than_the_rest_of_world(self) -> None:
        codes = ["CA-QC", "CA", "*"]
        assert rules.match(codes, "CA", "QC") is Match.PROVINCE
        assert rules.match(codes, "CA", "ON") is Match.COUNTRY
        assert rules.match(codes, "CA", None) is Match.COUNTRY
        assert rules.match(codes, "FR", None) is Match.REST_OF_WORLD

    def test_a_province_zone_does_not_take_the_rest_of_its_country(self) -> None:
        assert rules.match(["CA-QC"], "CA", "ON") is None
        assert rules.match(["CA-QC"], "CA", None) is None
        assert rules.match(None, "CA", None) is None

    def test_overlap_is_the_codes_both_zones_name(self) -> None:
        assert rules.overlap(["CA", "US", "*"], ["US", "CA-QC", "*"]) == ["*", "US"]
        assert rules.overlap(["CA"], None) == []


class TestBounds:
    def test_minimum_inclusive_maximum_exclusive(self) -> None:
        low, high = Decimal("1000"), Decimal("5000")
        assert rules.within(Decimal("1000"), low, high)
        assert rules.within(Decimal("4999.99"), low, high)
        assert not rules.within(Decimal("5000"), low, high)
        assert not rules.within(Decimal("999.999"), low, high)

    def test_open_ends(self) -> None:
        assert rules.within(Decimal("0"), None, Decimal("1"))
        assert rules.within(Decimal("10000000"), Decimal("1"), None)
        assert rules.within(Decimal("0"), None, None)

    def test_a_range_needs_its_maximum_above_its_minimum(self) -> None:
        assert rules.check_range(Decimal(5), Decimal(5), "minWeight", "maxWeight") == [
            ("maxWeight", "must be greater than minWeight (the maximum is exclusive)")
        ]
        assert rules.check_range(Decimal(5), Decimal(6), "minWeight", "maxWeight") == []
        assert rules.check_range(None, Decimal(6), "minWeight", "maxWeight") == []
