"""How envelopes drives signxml: subclasses that work on our one checked tree.

signxml (5.2, pinned) copies the whole document by serialising and re-parsing it several times
per sign and per verify, parses with its own parser, and materialises the canonical document.
These subclasses change exactly that and nothing of the cryptography:

1. Parsing uses :func:`envelopes.parser.thread_parser` (huge_tree on, everything else off).
2. Copies of the document root (and, when verifying, of the Signature) are skipped: a root
   has no parent namespaces a copy could shed, and SignedInfo is canonicalised exclusively.
3. The document is canonicalised by :func:`envelopes._canonical.canonicalize`: hashed as it is
   written when signing, written once into one buffer when verifying.
4. The signer's placeholder sits in the tree while signxml digests it; the digest is taken with
   it detached, exactly as the enveloped-signature transform later sees the document.
5. The verifier never checks validity periods (keystore's job, at a time it chooses) and so
   never reads the clock.
"""

from __future__ import annotations

import hashlib
import io
from base64 import b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.signer import XMLSigner
from signxml.verifier import XMLVerifier

from ._canonical import canonicalize
from .errors import SignaturePolicyViolation
from .parser import thread_parser

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
ENVELOPED = SignatureConstructionMethod.enveloped.value
EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0


def ds(name: str) -> str:
    """Clark name of an XML-DSig element."""
    return f"{{{DS_NS}}}{name}"


class Signer(XMLSigner):
    """signxml's enveloped signer working on our one tree with our parser.

    The placeholder sits in that tree while signxml digests it, so the digest is taken with
    the placeholder detached, exactly as the enveloped-signature transform sees the result.
    """

    def __init__(
        self,
        doc_root: etree._Element,
        placeholder: etree._Element,
        method: SignatureMethod,
        *,
        restore_texts: bool,
    ) -> None:
        super().__init__(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=method,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=EXC_C14N,
        )
        self.namespaces = {"ds": DS_NS}
        self._doc_root = doc_root
        self._placeholder = placeholder
        self._restore_texts = restore_texts

    @property
    def parser(self) -> etree.XMLParser:
        return thread_parser()

    def get_root(self, data: Any) -> Any:
        base: Any = super()  # signxml's processor methods are untyped
        return data if data is self._doc_root else base.get_root(data)

    def _c14n(self, nodes: Any, algorithm: Any, inclusive_ns_prefixes: Any = None) -> Any:
        if nodes is not self._doc_root:
            return super()._c14n(nodes, algorithm, inclusive_ns_prefixes)
        # The document is hashed as it is canonicalised, never held as one bytes object.
        hasher = hashlib.sha256()
        with _detached(self._placeholder):
            canonicalize(
                nodes,
                write=hasher.update,
                exclusive=algorithm.value.startswith(EXC_C14N.value),
                with_comments=algorithm.value.endswith("#WithComments"),
                inclusive_ns_prefixes=inclusive_ns_prefixes,
                restore=self._restore_texts,
            )
        return _Hashed(hasher.digest())

    def _get_digest(self, data: Any, algorithm: DigestAlgorithm) -> Any:
        if isinstance(data, _Hashed):
            if algorithm is not DigestAlgorithm.SHA256:  # pragma: no cover - sign uses SHA-256
                raise SignaturePolicyViolation(f"unexpected digest {algorithm.name}")
            return data.digest
        return super()._get_digest(data, algorithm)


@dataclass(frozen=True, slots=True)
class _Hashed:
    """The SHA-256 of the canonical document, standing in for its bytes inside signxml."""

    digest: bytes


def key_info(*certificates: x509.Certificate) -> etree._Element:
    """KeyInfo/X509Data with the certificates (signer first), built once per certificate."""
    key_info = etree.Element(ds("KeyInfo"), nsmap={"ds": DS_NS})
    x509_data = etree.SubElement(key_info, ds("X509Data"))
    for certificate in certificates:
        etree.SubElement(x509_data, ds("X509Certificate")).text = _b64_der(certificate)
    return key_info


@lru_cache(maxsize=64)
def _b64_der(certificate: x509.Certificate) -> str:
    return b64encode(certificate.public_bytes(Encoding.DER)).decode()


@contextmanager
def _detached(element: etree._Element) -> Iterator[None]:
    """Remove ``element`` for a moment, merging its tail like the enveloped transform does."""
    parent = element.getparent()
    if parent is None:
        yield
        return
    index, tail, previous = parent.index(element), element.tail, element.getprevious()
    saved = previous.tail if previous is not None else parent.text
    if tail:
        if previous is not None:
            previous.tail = (saved or "") + tail
        else:
            parent.text = (saved or "") + tail
    parent.remove(element)
    try:
        yield
    finally:
        if previous is not None:
            previous.tail = saved
        else:
            parent.text = saved
        parent.insert(index, element)
        element.tail = tail


class Verifier(XMLVerifier):
    """signxml's verifier working on our one checked tree with our parser.

    Copies of the document root and of the Signature are skipped (signxml's
    ``_fromstring(_tostring(x))``): a root has no parent namespaces to shed, and SignedInfo is
    canonicalised exclusively, so its ancestors' declarations do not matter either. The
    enveloped transform thus removes the Signature from our tree, which nobody uses after
    verification. Once the digest has matched, our tree is cleared before signxml parses the
    canonical bytes into the returned tree, so at most one big tree is alive besides them.
    """

    def __init__(self, doc_root: etree._Element, signature: etree._Element) -> None:
        super().__init__()
        self._doc_root = doc_root
        self._signature = signature
        self._digested: object = None

    def get_root(self, data: Any) -> Any:
        base: Any = super()  # signxml's processor methods are untyped
        return data if data is self._doc_root else base.get_root(data)

    def _tostring(self, xml_node: Any, **kwargs: Any) -> Any:
        if xml_node is self._doc_root or xml_node is self._signature:
            return _SameTree(xml_node)
        base: Any = super()
        return base._tostring(xml_node, **kwargs)

    def _fromstring(self, xml_string: Any, **kwargs: Any) -> Any:
        if isinstance(xml_string, _SameTree):
            return xml_string.root
        if xml_string is self._digested:
            self._doc_root.clear()
        base: Any = super()
        return base._fromstring(xml_string, **kwargs)

    def _get_digest(self, data: Any, algorithm: DigestAlgorithm) -> Any:
        self._digested = data
        return super()._get_digest(data, algorithm)

    def _c14n(self, nodes: Any, algorithm: Any, inclusive_ns_prefixes: Any = None) -> Any:
        if nodes is not self._doc_root:
            return super()._c14n(nodes, algorithm, inclusive_ns_prefixes)
        # Attachments are written once into the output (see envelopes._canonical); our tree
        # is discarded after verification, so their texts need not go back into it.
        out = io.BytesIO()
        canonicalize(
            nodes,
            write=out.write,
            exclusive=algorithm.value.startswith(EXC_C14N.value),
            with_comments=algorithm.value.endswith("#WithComments"),
            inclusive_ns_prefixes=inclusive_ns_prefixes,
            restore=False,
        )
        return out.getvalue()

    def _check_cert_validity(self, cert: Any, cert_source: Any) -> None:
        """Validity periods are keystore's check, at the moment it is asked about (module
        rule 4); signxml's own check would read the clock (and format the subject name)."""


@dataclass(frozen=True, slots=True)
class _SameTree:
    """Stands for "the serialised document root" between signxml's _tostring and _fromstring."""

    root: etree._Element
