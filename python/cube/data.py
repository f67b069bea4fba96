"""Token data files for cube-run (format: docs/data-format.md, reader: lib/Runtime/TokenData.c).

A 24-byte header (magic b"CUBETOK\\0", u32 version 1, u32 vocab_size, u64 count), then count int32
little-endian ids. Text goes through the byte-level tokenizer: every UTF-8 byte is one id (vocab 256).
"""
import json
import os
import struct

MAGIC = b"CUBETOK\0"
BYTE_VOCAB = 256


class DataError(Exception):
    pass


def byte_tokenize(text):
    """The byte-level tokenizer: the UTF-8 bytes of the text, as ids 0..255."""
    return list(text.encode("utf-8"))


def parse_ids(text, source):
    """Ids from a JSON list or whitespace/comma-separated integers."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            ids = json.loads(stripped)
        except json.JSONDecodeError as e:
            raise DataError(f"{source}: not a JSON list of ids ({e})") from None
    else:
        ids = [t for t in stripped.replace(",", " ").split()]
    out = []
    for i, t in enumerate(ids):
        try:
            v = int(t)
        except (TypeError, ValueError):
            raise DataError(f"{source}: entry {i} ({t!r}) is not an integer id") from None
        if isinstance(t, float) or isinstance(t, bool):
            raise DataError(f"{source}: entry {i} ({t!r}) is not an integer id")
        out.append(v)
    return out


def write(path, ids, vocab_size):
    """Writes ids atomically (temp file + rename); every id must be in [0, vocab_size)."""
    if not 0 < vocab_size < 2**31:
        raise DataError(f"vocab_size {vocab_size} must be in [1, 2^31)")
    for i, v in enumerate(ids):
        if not 0 <= v < vocab_size:
            raise DataError(f"id {v} at position {i} is outside [0, {vocab_size})")
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(MAGIC + struct.pack("<IIQ", 1, vocab_size, len(ids)))
        f.write(struct.pack(f"<{len(ids)}i", *ids))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read(path):
    """(vocab_size, ids) of a token file."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 24 or blob[:8] != MAGIC:
        raise DataError(f"{path}: not a cube token file")
    version, vocab, count = struct.unpack("<IIQ", blob[8:24])
    if version != 1 or len(blob) != 24 + 4 * count:
        raise DataError(f"{path}: bad version or size")
    return vocab, list(struct.unpack(f"<{count}i", blob[24:]))
