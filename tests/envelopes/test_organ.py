"""OrganId: strict QĐ 20/2020 form, legacy 13-char form, lenient real-traffic form (§2.2)."""

from __future__ import annotations

import pytest

from envelopes.errors import InvalidOrganId
from envelopes.organ import OrganId


@pytest.mark.parametrize("text", ["000.00.00.G22", "000.00.04.G14", "H37.DN.001", "G22", "A" * 35])
def test_strict_accepts_qd20_codes(text: str) -> None:
    organ = OrganId.parse(text)
    assert organ.value == text
    assert str(organ) == text
    assert organ.is_strict


@pytest.mark.parametrize(
    ("text", "legacy"),
    [("000.00.00.G22", True), ("000.00.00.H41", True), ("28.22.H17", False), ("H37.DN.001", False)],
)
def test_legacy_form_is_recognised(text: str, legacy: bool) -> None:
    assert OrganId.parse(text).is_legacy is legacy


@pytest.mark.parametrize(
    "text", ["", "vxp.saas.03", "000.00.00.g22", "A" * 36, " 000.00.00.G22", "G-22", "Đ22", "0 1"]
)
def test_strict_rejects(text: str) -> None:
    with pytest.raises(InvalidOrganId) as info:
        OrganId.parse(text)
    assert info.value.code == "invalid_organ_id"
    assert info.value.element == "OrganId"


def test_lenient_accepts_real_traffic_with_warnings() -> None:
    organ, warnings = OrganId.parse_lenient("vxp.saas.03")
    assert organ == OrganId("vxp.saas.03")
    assert not organ.is_strict
    assert not organ.is_legacy
    assert len(warnings) == 1


def test_lenient_strict_value_has_no_warnings() -> None:
    organ, warnings = OrganId.parse_lenient("28.22.H17")
    assert organ.is_strict
    assert warnings == ()


def test_lenient_strips_whitespace_with_warning() -> None:
    organ, warnings = OrganId.parse_lenient("  000.00.00.G22\n")
    assert organ.value == "000.00.00.G22"
    assert organ.is_legacy
    assert len(warnings) == 1


def test_parse_lenient_flag_returns_value_only() -> None:
    assert OrganId.parse("999.010.01.h22", lenient=True) == OrganId("999.010.01.h22")


@pytest.mark.parametrize("text", ["", "   ", "a b", "x" * 65, "G22\x00", "Đà.Nẵng"])
def test_lenient_still_rejects_garbage(text: str) -> None:
    with pytest.raises(InvalidOrganId):
        OrganId.parse_lenient(text)


def test_constructor_refuses_non_strings() -> None:
    with pytest.raises(InvalidOrganId):
        OrganId(22)  # type: ignore[arg-type]


def test_ordering_and_hashing() -> None:
    ids = [OrganId("000.00.00.H41"), OrganId("000.00.00.G22")]
    assert sorted(ids)[0].value == "000.00.00.G22"
    assert len({OrganId("G22"), OrganId("G22")}) == 1
