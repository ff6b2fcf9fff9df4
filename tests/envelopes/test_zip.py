"""envelopes._zip: the one-entry archives of attachments, against zipfile itself."""

from __future__ import annotations

import io
import zipfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envelopes import _zip

ATTRS = 0o644 << 16


def zipfile_one(name: str, data: bytes, method: int) -> bytes:
    """What envelopes wrote with zipfile before _zip existed (the reference of rule 1)."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.create_system = 3
    info.external_attr = ATTRS
    info.compress_type = method
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, data, compress_type=method, compresslevel=6)
    return buffer.getvalue()


def zipfile_read(archive: bytes) -> bytes | None:
    """The one entry as zipfile reads it, or None when zipfile refuses the archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            infos = z.infolist()
            if len(infos) != 1 or infos[0].is_dir() or infos[0].flag_bits & 0x1:
                return None
            with z.open(infos[0]) as stream:
                out = stream.read(infos[0].file_size + 1)
            return out if len(out) == infos[0].file_size else None
    except Exception:
        return None


def fast_read(archive: bytes) -> bytes | None:
    entry = _zip.plain_entry(archive)
    return None if entry is None else entry.extract(archive)


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=3000) | st.text(max_size=2000).map(str.encode),
    method=st.sampled_from([_zip.STORED, _zip.DEFLATED]),
    ext=st.sampled_from(["", ".pdf", ".DOCX", ".x1"]),
)
def test_write_one_is_what_zipfile_writes(data: bytes, method: int, ext: str) -> None:
    name = "0123456789abcdef0123456789abcdef" + ext
    ours = _zip.write_one(name, data, method=method, external_attr=ATTRS)
    assert ours == zipfile_one(name, data, method)
    assert fast_read(ours) == data == zipfile_read(ours)


def test_large_entries_are_written_identically() -> None:
    data = bytes(range(256)) * 8000 + b"tail"
    for method in (_zip.STORED, _zip.DEFLATED):
        ours = _zip.write_one("a.bin", data, method=method, external_attr=ATTRS)
        assert ours == zipfile_one("a.bin", data, method)
        assert fast_read(ours) == data


def _archive(**options: object) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as z:
        if options.get("comment"):
            z.comment = b"archive comment"
        info = zipfile.ZipInfo("doc.pdf", date_time=(2020, 5, 17, 10, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        if options.get("extra"):
            info.extra = b"UT\x05\x00\x01\x00\x00\x00\x00"
        if options.get("file_comment"):
            info.comment = b"entry comment"
        z.writestr(info, b"%PDF-1.7 content " * 50)
        if options.get("second"):
            z.writestr("second.txt", b"second")
        if options.get("directory"):
            z.writestr("folder/", b"")
    data = buffer.getvalue()
    if options.get("prefix"):
        data = b"junk before the archive" + data
    return data


@pytest.mark.parametrize(
    "option", ["comment", "extra", "file_comment", "second", "directory", "prefix"]
)
def test_other_layouts_are_left_to_zipfile(option: str) -> None:
    assert _zip.plain_entry(_archive(**{option: True})) is None
    assert fast_read(_archive()) == b"%PDF-1.7 content " * 50


def test_data_descriptor_archives_are_plain() -> None:
    """Java's ZipOutputStream (the VNPT SDK) writes sizes after the data (flag bit 3)."""

    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.buffer = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: object) -> int:
            chunk = bytes(b)  # type: ignore[call-overload]
            self.buffer += chunk
            return len(chunk)

    out = Unseekable()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:  # type: ignore[arg-type]
        z.writestr("a.pdf", b"content " * 100)
    archive = bytes(out.buffer)
    entry = _zip.plain_entry(archive)
    assert entry is not None
    assert entry.extract(archive) == b"content " * 100 == zipfile_read(archive)


def test_entries_not_exactly_as_declared_are_refused() -> None:
    good = _zip.write_one("a.txt", b"hello " * 100, method=_zip.DEFLATED, external_attr=ATTRS)
    entry = _zip.plain_entry(good)
    assert entry is not None
    bad_crc = bytearray(good)
    bad_crc[14] ^= 0xFF  # CRC in the local header (not checked)...
    assert fast_read(bytes(bad_crc)) == b"hello " * 100 == zipfile_read(bytes(bad_crc))
    central = good.index(b"PK\x01\x02")
    bad_crc = bytearray(good)
    bad_crc[central + 16] ^= 0xFF  # ...the central directory's CRC is
    assert fast_read(bytes(bad_crc)) is None
    assert zipfile_read(bytes(bad_crc)) is None
    stored = _zip.write_one("a.txt", b"x" * 10, method=_zip.STORED, external_attr=ATTRS)
    short = bytearray(stored)
    short[stored.index(b"PK\x01\x02") + 24] = 11  # declared size 11, stored 10
    assert fast_read(bytes(short)) is None
    assert zlib.crc32(b"x" * 10) != 0


@pytest.fixture(scope="module")
def sample_archive() -> bytes:
    return _zip.write_one(
        "0123.pdf", b"%PDF-1.4 " + bytes(range(200)), method=_zip.DEFLATED, external_attr=ATTRS
    )


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_whatever_we_accept_zipfile_accepts_alike(
    sample_archive: bytes, data: st.DataObject
) -> None:
    """Rule 2 under random damage: one to three bytes changed anywhere."""
    mutated = bytearray(sample_archive)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        position = data.draw(st.integers(min_value=0, max_value=len(mutated) - 1))
        mutated[position] = data.draw(st.integers(min_value=0, max_value=255))
    ours = fast_read(bytes(mutated))
    if ours is not None:
        assert zipfile_read(bytes(mutated)) == ours
