"""Off-chip weights packed at their bit width and striped over several m_axi ports.

A linear weight cut into tile rows (``emit.packed_tiles``: the ``L`` weights its stage reads in
one cycle -- ``min(lanes, N)`` rows times the inputs per cycle -- side by side, in read order) can
be stored *packed*: each weight takes ``bits`` bits (its
width rounded up to 1, 2, 4, 8, 16 or 32), and the ``L`` weights of one tile row are split over
``P`` ports -- port ``p`` holds lanes ``[p * L', (p + 1) * L')`` of every tile row (``L' =
ceil(L / P)`` rounded up to whole words, the excess zero), as
``words`` words of ``ap_uint<word_bits>`` (lane ``i`` of a word in bits ``[i * bits, (i + 1) *
bits)``, little endian). Every port is its own m_axi argument, read sequentially, and all ``P``
are read in the same cycle, so one weight stream draws on ``P`` memory channels (under a saved
design the arguments of one channel share its m_axi adapter: ``emit.memory_channels``).

Packing is used when it changes something: weights narrower than a byte, or more than one port.
Eight-bit weights on one port keep the plain ``int8_t`` layout of earlier projects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_WORD_BITS = 512
"""Widest m_axi data word (the AXI limit Vitis HLS accepts for one port)."""

CONTAINER_BITS = (1, 2, 4, 8, 16, 32)
"""Packed field widths: a power of two, so fields never straddle a word."""


@dataclass(frozen=True)
class PackedWeight:
    """How one lane-tiled weight of ``lanes`` lanes is packed (see the module docstring).

    Port ``p`` holds lanes ``[p * lanes_per_port, (p + 1) * lanes_per_port)``: ``words`` words of
    ``lanes_per_word`` fields. When the lanes do not fill the ports evenly, the last port's share is
    padded with zero fields (never read into an accumulator: lane ``l < lanes`` only).
    """

    lanes: int
    bits: int  # field width per weight
    ports: int
    lanes_per_word: int
    words: int  # words per port per tile row (per cycle)

    @property
    def word_bits(self) -> int:
        return self.bits * self.lanes_per_word

    @property
    def word_ctype(self) -> str:
        return f"ap_uint<{self.word_bits}>"

    @property
    def lanes_per_port(self) -> int:
        return self.words * self.lanes_per_word

    @property
    def padding(self) -> int:
        """Zero fields per tile row (all ports)."""
        return self.ports * self.lanes_per_port - self.lanes


def container_bits(width: int) -> int:
    """The packed field width of a ``width``-bit weight."""
    return next(b for b in CONTAINER_BITS if width <= b)


def port_packing(lanes: int, bits: int, ports: int) -> PackedWeight | None:
    """Packing of ``lanes`` ``bits``-bit fields over ``ports`` ports: each port's share in words of a
    power-of-two field count (at least a byte, at most :data:`MAX_WORD_BITS`); None if a port would
    hold no lane."""
    share = -(-lanes // ports)
    if (ports - 1) * share >= lanes:
        return None
    per_word = max(1, 8 // bits)
    while per_word < share and 2 * per_word * bits <= MAX_WORD_BITS:
        per_word *= 2
    return PackedWeight(lanes, bits, ports, per_word, -(-share // per_word))


def plan_packing(lanes: int, width: int, requested_ports: int) -> PackedWeight | None:
    """The packing of a lane-tiled weight, or None to keep the plain one-integer-per-weight layout.

    ``requested_ports`` (the design's channels for this weight) is an upper bound. A weight stream
    takes ``lanes_per_port`` fields per port and cycle, its time: the fewest wins, then the least
    padding (bytes moved), then the most ports.
    """
    bits = container_bits(width)
    if bits >= 8 and requested_ports <= 1:
        return None  # nothing to gain: the earlier int8_t/int16_t layout, byte for byte
    options = [w for p in range(1, max(1, min(requested_ports, lanes)) + 1)
               if (w := port_packing(lanes, bits, p)) is not None]
    return min(options, key=lambda w: (w.lanes_per_port, w.padding, -w.ports))


def pack_port(tiles: np.ndarray, spec: PackedWeight, port: int) -> np.ndarray:
    """The bytes of port ``port`` of a lane-tiled weight ``tiles`` (``[..., K, L]`` raw integers),
    in the order the stage reads them: ``[..., K, words]`` words, each ``word_bits / 8`` bytes."""
    lo = port * spec.lanes_per_port
    share = tiles[..., lo:lo + spec.lanes_per_port].astype(np.int64) & ((1 << spec.bits) - 1)
    pad = spec.lanes_per_port - share.shape[-1]
    lanes = np.pad(share, [(0, 0)] * (share.ndim - 1) + [(0, pad)]) if pad else share
    if spec.bits >= 8:  # whole bytes: little-endian fields
        return lanes.astype(f"<u{spec.bits // 8}").view(np.uint8).reshape(-1)
    per_byte = 8 // spec.bits
    fields = lanes.reshape(-1, per_byte).astype(np.uint8)
    shifts = (np.arange(per_byte) * spec.bits).astype(np.uint8)
    return np.bitwise_or.reduce(fields << shifts, axis=1).astype(np.uint8)
