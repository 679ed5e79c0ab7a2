"""One compact record per run, shared by every walk that keeps something per run, for the saved state.

Walks keep per run a short list of JSON atoms (a digest, a few counts, a timestamp): as JSON, each walk repeats the
run's name and spells its digests in hex, about 200 bytes a run with every table on, sent whole at every
checkpoint. Packed here, the run's name is written once for all walks, and each walk's records are laid out column
by column (the n-th atom of every run together), with hex as bytes, integers, times and decimal fractions as
varint differences from the column's previous value, and runs in the order of their first time: columns of similar
values that lzma folds to a few bytes, leaving mostly what cannot be folded (names and digests). Base85 then keeps it
a JSON string at 5 characters per 4 bytes. The format knows atoms, not walks: a walk that keeps another atom per
run needs nothing here.
"""

from __future__ import annotations

import base64
import lzma
import math
import struct
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

FORMAT = 1
NONE, FALSE, TRUE, INT, FLOAT, HEX, TIME, TEXT, BIG = range(9)
SMALL = 2**62  # an integer beyond ±this is written as text (BIG), so differences stay within a varint
SCALED = 16  # a float that is a whole number of 1/scale: a varint of that, tag SCALED + the index of its scale
SCALES = (1, 2, 10, 100, 1000)
# A small window and hash-chain match finder: the same size for these columns, ~2 MB of memory to pack, not ~16.
FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": 1 << 18, "mf": lzma.MF_HC4}]


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()

    def varint(self, value: int) -> None:
        value = (value << 1) ^ (value >> 63) if -(2**63) <= value < 2**63 else None
        if value is None:
            raise OverflowError("integer too large for the state's records")
        while value >= 0x80:
            self.out.append((value & 0x7F) | 0x80)
            value >>= 7
        self.out.append(value)

    def bytes(self, data: bytes) -> None:
        self.varint(len(data))
        self.out += data


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def varint(self) -> int:
        shift = value = 0
        while True:
            byte = self.data[self.at]
            self.at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return (value >> 1) ^ -(value & 1)

    def bytes(self) -> bytes:
        size = self.varint()
        self.at += size
        if self.at > len(self.data):
            raise ValueError("the state's run records end early")
        return self.data[self.at - size : self.at]


def _hex(text: str) -> bytes | None:
    if len(text) % 2 or not text:
        return None
    try:
        data = bytes.fromhex(text)
    except ValueError:
        return None
    return data if data.hex() == text else None


def _seconds(text: str) -> int | None:
    """A naive ISO time to the second (how walks keep a heartbeat), as seconds; None for any other text."""
    if len(text) != 19 or text[10] != "T":
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return int(moment.replace(tzinfo=UTC).timestamp()) if moment.isoformat() == text else None


def _scaled(value: float) -> tuple[int, int] | None:
    if value == 0 and math.copysign(1.0, value) < 0:
        return None  # -0.0 reads back as 0.0 from any integer
    for index, scale in enumerate(SCALES):
        whole = value * scale
        if whole.is_integer() and abs(whole) < SMALL and int(whole) / scale == value:
            return index, int(whole)
    return None


def _first_time(records: list[dict[str, list]], name: str) -> float:
    for walk in records:
        for atom in walk.get(name) or ():
            if isinstance(atom, float):
                return atom
            if isinstance(atom, str) and (seconds := _seconds(atom)) is not None:
                return seconds
    return 0.0


def pack_records(walks: dict[str, dict[str, list]]) -> str:
    """`walks`: per walk, per run, the run's list of atoms (None, bool, int, float, str)."""
    order = sorted({name for runs in walks.values() for name in runs})
    records = list(walks.values())
    order.sort(key=lambda name: _first_time(records, name))
    at = {name: index for index, name in enumerate(order)}
    out = _Writer()
    out.varint(FORMAT)
    out.varint(len(order))
    for name in order:
        out.bytes(name.encode())
    out.varint(len(walks))
    for walk, runs in walks.items():
        out.bytes(walk.encode())
        present = bytearray((len(order) + 7) // 8)
        for name in runs:
            present[at[name] >> 3] |= 1 << (at[name] & 7)
        out.out += present
        rows = [runs[name] for name in order if name in runs]
        for row in rows:
            out.varint(len(row))
        for column in range(max(map(len, rows), default=0)):
            _column(out, [row[column] for row in rows if column < len(row)])
    return base64.b85encode(lzma.compress(bytes(out.out), lzma.FORMAT_RAW, filters=FILTERS)).decode()


def _encoded(atom: Any) -> tuple[int, Any]:
    """An atom's tag and payload (bytes, or an int the column writes as a difference from the one before)."""
    if atom is None or isinstance(atom, bool):
        return (NONE if atom is None else TRUE if atom else FALSE), b""
    if isinstance(atom, int):
        return (INT, atom) if -SMALL < atom < SMALL else (BIG, str(atom).encode())
    if isinstance(atom, float):
        scaled = _scaled(atom)
        return (SCALED + scaled[0], scaled[1]) if scaled else (FLOAT, struct.pack("<d", atom))
    if isinstance(atom, str):
        if (data := _hex(atom)) is not None:
            return HEX, data
        if (seconds := _seconds(atom)) is not None:
            return TIME, seconds
        return TEXT, atom.encode()
    raise TypeError(f"a run record holds {type(atom).__name__}, not a JSON atom")


def _column(out: _Writer, atoms: list) -> None:
    """A column whose atoms share a tag (and, for hex, a length) says so once, then holds payloads alone."""
    encoded = [_encoded(atom) for atom in atoms]
    shapes = {(tag, len(payload) if tag == HEX else 0) for tag, payload in encoded}
    uniform = shapes.pop() if len(shapes) == 1 else None
    out.varint(0 if uniform is None else uniform[0] + 1)
    if uniform is not None and uniform[0] == HEX:
        out.varint(uniform[1])
    last: dict[int, int] = {}
    for tag, payload in encoded:
        if uniform is None:
            out.out.append(tag)
        if isinstance(payload, int):
            out.varint(payload - last.get(tag, 0))
            last[tag] = payload
        elif (tag == HEX and uniform is None) or tag in (TEXT, BIG):
            out.bytes(payload)
        else:
            out.out += payload


def unpack_records(packed: str) -> dict[str, dict[str, list]]:
    """The inverse of `pack_records`; a record that does not read back whole raises `ValueError`."""
    try:
        data = _Reader(lzma.decompress(base64.b85decode(packed), lzma.FORMAT_RAW, filters=FILTERS))
        if data.varint() != FORMAT:
            raise ValueError("the state's run records are in an unknown format")
        order = [data.bytes().decode() for _ in range(data.varint())]
        walks: dict[str, dict[str, list]] = {}
        for _ in range(data.varint()):
            walk = data.bytes().decode()
            present = data.data[data.at : data.at + (len(order) + 7) // 8]
            data.at += len(present)
            names = [name for i, name in enumerate(order) if present[i >> 3] >> (i & 7) & 1]
            rows: list[list] = [[] for _ in names]
            sizes = [data.varint() for _ in names]
            for column in range(max(sizes, default=0)):
                atoms = _read_column(data, sum(1 for size in sizes if column < size))
                for row in (row for row, size in zip(rows, sizes, strict=True) if column < size):
                    row.append(next(atoms))
            walks[walk] = dict(zip(names, rows, strict=True))
        if data.at != len(data.data):
            raise ValueError("the state's run records have bytes left over")
        return walks
    except (IndexError, lzma.LZMAError, UnicodeDecodeError, struct.error) as error:
        raise ValueError(f"the state's run records are damaged ({error})") from error


def _read_column(data: _Reader, count: int) -> Iterator[Any]:
    uniform = data.varint() - 1
    width = data.varint() if uniform == HEX else 0
    last: dict[int, int] = {}
    for _ in range(count):
        tag = uniform
        if tag < 0:
            tag = data.data[data.at]
            data.at += 1
        yield _read_atom(data, tag, last, width if uniform == HEX else None)


def _read_atom(data: _Reader, tag: int, last: dict[int, int], width: int | None) -> Any:
    def delta() -> int:
        last[tag] = last.get(tag, 0) + data.varint()
        return last[tag]

    def take(size: int) -> bytes:
        data.at += size
        if data.at > len(data.data):
            raise ValueError("the state's run records end early")
        return data.data[data.at - size : data.at]

    if tag in (NONE, FALSE, TRUE):
        return None if tag == NONE else tag == TRUE
    if tag == INT:
        return delta()
    if tag == FLOAT:
        return struct.unpack("<d", take(8))[0]
    if SCALED <= tag < SCALED + len(SCALES):
        return delta() / SCALES[tag - SCALED]
    if tag == HEX:
        return (take(width) if width is not None else data.bytes()).hex()
    if tag == TIME:
        return datetime.fromtimestamp(delta(), UTC).replace(tzinfo=None).isoformat()
    if tag == TEXT:
        return data.bytes().decode()
    if tag == BIG:
        return int(data.bytes().decode())
    raise ValueError(f"the state's run records hold an unknown tag {tag}")
