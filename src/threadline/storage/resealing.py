"""Re-sealing stored content, one port of `Store`: after a key rotation (or after encryption is
turned on), every stored value not sealed under the ring's first key is sealed again under it
(encryption.py), so the old key can be dropped.

- Runs beside live servers: in batches, each its own short write; a value changed while it was
  being re-sealed is left as the other writer made it (that writer sealed it under the current
  key, if it had the new ring).
- Items are put back in the full-text index under the new key's blind terms.
- Returns how many values of each kind were re-sealed; a second run finds nothing left.
- A value sealed under a key no longer in the ring raises `ContentKeyMissing`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

Progress = Callable[[str, int], None]
"""Told (kind, values re-sealed so far of that kind) after each batch."""

RESEAL_BATCH = 500
CONTENT_KINDS = ("items", "responses", "chat_completions", "response_events", "background_jobs")
"""What holds content, by the name a report gives it."""


class ContentResealing(abc.ABC):
    @abc.abstractmethod
    async def reseal_content(
        self, *, batch: int = RESEAL_BATCH, progress: Progress | None = None
    ) -> dict[str, int]:
        """Seal every stored value that is not sealed under the codec's first key; how many
        of each kind (`CONTENT_KINDS`) were."""
