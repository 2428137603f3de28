#!/usr/bin/env python3
"""An independent reader and verifier of a Rananeeti log directory.

Written from docs/LOG_FORMAT.md and docs/EVENTS.md alone, with only the Python
standard library (LZ4 frames are decoded here by hand), so that an auditor need
not trust the service's own code to check its log. It checks what `rananeeti log
verify` checks: the format (where the log starts, every header, hash, link and
offset, the payload frame's form, each record's appendedAt) and, unless
--structure-only, every event (valid JSON, the rules of its type, digests).

"""
USAGE = """
    tools/verify_log.py DIR            verify; print a summary on standard error
    tools/verify_log.py DIR --dump     also print every record (JSON lines) to stdout
    tools/verify_log.py DIR --json     also print the verdict as JSON on stdout: verdict, file, byteOffset, reason
    tools/verify_log.py DIR --chain-hash-at OFFSET   also print the chain hash at OFFSET on stdout
    tools/verify_log.py DIR --structure-only         the format only, not what each event says

Exit status:
    0   intact
    3   intact, ending in an unfinished (never acknowledged) last batch, which a writer cuts
    4   damaged: "DAMAGED: FILE at byte N: REASON" on standard error
    5   intact, but no batch ends at the --chain-hash-at OFFSET (the chain hash is defined at batch ends only)
    2   usage: no directory given, or DIR is not a directory
    70  the verifier itself failed (a bug here, not a finding about the log); the traceback follows
A Python error outside main() exits 1, so no failure of the verifier can pass for damage (4).
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import struct
import sys
import traceback

EXIT_INTACT, EXIT_USAGE, EXIT_UNFINISHED_TAIL, EXIT_DAMAGED, EXIT_NO_BATCH_END, EXIT_VERIFIER_FAILED = 0, 2, 3, 4, 5, 70

HEADER_MAGIC = 0x184D2A5E
HEADER_LEN = 112
FRAMED = 8 + HEADER_LEN
LZ4_MAGIC = 0x184D2204


class Damage(Exception):
    def __init__(self, path, position, reason):
        super().__init__(f"{path} at byte {position}: {reason}")
        self.path, self.position, self.reason = path, position, reason


def lz4_block(src, out):
    """Decodes one LZ4 block (https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md) onto `out`."""
    i = 0
    n = len(src)
    while i < n:
        token = src[i]
        i += 1
        lit = token >> 4
        if lit == 15:
            while True:
                b = src[i]
                i += 1
                lit += b
                if b != 255:
                    break
        out += src[i:i + lit]
        i += lit
        if i >= n:
            break  # the last sequence has literals only
        offset = src[i] | (src[i + 1] << 8)
        i += 2
        if offset == 0 or offset > len(out):
            raise ValueError("bad match offset")
        mlen = token & 15
        if mlen == 15:
            while True:
                b = src[i]
                i += 1
                mlen += b
                if b != 255:
                    break
        mlen += 4
        start = len(out) - offset
        for k in range(mlen):  # may overlap: copy byte by byte
            out.append(out[start + k])


def xxh32(data, seed=0):
    """XXH32 (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md), for the LZ4 frame's header
    checksum."""
    p1, p2, p3, p4, p5, mask = 2654435761, 2246822519, 3266489917, 668265263, 374761393, 0xFFFFFFFF

    def rotl(x, r):
        return ((x << r) | (x >> (32 - r))) & mask

    def lane(v, word):
        return rotl((v + word * p2) & mask, 13) * p1 & mask

    n, i = len(data), 0
    if n >= 16:
        v = [(seed + p1 + p2) & mask, (seed + p2) & mask, seed & mask, (seed - p1) & mask]
        while i + 16 <= n:
            v = [lane(v[k], struct.unpack_from("<I", data, i + 4 * k)[0]) for k in range(4)]
            i += 16
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & mask
    else:
        h = (seed + p5) & mask
    h = (h + n) & mask
    while i + 4 <= n:
        h = rotl((h + struct.unpack_from("<I", data, i)[0] * p3) & mask, 17) * p4 & mask
        i += 4
    while i < n:
        h = rotl((h + data[i] * p5) & mask, 11) * p1 & mask
        i += 1
    h ^= h >> 15
    h = h * p2 & mask
    h ^= h >> 13
    h = h * p3 & mask
    return h ^ (h >> 16)


def frame_form_problem(data, ulen):
    """What the format page prescribes for a payload frame beyond being an LZ4 frame: flags 0x68 (version 01,
    independent blocks, content size, no checksums, no dictionary), a block size of 64 KB to 4 MB, a content
    size equal to the header's uncompressed length, and a header checksum that holds."""
    if len(data) < 15 or struct.unpack_from("<I", data, 0)[0] != LZ4_MAGIC:
        return "payload is not an LZ4 frame with a content size"
    if data[4] != 0x68:
        return f"LZ4 frame flags 0x{data[4]:02x}, not 0x68"
    if data[5] not in (0x40, 0x50, 0x60, 0x70):
        return f"LZ4 block descriptor 0x{data[5]:02x}"
    if struct.unpack_from("<Q", data, 6)[0] != ulen:
        return "LZ4 frame content size differs from the header's uncompressed length"
    if (xxh32(data[4:14]) >> 8) & 0xFF != data[14]:
        return "LZ4 frame header checksum does not match"
    return None


def lz4_frame(data):
    """Decodes one complete LZ4 frame of the prescribed form (see frame_form_problem); returns its content."""
    i = 15
    out = bytearray()
    while True:
        (size,) = struct.unpack_from("<I", data, i)
        i += 4
        if size == 0:
            break
        raw = size & 0x80000000
        size &= 0x7FFFFFFF
        block = data[i:i + size]
        if len(block) != size:
            raise ValueError("block runs past the frame")
        i += size
        if raw:
            out += block
        else:
            # Independent blocks: a match never reaches into an earlier block.
            decoded = bytearray()
            lz4_block(block, decoded)
            out += decoded
    if i != len(data):
        raise ValueError("bytes after the end of the frame")
    return bytes(out)


def valid_header(data, at):
    if at + FRAMED > len(data):
        return None
    magic, size = struct.unpack_from("<II", data, at)
    if magic != HEADER_MAGIC or size != HEADER_LEN:
        return None
    h = data[at + 8:at + FRAMED]
    if hashlib.blake2b(h[:104], digest_size=8).digest() != h[104:112]:
        return None
    version, flags, count, first, t0, t1, plen, ulen = struct.unpack_from("<HHIQqqII", h, 0)
    return dict(version=version, flags=flags, count=count, first=first, t0=t0, t1=t1, plen=plen, ulen=ulen,
                prev=h[40:72], hash=h[72:104], raw=h)


def usable(header):
    return (header["version"] == 1 and header["flags"] & ~1 == 0 and header["count"] >= 1 and 11 <= header["plen"] <= 80 << 20
            and 3 * header["count"] <= header["ulen"] <= 64 << 20 and header["first"] + header["count"] < 1 << 64)


def group_start(data, at):
    """A whole batch starting a write group (flag bit 0 clear, whole payload, matching hash), or a checksummed
    header this reader cannot use."""
    header = valid_header(data, at)
    if header is None:
        return False
    if not usable(header):
        return True
    if header["flags"] & 1:
        return False
    end = at + FRAMED + header["plen"]
    if end > len(data):
        return False
    return hashlib.blake2b(header["raw"][:72] + data[at + FRAMED:end], digest_size=32).digest() == header["hash"]


def parse_time(text):
    """Milliseconds since the Unix epoch of YYYY-MM-DDTHH:MM:SS.sssZ (years 0001-9999, a real date), or None."""
    m = re.fullmatch(rb"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z", text)
    if not m:
        return None
    year, month, day, hour, minute, second, milli = (int(g) for g in m.groups())
    try:
        date = datetime.date(year, month, day)
    except ValueError:
        return None
    if year < 1 or hour > 23 or minute > 59 or second > 59:
        return None
    days = date.toordinal() - datetime.date(1970, 1, 1).toordinal()
    return ((days * 86400 + hour * 3600 + minute * 60 + second) * 1000) + milli


def envelope_time(record, offset):
    """The appendedAt of a stamped line whose envelope is exactly {"offset":N,"appendedAt":"…" followed by
    , or the closing brace; None otherwise."""
    prefix = b'{"offset":%d,"appendedAt":"' % offset
    end = len(prefix) + 24
    if not record.startswith(prefix) or len(record) < end + 2 or record[end:end + 1] != b'"':
        return None
    if record[end + 1:end + 2] != b"," and not (record[end + 1:] == b"}"):
        return None
    return parse_time(record[len(prefix):end])


# docs/EVENTS.md: the event record.
FIELDS = ("offset", "appendedAt", "type", "node", "digest", "name", "people", "datetime", "notes", "testFailures")
# "A booking by a signed-in guest": the same fields and who booked.
GUEST_FIELDS = FIELDS + ("guestIssuer", "guestSubject")
# "A cancellation".
CANCEL_FIELDS = ("offset", "appendedAt", "type", "node", "digest", "byIssuer", "bySubject", "byRole", "reason")
WHITE_SPACE = set(chr(c) for c in [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                                      0x2028, 0x2029, 0x202F, 0x205F, 0x3000])


def is_control(ch):
    return ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F


def contents(value, depth=0):
    """Yields every string in a parsed value (names too); raises ValueError for a container nested more than
    32 levels inside the line's object."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        if depth > 32:
            raise ValueError("nested deeper than 32 levels")
        for item in value:
            if isinstance(value, Pairs):
                name, item = item
                yield name
            yield from contents(item, depth + 1)


class Pairs(list):
    """A JSON object as its (name, value) pairs, in order, repeats kept."""


def stored_text_problem(text, name):
    if text and (text[0] in WHITE_SPACE or text[-1] in WHITE_SPACE) or "\r" in text:
        return f"{name} has surrounding whitespace or a carriage return"
    if name == "name":
        if not text:
            return "name is empty"
        if any(is_control(c) or c in "\u2028\u2029" for c in text):
            return "name is not one line without control characters"
        if len(text) > 40:
            return "name is longer than 40 characters"
    elif name in ("guestIssuer", "guestSubject", "byIssuer", "bySubject"):
        if not text:
            return f"{name} is empty"
        if any(is_control(c) or c in "\u2028\u2029" for c in text):
            return f"{name} is not one line without control characters"
        if len(text) > 255:
            return f"{name} is longer than 255 characters"
    elif name == "reason":
        if any(is_control(c) or c in "\u2028\u2029" for c in text):
            return "reason is not one line without control characters"
        if len(text) > 200:
            return "reason is longer than 200 characters"
    else:
        if any(is_control(c) and c != "\n" for c in text):
            return "notes hold a control character"
        if len(text) > 200:
            return "notes are longer than 200 characters"
    return None


KEY_FIELDS = ("offset", "appendedAt", "type", "node", "key", "digest", "created")


def idempotency_key_problem(parsed):
    """docs/EVENTS.md, "The idempotency key event": seven fields, each once, no others."""
    fields = {}
    for name, value in parsed:
        if name not in KEY_FIELDS:
            return f"unknown field {name} in an idempotency.key event"
        if name in fields:
            return f"field {name} is given twice"
        fields[name] = value
    missing = [name for name in KEY_FIELDS if name not in fields]
    if missing:
        return f"field {missing[0]} is missing"
    if not isinstance(fields["node"], str):
        return "node is not a string"
    key = fields["key"]
    if not isinstance(key, str) or not 1 <= len(key.encode()) <= 255 or any(not 0x21 <= b <= 0x7E for b in key.encode()):
        return "key is not 1 to 255 visible ASCII characters"
    if not isinstance(fields["digest"], str) or not re.fullmatch(r"[0-9a-f]{20}", fields["digest"]):
        return "digest is not 20 lowercase hex digits"
    if type(fields["created"]) is not bool:
        return "created is not true or false"
    return None


def fields_problem(parsed, names, kind):
    """The fields of a known type: each of `names` once, no others. Returns (fields, None) or (None, problem)."""
    fields = {}
    for name, value in parsed:
        if name not in names:
            return None, f"unknown field {name} in a {kind} event"
        if name in fields:
            return None, f"field {name} is given twice"
        fields[name] = value
    missing = [name for name in names if name not in fields]
    if missing:
        return None, f"field {missing[0]} is missing"
    return fields, None


def cancellation_problem(parsed):
    """docs/EVENTS.md, "A cancellation: reservation.cancelled"."""
    fields, problem = fields_problem(parsed, CANCEL_FIELDS, "reservation.cancelled")
    if problem:
        return problem
    strings = ("node", "digest", "byIssuer", "bySubject", "byRole", "reason")
    if any(not isinstance(fields[key], str) for key in strings):
        return "node, digest, byIssuer, bySubject, byRole and reason must be strings"
    if not re.fullmatch(r"[0-9a-f]{20}", fields["digest"]):
        return "digest is not 20 lowercase hex digits"
    if fields["byRole"] not in ("guest", "staff"):
        return "byRole is not guest or staff"
    for key in ("byIssuer", "bySubject", "reason"):
        problem = stored_text_problem(fields[key], key)
        if problem:
            return problem
    return None


def digest(fields):
    form = {"Name": fields["name"], "People": str(fields["people"]), "date": fields["datetime"],
            "Message": fields["notes"]}
    if fields["testFailures"]:
        form["Emulate"] = "on"
    return hashlib.blake2b(json.dumps(form).encode(), digest_size=10).hexdigest()


def event_problem(record):
    """Why a stored line is not a valid event (docs/EVENTS.md), or None. Unknown types need only be JSON."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    try:
        text = record.decode("utf-8")
        parsed = json.loads(text, object_pairs_hook=Pairs, parse_constant=refuse)
        if not isinstance(parsed, Pairs):
            return "not a JSON object"
        for string in contents(parsed):
            if any(0xD800 <= ord(c) <= 0xDFFF for c in string):
                return "a lone surrogate in a string"
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        return f"not valid JSON ({e})"
    fields = {}
    for key, value in parsed:
        if key in FIELDS:
            if key in fields:
                return f"field {key} is given twice"
            fields[key] = value
    for key in ("offset", "appendedAt", "type"):
        if key not in fields:
            return f"field {key} is missing"
    if type(fields["offset"]) is not int or fields["offset"] < 0:
        return "offset is not a non-negative integer"
    if not isinstance(fields["appendedAt"], str) or parse_time(fields["appendedAt"].encode()) is None:
        return "appendedAt is not a time in the documented form"
    if not isinstance(fields["type"], str):
        return "type is not a string"
    if fields["type"] == "idempotency.key":
        return idempotency_key_problem(parsed)
    if fields["type"] == "reservation.cancelled":
        return cancellation_problem(parsed)
    if fields["type"] not in ("reservation.accepted", "reservation.accepted.v2"):
        return None  # an unknown type: never damage
    names = FIELDS if fields["type"] == "reservation.accepted" else GUEST_FIELDS
    fields, problem = fields_problem(parsed, names, fields["type"])
    if problem:
        return problem
    for key in names[len(FIELDS):]:
        if not isinstance(fields[key], str):
            return f"{key} is not a string"
        problem = stored_text_problem(fields[key], key)
        if problem:
            return problem
    strings = ("node", "digest", "name", "datetime", "notes")
    if any(not isinstance(fields[key], str) for key in strings):
        return "node, digest, name, datetime and notes must be strings"
    if not re.fullmatch(r"[0-9a-f]{20}", fields["digest"]):
        return "digest is not 20 lowercase hex digits"
    for key in ("name", "notes"):
        problem = stored_text_problem(fields[key], key)
        if problem:
            return problem
    if type(fields["people"]) is not int or not 1 <= fields["people"] <= 9999:
        return "people is not an integer from 1 to 9999"
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})", fields["datetime"])
    try:
        if not m or int(m.group(1)) < 1 or int(m.group(4)) > 23 or int(m.group(5)) > 59:
            raise ValueError
        datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return "datetime is not a real date and time written YYYY-MM-DDTHH:MM"
    if type(fields["testFailures"]) is not bool:
        return "testFailures is not true or false"
    if digest(fields) != fields["digest"]:
        return f"its digest {fields['digest']} is not its reservation's, {digest(fields)}"
    return None


def batch_problem(header, payload, last_time, events):
    """Why a whole batch whose hash holds breaks the format's promises (and, with `events`, the event page's),
    or None."""
    problem = frame_form_problem(payload, header["ulen"])
    if problem:
        return problem
    if header["t0"] > header["t1"] or header["t0"] < last_time:
        return "the batch's appendedAt range goes back in time"
    try:
        lines = lz4_frame(payload)
    except (ValueError, IndexError, struct.error) as e:
        return f"payload does not decode: {e}"
    if len(lines) != header["ulen"] or not lines.endswith(b"\n"):
        return "payload length or final line feed wrong"
    records = lines[:-1].split(b"\n")
    if len(records) != header["count"]:
        return "record count does not match the header"
    previous = header["t0"]
    for k, rec in enumerate(records):
        offset = header["first"] + k
        if not rec.startswith(b'{"offset":%d,' % offset):
            return f"record {k} does not carry its offset"
        time = envelope_time(rec, offset)
        if time is None:
            return f"record {k} has no appendedAt in the documented form"
        if time < previous or time > header["t1"] or (k == 0 and time != header["t0"]):
            return f"record {k} has an appendedAt out of order or outside the header's"
        previous = time
        problem = events and event_problem(rec)
        if problem:
            return f"the batch's hash holds, but record {k} (offset {offset}) is not a valid event: {problem}"
    if previous != header["t1"]:
        return "the batch's last record's appendedAt differs from its header's"
    return None


def walk_segment(path, base, expected_prev, is_last, dump, points=None, last_time=-(1 << 63), events=True, ends=None):
    """Returns (next_offset, last_hash, unfinished_tail_or_None, last_time); `ends`, a dict, receives each good
    batch's end byte -> (offset after it, its hash)."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    next_offset = base
    prev = expected_prev
    while pos < len(data):
        remaining = len(data) - pos
        tail = None
        header = valid_header(data, pos)
        if remaining < FRAMED:
            tail = "fewer bytes left than a batch header"
        elif header is None:
            tail = "invalid batch header"
        elif not usable(header):
            # Its checksum holds, so some writer wrote it whole: damage, never a tail.
            raise Damage(path, pos, "a batch header whose checksum holds has a field out of range")
        else:
            end = pos + FRAMED + header["plen"]
            if end > len(data):
                tail = "batch cut short"
            else:
                payload = data[pos + FRAMED:end]
                digest = hashlib.blake2b(header["raw"][:72] + payload, digest_size=32).digest()
                if digest != header["hash"]:
                    tail = "batch hash does not match"
        if tail is not None and any(group_start(data, q) for q in range(pos + 1, len(data) - FRAMED + 1)
                                    if data[q:q + 4] == b"\x5e\x2a\x4d\x18"):
            raise Damage(path, pos, tail + "; a later write group follows, so this is not a torn write")
        if tail is not None:
            if is_last:
                return next_offset, prev, (path, pos, tail), last_time
            raise Damage(path, pos, tail)
        if header["first"] != next_offset:
            raise Damage(path, pos, f"batch starts at offset {header['first']}, expected {next_offset}")
        if prev is not None and header["prev"] != prev:
            raise Damage(path, pos, "batch does not chain to the batch before it")
        problem = batch_problem(header, payload, last_time, events)
        if problem:
            raise Damage(path, pos, problem)
        if dump:
            sys.stdout.buffer.write(lz4_frame(payload))
        last_time = header["t1"]
        next_offset = header["first"] + header["count"]
        prev = header["hash"]
        if points is not None:
            points[next_offset] = prev
        if ends is not None:
            ends[end] = (next_offset, prev)
        pos = end
    return next_offset, prev, None, last_time


START_RECORD = re.compile(rb'\{"format":"rananeeti-log-start","version":1,"offset":(0|[1-9][0-9]*),'
                          rb'"chainHash":"([0-9a-f]{64})"\}\n')
SYNCED_END = re.compile(rb'\{"format":"rananeeti-synced-end","version":1,"segment":(0|[1-9][0-9]*),'
                        rb'"bytes":(0|[1-9][0-9]*),"offset":(0|[1-9][0-9]*),"chainHash":"([0-9a-f]{64})"\}\n')


def read_record(directory, name, pattern, limits, what):
    """A one-line record file beside the segments: its numbers (each below its limit) and its hash, or None when
    the file is not there. Raises Damage when it is not in the documented form."""
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        match = pattern.fullmatch(f.read())
    numbers = [int(group) for group in match.groups()[:-1]] if match else []
    if not match or any(number >= limit for number, limit in zip(numbers, limits)):
        raise Damage(path, 0, f"the log's {what} is not in the documented form")
    return path, numbers, bytes.fromhex(match.groups()[-1].decode())


def read_start(directory):
    """The log's start record ("Where a log starts"): (offset, chain hash), or None when the log has none."""
    record = read_record(directory, "log-start", START_RECORD, [1 << 64], "start record")
    if record is None:
        return None
    path, (offset,), chain = record
    if offset == 0 and chain != b"\0" * 32:
        raise Damage(path, 0, "a start record at offset 0 must hold 32 zero bytes")
    return offset, chain


def read_synced_end(directory):
    """The writer's record of how far the log was synced ("How far the log was synced"), or None."""
    record = read_record(directory, "synced-end", SYNCED_END, [1 << 64, 1 << 63, 1 << 64], "synced-end record")
    if record is None:
        return None
    path, (segment, end, offset), chain = record
    return dict(path=path, segment=segment, bytes=end, offset=offset, hash=chain)


def verify(directory, dump=False, points=None, events=True):
    """Verifies the log; raises Damage. `points`, a dict, receives the chain hash at every batch end (and at
    the log's start)."""
    start = read_start(directory)
    synced = read_synced_end(directory)
    start_offset, prev = start if start else (0, b"\0" * 32)
    every = sorted(n for n in os.listdir(directory) if re.fullmatch(r"\d{20}\.lz4", n))
    # Segments below a recorded start are leftovers of archiving, not part of the log.
    names = [n for n in every if int(n[:20]) >= start_offset]
    if not names:
        raise Damage(directory, 0, "no segment file")
    bases = [int(n[:20]) for n in names]
    if bases[0] != start_offset:
        if start is None:
            raise Damage(os.path.join(directory, names[0]), 0,
                         f"the log starts at offset {bases[0]} but has no start record: its oldest segments are missing")
        raise Damage(os.path.join(directory, "log-start"), 0,
                     f"the start record says offset {start_offset}, the first segment starts at {bases[0]}")
    end = bases[0]
    if points is not None:
        points[start_offset] = prev
    records = 0
    tail = None
    last_time = -(1 << 63)
    marked = {}  # batch ends (byte -> (offset, hash)) in the segment the synced-end record names
    for index, (name, base) in enumerate(zip(names, bases)):
        path = os.path.join(directory, name)
        if base != end:
            raise Damage(path, 0, f"segment starts at {base}, the one before it ends at {end}")
        ends = marked if synced and synced["segment"] == base else None
        new_end, prev, tail, last_time = walk_segment(path, base, prev, index == len(names) - 1, dump, points,
                                                      last_time, events, ends)
        if index < len(names) - 1 and new_end == base:
            raise Damage(path, 0, "a sealed segment holds no batch")
        records += new_end - base
        end = new_end
    if synced and synced["segment"] >= start_offset:
        check_synced_end(synced, directory, bases, marked, tail)
    return dict(segments=len(names), records=records, end=end,
                head=prev.hex() if prev else None, tail=tail)


def check_synced_end(synced, directory, bases, marked, tail):
    """What was synced is there: no torn tail before the recorded end, the segment at least that long, and the
    recorded batch end in it with its offset and hash. Raises Damage otherwise."""
    if tail and synced["segment"] == bases[-1] and tail[1] < synced["bytes"]:
        raise Damage(tail[0], tail[1], f"{tail[2]}; the log was synced up to byte {synced['bytes']} of this segment: "
                                       f"damage to acknowledged records, not a torn write")
    if synced["segment"] not in bases:
        raise Damage(synced["path"], 0, f"the log was synced up to offset {synced['offset']} in segment "
                                        f"{synced['segment']}, which is not in the log")
    good = max(marked, default=0)
    if good < synced["bytes"]:
        raise Damage(os.path.join(directory, "%020d.lz4" % synced["segment"]), good,
                     f"the segment ends at byte {good}, but the log was synced up to byte {synced['bytes']}: "
                     f"acknowledged records are missing")
    if marked.get(synced["bytes"]) != (synced["offset"], synced["hash"]):
        raise Damage(synced["path"], 0, "no batch of the log ends where its synced-end record says")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=USAGE)
    parser.add_argument("directory")
    parser.add_argument("--dump", action="store_true", help="also print every record (JSON lines) to stdout")
    parser.add_argument("--json", action="store_true", help="print the verdict as one JSON object on stdout")
    parser.add_argument("--chain-hash-at", type=int, metavar="OFFSET",
                        help="print the chain hash at OFFSET (the hash of the batch that ends there) on stdout, "
                             "to compare with what the database witnessed")
    parser.add_argument("--structure-only", action="store_true",
                        help="check batches, hashes, the chain and offsets, not what each event says")
    args = parser.parse_args()  # exits 2 (EXIT_USAGE) on a usage error
    if not os.path.isdir(args.directory):
        print(f"verify_log.py: {args.directory} is not a directory (give a log directory)", file=sys.stderr)
        return EXIT_USAGE
    verdict = {"verdict": "intact", "file": None, "byteOffset": None, "reason": None}
    points = {} if args.chain_hash_at is not None else None
    try:
        report = verify(args.directory, dump=args.dump, points=points, events=not args.structure_only)
    except Damage as d:
        verdict.update(verdict="damaged", file=d.path, byteOffset=d.position, reason=d.reason)
        print(f"DAMAGED: {d}", file=sys.stderr)
    except Exception:  # noqa: BLE001 - any other error is the verifier's own failure, never a verdict on the log
        traceback.print_exc()
        print("verify_log.py: the verifier failed (the traceback above is a bug in it); the log was not judged",
              file=sys.stderr)
        return EXIT_VERIFIER_FAILED
    else:
        verdict.update(endOffset=report["end"], chainHead=report["head"])
        print(f"OK: {report['segments']} segment(s), {report['records']} record(s), end offset {report['end']}, "
              f"chain head {report['head']}", file=sys.stderr)
        if report["tail"]:
            path, pos, reason = report["tail"]
            verdict.update(verdict="unfinished", file=path, byteOffset=pos, reason=reason)
            print(f"Note: unfinished last batch at {path} byte {pos}: {reason}", file=sys.stderr)
    if args.json:
        print(json.dumps(verdict))
    if points is not None and verdict["verdict"] != "damaged":
        if args.chain_hash_at not in points:
            print(f"No batch ends at offset {args.chain_hash_at}: the chain hash is defined only at batch ends "
                  f"(and at the log's start).", file=sys.stderr)
            return EXIT_NO_BATCH_END
        print(points[args.chain_hash_at].hex())
    return {"intact": EXIT_INTACT, "damaged": EXIT_DAMAGED, "unfinished": EXIT_UNFINISHED_TAIL}[verdict["verdict"]]


if __name__ == "__main__":
    sys.exit(main())
