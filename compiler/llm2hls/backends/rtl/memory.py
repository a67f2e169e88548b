"""Off-chip memory model of the RTL bench: weight words served over channels with a bandwidth
and a latency, burst by burst.

Pure Python (no cocotb import): ``write_rtl`` copies this file into the RTL folder as
``l2h_memory.py`` and the generated bench drives one read port per off-chip weight stream from it.

The model, per read stream (one per off-chip linear, its words in the order the stage reads
them, repeated once per token):

* the stream's prefetcher issues a read burst of ``burst_bytes`` whenever its buffer has room
  for one more (``buffer_bytes`` outstanding, i.e. requested but not yet taken by the stage);
* a burst goes to the channel that frees first; its data start ``latency`` cycles after the
  request, or when the channel has finished the bursts before it, and arrive at
  ``bytes_per_cycle`` per channel: word ``j`` of a burst is there ``ceil(start + (j + 1) x
  word_bytes / bytes_per_cycle)``;
* the port offers the oldest word once it has arrived (valid/ready, one word per beat).

``buffer_bytes`` defaults to the bandwidth-delay product plus two bursts: enough to keep every
channel busy across the latency, as a prefetch FIFO sized for the board would. All channels are
shared by all streams, so the whole bandwidth is shared, as the performance model assumes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class MemoryParams:
    """Channels, effective bytes per kernel cycle per channel, read latency, burst size."""

    channels: int = 1
    bytes_per_cycle: float = 64.0
    latency: int = 100
    burst_bytes: int = 256
    buffer_bytes: int = 0  # 0: bandwidth-delay product + two bursts

    def __post_init__(self) -> None:
        if self.channels < 1 or self.bytes_per_cycle <= 0 or self.latency < 0 or self.burst_bytes < 1:
            raise ValueError(f"invalid memory parameters {self}")

    @property
    def buffer(self) -> int:
        """Bytes a stream may have outstanding (requested, not yet taken)."""
        if self.buffer_bytes:
            return self.buffer_bytes
        return math.ceil(self.latency * self.bytes_per_cycle * self.channels) + 2 * self.burst_bytes

    @staticmethod
    def of(model: Any, burst_bytes: int = 256) -> "MemoryParams":
        """The bench's memory for a ``perf.model.MemoryModel`` (the burst efficiency ``eta`` is
        folded into the per-channel bandwidth, so both see the same sustained bytes per cycle)."""
        return MemoryParams(int(model.channels), float(model.bytes_per_cycle_per_channel * model.eta),
                            int(model.latency_cycles), int(burst_bytes))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReadStream:
    """One port: ``words`` (ints) read ``repeat`` times in order, ``word_bits`` each."""

    words: list[int]
    word_bits: int
    repeat: int
    issued: int = 0  # words requested
    taken: int = 0  # words handed to the stage
    arrivals: deque = field(default_factory=deque)  # arrival cycle of each requested, untaken word

    @property
    def total(self) -> int:
        return len(self.words) * self.repeat

    @property
    def word_bytes(self) -> float:
        return self.word_bits / 8


class Memory:
    """The channels shared by all read streams (see the module docstring)."""

    def __init__(self, params: MemoryParams, streams: dict[str, ReadStream]) -> None:
        self.p = params
        self.streams = streams
        self.free = [0.0] * params.channels  # cycle each channel finishes its queued bursts
        self.bytes_served = 0.0

    def _issue(self, s: ReadStream, cycle: int) -> None:
        per_burst = max(1, int(self.p.burst_bytes // s.word_bytes))
        n = min(per_burst, s.total - s.issued)
        c = min(range(self.p.channels), key=lambda i: self.free[i])
        start = max(cycle + self.p.latency, self.free[c])
        bw = self.p.bytes_per_cycle
        s.arrivals.extend(math.ceil(start + (j + 1) * s.word_bytes / bw - 1e-9) for j in range(n))
        self.free[c] = start + n * s.word_bytes / bw
        s.issued += n
        self.bytes_served += n * s.word_bytes

    def tick(self, cycle: int) -> None:
        """Issue every burst that fits a stream's buffer at ``cycle`` (streams in turn)."""
        busy = True
        while busy:
            busy = False
            for s in self.streams.values():
                per_burst = max(1, int(self.p.burst_bytes // s.word_bytes))
                # a port whose words are wider than the buffer still holds one burst of them
                room = max(self.p.buffer, per_burst * s.word_bytes) - (s.issued - s.taken) * s.word_bytes
                if s.issued < s.total and room >= min(per_burst, s.total - s.issued) * s.word_bytes:
                    self._issue(s, cycle)
                    busy = True

    def head(self, name: str, cycle: int) -> int | None:
        """The word port ``name`` offers at ``cycle`` (None: nothing has arrived)."""
        s = self.streams[name]
        if s.arrivals and s.arrivals[0] <= cycle:
            return s.words[s.taken % len(s.words)]
        return None

    def take(self, name: str) -> None:
        """The stage took the head word of ``name``."""
        s = self.streams[name]
        s.arrivals.popleft()
        s.taken += 1
