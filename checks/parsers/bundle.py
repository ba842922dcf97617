"""Diagnostic bundles (.tar.gz / .tgz / .tar / .zip / a gzipped single file), walked in memory.

Nothing is ever extracted: each member is handed to its analyzer as a stream of chunks
straight out of the decompressor, so a hostile archive cannot write anywhere, and member
names are only labels. Still, members that would be dangerous to anyone who does extract the
archive (absolute paths, ``..``, links, devices) are refused with a warning, and the walk
stops with ``InputError`` when the archive is a bomb: too many members, too many bytes out,
or a compression ratio no real log reaches.

The tar reader is ours (a 512-byte header format; ustar, GNU long names and pax paths), so
that it streams from an iterator of compressed chunks without seeking. Zip needs its central
directory, so ``walk_zip`` takes a seekable binary file object and inflates each member's
data itself, chunk by chunk.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from kb.errors import InputError

CHUNK = 1 << 20
MAX_MEMBERS = 2_000
MAX_TOTAL_BYTES = 4 << 30  # bytes after decompression, all members together
MAX_MEMBER_BYTES = 2 << 30
MAX_RATIO = 200  # decompressed / compressed; diagnostic logs compress about 10-20x
RATIO_GRACE_BYTES = 8 << 20  # small inputs may compress extremely well (padding, zeros)
MAX_NAME_CHARS = 1024
MAX_PAX_BYTES = 64 * 1024


@dataclass
class Member:
    """One regular file of an archive. ``chunks()`` may be read once, before the next member."""

    name: str
    size: int
    _chunks: Callable[[], Iterator[bytes]]

    def chunks(self) -> Iterator[bytes]:
        return self._chunks()


def safe_name(name: str) -> str | None:
    """Why a member name is unsafe to extract, or None when it is fine."""
    if not name or len(name) > MAX_NAME_CHARS or "\x00" in name:
        return "an unusable name"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return "an absolute path"
    if ".." in norm.split("/"):
        return "a path that climbs out of the archive (..)"
    return None


class _Budget:
    """Counts bytes in and out of the decompressor across the whole archive."""

    def __init__(self) -> None:
        self.compressed = 0
        self.out = 0

    def took(self, n: int) -> None:
        self.out += n
        if self.out > MAX_TOTAL_BYTES:
            raise InputError(f"archive expands beyond {MAX_TOTAL_BYTES >> 30} GiB: refused as a decompression bomb")
        if self.out > RATIO_GRACE_BYTES and self.out > MAX_RATIO * max(1, self.compressed):
            raise InputError(f"archive expands more than {MAX_RATIO}x: refused as a decompression bomb")


class _Inflated:
    """A pull stream of decompressed bytes over an iterator of compressed chunks (gzip or raw)."""

    def __init__(self, chunks: Iterable[bytes], gzip: bool, budget: _Budget) -> None:
        self._src = iter(chunks)
        self._gzip = gzip
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        self._pending = b""  # compressed input not yet given to the decompressor
        self._buf = b""
        self._eof = False
        self.budget = budget
        self.name_hint = ""

    def _fill(self) -> bool:
        while not self._buf:
            if self._d is None:
                try:
                    data = next(self._src)
                except StopIteration:
                    return False
                self.budget.compressed += len(data)
                self._buf = data
                self.budget.took(len(data))
                return True
            if not self._pending:
                if self._d.unconsumed_tail:
                    self._pending = self._d.unconsumed_tail
                else:
                    try:
                        self._pending = next(self._src)
                    except StopIteration:
                        if not self._d.eof and not self._eof:
                            raise InputError("the compressed data ends early (truncated archive)") from None
                        return False
                    self.budget.compressed += len(self._pending)
            data, self._pending = self._pending, b""
            try:
                out = self._d.decompress(data, CHUNK)
            except zlib.error:
                raise InputError("the compressed data is corrupt") from None
            if self._d.unconsumed_tail:
                self._pending = self._d.unconsumed_tail
            if self._d.eof:
                rest = self._d.unused_data
                self._eof = True
                if rest.lstrip(b"\x00"):  # a further gzip member follows
                    self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    self._eof = False
                    self._pending = rest
            self.budget.took(len(out))
            self._buf = out
        return True

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end of the stream)."""
        parts = []
        while n > 0 and self._fill():
            take = self._buf[:n]
            self._buf = self._buf[n:]
            parts.append(take)
            n -= len(take)
        return b"".join(parts)

    def peek(self, n: int) -> bytes:
        data = self.read(n)
        self._buf = data + self._buf
        return data


def _octal(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:
        raise InputError("tar member size uses the base-256 form (over 8 GiB): refused")
    text = field.split(b"\x00", 1)[0].strip()
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise InputError("not a valid tar archive (bad number field)") from None


def _checksum_ok(block: bytes) -> bool:
    stored = block[148:156].split(b"\x00", 1)[0].strip()
    try:
        want = int(stored, 8)
    except ValueError:
        return False
    return sum(block[:148]) + 8 * 32 + sum(block[156:]) == want


def _pax_path(data: bytes) -> str | None:
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            break
        record = data[space + 1: pos + length - 1]
        key, _, value = record.partition(b"=")
        if key == b"path":
            return value.decode("utf-8", "replace")
        if length <= 0:
            break
        pos += length
    return None


_KIND_OF_TYPE = {b"1": "a hard link", b"2": "a symbolic link", b"3": "a character device",
                 b"4": "a block device", b"6": "a FIFO", b"7": "a contiguous file"}


def walk_tar(stream: _Inflated, warn: Callable[[str], None]) -> Iterator[Member]:
    members = 0
    long_name: str | None = None
    while True:
        block = stream.read(512)
        if len(block) < 512:
            if block.strip(b"\x00"):
                raise InputError("the tar archive ends in the middle of a header (truncated)")
            return
        if not block.strip(b"\x00"):
            return  # end-of-archive marker
        if not _checksum_ok(block):
            raise InputError("not a valid tar archive (header checksum mismatch)")
        size = _octal(block[124:136])
        typeflag = block[156:157]
        name = block[0:100].split(b"\x00", 1)[0].decode("utf-8", "replace")
        if block[257:262] == b"ustar":
            prefix = block[345:500].split(b"\x00", 1)[0].decode("utf-8", "replace")
            if prefix:
                name = f"{prefix}/{name}"
        padded = (size + 511) // 512 * 512
        if typeflag in (b"L", b"x"):
            if size > MAX_PAX_BYTES:
                raise InputError("tar extended header is too long")
            data = stream.read(padded)[:size]
            long_name = data.split(b"\x00", 1)[0].decode("utf-8", "replace") if typeflag == b"L" else _pax_path(data)
            continue
        if long_name:
            name, long_name = long_name, None
        members += 1
        if members > MAX_MEMBERS:
            raise InputError(f"archive has more than {MAX_MEMBERS} members: refused")
        if typeflag in _KIND_OF_TYPE:
            warn(f"{name}: skipped, it is {_KIND_OF_TYPE[typeflag]}")
            _skip(stream, padded)
            continue
        if typeflag not in (b"0", b"\x00") or name.endswith("/"):
            _skip(stream, padded)
            continue
        problem = safe_name(name)
        if problem:
            warn(f"{name[:200]}: skipped, it has {problem}")
            _skip(stream, padded)
            continue
        if size > MAX_MEMBER_BYTES:
            raise InputError(f"{name}: member larger than {MAX_MEMBER_BYTES >> 30} GiB: refused")
        state = {"left": size}

        def chunks(state=state) -> Iterator[bytes]:
            while state["left"] > 0:
                data = stream.read(min(CHUNK, state["left"]))
                if not data:
                    raise InputError("the archive ends in the middle of a member (truncated)")
                state["left"] -= len(data)
                yield data

        yield Member(name=name, size=size, _chunks=chunks)
        _skip(stream, state["left"])  # whatever the analyzer did not read
        _skip(stream, padded - size)


def _skip(stream: _Inflated, n: int) -> None:
    while n > 0:
        got = stream.read(min(CHUNK, n))
        if not got:
            raise InputError("the archive ends in the middle of a member (truncated)")
        n -= len(got)


def walk_compressed(chunks: Iterable[bytes], warn: Callable[[str], None], gzip: bool = True) -> Iterator[Member]:
    """A gzip (or plain) stream: a tar archive inside, or else one compressed file."""
    stream = _Inflated(chunks, gzip=gzip, budget=_Budget())
    head = stream.peek(512)
    if len(head) >= 262 and head[257:262] == b"ustar" or (len(head) == 512 and _checksum_ok(head)):
        yield from walk_tar(stream, warn)
        return
    if not gzip:
        raise InputError("not an archive we can read")

    def single() -> Iterator[bytes]:
        while data := stream.read(CHUNK):
            yield data

    yield Member(name="(gzip content)", size=-1, _chunks=single)


_LOCAL = struct.Struct("<IHHHHHIIIHH")
_LOCAL_MAGIC = 0x04034B50


def walk_zip(fileobj, warn: Callable[[str], None]) -> Iterator[Member]:
    """Members of a zip file; ``fileobj`` is a seekable binary file object opened by the caller."""
    try:
        infos = zipfile.ZipFile(fileobj).infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise InputError(f"not a readable zip archive ({exc.__class__.__name__})") from None
    if len(infos) > MAX_MEMBERS:
        raise InputError(f"archive has more than {MAX_MEMBERS} members: refused")
    budget = _Budget()
    for info in infos:
        name = info.filename
        if name.endswith("/"):
            continue
        mode = (info.external_attr >> 16) & 0o170000
        if mode in (0o120000, 0o020000, 0o060000, 0o010000):
            warn(f"{name}: skipped, it is {'a symbolic link' if mode == 0o120000 else 'a device or FIFO'}")
            continue
        problem = safe_name(name)
        if problem:
            warn(f"{name[:200]}: skipped, it has {problem}")
            continue
        if info.flag_bits & 1:
            warn(f"{name}: skipped, it is encrypted")
            continue
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            warn(f"{name}: skipped, compression method {info.compress_type} is not supported")
            continue
        if info.file_size > MAX_MEMBER_BYTES:
            raise InputError(f"{name}: member larger than {MAX_MEMBER_BYTES >> 30} GiB: refused")
        yield Member(name=name, size=info.file_size, _chunks=lambda info=info: _zip_data(fileobj, info, budget))


def _zip_data(fileobj, info: zipfile.ZipInfo, budget: _Budget) -> Iterator[bytes]:
    fileobj.seek(info.header_offset)
    header = fileobj.read(_LOCAL.size)
    if len(header) < _LOCAL.size or _LOCAL.unpack(header)[0] != _LOCAL_MAGIC:
        raise InputError(f"{info.filename}: zip local header is damaged")
    fields = _LOCAL.unpack(header)
    pos = info.header_offset + _LOCAL.size + fields[9] + fields[10]
    left = info.compress_size
    inflate = zlib.decompressobj(-zlib.MAX_WBITS) if info.compress_type == zipfile.ZIP_DEFLATED else None
    produced = 0
    while left > 0:
        fileobj.seek(pos)
        data = fileobj.read(min(CHUNK, left))
        if not data:
            raise InputError(f"{info.filename}: zip member is truncated")
        pos += len(data)
        left -= len(data)
        budget.compressed += len(data)
        if inflate is None:
            budget.took(len(data))
            yield data
            continue
        while data:
            try:
                out = inflate.decompress(data, CHUNK)
            except zlib.error:
                raise InputError(f"{info.filename}: zip member data is corrupt") from None
            data = inflate.unconsumed_tail
            produced += len(out)
            budget.took(len(out))
            if produced > info.file_size + CHUNK:
                raise InputError(f"{info.filename}: expands beyond its declared size: refused")
            if out:
                yield out
