"""Errors the core raises. The HTTP layer maps them to status codes; messages are safe to show."""


class RequestError(Exception):
    """The one refusal, raised by the core and the edge alike: the request asks for something
    invalid (unknown field, unsafe template, ...): a 400, or `status` (413 for an oversized
    image, 404 for an unknown session, 405 or 401 from the edge). `hints` are extra fields for
    the response body, e.g. {"try_models": [...]}; `headers` go on the answer (the edge's
    `Allow` or `WWW-Authenticate`). shared.http.errors turns it into the response."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        status: int = 400,
        headers: dict[str, str] | None = None,
        **hints: object,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.headers = headers
        self.hints = hints


class NotConfigured(RequestError):
    """The request needs a backend this deployment has not configured: a 503 that says which."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field, status=503)


class UpstreamError(Exception):
    """A backend (model, search, store) failed. The message is generic; details go to the log."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
