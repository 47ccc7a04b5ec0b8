"""Exceptions raised by the Laker client, one per kind of server answer.

Each carries the server's message (``str(e)``) and the gRPC status name
(``e.code``)."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.flight as fl


class LakerError(Exception):
    """Any error the server or the connection reported."""

    code = "unknown"


class InvalidSpec(LakerError):
    """The request is malformed: an unknown column, a bad filter, bad SQL (INVALID_ARGUMENT)."""

    code = "invalid_argument"


class NotFound(LakerError):
    """No such dataset (or one you may not know about) (NOT_FOUND)."""

    code = "not_found"


class AlreadyExists(LakerError):
    """The dataset exists already (ALREADY_EXISTS)."""

    code = "already_exists"


class Unauthenticated(LakerError):
    """Wrong or expired credentials (UNAUTHENTICATED)."""

    code = "unauthenticated"


class PermissionDenied(LakerError):
    """You lack the grant this needs (PERMISSION_DENIED)."""

    code = "permission_denied"


class ResourceExhausted(LakerError):
    """A server limit was reached: size, memory, concurrency (RESOURCE_EXHAUSTED)."""

    code = "resource_exhausted"


class FailedPrecondition(LakerError):
    """The request no longer fits the dataset's state (FAILED_PRECONDITION)."""

    code = "failed_precondition"


class Unavailable(LakerError):
    """The server could not be reached (UNAVAILABLE)."""

    code = "unavailable"


class Timeout(LakerError):
    """The server gave up on the request in time (DEADLINE_EXCEEDED)."""

    code = "deadline_exceeded"


class Cancelled(LakerError):
    """The request was cancelled (CANCELLED)."""

    code = "cancelled"


class ServerError(LakerError):
    """The server failed (INTERNAL and others)."""

    code = "internal"


_KINDS = {
    "invalid argument": InvalidSpec,
    "not found": NotFound,
    "already exists": AlreadyExists,
    "unauthenticated": Unauthenticated,
    "unauthorized": PermissionDenied,
    "resource exhausted": ResourceExhausted,
    "failed precondition": FailedPrecondition,
    "unavailable": Unavailable,
    "timed out": Timeout,
    "deadline exceeded": Timeout,
    "cancelled": Cancelled,
    "internal": ServerError,
}

_PATTERN = re.compile(r"Flight returned (?P<kind>[a-z ]+?) error, with message: (?P<message>.*)", re.S)


def translate(error: BaseException) -> LakerError:
    """The Laker exception for a pyarrow Flight error, with the server's message."""
    if isinstance(error, LakerError):
        return error
    text = str(error)
    match = _PATTERN.search(text)
    if match:
        message = match.group("message")
        for cut in (". gRPC client debug context", ". Client context:", ". Detail:"):
            message = message.split(cut, 1)[0]
        kind = _KINDS.get(match.group("kind").strip(), LakerError)
        return kind(message.strip())
    if isinstance(error, fl.FlightUnauthenticatedError):
        return Unauthenticated(text)
    if isinstance(error, fl.FlightUnauthorizedError):
        return PermissionDenied(text)
    if isinstance(error, fl.FlightUnavailableError):
        return Unavailable(text)
    if isinstance(error, pa.ArrowInvalid):
        return InvalidSpec(text)
    return LakerError(text)


def resumable(error: BaseException) -> bool:
    """Whether a broken stream is worth resuming (the connection, not the request)."""
    if isinstance(error, (fl.FlightUnavailableError, fl.FlightCancelledError, fl.FlightInternalError)):
        return True
    text = str(error)
    match = _PATTERN.search(text)
    if match:
        return match.group("kind").strip() in ("unavailable", "internal", "cancelled", "unknown")
    return isinstance(error, (pa.ArrowIOError, OSError))
