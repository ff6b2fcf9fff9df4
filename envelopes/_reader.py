"""Field-level reading of an edXML tree, shared by the packet decoder (:mod:`envelopes._decode`).

Rules (spec/edxml.md §2.3.2, §2.3.6):

1. Children are matched by local name in the QCVN namespace, in any order; comments are
   skipped; an empty element is an absent field.
2. A ``Signature`` child is skipped where the caller says so (``edXMLHeader``).
3. Unknown children are kept as :class:`ExtraElement` (parent path + index among the parent's
   element children, Signature not counted); attributes of modelled elements as
   :class:`ExtraAttribute`.
4. Strict mode raises InvalidField / InvalidOrganId with element and line for a value that
   does not parse; lenient mode records a warning and reads the value as absent.
"""

from __future__ import annotations

from datetime import date, datetime

from lxml import etree

from envelopes import _wire as w
from envelopes.errors import InvalidField, InvalidOrganId
from envelopes.model import ExtraAttribute, ExtraElement, OrganId

Groups = dict[str, list[etree._Element]]


class FieldReader:
    """Reads fields of one packet; collects extras and (lenient) warnings."""

    def __init__(self, lenient: bool) -> None:
        self.lenient = lenient
        self.warnings: list[str] = []
        self.extra: list[ExtraElement] = []
        self.extra_attributes: list[ExtraAttribute] = []

    def group(self, el: etree._Element, known: tuple[str, ...], *, sig: bool = False) -> Groups:
        """Known children by name; unknown ones kept as extras (rules 1–3)."""
        out: Groups = {}
        index = 0
        tags = w.KNOWN_TAGS
        for child in el:
            tag: object = child.tag
            name = tags.get(tag)  # type: ignore[call-overload]  # comments: tag is a function
            if name is None:  # not a name we model (or not an element at all)
                if not isinstance(tag, str) or (sig and w.is_signature(child)):
                    continue
                if self.lenient:
                    name = w.local_name(child, lenient=True)
            if name is not None and name in known:
                found = out.get(name)
                if found is None:
                    out[name] = [child]
                else:
                    found.append(child)
                if child.keys():  # cheaper than .attrib (no proxy object)
                    self.keep_attributes(child)
            else:
                self._keep(el, index, child)
            index += 1
        return out

    def keep_attributes(self, el: etree._Element) -> None:
        """Rule 3 for attributes of a modelled element (the manifest version we write)."""
        items = el.attrib.items()
        if items == [("version", "1.0")] and w.local_name(el, lenient=self.lenient) == (
            "edXMLManifest"
        ):
            return  # the one attribute we write ourselves: not an extra
        path = w.path_of(el, lenient=self.lenient)
        for name, value in items:
            if path.endswith("/edXMLManifest") and name == "version" and value == "1.0":
                continue
            self.extra_attributes.append(ExtraAttribute(path, str(name), str(value)))

    def _keep(self, parent: etree._Element, index: int, child: etree._Element) -> None:
        path = w.path_of(parent, lenient=self.lenient)
        try:
            xml = etree.tostring(child, encoding="unicode", with_tail=False)
            self.extra.append(ExtraElement(parent=path, index=index, xml=xml))
        except (InvalidField, ValueError, etree.LxmlError) as exc:
            if not self.lenient:
                raise InvalidField(
                    f"unknown element cannot be kept: {exc}",
                    element=f"{path}/{child.tag}",
                    line=w.line_of(child),
                ) from exc
            self.warnings.append(
                f"unknown element {child.tag!r} under {path} (line {w.line_of(child)}) "
                "could not be kept and was dropped"
            )

    def one(self, groups: Groups, name: str) -> etree._Element | None:
        found = groups.get(name)
        if not found:
            return None
        if len(found) > 1:
            where = f"line {w.line_of(found[1])}"
            if not self.lenient:
                raise InvalidField(
                    f"appears {len(found)} times", element=name, line=w.line_of(found[1])
                )
            self.warnings.append(f"{name} appears {len(found)} times ({where}); the first is used")
        return found[0]

    def need(self, groups: Groups, name: str, parent: etree._Element) -> etree._Element:
        el = self.one(groups, name)
        if el is None:
            raise InvalidField(
                f"required element is missing under {w.path_of(parent)}",
                element=name,
                line=w.line_of(parent),
            )
        return el

    def text(self, el: etree._Element | None) -> str:
        if el is None:
            return ""
        if not len(el):  # a leaf: no children to check or tails to join
            return el.text or ""
        parts = [el.text or ""]
        for child in el:
            tag: object = child.tag
            if isinstance(tag, str):
                name = w.local_name(el) or str(el.tag)
                if not self.lenient:
                    raise InvalidField(
                        "a text field must not contain elements", element=name, line=w.line_of(el)
                    )
                self.warnings.append(
                    f"child element {tag!r} of text field {name} (line {w.line_of(child)}) ignored"
                )
            parts.append(child.tail or "")
        return "".join(parts)

    def field(self, groups: Groups, name: str) -> str:
        found = groups.get(name)
        if not found:
            return ""
        # one() for its duplicate check; a lone leaf (the common case) is read right here
        el = found[0] if len(found) == 1 else self.one(groups, name)
        if el is not None and not len(el):
            return el.text or ""
        return self.text(el)

    def _bad(self, el: etree._Element | None, name: str, exc: Exception) -> None:
        line = w.line_of(el) if el is not None else None
        if not self.lenient:
            raise InvalidField(str(exc), element=name, line=line) from exc
        self.warnings.append(f"{name} (line {line}): {exc}; read as absent")

    def int_field(self, groups: Groups, name: str) -> int | None:
        el = self.one(groups, name)
        text = self.text(el).strip()
        if not text:
            return None
        try:
            if not text.isascii() or not text.isdigit() or len(text) > 9:
                raise ValueError(f"{text!r} is not a non-negative integer")
            return int(text)
        except ValueError as exc:
            self._bad(el, name, exc)
            return None

    def date_field(self, groups: Groups, name: str) -> date | None:
        el = self.one(groups, name)
        text = self.text(el).strip()
        if not text:
            return None
        try:
            return w.parse_date(text)
        except ValueError as exc:
            self._bad(el, name, exc)
            return None

    def timestamp_field(self, groups: Groups, name: str, parent: etree._Element) -> datetime:
        el = self.need(groups, name, parent)
        try:
            return w.parse_timestamp(self.text(el))
        except ValueError as exc:
            raise InvalidField(str(exc), element=name, line=w.line_of(el)) from exc

    def organ(self, groups: Groups, name: str = "OrganId") -> OrganId | None:
        el = self.one(groups, name)
        return self._organ_of(el, name)

    def _organ_of(self, el: etree._Element | None, name: str = "OrganId") -> OrganId | None:
        text = self.text(el)
        if el is None or not text.strip():
            return None
        try:
            if not self.lenient:
                return OrganId.parse(text)
            organ_id, warnings = OrganId.parse_lenient(text)
        except InvalidOrganId as exc:
            raise InvalidOrganId(exc.message, element=name, line=w.line_of(el)) from exc
        self.warnings.extend(f"line {w.line_of(el)}: {m}" for m in warnings)
        return organ_id
