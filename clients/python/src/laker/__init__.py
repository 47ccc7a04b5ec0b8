"""Laker: get data out of (and into) a data lake over Arrow Flight.

>>> import laker
>>> lake = laker.connect("grpc://localhost:50051", user="demo", password="demo")
>>> lake.datasets("taxi")
>>> trips = lake.download("demo.trips", columns=["fare", "city"], filter="fare > 30", limit=1000)
>>> lake.sql("SELECT city, avg(fare) FROM demo.trips GROUP BY city").to_pandas()
"""

from __future__ import annotations

from typing import Optional

from ._client import Client, DatasetInfo, version_of
from ._tls import PEM
from ._types import (
    AccessRequest,
    ApiKey,
    Column,
    ColumnStatistics,
    Dataset,
    DatasetDescription,
    Grant,
    Identity,
    Namespace,
    NewApiKey,
    Onboarding,
    Role,
    TableVersion,
    User,
    Written,
)
from .errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    FailedPrecondition,
    InvalidSpec,
    LakerError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    ServerError,
    Timeout,
    TLSError,
    Unauthenticated,
    Unavailable,
    VersionChanged,
)

__all__ = [
    "Aborted",
    "AccessRequest",
    "AlreadyExists",
    "ApiKey",
    "Cancelled",
    "Client",
    "Column",
    "ColumnStatistics",
    "Dataset",
    "DatasetDescription",
    "DatasetInfo",
    "FailedPrecondition",
    "Grant",
    "Identity",
    "InvalidSpec",
    "LakerError",
    "Namespace",
    "NewApiKey",
    "NotFound",
    "Onboarding",
    "PermissionDenied",
    "ResourceExhausted",
    "Role",
    "ServerError",
    "TLSError",
    "TableVersion",
    "Timeout",
    "Unauthenticated",
    "Unavailable",
    "User",
    "VersionChanged",
    "Written",
    "connect",
    "version_of",
]

__version__ = "0.2.0"


def connect(
    url: str,
    user: Optional[str] = None,
    password: Optional[str] = None,
    *,
    api_key: Optional[str] = None,
    token: Optional[str] = None,
    ca_cert: Optional[PEM] = None,
    client_cert: Optional[PEM] = None,
    client_key: Optional[PEM] = None,
    parallel: int = 4,
    progress: Optional[bool] = None,
    tls_root_certs: Optional[bytes] = None,
) -> Client:
    """Connects to a Laker server (``grpc://host:port``, or ``grpc+tls://``
    for a server with TLS) with a user and password, an API key, a bearer
    token, or — over TLS — a client certificate alone.

    TLS: the server's certificate is checked against ``ca_cert`` (a PEM
    file's path, or PEM bytes) or else the system's trusted roots
    (``SSL_CERT_FILE`` when set); ``client_cert`` and ``client_key`` (paths
    or PEM bytes) present a client certificate (mutual TLS: its common name
    is the user). A certificate not signed by a trusted CA, or not naming
    the host, raises :class:`laker.TLSError` saying which.
    (``tls_root_certs`` is the older name of ``ca_cert``.)

    ``parallel`` bounds the endpoints fetched at once; ``progress`` shows a
    progress bar (default: when stderr is a terminal and tqdm is installed).
    """
    return Client(url, user=user, password=password, api_key=api_key, token=token,
                  parallel=parallel, progress=progress, ca_cert=ca_cert,
                  client_cert=client_cert, client_key=client_key, tls_root_certs=tls_root_certs)
