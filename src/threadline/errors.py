"""Every error Threadline reports, and the OpenAI error envelope it is rendered as.

    ThreadlineError                     status  type
    ├── InvalidRequest                  400     invalid_request_error
    │   ├── UnsupportedParameter        400     (code unsupported_parameter)
    │   ├── PreviousResponseNotFound    400     (code previous_response_not_found)
    │   ├── PreviousResponseInProgress  400     (code previous_response_in_progress)
    │   └── ConversationLocked          400     (code conversation_locked)
    ├── AuthenticationFailed            401     invalid_request_error (code invalid_api_key)
    ├── ModelNotAllowed                 403     invalid_request_error (code model_not_found)
    ├── NotFound                        404     invalid_request_error
    │   ├── ModelNotFound               404     invalid_request_error (code model_not_found)
    │   ├── ConversationDeleted         404     (code conversation_deleted)
    │   ├── ResponseDeleted             404     (code response_deleted)
    │   ├── UnknownUrl                  404     invalid_request_error (code unknown_url)
    │   └── UnsupportedEndpoint         404     invalid_request_error (code unsupported_endpoint)
    ├── MethodNotAllowed                405     invalid_request_error (code method_not_allowed)
    ├── RequestTimeout                  408     invalid_request_error (code request_timeout)
    ├── Conflict                        409     invalid_request_error
    ├── PayloadTooLarge                 413     invalid_request_error
    ├── HeadersTooLarge                 431     invalid_request_error
    ├── QueueFull                       429     rate_limit_error (code background_queue_full)
    ├── RateLimited                     429     requests | tokens (code rate_limit_exceeded)
    ├── QuotaExceeded                   429     insufficient_quota (code insufficient_quota)
    ├── ShuttingDown                    503     server_error (code server_shutting_down)
    └── UpstreamError                   502     upstream_error (or the upstream's own 4xx)
        └── UpstreamTimeout             504     upstream_error (code upstream_timeout)

The engine raises these; only the HTTP layer turns them into responses. Nothing else is mapped
to a 4xx: an unexpected exception is a bug and is reported as a 500 `server_error`.
"""

from __future__ import annotations

from typing import Any


class ThreadlineError(Exception):
    status_code: int = 500
    error_type: str = "server_error"
    default_code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers: dict[str, str] = {}
        """Headers its HTTP answer carries (`Retry-After`, rate limits)."""

    def to_error_object(self) -> dict[str, Any]:
        """The `error` object of OpenAI's envelope, also used inside a failed `Response`."""
        return {
            "message": self.message,
            "type": self.error_type,
            "param": self.param,
            "code": self.code,
        }


class InvalidRequest(ThreadlineError):
    status_code = 400
    error_type = "invalid_request_error"


class UnsupportedParameter(InvalidRequest):
    default_code = "unsupported_parameter"


class PreviousResponseNotFound(InvalidRequest):
    default_code = "previous_response_not_found"

    def __init__(self, response_id: str, hint: str = "") -> None:
        super().__init__(
            f"Previous response with id '{response_id}' not found.{hint}",
            param="previous_response_id",
        )


class PreviousResponseInProgress(InvalidRequest):
    default_code = "previous_response_in_progress"

    def __init__(self, response_id: str) -> None:
        super().__init__(
            f"Previous response with id '{response_id}' is still in progress; continue it "
            "once it has finished.",
            param="previous_response_id",
        )


class ConversationLocked(InvalidRequest):
    """Another turn is running in the conversation (OpenAI answers the same, as a 400)."""

    default_code = "conversation_locked"

    def __init__(self, conversation_id: str) -> None:
        super().__init__(
            f"Another response is currently running in conversation '{conversation_id}'. "
            "Retry in a few seconds, once it has finished.",
            param="conversation",
        )


class AuthenticationFailed(ThreadlineError):
    status_code = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class NotFound(ThreadlineError):
    status_code = 404
    error_type = "invalid_request_error"


class ModelNotFound(NotFound):
    default_code = "model_not_found"


class ConversationDeleted(NotFound):
    """The conversation a turn ran in was deleted before the turn was saved: the delete wins,
    and the turn is not stored."""

    default_code = "conversation_deleted"

    def __init__(self, conversation_id: str) -> None:
        super().__init__(
            f"Conversation '{conversation_id}' was deleted while this response was running; "
            "the response was not stored.",
            param="conversation",
        )


class ResponseDeleted(NotFound):
    """The response was deleted while its turn ran: the turn is not stored."""

    default_code = "response_deleted"

    def __init__(self, response_id: str) -> None:
        super().__init__(
            f"Response '{response_id}' was deleted while it was running; it was not stored.",
            param="response_id",
        )


class UnknownUrl(NotFound):
    """No endpoint has this path (OpenAI words it "Invalid URL (METHOD /path)")."""

    default_code = "unknown_url"

    def __init__(self, method: str, path: str) -> None:
        super().__init__(
            f"Invalid URL ({method} {path}): no such endpoint. /docs lists the endpoints "
            "this server serves."
        )


class UnsupportedEndpoint(NotFound):
    """An endpoint of OpenAI's API that Threadline does not serve yet."""

    default_code = "unsupported_endpoint"


class MethodNotAllowed(ThreadlineError):
    status_code = 405
    error_type = "invalid_request_error"
    default_code = "method_not_allowed"

    def __init__(self, method: str, path: str, allowed: str) -> None:
        super().__init__(f"Invalid method for URL ({method} {path}): use {allowed}.")


class Conflict(ThreadlineError):
    status_code = 409
    error_type = "invalid_request_error"


class RequestTimeout(ThreadlineError):
    status_code = 408
    error_type = "invalid_request_error"
    default_code = "request_timeout"


class PayloadTooLarge(ThreadlineError):
    status_code = 413
    error_type = "invalid_request_error"
    default_code = "payload_too_large"


class HeadersTooLarge(ThreadlineError):
    status_code = 431
    error_type = "invalid_request_error"
    default_code = "request_header_fields_too_large"


class QueueFull(ThreadlineError):
    """The background queue holds as many jobs as the operator allows."""

    status_code = 429
    error_type = "rate_limit_error"
    default_code = "background_queue_full"


class ModelNotAllowed(ThreadlineError):
    """The caller's API key may not use the model it named (the key's model allow-list)."""

    status_code = 403
    error_type = "invalid_request_error"
    default_code = "model_not_found"


class RateLimited(ThreadlineError):
    """The caller's API key reached its requests or tokens per minute. `error_type` is which
    (`requests` / `tokens`), as OpenAI reports it."""

    status_code = 429
    default_code = "rate_limit_exceeded"

    def __init__(self, message: str, *, limit: str, retry_after: float) -> None:
        super().__init__(message)
        self.error_type = limit
        self.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))


class QuotaExceeded(ThreadlineError):
    """The caller's API key spent its daily or monthly budget."""

    status_code = 429
    error_type = "insufficient_quota"
    default_code = "insufficient_quota"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
        # Hours away, often: OpenAI's SDKs read this and do not retry in vain.
        self.headers["x-should-retry"] = "false"


class ShuttingDown(ThreadlineError):
    status_code = 503
    default_code = "server_shutting_down"

    def __init__(self) -> None:
        super().__init__(
            "The server is shutting down and ended this response before it finished; "
            "retry the request."
        )


class ServerOverloaded(ThreadlineError):
    """The process holds as many client connections as it may (`max_connections`)."""

    status_code = 503
    default_code = "server_overloaded"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The server is serving as many connections as it may ({limit}, setting "
            "THREADLINE_MAX_CONNECTIONS); retry shortly."
        )
        self.headers["Retry-After"] = "1"


class StorageBusy(ThreadlineError):
    """No database connection came free in time: every pooled one stayed busy (a database that
    stopped answering, or a pool too small for the load)."""

    status_code = 503
    default_code = "database_busy"

    def __init__(self, waited: float) -> None:
        super().__init__(
            f"The server waited {waited:g} s for a database connection and none came free; "
            "retry the request. If this goes on, the database is not answering or the "
            "connection pool (database_pool_size) is too small for the load."
        )
        self.headers["Retry-After"] = "1"


class UpstreamError(ThreadlineError):
    """The model provider failed. `status_code` is 502, or the provider's own 4xx."""

    status_code = 502
    error_type = "upstream_error"
    default_code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        error_type: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, code=code, param=param)
        if status_code is not None:
            self.status_code = status_code
        if error_type is not None:
            self.error_type = error_type


class UpstreamTimeout(UpstreamError):
    status_code = 504
    default_code = "upstream_timeout"
