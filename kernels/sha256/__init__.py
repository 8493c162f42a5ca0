"""SHA-256 and the SHA-256d nonce scan: reference.py (hashlib) and one file per backend.

Every backend file meets `Backend` (tests/test_architecture.py checks each against it).
"""

from __future__ import annotations

from typing import Protocol

from kernels.runtime import DeviceInfo, Traits


class Backend(Protocol):
    """What bench needs from a SHA-256 backend module."""

    TRAITS: Traits

    def available(self) -> tuple[bool, str]: ...

    def devices(self) -> list[DeviceInfo]: ...

    def scan(self, header: bytes, start: int, count: int, target: int, *, device: int = 0) -> list[int]:
        """Every nonce in [start, start+count) whose sha256d, as a little-endian integer, is <= target."""

    def hash_batch(self, messages, *, device: int = 0) -> list[bytes]:
        """SHA-256 of each message, equal to hashlib's digests."""
