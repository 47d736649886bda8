"""An end user: who a request was made for, as requests name them (`safety_identifier`,
`user`, or a metadata key's value), for erasure and legal holds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from threadline.errors import InvalidRequest

EndUserField = Literal["user", "safety_identifier", "metadata"]


@dataclass(frozen=True, slots=True)
class EndUser:
    field: EndUserField
    value: str
    metadata_key: str | None = None

    def __post_init__(self) -> None:
        if not self.value:
            raise InvalidRequest("An end user to erase needs a non-empty value.")
        if (self.field == "metadata") != (self.metadata_key is not None):
            raise InvalidRequest(
                "A metadata key names the end user exactly when field is metadata."
            )

    @property
    def target(self) -> str:
        """How a legal hold names this end user: `user:ann`, `metadata:customer=c-7`."""
        if self.metadata_key is not None:
            return f"metadata:{self.metadata_key}={self.value}"
        return f"{self.field}:{self.value}"

    @staticmethod
    def from_target(target: str) -> EndUser:
        field, _, rest = target.partition(":")
        if field == "metadata":
            key, _, value = rest.partition("=")
            return EndUser("metadata", value, key)
        if field in ("user", "safety_identifier"):
            return EndUser("user" if field == "user" else "safety_identifier", rest)
        raise InvalidRequest(f"'{target}' names no end user.", param="target")

    def named_in_metadata(self, metadata: Mapping[str, Any] | None) -> bool:
        return self.metadata_key is not None and (metadata or {}).get(self.metadata_key) == (
            self.value
        )

    def named_in(self, settings: Mapping[str, Any]) -> bool:
        """Whether a request with these settings (a response's) named this end user."""
        if self.field == "metadata":
            metadata = settings.get("metadata") or {}
            return isinstance(metadata, dict) and metadata.get(self.metadata_key) == self.value
        return settings.get(self.field) == self.value
