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


class Aborted(LakerError):
    """A concurrent change won (ABORTED); trying again usually works."""

    code = "aborted"


class Unavailable(LakerError):
    """The server could not be reached (UNAVAILABLE)."""

    code = "unavailable"


class TLSError(Unavailable):
    """The TLS handshake failed: the server's certificate is not signed by a
    CA this client trusts, does not name the host connected to, or the
    server does not speak TLS (or refused the client certificate).
    ``reason`` says which: ``untrusted_certificate``, ``name_mismatch``,
    ``not_tls``, ``client_certificate`` or ``handshake``."""

    code = "unavailable"

    def __init__(self, message: str, reason: str = "handshake"):
        super().__init__(message)
        self.reason = reason


class VersionChanged(FailedPrecondition):
    """A partial download cannot be resumed: the dataset changed (a new
    table version) since it began. Download it again with ``resume=False``."""

    code = "failed_precondition"


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
    "precondition failed": FailedPrecondition,
    "aborted": Aborted,
    "unavailable": Unavailable,
    "timed out": Timeout,
    "deadline exceeded": Timeout,
    "cancelled": Cancelled,
    "internal": ServerError,
}

# pyarrow words some codes "Flight returned …", others "gRPC returned …"
# (FAILED_PRECONDITION: "precondition failed", RESOURCE_EXHAUSTED, ABORTED).
_PATTERN = re.compile(
    r"(?:Flight|gRPC) returned (?P<kind>[a-z ]+?) error, with message: (?P<message>.*)", re.S)


_PEER_NAME = re.compile(r"Peer name (?P<name>\S+) is not in peer certificate")
_ADDRESS = re.compile(r"ipv[46]:(?P<addr>\S+?):\s")


def _tls_error(text: str) -> "TLSError | None":
    """A TLS handshake failure in a gRPC error text, said plainly; ``None``
    when the text reports something else."""
    address = _ADDRESS.search(text)
    where = f"the server at {address.group('addr')}" if address else "the server"
    peer = _PEER_NAME.search(text)
    if peer:
        return TLSError(
            f"TLS: {where} presented a certificate that does not name '{peer.group('name')}', "
            "the host connected to; connect with a host name the certificate lists "
            "(or have the certificate issued for this name)", "name_mismatch")
    lowered = text.lower()
    if "certificate verify failed" in lowered or "certificate_verify_failed" in lowered:
        detail = text.split("certificate verify failed", 1)[-1].strip(" :")
        because = f" ({detail})" if detail and len(detail) < 120 else ""
        return TLSError(
            f"TLS: {where} presented a certificate that is not signed by a CA this client "
            f"trusts{because}; pass ca_cert= with the CA that signed it (without it, the "
            "system's trusted roots are used)", "untrusted_certificate")
    if "wrong version number" in lowered or "packet length too long" in lowered \
            or "http_request" in lowered:
        return TLSError(
            f"TLS: {where} did not answer with TLS; connect with grpc:// to a server "
            "without TLS", "not_tls")
    if any(alert in lowered for alert in ("alert unknown ca", "alert bad certificate",
                                          "certificate required", "alert certificate")):
        return TLSError(
            f"TLS: {where} refused the client certificate; it must be signed by the CA "
            "the server trusts for clients (--tls-client-ca)", "client_certificate")
    if "handshake failed" in lowered or "ssl_error" in lowered:
        return TLSError(f"TLS handshake with {where} failed: {text.split('last error:')[-1].strip()}")
    return None


def translate(error: BaseException) -> LakerError:
    """The Laker exception for a pyarrow Flight error, with the server's message."""
    if isinstance(error, LakerError):
        return error
    text = str(error)
    if isinstance(error, fl.FlightUnavailableError) or "failed to connect" in text:
        tls = _tls_error(text)
        if tls is not None:
            return tls
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
