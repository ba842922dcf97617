"""Bounded reassembly of one TCP direction by sequence number.

Feed segments in capture order with ``HalfStream.segment(seq, payload)``; it returns the bytes
that became contiguous. Retransmissions and overlaps are trimmed (the first copy wins, as most
stacks and Wireshark do), out-of-order segments wait in a buffer capped by ``MAX_HELD_BYTES`` /
``MAX_HELD_SEGMENTS``. When that buffer is full, or the caller flushes at FIN/RST/end of
capture, a hole is skipped and counted in ``gaps``: the consumer is told (``Delivery.gap``) so
a parser above can resynchronise instead of misreading. A capture that starts mid-connection
simply starts the stream at the first segment seen (``midstream``).

Sequence numbers wrap at 2**32; offsets here are unbounded ints counted from the first byte,
so a long connection keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass

# Bytes and segments held out of order per direction before a hole is declared.
MAX_HELD_BYTES = 512 * 1024
MAX_HELD_SEGMENTS = 512
_MASK = 0xFFFFFFFF
_HALF = 1 << 31


@dataclass(frozen=True)
class Delivery:
    """Contiguous bytes at stream ``offset``; ``gap`` is True when bytes were lost just before them."""

    offset: int
    data: bytes
    gap: bool


class HalfStream:
    __slots__ = ("started", "midstream", "_base", "next", "_held", "_held_bytes", "gaps", "gap_bytes",
                 "retransmits", "delivered", "_gap_pending")

    def __init__(self) -> None:
        self.started = False
        self.midstream = False
        self._base = 0
        self.next = 0  # stream offset of the next expected byte
        self._held: dict[int, bytes] = {}
        self._held_bytes = 0
        self.gaps = 0
        self.gap_bytes = 0
        self.retransmits = 0
        self.delivered = 0
        self._gap_pending = False

    def syn(self, seq: int) -> None:
        """A SYN fixes the stream start at ``seq + 1`` (a repeated SYN changes nothing)."""
        if not self.started:
            self.started = True
            self._base = (seq + 1) & _MASK

    def offset_of(self, seq: int) -> int:
        """Stream offset of a sequence number, taking wrap-around relative to the expected one."""
        expected = (self._base + self.next) & _MASK
        diff = ((seq - expected + _HALF) & _MASK) - _HALF
        return self.next + diff

    def segment(self, seq: int, payload: bytes) -> list[Delivery]:
        if not payload:
            return []
        if not self.started:
            self.started = True
            self.midstream = True
            self._base = seq & _MASK
        start = self.offset_of(seq)
        end = start + len(payload)
        if end <= self.next:
            self.retransmits += 1
            return []
        if start < self.next:
            payload = payload[self.next - start:]
            start = self.next
        if start > self.next:
            if start not in self._held or len(self._held[start]) < len(payload):
                self._held_bytes += len(payload) - len(self._held.get(start, b""))
                self._held[start] = payload
            out: list[Delivery] = []
            # one skipped hole may free only a small segment: skip until the caps hold again
            while self._held and (self._held_bytes > MAX_HELD_BYTES or len(self._held) > MAX_HELD_SEGMENTS):
                out += self.skip_gap()
            return out
        out = [Delivery(start, payload, self._gap_pending)]
        self._gap_pending = False
        self.next = end
        self.delivered += len(payload)
        out.extend(self._drain(False))
        return out

    def lost(self, seq_end: int) -> list[Delivery]:
        """Bytes up to ``seq_end`` are known to be missing (a frame cut by the snap length): skip them."""
        if not self.started:
            return []
        target = self.offset_of(seq_end)
        if target <= self.next:
            return []
        self.gaps += 1
        self.gap_bytes += target - self.next
        self.next = target
        self._gap_pending = True
        return self._drain(True)

    def skip_gap(self) -> list[Delivery]:
        """Give up on the missing bytes before the earliest held segment and deliver what follows."""
        if not self._held:
            return []
        first = min(self._held)
        if first > self.next:
            self.gaps += 1
            self.gap_bytes += first - self.next
            self.next = first
            return self._drain(True)
        return self._drain(False)

    def _drain(self, gap: bool) -> list[Delivery]:
        out: list[Delivery] = []
        while self._held:
            first = min(self._held)
            if first > self.next:
                break
            data = self._held.pop(first)
            self._held_bytes -= len(data)
            if first + len(data) <= self.next:
                continue
            data = data[self.next - first:]
            out.append(Delivery(self.next, data, gap or self._gap_pending))
            gap = self._gap_pending = False
            self.next += len(data)
            self.delivered += len(data)
        return out

    @property
    def held_bytes(self) -> int:
        return self._held_bytes

    def drop(self) -> None:
        """Forget held segments (the consumer no longer needs this direction)."""
        self._held.clear()
        self._held_bytes = 0
