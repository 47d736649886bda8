"""The HTTP leg every provider adapter shares: one pooled aiohttp session per provider, the
proxy from the environment, timeouts, and the retry loop.

Retries happen only before the upstream sent its first byte of an answer: once a token has
been relayed to the client, a retry could not be taken back. A pooled connection that the
upstream closed or reset before answering (most often one it had just timed out) is retried
at once; a refused connection or a retryable status waits as the `RetryPolicy` says.

aiohttp, not httpx: every turn crosses this leg, and at 16 concurrent requests httpx (over
httpcore, h11 and anyio) spent about 1.5 ms of CPU per request where aiohttp spends under
0.1 ms (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import orjson
from yarl import URL

from threadline.errors import ModelNotFound, UpstreamError, UpstreamTimeout
from threadline.providers.retry import RetryPolicy
from threadline.providers.sse_lines import sse_lines

log = logging.getLogger(__name__)

E = TypeVar("E")

_JSON = {"Content-Type": "application/json"}
# Connections to one provider when the settings name none (wiring.py passes the server's).
DEFAULT_MAX_CONNECTIONS = 10_000


def bearer(api_key: str) -> dict[str, str]:
    """OpenAI's way (and most servers'): `Authorization: Bearer <key>`."""
    return {"Authorization": f"Bearer {api_key}"}


# Errors that mean no connection was made, so the request cannot have reached the model.
_NOT_CONNECTED = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
# Errors that mean an open (pooled) connection was lost: closed (FIN) or reset (RST, an OSError).
_DROPPED = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)

ReadAnswer = Callable[[aiohttp.ClientResponse], AsyncIterator[E]]
StatusError = Callable[[aiohttp.ClientResponse, bytes], Exception]


class HttpUpstream:
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        headers: dict[str, str],
        connect_timeout: float,
        read_timeout: float,
        max_connections: int,
        retry: RetryPolicy,
        key_header: Callable[[str], dict[str, str]] = bearer,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._headers = headers
        self._key_header = key_header
        """How the API's requests carry a key: a caller's own key (bring-your-own-key) is sent
        this way, in place of the provider's."""
        self._retry = retry
        # sock_read bounds each wait for bytes, not the whole answer: a long generation that
        # keeps streaming never times out, a stalled one does.
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._max_connections = max_connections
        self._proxy = _proxy_from_environment(self.base_url)
        self._session: aiohttp.ClientSession | None = None

    def url(self, path: str) -> URL:
        return URL(f"{self.base_url}{path}")

    def session(self) -> aiohttp.ClientSession:
        # Made on first use, inside the event loop that will use it (a session and its pooled
        # connections belong to one loop).
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0),
                proxy=self._proxy,
                # One session serves every tenant: a cookie one answer set must not ride on
                # another tenant's request (and no jar is one less step on every call).
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(
        self,
        url: URL,
        body: bytes,
        read: ReadAnswer[E],
        status_error: StatusError,
        *,
        api_key: str | None = None,
    ) -> AsyncIterator[E]:
        """POST `body` and yield what `read` makes of a successful answer; a failed answer
        raises what `status_error` makes of it, once retries are spent. `api_key`, when given,
        is sent in place of the provider's own key."""
        headers = _JSON if api_key is None else {**_JSON, **self._key_header(api_key)}
        attempt = 0
        while True:
            answered = False
            try:
                async with self.session().post(url, data=body, headers=headers) as response:
                    answered = True
                    if response.status >= 400:
                        payload = await response.read()
                        delay = self._retry.delay(attempt, response.status, response.headers)
                        if delay is None:
                            raise status_error(response, payload)
                    else:
                        async for event in read(response):
                            yield event
                        return
            except _NOT_CONNECTED as exc:
                delay = self._retry.delay(attempt, None, None)
                if delay is None:
                    raise self.transport_error(exc) from exc
            except _DROPPED as exc:
                # Once the answer began, the connection's loss is a failure, not resent.
                if answered or attempt >= self._retry.max_retries:
                    raise self.transport_error(exc) from exc
                delay = 0.0
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise self.transport_error(exc) from exc
            attempt += 1
            log.info("provider %s: retry %d in %.2f s", self.name, attempt, delay)
            await asyncio.sleep(delay)

    async def json_events(self, response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
        """The JSON object of each `data:` line of a server-sent event stream (`[DONE]` left
        out). The caller reads to the end: a body left unread closes the connection instead of
        returning it to the pool."""
        async for line in sse_lines(response.content.iter_any()):
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if not data or data == "[DONE]":
                continue
            try:
                event = orjson.loads(data)
            except orjson.JSONDecodeError:
                event = None
            if not isinstance(event, dict):
                raise UpstreamError(
                    f"Provider '{self.name}' sent a malformed stream event: {data[:200]!r}"
                )
            yield event

    async def json_answer(self, response: aiohttp.ClientResponse, needs: str) -> dict[str, Any]:
        """A whole JSON answer, which must be an object with the list `needs`."""
        try:
            answer = orjson.loads(await response.read())
        except orjson.JSONDecodeError:
            raise UpstreamError(f"Provider '{self.name}' sent a malformed answer.") from None
        if not isinstance(answer, dict) or not isinstance(answer.get(needs), list):
            raise UpstreamError(f"Provider '{self.name}' sent an answer without {needs}.")
        return answer

    def cut_short(self) -> UpstreamError:
        return UpstreamError(f"Provider '{self.name}' ended the stream before the model finished.")

    async def model_ids(self, url: URL, *, api_key: str | None = None) -> list[str]:
        """The ids of an OpenAI-style model list (`{"data": [{"id"}]}`); none if it fails."""
        headers = None if api_key is None else self._key_header(api_key)
        try:
            async with self.session().get(
                url, headers=headers, timeout=aiohttp.ClientTimeout(total=5.0)
            ) as response:
                if response.status >= 400:
                    return []
                data = orjson.loads(await response.read()).get("data", [])
            return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, AttributeError):
            return []

    def status_error(
        self, status: int, reason: str, body: bytes, model: str, *, code_field: str = "code"
    ) -> UpstreamError | ModelNotFound:
        """The error for a failed answer, by status. The upstream's own error code (its
        `error.<code_field>`) goes with a 400."""
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = {}
        message = _message(payload) or body[:300].decode("utf-8", errors="replace") or reason
        name = self.name
        if status == 404:
            return ModelNotFound(
                f"The model '{model}' does not exist at provider '{name}': {message}"
            )
        if status in (401, 403):
            return UpstreamError(
                f"Provider '{name}' rejected Threadline's credentials ({status}): {message}",
                code="upstream_auth_failed",
            )
        if status == 429:
            return UpstreamError(
                f"Provider '{name}' is rate limiting: {message}",
                status_code=429,
                code="rate_limit_exceeded",
                error_type="rate_limit_error",
            )
        if 400 <= status < 500:
            return UpstreamError(
                f"Provider '{name}' refused the request: {message}",
                status_code=400,
                code=_error_field(payload, code_field) or "upstream_bad_request",
                error_type="invalid_request_error",
            )
        return UpstreamError(f"Provider '{name}' failed with HTTP {status}: {message}")

    def transport_error(self, exc: Exception) -> UpstreamError:
        if isinstance(exc, TimeoutError):
            return UpstreamTimeout(
                f"Provider '{self.name}' did not answer in time ({type(exc).__name__}); "
                "see THREADLINE_UPSTREAM_CONNECT_TIMEOUT / THREADLINE_UPSTREAM_READ_TIMEOUT."
            )
        # The base URL and the address it failed at are the operator's to read, not the
        # caller's: they would map the network the server sits in.
        where = without_credentials(self.base_url)
        log.warning("provider %s at %s failed: %s: %s", self.name, where, type(exc).__name__, exc)
        return UpstreamError(
            f"Provider '{self.name}' could not be reached ({type(exc).__name__}); the server's "
            "log has the details."
        )


def error_message(payload: Any) -> str:
    """The message of an upstream's error body: OpenAI's and Anthropic's `error.message`, or
    a bare `error` or `message` string."""
    return _message(payload)


def _message(payload: Any) -> str:
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or "")
        if isinstance(error, str):
            return error
        if isinstance(payload.get("message"), str):
            return str(payload["message"])
    return ""


def _error_field(payload: Any, field: str) -> str | None:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        value = payload["error"].get(field)
        return str(value) if value else None
    return None


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _proxy_from_environment(base_url: str) -> str | None:
    """HTTPS_PROXY / HTTP_PROXY / NO_PROXY, read once. (aiohttp's `trust_env` would look them
    up, and read ~/.netrc, on every request.)"""
    parts = urlsplit(base_url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)
