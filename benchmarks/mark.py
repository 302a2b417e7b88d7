"""The caller mark: a caller's index drawn into its picture so the receiver can read it back.

The top :data:`BAND` of every frame is a grid of :data:`ROWS` x :data:`COLUMNS` large cells,
each black or white: 16 bits of the caller index and an 8-bit check (CRC-8, inverted so that
an all-black or all-white band is not a valid mark). Cells are sized relative to the
picture (no fixed pixels), so the mark survives any resolution; they are far larger than a
VP8 macroblock and use two far-apart luma levels, so compression noise cannot flip one.
A frame whose cells are not clearly black or white, or whose check fails (a frame decoded
from missing references), reads as ``None`` rather than as a wrong caller.

The bottom :data:`FLASH_BAND` is the lip-sync strip: all white in a clip's first frame, all
black in the others (:func:`draw_flash`, :func:`read_flash`).

Only the luma (Y) plane is used, as a ``(height, width)`` ``uint8`` array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LumaPlane = np.ndarray[Any, np.dtype[np.uint8]]

ROWS = 3
COLUMNS = 8
BAND = 0.3
"""Fraction of the picture's height, from the top, that holds the mark."""
VALUE_BITS = 16
CHECK_BITS = 8
MAX_VALUE = (1 << VALUE_BITS) - 1

BLACK = 24
WHITE = 232
MARGIN = 48
"""A cell whose mean luma is within this of mid-grey reads as unknown (not a bit)."""


def crc8(data: bytes) -> int:
    """CRC-8 (polynomial 0x07, initial 0x00), then inverted."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc ^ 0xFF


def mark_bits(value: int) -> list[int]:
    """The cells of ``value``, first row left to right, then the next rows."""
    if not 0 <= value <= MAX_VALUE:
        raise ValueError(f"a mark holds 0..{MAX_VALUE}, not {value}")
    check = crc8(value.to_bytes(2, "big"))
    word = (value << CHECK_BITS) | check
    total = VALUE_BITS + CHECK_BITS
    return [(word >> (total - 1 - i)) & 1 for i in range(total)]


def _cells(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """``(top, bottom, left, right)`` of each cell, in bit order."""
    band = round(height * BAND)
    cells = []
    for row in range(ROWS):
        top, bottom = band * row // ROWS, band * (row + 1) // ROWS
        for column in range(COLUMNS):
            left, right = width * column // COLUMNS, width * (column + 1) // COLUMNS
            cells.append((top, bottom, left, right))
    return cells


FLASH_BAND = 0.1
"""Fraction of the picture's height, from the bottom, that holds the lip-sync strip."""


def flash_height(height: int) -> int:
    """Rows of the picture taken by the lip-sync strip."""
    return max(2, round(height * FLASH_BAND))


def draw_flash(luma: LumaPlane, on: bool) -> None:
    """Paint the lip-sync strip of ``luma`` white (``on``) or black, in place."""
    luma[luma.shape[0] - flash_height(luma.shape[0]) :, :] = WHITE if on else BLACK


def read_flash(luma: LumaPlane) -> bool | None:
    """Whether the lip-sync strip is white (True) or black (False); ``None`` if it is
    neither clearly (a frame decoded from missing references)."""
    height, width = luma.shape
    strip = flash_height(height)
    # The middle of the strip: its edges blur into the picture above under compression.
    inner = luma[height - strip + strip // 4 : height - strip // 4, width // 8 : width - width // 8]
    if inner.size == 0:
        return None
    level = float(inner.mean())
    if abs(level - 128) < MARGIN:
        return None
    return level > 128


def band_height(height: int) -> int:
    """Rows of the picture taken by the mark (the rest is free for moving content)."""
    return round(height * BAND)


def draw_mark(luma: LumaPlane, value: int) -> None:
    """Draw the mark of ``value`` into ``luma`` in place."""
    height, width = luma.shape
    if height < 2 * ROWS / BAND or width < 2 * COLUMNS:
        raise ValueError(f"a {width}x{height} picture is too small for a mark")
    for bit, (top, bottom, left, right) in zip(
        mark_bits(value), _cells(height, width), strict=True
    ):
        luma[top:bottom, left:right] = WHITE if bit else BLACK


def luma_of(frame: Any) -> LumaPlane:
    """The Y plane of a decoded ``av.VideoFrame`` (yuv420p, what aiortc's decoder returns)
    as a view, without copying (rows may be padded: the view drops the padding)."""
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width]


def read_mark(luma: LumaPlane) -> int | None:
    """The value marked in ``luma``, or ``None`` if there is no valid mark."""
    height, width = luma.shape
    if height < 2 * ROWS / BAND or width < 2 * COLUMNS:
        return None
    bits = []
    for top, bottom, left, right in _cells(height, width):
        # The middle half of the cell: edges blur into the neighbours under compression.
        dy, dx = (bottom - top) // 4, (right - left) // 4
        inner = luma[top + dy : bottom - dy, left + dx : right - dx]
        level = float(inner.mean()) if inner.size else 128.0
        if abs(level - 128) < MARGIN:
            return None
        bits.append(1 if level > 128 else 0)
    word = 0
    for bit in bits:
        word = (word << 1) | bit
    value, check = word >> CHECK_BITS, word & ((1 << CHECK_BITS) - 1)
    if crc8(value.to_bytes(2, "big")) != check:
        return None
    return value
