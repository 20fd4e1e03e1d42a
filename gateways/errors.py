"""Gateway errors and the one table that maps them to HTTP answers.

    GatewayError                    500  (anything unforeseen is answered as this, without details)
    ├── BadRequestError             400  body is not the JSON the endpoint expects
    ├── UnauthorizedError           401  signature, client id or account id do not check out
    ├── NotFoundError               404  unknown channel
    ├── PayloadTooLargeError        413  body longer than the configured limit
    ├── UnsupportedMediaTypeError   415  content type the endpoint does not take
    ├── RequestTimeoutError         408  the client sent its body too slowly
    ├── RateLimitedError            429  over a channel's, a number's or an account's rate (gateways.ratelimit)
    └── BrokerUnavailableError      503  Kafka did not acknowledge the record in time: retry later

Every answer is JSON: ``{"error": <code>, "detail": <what is wrong>}``, plus ``fields`` for a body that did not
validate. Details name the problem, never the payload or a secret.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

logger = logging.getLogger(__name__)


class GatewayError(Exception):
    http_status = 500
    code = "internal_error"

    def __init__(self, detail: str, *, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "detail": self.detail}
        if self.fields:
            body["fields"] = self.fields
        return body


class BadRequestError(GatewayError):
    http_status = 400
    code = "bad_request"


class UnauthorizedError(GatewayError):
    http_status = 401
    code = "unauthorized"


class NotFoundError(GatewayError):
    http_status = 404
    code = "not_found"


class PayloadTooLargeError(GatewayError):
    http_status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(GatewayError):
    http_status = 415
    code = "unsupported_media_type"


class RequestTimeoutError(GatewayError):
    http_status = 408
    code = "request_timeout"


class BrokerUnavailableError(GatewayError):
    http_status = 503
    code = "broker_unavailable"


async def gateway_error_response(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    logger.info("%s %s answered %d %s", request.method, request.url.path, exc.http_status, exc.code)
    retry_after = getattr(exc, "retry_after_s", 1 if isinstance(exc, BrokerUnavailableError) else None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(exc.body(), status_code=exc.http_status, headers=headers)


async def unexpected_error_response(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"error": "internal_error", "detail": "internal error"}, status_code=500)


EXCEPTION_HANDLERS = {GatewayError: gateway_error_response, Exception: unexpected_error_response}
