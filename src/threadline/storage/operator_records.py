"""The operator's records, one port of `Store`: the audit trail (audit.py), legal holds
(holds.py), search of items and of conversations' metadata (item_search.py), and responses
listed newest first (response_listing.py), and content re-sealed after a key rotation
(resealing.py). Each contract is stated in its own module."""

from __future__ import annotations

import abc

from threadline.storage.audit import AuditTrail
from threadline.storage.holds import LegalHolds
from threadline.storage.item_search import ItemSearch
from threadline.storage.resealing import ContentResealing
from threadline.storage.response_listing import ResponseListing


class OperatorRecords(
    AuditTrail, LegalHolds, ItemSearch, ResponseListing, ContentResealing, abc.ABC
):
    """What an operator reads and keeps beside the turns (see the module docstring)."""
