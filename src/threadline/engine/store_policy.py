"""What an omitted `store` means: the operator's default, per tenant (and per API key).

OpenAI stores every response unless told `store: false`; the OpenResponses server stores
nothing unless told `store: true`. Operators with data-minimisation duties choose the second
(`default_store = false`), for every tenant, for some, or for some API keys (a key's default
wins over its tenant's). A request that says `store` is taken at its word either way. A turn
that cannot work unstored (one in a conversation, a background one) is refused when the
default would leave it unstored, naming what to send.
"""

from __future__ import annotations

from collections.abc import Mapping

from threadline.errors import InvalidRequest
from threadline.protocol.responses import ResponseCreateParams


class StorePolicy:
    def __init__(self, default: bool = True, per_tenant: Mapping[str, bool] | None = None) -> None:
        self._default = default
        self._per_tenant = dict(per_tenant or {})

    def stores_by_default(self, tenant: str) -> bool:
        return self._per_tenant.get(tenant, self._default)

    def apply(
        self, tenant: str, params: ResponseCreateParams, key_default: bool | None = None
    ) -> ResponseCreateParams:
        """`params` with `store` as the caller's default when the request left it out: its
        key's (`key_default`), else its tenant's."""
        if params.store is not None and "store" in params.model_fields_set:
            return params
        store = self.stores_by_default(tenant) if key_default is None else key_default
        if not store:
            needs = (
                "conversation"
                if params.conversation is not None
                else "background"
                if params.background
                else None
            )
            if needs is not None:
                raise InvalidRequest(
                    f"This server stores a response only when the request says 'store': true, "
                    f"and '{needs}' needs it stored: send 'store': true.",
                    param="store",
                )
        return params.model_copy(update={"store": store})

    def unstored_hint(self, tenant: str) -> str:
        """What to add to a 'not found' of a response this tenant may never have stored."""
        if self.stores_by_default(tenant):
            return ""
        return (
            " This server stores a response only when its request says 'store': true: send it "
            "on the turns you want to continue with 'previous_response_id'."
        )
