"""Finding every photo within a few bits of a dHash without reading them all.

Multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with
Multi-Index Hashing", CVPR 2012): cut the 64-bit hash into `CHUNKS` chunks of 16 bits and
index each chunk's value. If two hashes differ in at most r bits, those bits fall into 4
chunks, so at least one chunk differs in at most r // 4 bits (pigeonhole). A lookup therefore
asks the index for every chunk value within r // 4 bits of the query's chunks, and checks the
whole hash of the few rows that come back. Nothing is missed, and nothing is kept in process
memory: the index is a table, shared by every web worker and bot process.

Why 4 chunks of 16 bits for the 10-bit threshold (per query hash, N indexed photo hashes,
random hashes; real dHashes are less uniform, so a little more):

| chunks | bits each | radius per chunk | index probes | rows to check at N = 100,000 |
| ---: | ---: | ---: | ---: | ---: |
| 11 | 5-6 | 0 | 11 | ~20,000 |
| 6 | 10-11 | 1 | 70 | ~4,500 |
| 4 | 16 | 2 | 4 * 137 = 548 | ~840 |
| 3 | 21-22 | 3 | ~4,900 | ~190 |

Exact matches on 11 short chunks return a fifth of the table at 100,000 photos; 3 chunks need
thousands of index probes. 4 chunks (Norouzi's rule: 64 / log2(N), about 4 from 10,000 to
millions) keep both near a thousand. The threshold is a setting: a larger one only widens the
radius per chunk (12-15 bits: radius 3, 2,788 probes) and stays exact. `Probe` sharpens the
pigeonhole so that the database, not Python, drops most of the rows read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

__all__ = ["CHUNKS", "CHUNK_BITS", "Probe", "chunk_keys", "distance", "hash_value", "probe"]

CHUNKS = 4
CHUNK_BITS = 16
_CHUNK_MASK = (1 << CHUNK_BITS) - 1
_MASK64 = (1 << 64) - 1
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")


def hash_value(dhash: str) -> int | None:
    """The 16-hex-digit dHash as a signed 64-bit integer (what a BIGINT column holds), or None
    when it is not one: such a photo is stored and shown, only never matched."""
    if not isinstance(dhash, str) or not _HEX16.fullmatch(dhash):
        return None
    value = int(dhash, 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def _chunk(value: int, number: int) -> int:
    # Chunk 0 holds the most significant bits: the first two rows of dHash's 8x8 grid.
    return ((value & _MASK64) >> (CHUNK_BITS * (CHUNKS - 1 - number))) & _CHUNK_MASK


def chunk_keys(value: int) -> list[int]:
    """The indexed keys of a hash: chunk number * 65536 + the chunk's 16 bits, one per chunk.

    One integer column keeps the lookup a plain `IN` list on one index on both databases."""
    return [(number << CHUNK_BITS) | _chunk(value, number) for number in range(CHUNKS)]


@lru_cache(maxsize=8)
def _flips(bits: int) -> tuple[int, ...]:
    """Every 16-bit mask with exactly `bits` bits set (120 masks for 2 bits)."""
    if not 0 <= bits <= CHUNK_BITS:
        return ()
    return tuple(sum(1 << b for b in chosen) for chosen in combinations(range(CHUNK_BITS), bits))


@dataclass(frozen=True)
class Probe:
    """What to ask the index for so that every hash within `max_bits` comes back.

    With max_bits = 4k + j (j < 4), a close hash has a chunk within k bits of the query's.
    Sharper: if none of its chunks is within k - 1 bits, all four are at least k apart and
    add up to at most 4k + j, so at least 4 - j of them are exactly k apart. For 10 bits
    (k = 2, j = 2): a chunk within 1 bit (`near`, 68 keys), or two chunks exactly 2 bits
    away (`ring`, 480 keys; `need` = 2). The database still reads the ~840 index rows of
    the module's table at 100,000 photos, but hands only ~100 of them to Python to check.
    """

    near: list[int]
    """Keys within k - 1 bits: a row with one of them is a candidate."""
    ring: list[int]
    """Keys exactly k bits away: a photo is a candidate when `need` of its chunks are here."""
    need: int


def probe(values: Iterable[int], max_bits: int) -> Probe:
    """The keys to look up for hashes within `max_bits` of one of `values` (empty if none).

    With several query hashes the key sets are unions: a photo may then reach `need` with
    chunks near different hashes, which only adds a candidate that the full check drops."""
    values = list(values)
    if max_bits < 0 or not values:
        return Probe([], [], 1)
    radius, spare = divmod(max_bits, CHUNKS)
    near: set[int] = set()
    ring: set[int] = set()
    for value in values:
        for number in range(CHUNKS):
            base = _chunk(value, number)
            for bits in range(radius):
                near.update((number << CHUNK_BITS) | (base ^ m) for m in _flips(bits))
            ring.update((number << CHUNK_BITS) | (base ^ m) for m in _flips(radius))
    return Probe(sorted(near), sorted(ring), max(1, CHUNKS - spare))


def distance(a: int, b: int) -> int:
    """Differing bits between two hashes as `hash_value` gives them (signed or not)."""
    return ((a ^ b) & _MASK64).bit_count()
