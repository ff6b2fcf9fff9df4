"""Fixtures of the security suite: the packet kit over the shared test PKI, and the
verification context a receiving node (OrganId 000.00.00.H41) would use."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from docnode.verification import VerificationContext, build_context

from .crafting import LIMITS, Kit, self_signed_signer

if TYPE_CHECKING:
    from tests.conftest import Pki


@pytest.fixture(scope="session")
def kit(pki: Pki) -> Kit:
    return Kit(pki.identities, pki.at, extra_signers={"self_signed": self_signed_signer(at=pki.at)})


@pytest.fixture(scope="session")
def context(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> VerificationContext:
    trust = pki.write_trust(tmp_path_factory.mktemp("trust"))
    return build_context(
        anchors=[trust.anchor],
        intermediates=[trust.intermediates],
        crls=[trust.crl, trust.root_crl],
        revocation="required",
        limits=LIMITS,
    )
