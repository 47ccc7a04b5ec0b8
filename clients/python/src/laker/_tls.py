"""TLS settings for ``grpc+tls://`` servers: the CA to trust (a file or PEM
bytes; the system's trusted roots by default), and a client certificate
and key for mutual TLS, checked before anything is sent."""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Union

from .errors import InvalidSpec, TLSError

PEM = Union[str, Path, bytes]

TLS_SCHEMES = ("grpc+tls://",)


def is_tls(url: str) -> bool:
    """Whether ``url`` asks for TLS."""
    return url.lower().startswith(TLS_SCHEMES)


def read_pem(value: PEM, what: str) -> bytes:
    """PEM bytes given as such, or read from the file ``value`` names."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        path = Path(value).expanduser()
        try:
            data = path.read_bytes()
        except OSError as e:
            raise InvalidSpec(f"{what}: cannot read '{path}': {e.strerror or e}") from None
    if b"-----BEGIN " not in data:
        raise InvalidSpec(f"{what}: not PEM (no '-----BEGIN' line)")
    return data


def system_roots() -> Optional[bytes]:
    """The system's trusted CA bundle (``SSL_CERT_FILE`` when set, as
    OpenSSL reads it), or ``None`` to leave the choice to gRPC."""
    paths = ssl.get_default_verify_paths()
    for candidate in (os.environ.get(paths.openssl_cafile_env), paths.cafile, paths.openssl_cafile):
        if candidate and os.path.isfile(candidate):
            try:
                return Path(candidate).read_bytes()
            except OSError:
                continue
    try:
        import certifi  # type: ignore[import-not-found]

        return Path(certifi.where()).read_bytes()
    except (ImportError, OSError):
        return None


def _check_ca(pem: bytes) -> None:
    try:
        ssl.create_default_context(cadata=pem.decode("ascii", "replace"))
    except (ssl.SSLError, ValueError) as e:
        raise InvalidSpec(f"ca_cert: not a CA certificate in PEM: {e}") from None


def _check_pair(cert: bytes, key: bytes) -> None:
    """Refuses a key that does not belong to the certificate (gRPC would
    only say it found no address)."""
    with tempfile.TemporaryDirectory(prefix="laker-tls-") as folder:
        cert_file = Path(folder, "cert.pem")
        key_file = Path(folder, "key.pem")
        cert_file.write_bytes(cert)
        key_file.write_bytes(key)
        os.chmod(key_file, 0o600)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(str(cert_file), str(key_file))
        except ssl.SSLError as e:
            if "KEY_VALUES_MISMATCH" in str(e) or "key values mismatch" in str(e):
                raise TLSError("client_key does not belong to client_cert",
                               "client_certificate") from None
            raise InvalidSpec(f"client_cert/client_key: cannot be loaded: {e}") from None


def options(
    url: str,
    ca_cert: Optional[PEM],
    client_cert: Optional[PEM],
    client_key: Optional[PEM],
) -> Dict[str, Any]:
    """The ``pyarrow.flight.FlightClient`` TLS arguments for ``url``."""
    if not is_tls(url):
        given = [n for n, v in (("ca_cert", ca_cert), ("client_cert", client_cert),
                                ("client_key", client_key)) if v is not None]
        if given:
            verb = "needs" if len(given) == 1 else "need"
            raise InvalidSpec(f"{', '.join(given)} {verb} a grpc+tls:// URL, not '{url}'")
        return {}
    if (client_cert is None) != (client_key is None):
        raise InvalidSpec("client_cert and client_key go together")
    kwargs: Dict[str, Any] = {}
    if ca_cert is not None:
        roots = read_pem(ca_cert, "ca_cert")
        _check_ca(roots)
    else:
        roots = system_roots()
    if roots is not None:
        kwargs["tls_root_certs"] = roots
    if client_cert is not None and client_key is not None:
        cert = read_pem(client_cert, "client_cert")
        key = read_pem(client_key, "client_key")
        _check_pair(cert, key)
        kwargs["cert_chain"] = cert
        kwargs["private_key"] = key
    return kwargs
