"""Reading an uncompressed tar from a byte-range source: headers, members, range planning.

Why not :mod:`tarfile`: it reads a stream front to back, so skipping a member means
reading its bytes. An uncompressed tar puts every member at a position its header
gives (``header + 512``, size rounded up to 512), so the next header can be reached
with an HTTP range request instead. This module parses the headers itself (ustar with
its name prefix, GNU long names, pax ``path``/``size`` records; header checksums
checked) over any ``read(offset, n)`` function, and :class:`RangeFetcher` turns those
reads into a few large, parallel range requests where the data is wanted and jumps
where it is not. No network code here: the fetch function is passed in.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

BLOCK = 512
#: type flags of regular files (``\0`` is the pre-POSIX spelling, ``7`` contiguous)
FILE_TYPES = (b"0", b"\0", b"7")


class TarFormatError(ValueError):
    """The bytes are not a (complete) tar archive; the message names the offset."""


@dataclass(frozen=True)
class Member:
    """One archive entry: where its header and its data sit in the archive."""

    name: str
    size: int
    kind: str  # "file" | "dir" | "other"
    header_offset: int
    data_offset: int

    @property
    def end(self) -> int:
        """Offset of the next header."""
        return self.data_offset + padded(self.size)


def padded(n: int) -> int:
    return (n + BLOCK - 1) // BLOCK * BLOCK


def _number(field: bytes, offset: int) -> int:
    """Octal (NUL/space padded) or GNU base-256 (high bit set) numeric field."""
    if field and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        return -value if field[0] & 0x40 else value
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise TarFormatError(f"bad numeric header field {field!r} at offset {offset}") from None


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _checksum_ok(block: bytes, offset: int) -> bool:
    try:
        stored = _number(block[148:156], offset)
    except TarFormatError:
        return False
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    signed = unsigned - sum(b for b in block[:148] + block[156:] if b > 127) * 2
    return stored in (unsigned, signed)


def parse_pax(data: bytes, offset: int) -> dict[str, str]:
    """Pax extended-header records ``"<len> key=value\\n"``."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos : pos + 1] not in (b"", b"\0"):
        space = data.find(b" ", pos)
        if space < 0:
            raise TarFormatError(f"bad pax record at offset {offset + pos}")
        length = int(data[pos:space])
        record = data[space + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        out[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


def iter_members(
    read: Callable[[int, int], bytes], start: int = 0, archive_size: int | None = None
) -> Iterator[Member]:
    """Every member from ``start`` (a header offset) to the end-of-archive marker.

    ``read(offset, n)`` must return exactly ``n`` bytes. The caller may read or skip
    each yielded member's data between iterations; the next header is found from the
    member's size, never by reading its data. Long names (GNU ``L``, pax ``path``) are
    resolved here, so callers only see real entries.
    """
    offset = start
    long_name: str | None = None
    pax: dict[str, str] = {}
    while True:
        if archive_size is not None and offset + BLOCK > archive_size:
            raise TarFormatError(
                f"archive ends at byte {archive_size} without the end-of-archive marker "
                f"(expected a header at offset {offset}): truncated"
            )
        block = read(offset, BLOCK)
        if block.count(0) == BLOCK:
            return  # end-of-archive (the second zero block is not needed)
        if not _checksum_ok(block, offset):
            raise TarFormatError(f"no valid tar header at offset {offset} (checksum mismatch)")
        size = _number(block[124:136], offset)
        kind_flag = block[156:157]
        data_offset = offset + BLOCK
        if kind_flag in (b"L", b"x", b"g", b"K"):
            payload = read(data_offset, size) if size else b""
            if kind_flag == b"L":
                long_name = payload.rstrip(b"\0").decode("utf-8", "surrogateescape")
            elif kind_flag == b"x":
                pax = parse_pax(payload, data_offset)
            offset = data_offset + padded(size)
            continue
        name = _text(block[0:100])
        if block[257:262] == b"ustar":
            prefix = _text(block[345:500])
            if prefix:
                name = f"{prefix}/{name}"
        name = pax.get("path", long_name or name)
        if "size" in pax:
            size = int(pax["size"])
        kind = "file" if kind_flag in FILE_TYPES else "dir" if kind_flag == b"5" else "other"
        while name.startswith("./"):
            name = name[2:]
        member = Member(name.rstrip("/"), size, kind, offset, data_offset)
        long_name, pax = None, {}
        yield member
        offset = member.end


class RangeFetcher:
    """Sequential reads over a remote object, served by parallel range requests.

    Bytes are fetched in chunks of ``chunk`` bytes, at most ``parallel`` in flight,
    only up to what the caller has said it needs (:meth:`need`) plus ``readahead``:
    so the data of a skipped member is never requested, while a long run of wanted
    bytes streams with several requests at once. A read further ahead than
    ``read_through`` bytes drops the window and starts new requests there (a jump); a
    smaller gap is read through, because one request costs more than a few bytes.
    Memory held: at most ``parallel`` chunks.
    """

    def __init__(
        self,
        fetch: Callable[[int, int], bytes],
        size: int,
        chunk: int = 8 << 20,
        parallel: int = 8,
        readahead: int = 0,
        read_through: int = 0,
    ) -> None:
        self._fetch = fetch  # fetch(start, end) -> bytes[start:end]
        self.size = size
        self.chunk = max(BLOCK, int(chunk))
        self.parallel = max(1, int(parallel))
        self.readahead = max(0, int(readahead))
        self.read_through = max(0, int(read_through))
        self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="segtrain-range")
        self._chunks: deque[tuple[int, int, Future[bytes]]] = deque()
        self._pos = 0  # next byte the caller will read
        self._end = 0  # end of the last scheduled chunk
        self._hint = 0
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes_requested = 0

    def close(self) -> None:
        for _, _, fut in self._chunks:
            fut.cancel()
        self._chunks.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> RangeFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def need(self, until: int) -> None:
        """The caller will read every byte up to ``until``: fetch ahead to there."""
        self._hint = max(self._hint, min(int(until), self.size))

    def _get(self, start: int, end: int) -> bytes:
        data = self._fetch(start, end)
        if len(data) != end - start:
            raise TarFormatError(
                f"range {start}-{end - 1} returned {len(data)} of {end - start} bytes "
                "(truncated stream)"
            )
        return data

    def _reset(self, offset: int) -> None:
        for _, _, fut in self._chunks:
            fut.cancel()
        self._chunks.clear()
        self._pos = self._end = offset
        self._hint = offset

    def _schedule(self, target: int) -> None:
        target = min(target, self.size)
        while self._end < target and len(self._chunks) < self.parallel:
            start = self._end
            end = min(start + self.chunk, target)
            self._chunks.append((start, end, self._pool.submit(self._get, start, end)))
            self.requests += 1
            self.bytes_requested += end - start
            self._end = end

    def read(self, offset: int, n: int) -> bytes:
        """Exactly ``n`` bytes at ``offset`` (offsets only move forward between jumps)."""
        if offset + n > self.size:
            raise TarFormatError(
                f"needs bytes {offset}-{offset + n - 1} but the object has {self.size} "
                "(truncated archive)"
            )
        if offset < self._pos or offset > self._end + self.read_through:
            self._reset(offset)
        want_end = offset + n
        out = bytearray()
        while len(out) < n:
            self._schedule(max(want_end, self._hint))
            start, end, fut = self._chunks[0]
            if end > offset:
                data = fut.result()
                cur = offset + len(out)
                out += data[cur - start : min(want_end, end) - start]
            if end <= want_end:
                self._chunks.popleft()
        self._pos = want_end
        self._schedule(self._hint)
        return bytes(out)

    def stream(self, offset: int, n: int, piece: int | None = None) -> Iterator[bytes]:
        """``n`` bytes at ``offset`` as pieces of at most ``piece`` bytes (memory bound)."""
        piece = piece or self.chunk
        # wanted bytes tend to follow wanted bytes (a camera folder): read ahead of them,
        # never ahead of a header read, so a skipped member's data is not requested
        self.need(offset + n + self.readahead)
        done = 0
        while done < n:
            k = min(piece, n - done)
            yield self.read(offset + done, k)
            done += k
