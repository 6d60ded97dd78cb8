# SPDX-License-Identifier: ISC
"""Payload files: generated ASCII text, made once into a cache directory.

Every payload is lines of 77 bytes (76 printable characters and ``\\n``), so
the 256 MiB payload holds about 3.5 million lines, the issue's target for
line events. The last line is cut short when the size is not a multiple of
77, which exercises the final line without an ending. The text is ASCII on
purpose: Python stores it one byte per character, so "peak RSS at most twice
the payload" is meaningful for every pathway.
"""

from __future__ import annotations

import dataclasses as dc
import json
import os
import random
from pathlib import Path

LINE_BYTES = 77
_SEED = 20261125
_WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
    "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
    "xray yankee zulu cuprum pipe splice stream capture decode line event "
    "0 1 2 3 42 1024 65536 /usr/bin /tmp/x.txt key=value --flag -v [ok] (err)"
).split()
_FORMAT = 2


@dc.dataclass(frozen=True, slots=True)
class Payload:
    """A generated payload file and what a correct reader must see in it."""

    path: Path
    size: int
    chars: int
    lines: int

    def to_json(self) -> dict[str, object]:
        """Return a JSON-ready description."""
        return {"path": str(self.path), "size": self.size, "chars": self.chars, "lines": self.lines}


def _line(rng: random.Random) -> bytes:
    words: list[str] = []
    length = 0
    while length < LINE_BYTES - 1:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    text = " ".join(words)[: LINE_BYTES - 1].ljust(LINE_BYTES - 1, ".")
    return text.encode("ascii") + b"\n"


def _block(lines: int) -> bytes:
    rng = random.Random(_SEED)
    return b"".join(_line(rng) for _ in range(lines))


def _expected_lines(size: int) -> int:
    full, rest = divmod(size, LINE_BYTES)
    return full + (1 if rest else 0)


def ensure_payload(data_dir: Path, size: int) -> Payload:
    """Return the payload of ``size`` bytes, generating it if missing."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"payload-{size}.txt"
    meta_path = data_dir / f"payload-{size}.json"
    payload = Payload(path, size, size, _expected_lines(size))
    if meta_path.exists() and path.exists() and path.stat().st_size == size:
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError:
            meta = {}
        if meta.get("format") == _FORMAT:
            return payload
    block = _block(max(1, min(size, 1 << 20) // LINE_BYTES + 1))
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        left = size
        while left > 0:
            piece = block[:left]
            out.write(piece)
            left -= len(piece)
    os.replace(tmp, path)
    meta_path.write_text(json.dumps({"format": _FORMAT, **payload.to_json()}))
    return payload


def parse_size(text: str) -> int:
    """Parse ``1KiB``, ``1MiB``, ``256MiB``, ``1k``, ``2M`` or plain bytes."""
    raw = text.strip()
    units = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30}
    digits = raw.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    unit = raw[len(digits) :].lower()
    if not digits or unit not in units:
        msg = f"bad size {text!r}: use e.g. 1KiB, 1MiB, 256MiB"
        raise ValueError(msg)
    size = int(digits) * units[unit]
    if size <= 0:
        msg = f"size must be positive: {text!r}"
        raise ValueError(msg)
    return size


def format_size(size: int) -> str:
    """Return ``1KiB``-style text for ``size`` bytes."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale}{unit}"
    return f"{size}B"
