"""Single-entry ZIP archives as attachments carry them (spec/edxml.md §2.3.4), without the
generality of :mod:`zipfile`.

zipfile builds ZipInfo objects, seeks in file objects and wraps entries in streams: about
20 µs per small attachment each way, as much as the rest of a small packet's encoding or
decoding. Rules:

1. :func:`write_one` produces byte for byte what ``zipfile.ZipFile.writestr`` writes for one
   entry with a fixed 1980-01-01 timestamp, ``create_system`` 3 and the given external
   attributes, stored or deflated at level 6 (no ZIP64: entries stay far below 2 GiB).
   The tests compare the two.
2. :func:`plain_entry` recognises only the plain layout: exactly one entry, nothing before it,
   no archive or file comment, no extra fields (so no ZIP64), no flags but "sizes in a data
   descriptor" and "UTF-8 name", the same name and flags in the local and central headers,
   stored or deflated, not a directory. :meth:`PlainEntry.extract` returns the content only
   when it is exactly as declared (length, end of the deflate stream, CRC-32); otherwise
   None. Whatever is not plain, the caller hands to zipfile and its full checks, so this
   accepts nothing zipfile refuses, and gives the same bytes.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

STORED = 0
DEFLATED = 8

_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END = struct.Struct("<4s4H2LH")
_LOCAL_MAGIC, _CENTRAL_MAGIC, _END_MAGIC = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"
_VERSION = 20  # zipfile's DEFAULT_VERSION: deflate, no ZIP64
_DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1
_UNIX = 3
_ALLOWED_FLAGS = 0x08 | 0x800  # sizes after the data; UTF-8 file name
_MAX_EXTRACT_VERSION = 63  # zipfile's MAX_EXTRACT_VERSION


def write_one(name: str, data: bytes, *, method: int, external_attr: int) -> bytes:
    """Rule 1: a one-entry archive of ``data`` under the ASCII ``name``."""
    filename = name.encode("ascii")
    if method == DEFLATED:
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = compressor.compress(data) + compressor.flush()
    else:
        body = data
    crc = zlib.crc32(data)
    local = _LOCAL.pack(
        _LOCAL_MAGIC, _VERSION, 0, 0, method, 0, _DOS_DATE_1980_01_01, crc,
        len(body), len(data), len(filename), 0,
    )  # fmt: skip
    central = _CENTRAL.pack(
        _CENTRAL_MAGIC, _VERSION, _UNIX, _VERSION, 0, 0, method, 0, _DOS_DATE_1980_01_01, crc,
        len(body), len(data), len(filename), 0, 0, 0, 0, external_attr, 0,
    )  # fmt: skip
    central_offset = len(local) + len(filename) + len(body)
    end = _END.pack(_END_MAGIC, 0, 0, 1, 1, len(central) + len(filename), central_offset, 0)
    return b"".join((local, filename, body, central, filename, end))


@dataclass(frozen=True, slots=True)
class PlainEntry:
    """The one entry of a plain archive (rule 2), as its central directory declares it."""

    method: int
    crc: int
    compress_size: int
    file_size: int
    data_offset: int

    def extract(self, archive: bytes) -> bytes | None:
        """The entry's content if it is exactly as declared, else None (rule 2)."""
        raw = memoryview(archive)[self.data_offset : self.data_offset + self.compress_size]
        if len(raw) != self.compress_size:
            return None
        if self.method == STORED:
            if self.compress_size != self.file_size:
                return None
            out = bytes(raw)
        else:
            inflater = zlib.decompressobj(-15)
            try:
                out = inflater.decompress(raw, self.file_size + 1)
            except zlib.error:
                return None
            if (
                len(out) != self.file_size
                or not inflater.eof
                or inflater.unused_data
                or inflater.unconsumed_tail
            ):
                return None
        return out if zlib.crc32(out) == self.crc else None


def plain_entry(archive: bytes) -> PlainEntry | None:
    """Rule 2: the entry of a plain one-entry archive, or None for any other layout."""
    central = _central_record(archive)
    if central is None:
        return None
    flags, method, crc, csize, usize, name, cd_offset = central
    local = _LOCAL.unpack_from(archive, 0)
    l_magic, l_flags, l_method, l_name_len, l_extra_len = (
        local[0], local[3], local[4], local[10], local[11],
    )  # fmt: skip
    data_offset = _LOCAL.size + l_name_len
    if (
        (l_magic, l_flags, l_method, l_name_len, l_extra_len)
        != (_LOCAL_MAGIC, flags, method, len(name), 0)
        or archive[_LOCAL.size : data_offset] != name
        or data_offset + csize > cd_offset
    ):
        return None
    return PlainEntry(method, crc, csize, usize, data_offset)


def _central_record(archive: bytes) -> tuple[int, int, int, int, int, bytes, int] | None:
    """(flags, method, CRC, compressed size, size, name, its offset) of the only central
    directory record, which must directly precede the end record; None if not plain."""
    if len(archive) < _LOCAL.size + _CENTRAL.size + _END.size:
        return None
    magic, disk, cd_disk, on_disk, total, cd_size, cd_offset, comment = _END.unpack_from(
        archive, len(archive) - _END.size
    )
    # A ZIP64 locator signature before the end record would send zipfile down another path.
    zip64_locator = archive[-_END.size - 20 : -_END.size - 16] == b"PK\x06\x07"
    if (
        (magic, disk, cd_disk, on_disk, total, comment) != (_END_MAGIC, 0, 0, 1, 1, 0)
        or cd_offset + cd_size + _END.size != len(archive)
        or cd_size < _CENTRAL.size
        or zip64_locator
    ):
        return None
    central = _CENTRAL.unpack_from(archive, cd_offset)
    (c_magic, _, _, extract_version, _, flags, method, _, _, crc, csize, usize) = central[:12]
    (name_len, extra_len, comment_len, start_disk, _, _, header_offset) = central[12:]
    if (
        c_magic != _CENTRAL_MAGIC
        or extract_version > _MAX_EXTRACT_VERSION
        or flags & ~_ALLOWED_FLAGS
        or method not in (STORED, DEFLATED)
        or (extra_len, comment_len, start_disk, header_offset) != (0, 0, 0, 0)
        or cd_size != _CENTRAL.size + name_len
    ):
        return None
    name = archive[cd_offset + _CENTRAL.size : cd_offset + cd_size]
    return (flags, method, crc, csize, usize, name, cd_offset) if _plain_name(name, flags) else None


def _plain_name(name: bytes, flags: int) -> bool:
    """zipfile cuts a name at NUL (it may then name a directory) and insists on valid UTF-8
    when the flag says so: only names it reads as they are, and no directories."""
    if not name or name.endswith(b"/") or b"\x00" in name:
        return False
    if flags & 0x800:
        try:
            name.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True
