"""Encode and decode metadata FlatBuffers from plain dicts, driven by `schema.py`.

The dict form is the one tflite-support prints as JSON: snake_case field names,
enum members by name, and a union `u` as two keys, `u_type` (member name) and
`u` (that member's table). Fields absent from a buffer are absent from the
decoded dict; note that FlatBuffers does not store a scalar equal to its
default (0), so e.g. `color_space: "UNKNOWN"` is written as nothing and reads
back as a missing key.

Writing uses only the public `flatbuffers.Builder` calls; reading uses
`flatbuffers.table.Table` with slot numbers from the schema, checking every
offset against the buffer so that a corrupt buffer gives ValueError rather
than garbage or an IndexError from deep inside.
"""

from __future__ import annotations

import math
import struct

import flatbuffers
from flatbuffers import number_types as N
from flatbuffers.table import Table

from . import schema as S

ROOT_TABLE = "ModelMetadata"


# --------------------------------------------------------------------- writing
def encode(obj: dict, table: str = ROOT_TABLE) -> bytes:
    """Serializes `obj` (a `table` in dict form) as a finished "M001" FlatBuffer."""
    builder = flatbuffers.Builder(1024)
    root = _write_table(builder, table, obj)
    builder.Finish(root, S.FILE_IDENTIFIER)
    return bytes(builder.Output())


def _write_table(b: flatbuffers.Builder, table: str, obj: dict) -> int:
    if not isinstance(obj, dict):
        raise TypeError(f"{table}: expected a dict, got {type(obj).__name__}")
    pairs = S.slots(table)
    known = {f.name for f, _ in pairs} | {f.name + "_type" for f, _ in pairs if f.kind == S.UNION}
    unknown = sorted(set(obj) - known)
    if unknown:
        raise ValueError(f"{table} has no field(s) {', '.join(unknown)}")

    # Children (strings, vectors, tables) must be complete before StartObject.
    slots_out: list[tuple[int, str, int]] = []   # (slot, how, value)
    for field, slot in pairs:
        value = obj.get(field.name)
        if field.kind == S.UNION:
            member = obj.get(field.name + "_type", "NONE")
            members = S.UNIONS[field.ref]
            if member not in members:
                raise ValueError(f"{table}.{field.name}_type: unknown member {member!r}")
            if member == "NONE":
                continue
            if member not in S.TABLE_FIELDS:
                raise ValueError(f"{table}.{field.name}: writing {member} is not supported")
            slots_out.append((slot - 1, "u8", members.index(member)))
            slots_out.append((slot, "offset", _write_table(b, member, value or {})))
            continue
        if value is None:
            continue
        if field.kind == S.STRING:
            slots_out.append((slot, "offset", b.CreateString(_text(table, field, value))))
        elif field.kind == S.STRINGS:
            offsets = [b.CreateString(_text(table, field, v)) for v in value]
            slots_out.append((slot, "offset", _offset_vector(b, offsets)))
        elif field.kind == S.FLOATS:
            slots_out.append((slot, "offset", _float_vector(b, table, field, value)))
        elif field.kind == S.TABLE:
            slots_out.append((slot, "offset", _write_table(b, field.ref, value)))
        elif field.kind == S.TABLES:
            offsets = [_write_table(b, field.ref, v) for v in value]
            slots_out.append((slot, "offset", _offset_vector(b, offsets)))
        elif field.kind == S.ENUM:
            members = S.ENUMS[field.ref]
            if value not in members:
                raise ValueError(f"{table}.{field.name}: unknown {field.ref} {value!r}")
            slots_out.append((slot, "i8", members.index(value)))
        elif field.kind in (S.UINT32, S.INT32):
            slots_out.append((slot, "u32" if field.kind == S.UINT32 else "i32", int(value)))
        else:  # pragma: no cover - schema.py and this function disagree
            raise AssertionError(field)

    b.StartObject(S.slot_count(table))
    for slot, how, value in slots_out:
        if how == "offset":
            b.PrependUOffsetTRelativeSlot(slot, value, 0)
        elif how == "u8":
            b.PrependUint8Slot(slot, value, 0)
        elif how == "i8":
            b.PrependInt8Slot(slot, value, 0)
        elif how == "u32":
            b.PrependUint32Slot(slot, value, 0)
        else:
            b.PrependInt32Slot(slot, value, 0)
    return b.EndObject()


def _text(table, field, value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{table}.{field.name}: expected str, got {type(value).__name__}")
    return value


def _offset_vector(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _float_vector(b: flatbuffers.Builder, table, field, values) -> int:
    values = [float(v) for v in values]
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{table}.{field.name}: values must be finite, got {values}")
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependFloat32(v)
    return b.EndVector()


# --------------------------------------------------------------------- reading
def has_identifier(buf: bytes) -> bool:
    return len(buf) >= 8 and bytes(buf[4:8]) == S.FILE_IDENTIFIER


def decode(buf: bytes, table: str = ROOT_TABLE) -> dict:
    """Parses a finished "M001" FlatBuffer back into dict form."""
    buf = bytes(buf)
    if not has_identifier(buf):
        raise ValueError(f"not a TFLite metadata buffer: file identifier "
                         f"{bytes(buf[4:8])!r} != {S.FILE_IDENTIFIER!r}")
    reader = _Reader(buf)
    return reader.table(table, reader.u32(0))


class _Reader:
    """Bounds-checked access to one buffer; every failure is a ValueError."""

    def __init__(self, buf: bytes):
        self.buf = buf
        self.depth = 0

    def _check(self, pos: int, size: int) -> None:
        if pos < 0 or pos + size > len(self.buf):
            raise ValueError(f"corrupt metadata buffer: read of {size} bytes at {pos} "
                             f"outside {len(self.buf)} bytes")

    def u32(self, pos: int) -> int:
        self._check(pos, 4)
        return struct.unpack_from("<I", self.buf, pos)[0]

    def table(self, table: str, pos: int) -> dict:
        self.depth += 1
        if self.depth > 32:
            raise ValueError("corrupt metadata buffer: tables nested too deep")
        self._check(pos, 4)
        vtable = pos - struct.unpack_from("<i", self.buf, pos)[0]
        self._check(vtable, 4)
        tab = Table(self.buf, pos)
        out: dict = {}
        for field, slot in S.slots(table):
            if field.kind == S.UNION:
                type_off = self._field(tab, vtable, slot - 1)
                if not type_off:
                    continue
                self._check(pos + type_off, 1)
                index = tab.Get(N.Uint8Flags, pos + type_off)
                members = S.UNIONS[field.ref]
                member = members[index] if index < len(members) else f"UNKNOWN_{index}"
                if member == "NONE":
                    continue
                out[field.name + "_type"] = member
                off = self._field(tab, vtable, slot)
                if off and member in S.TABLE_FIELDS:
                    out[field.name] = self.table(member, self._indirect(pos + off))
                continue
            off = self._field(tab, vtable, slot)
            if not off:
                continue
            at = pos + off
            if field.kind == S.STRING:
                out[field.name] = self._string(self._indirect(at))
            elif field.kind == S.STRINGS:
                out[field.name] = [self._string(self._indirect(p))
                                   for p in self._vector(self._indirect(at), 4)]
            elif field.kind == S.FLOATS:
                start = self._indirect(at)
                n = self.u32(start)
                self._check(start + 4, 4 * n)
                out[field.name] = list(struct.unpack_from(f"<{n}f", self.buf, start + 4))
            elif field.kind == S.TABLE:
                out[field.name] = self.table(field.ref, self._indirect(at))
            elif field.kind == S.TABLES:
                out[field.name] = [self.table(field.ref, self._indirect(p))
                                   for p in self._vector(self._indirect(at), 4)]
            elif field.kind == S.ENUM:
                self._check(at, 1)
                value = tab.Get(N.Int8Flags, at)
                members = S.ENUMS[field.ref]
                out[field.name] = members[value] if 0 <= value < len(members) else value
            elif field.kind in (S.UINT32, S.INT32):
                self._check(at, 4)
                out[field.name] = struct.unpack_from(
                    "<I" if field.kind == S.UINT32 else "<i", self.buf, at)[0]
        self.depth -= 1
        return out

    def _field(self, tab: Table, vtable: int, slot: int) -> int:
        """Offset of `slot` from the table start, 0 when absent."""
        vt_size = struct.unpack_from("<H", self.buf, vtable)[0]
        entry = 4 + 2 * slot
        if entry >= vt_size:
            return 0
        self._check(vtable + entry, 2)
        return tab.Offset(entry)

    def _indirect(self, at: int) -> int:
        return at + self.u32(at)

    def _vector(self, start: int, elem_size: int) -> list[int]:
        n = self.u32(start)
        self._check(start + 4, elem_size * n)
        return [start + 4 + elem_size * i for i in range(n)]

    def _string(self, start: int) -> str:
        n = self.u32(start)
        self._check(start + 4, n)
        try:
            return self.buf[start + 4:start + 4 + n].decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"corrupt metadata buffer: {e}") from None


# ---------------------------------------------------------- min_parser_version
def min_parser_version(obj: dict, table: str = ROOT_TABLE) -> str:
    """The smallest metadata parser version that understands every member `obj` uses.

    1.0.0 unless a field or enum/union member added later is present (see
    schema.FIELD_VERSIONS / MEMBER_VERSIONS); `min_parser_version` itself is
    ignored so that the result does not depend on a previous value.
    """
    return ".".join(str(p) for p in _max_version(obj, table))


def _max_version(obj: dict, table: str) -> tuple[int, int, int]:
    best = S.BASE_PARSER_VERSION
    for field, _ in S.slots(table):
        if field.kind == S.UNION:
            member = obj.get(field.name + "_type", "NONE")
            if member == "NONE":
                continue
            best = max(best, S.MEMBER_VERSIONS.get((field.ref, member), best))
            if member in S.TABLE_FIELDS and obj.get(field.name) is not None:
                best = max(best, _max_version(obj[field.name], member))
            continue
        value = obj.get(field.name)
        if value is None:
            continue
        best = max(best, S.FIELD_VERSIONS.get((table, field.name), best))
        if field.kind == S.ENUM:
            best = max(best, S.MEMBER_VERSIONS.get((field.ref, value), best))
        elif field.kind == S.TABLE:
            best = max(best, _max_version(value, field.ref))
        elif field.kind == S.TABLES:
            for item in value:
                best = max(best, _max_version(item, field.ref))
    return best
