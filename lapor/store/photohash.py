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
radius per chunk (12-15 bits: radius 3, 2,788 probes) and stays exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from itertools import combinations

__all__ = ["CHUNKS", "CHUNK_BITS", "chunk_keys", "distance", "hash_value", "probe_keys"]

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
def _flips(radius: int) -> tuple[int, ...]:
    """Every 16-bit mask with at most `radius` bits set (137 masks for radius 2)."""
    masks = [0]
    for count in range(1, min(radius, CHUNK_BITS) + 1):
        for bits in combinations(range(CHUNK_BITS), count):
            masks.append(sum(1 << bit for bit in bits))
    return tuple(masks)


def probe_keys(values: Iterable[int], max_bits: int) -> list[int]:
    """The keys to look up so that every hash within `max_bits` of one of `values` comes back."""
    if max_bits < 0:
        return []
    flips = _flips(max_bits // CHUNKS)
    keys: set[int] = set()
    for value in values:
        for number in range(CHUNKS):
            base = _chunk(value, number)
            keys.update((number << CHUNK_BITS) | (base ^ mask) for mask in flips)
    return sorted(keys)


def distance(a: int, b: int) -> int:
    """Differing bits between two hashes as `hash_value` gives them (signed or not)."""
    return ((a ^ b) & _MASK64).bit_count()
