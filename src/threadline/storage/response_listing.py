"""Listing a tenant's responses for an operator (the console), newest first.

- Order: `created_at` descending, then id descending; `after` is the id of the last response
  of the previous page. An `after` that names no response of the tenant gives an empty page
  (the response was deleted between pages, or belongs to another tenant: nothing leaks).
- `status` and `model` narrow, each when given (the model as the request named it).
- Records only, no items: a page of a busy tenant stays small. Another tenant's responses are
  never listed.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from threadline.storage.base import ResponseRecord


@dataclass(frozen=True, slots=True)
class ResponseFilter:
    status: str | None = None
    model: str | None = None

    def admits(self, record: ResponseRecord) -> bool:
        return (self.status is None or record.status == self.status) and (
            self.model is None or record.model == self.model
        )


@dataclass(slots=True)
class ResponsePage:
    responses: list[ResponseRecord]
    has_more: bool


class ResponseListing(abc.ABC):
    """The part of `Store` that lists responses (see the module docstring)."""

    @abc.abstractmethod
    async def list_responses(
        self, tenant: str, flt: ResponseFilter, *, after: str | None, limit: int
    ) -> ResponsePage: ...
