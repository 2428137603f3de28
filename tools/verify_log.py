#!/usr/bin/env python3
"""An independent reader and verifier of a Rananeeti log directory.

Written from docs/LOG_FORMAT.md alone, with only the Python standard library
(LZ4 frames are decoded here by hand), so that an auditor need not trust the
service's own code to check its log.

    tools/verify_log.py DIR            verify; print a summary on standard error
    tools/verify_log.py DIR --dump     also print every record (JSON lines) to stdout

Exit status:
    0   intact
    3   intact, ending in an unfinished (never acknowledged) last batch, which a writer cuts
    4   damaged: "DAMAGED: FILE at byte N: REASON" on standard error
    2   usage: no directory given, or DIR is not a directory
    70  the verifier itself failed (a bug here, not a finding about the log); the traceback follows
A Python error outside main() exits 1, so no failure of the verifier can pass for damage (4).
"""
import hashlib
import os
import re
import struct
import sys
import traceback

EXIT_INTACT, EXIT_USAGE, EXIT_UNFINISHED_TAIL, EXIT_DAMAGED, EXIT_VERIFIER_FAILED = 0, 2, 3, 4, 70

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


def lz4_frame(data):
    """Decodes one complete LZ4 frame; returns its content."""
    if len(data) < 7 or struct.unpack_from("<I", data, 0)[0] != LZ4_MAGIC:
        raise ValueError("not an LZ4 frame")
    flg, bd = data[4], data[5]
    if flg >> 6 != 1:
        raise ValueError("unsupported LZ4 frame version")
    block_checksum = flg & 0x10
    content_size_flag = flg & 0x08
    content_checksum = flg & 0x04
    dict_id = flg & 0x01
    i = 6
    if content_size_flag:
        i += 8
    if dict_id:
        raise ValueError("dictionary frames are not used by this format")
    i += 1  # header checksum byte (xxh32-based; covered by the batch hash here)
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
        if block_checksum:
            i += 4
        if raw:
            out += block
        else:
            lz4_block(block, out)
    if content_checksum:
        i += 4
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


def walk_segment(path, base, expected_prev, is_last, dump):
    """Returns (next_offset, last_hash, unfinished_tail_or_None)."""
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
                return next_offset, prev, (path, pos, tail)
            raise Damage(path, pos, tail)
        if header["first"] != next_offset:
            raise Damage(path, pos, f"batch starts at offset {header['first']}, expected {next_offset}")
        if prev is not None and header["prev"] != prev:
            raise Damage(path, pos, "batch does not chain to the batch before it")
        try:
            lines = lz4_frame(payload)
        except (ValueError, IndexError, struct.error) as e:
            raise Damage(path, pos, f"payload does not decode: {e}")
        if len(lines) != header["ulen"] or not lines.endswith(b"\n"):
            raise Damage(path, pos, "payload length or final line feed wrong")
        records = lines[:-1].split(b"\n")
        if len(records) != header["count"]:
            raise Damage(path, pos, "record count does not match the header")
        for k, rec in enumerate(records):
            if not rec.startswith(b'{"offset":%d,' % (header["first"] + k)):
                raise Damage(path, pos, f"record {k} does not carry its offset")
            if dump:
                sys.stdout.buffer.write(rec + b"\n")
        next_offset = header["first"] + header["count"]
        prev = header["hash"]
        pos = end
    return next_offset, prev, None


def verify(directory, dump=False):
    names = sorted(n for n in os.listdir(directory) if re.fullmatch(r"\d{20}\.lz4", n))
    if not names:
        raise Damage(directory, 0, "no segment file")
    bases = [int(n[:20]) for n in names]
    prev = b"\0" * 32 if bases[0] == 0 else None
    end = bases[0]
    records = 0
    tail = None
    for index, (name, base) in enumerate(zip(names, bases)):
        path = os.path.join(directory, name)
        if base != end:
            raise Damage(path, 0, f"segment starts at {base}, the one before it ends at {end}")
        new_end, prev, tail = walk_segment(path, base, prev, index == len(names) - 1, dump)
        if index < len(names) - 1 and new_end == base:
            raise Damage(path, 0, "a sealed segment holds no batch")
        records += new_end - base
        end = new_end
    return dict(segments=len(names), records=records, end=end,
                head=prev.hex() if prev else None, tail=tail)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return EXIT_USAGE
    if not os.path.isdir(sys.argv[1]):
        print(f"verify_log.py: {sys.argv[1]} is not a directory (give a log directory)", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = verify(sys.argv[1], dump="--dump" in sys.argv[2:])
    except Damage as d:
        print(f"DAMAGED: {d}", file=sys.stderr)
        return EXIT_DAMAGED
    except Exception:  # noqa: BLE001 - any other error is the verifier's own failure, never a verdict on the log
        traceback.print_exc()
        print("verify_log.py: the verifier failed (the traceback above is a bug in it); the log was not judged",
              file=sys.stderr)
        return EXIT_VERIFIER_FAILED
    print(f"OK: {report['segments']} segment(s), {report['records']} record(s), end offset {report['end']}, "
          f"chain head {report['head']}", file=sys.stderr)
    if report["tail"]:
        path, pos, reason = report["tail"]
        print(f"Note: unfinished last batch at {path} byte {pos}: {reason}", file=sys.stderr)
        return EXIT_UNFINISHED_TAIL
    return EXIT_INTACT


if __name__ == "__main__":
    sys.exit(main())
