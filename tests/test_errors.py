"""Every error class has a unique stable code, and every code has one registry row."""

from __future__ import annotations

import re

from docnode import errors
from envelopes import errors as env_errors
from keystore import errors as ks_errors


def _all_classes() -> list[type[Exception]]:
    return [
        *env_errors.all_error_classes(),
        *ks_errors.all_error_classes(),
        *errors.all_docnode_error_classes(),
    ]


def test_codes_are_unique_snake_case() -> None:
    codes = [cls.code for cls in _all_classes()]  # type: ignore[attr-defined]
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)
    for code in codes:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code), code


def test_every_code_is_in_the_registry_and_vice_versa() -> None:
    codes = {cls.code for cls in _all_classes()}  # type: ignore[attr-defined]
    assert codes == set(errors.REGISTRY)


def test_registry_statuses_are_consistent() -> None:
    for spec in errors.REGISTRY.values():
        assert 400 <= spec.http_status < 600
        if spec.http_status in (429, 503):
            assert spec.retryable, spec.code
        if 400 <= spec.http_status < 500 and spec.http_status not in (408, 429):
            assert not spec.retryable, spec.code
        assert spec.exit_code in (errors.EXIT_INVALID, errors.EXIT_USAGE)


def test_every_class_has_a_title() -> None:
    for cls in _all_classes():
        assert cls.title and cls.title[0].isupper(), cls  # type: ignore[attr-defined]
