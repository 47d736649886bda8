"""When to retry an upstream request, and how long to wait first."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

# 529: Anthropic's `overloaded_error`, a 503 by another number.
_RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2
    backoff: float = 0.5
    """First wait in seconds; it doubles on each retry, with jitter."""
    max_wait: float = 20.0
    """No single wait is longer, whatever the upstream's Retry-After says."""

    def delay(
        self, attempt: int, status: int | None, headers: Mapping[str, str] | None
    ) -> float | None:
        """Seconds to wait before retry number `attempt + 1`, or None not to retry.
        `status` None means the connection could not be made."""
        if attempt >= self.max_retries:
            return None
        if status is not None and status not in _RETRYABLE_STATUS:
            return None
        hinted = _retry_after(headers) if headers is not None else None
        if hinted is not None:
            return min(hinted, self.max_wait)
        wait: float = self.backoff * (2**attempt) * random.uniform(0.75, 1.25)
        return min(wait, self.max_wait)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue  # an HTTP date: fall back to our own backoff
    return None
