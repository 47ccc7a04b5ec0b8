"""Laker: get data out of (and into) a data lake over Arrow Flight.

>>> import laker
>>> lake = laker.connect("grpc://localhost:50051", user="demo", password="demo")
>>> lake.datasets("taxi")
>>> trips = lake.download("demo.trips", columns=["fare", "city"], filter="fare > 30", limit=1000)
>>> lake.sql("SELECT city, avg(fare) FROM demo.trips GROUP BY city").to_pandas()
"""

from __future__ import annotations

from typing import Optional

from ._client import Client, DatasetInfo
from .errors import (
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
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "AlreadyExists",
    "Cancelled",
    "Client",
    "DatasetInfo",
    "FailedPrecondition",
    "InvalidSpec",
    "LakerError",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "ServerError",
    "Timeout",
    "Unauthenticated",
    "Unavailable",
    "connect",
]

__version__ = "0.1.0"


def connect(
    url: str,
    user: Optional[str] = None,
    password: Optional[str] = None,
    *,
    api_key: Optional[str] = None,
    token: Optional[str] = None,
    parallel: int = 4,
    progress: Optional[bool] = None,
    tls_root_certs: Optional[bytes] = None,
) -> Client:
    """Connects to a Laker server (``grpc://host:port`` or ``grpc+tls://…``)
    with a user and password, an API key, or a bearer token.

    ``parallel`` bounds the endpoints fetched at once; ``progress`` shows a
    progress bar (default: when stderr is a terminal and tqdm is installed).
    """
    return Client(url, user=user, password=password, api_key=api_key, token=token,
                  parallel=parallel, progress=progress, tls_root_certs=tls_root_certs)
