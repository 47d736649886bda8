"""One signed POST of a webhook event to an endpoint, through the outbound guard.

Signatures are Standard Webhooks', as OpenAI signs its webhooks: HMAC-SHA256, keyed with the
bytes of the `whsec_…` secret, over `{id}.{timestamp}.{body}`, sent as
`webhook-signature: v1,<base64>` beside `webhook-id` and `webhook-timestamp`. The official
SDK's `client.webhooks.unwrap` verifies it unchanged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import httpx

from threadline.tools.base import OutboundRefused, ToolFailure, WebhookAttempt
from threadline.tools.outbound import OutboundPolicy


def signed_headers(secret: str, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
    }


class HttpWebhookSender:
    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._policy = policy
        # Redirects are not followed: a webhook goes to the URL its endpoint names.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), follow_redirects=False, transport=transport
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def refusal(self, url: str) -> str | None:
        try:
            await self._policy.check(url)
        except OutboundRefused as exc:  # its message says how an operator allows the host
            return exc.message
        except ToolFailure as exc:  # a host that does not resolve
            return f"{exc.message} Webhooks are sent to a host this server can resolve and reach."
        return None

    async def send(self, url: str, secret: str, message_id: str, body: str) -> WebhookAttempt:
        if (refused := await self.refusal(url)) is not None:
            return WebhookAttempt(None, refused)
        headers = {
            "content-type": "application/json",
            "user-agent": "Threadline-Webhooks",
            **signed_headers(secret, message_id, int(time.time()), body),
        }
        try:
            reply = await self._client.post(url, content=body.encode(), headers=headers)
        except httpx.TimeoutException:
            return WebhookAttempt(None, "timed out")
        except httpx.HTTPError as exc:
            return WebhookAttempt(None, f"could not connect ({type(exc).__name__})")
        error = None if 200 <= reply.status_code < 300 else f"HTTP {reply.status_code}"
        return WebhookAttempt(reply.status_code, error)
