"""The Laker client: discover, describe, download, query and upload; the
catalog's administration comes from :class:`~laker._catalog.Catalog`."""

from __future__ import annotations

import datetime
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar, Union

import pyarrow as pa
import pyarrow.flight as fl

from . import _download, _resume, _tls
from ._auth import Tokens
from ._catalog import Catalog, _split
from ._sql import statement_query
from ._types import Written
from .errors import (
    InvalidSpec,
    LakerError,
    ServerError,
    TLSError,
    Unauthenticated,
    Unavailable,
    translate,
)

T = TypeVar("T")

FORMATS = ("parquet", "csv", "arrow")

AsOf = Union[str, datetime.datetime, datetime.date]


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset you may see."""

    name: str
    description: str = ""
    tags: List[str] = field(default_factory=list)
    total_records: Optional[int] = None


def version_of(data: Any) -> Optional[int]:
    """The Delta table version a download read, so a later one can pin it
    (``version=``): from a ``pyarrow.Table``, ``RecordBatch`` or ``Schema``
    that :meth:`Client.download` returned (schema metadata
    ``laker:version``), a pandas DataFrame from :meth:`Client.to_pandas`
    (``df.attrs["laker:version"]``) or what :meth:`Client.download_to`
    returned. ``None`` for datasets that are not Delta tables."""
    if isinstance(data, Written):
        return data.version
    attrs = getattr(data, "attrs", None)
    if isinstance(attrs, dict) and "laker:version" in attrs:
        return attrs["laker:version"]
    schema = data if isinstance(data, pa.Schema) else getattr(data, "schema", None)
    if isinstance(schema, pa.Schema):
        raw = (schema.metadata or {}).get(b"laker:version")
        return int(raw) if raw else None
    return None


def _as_of_text(as_of: AsOf) -> str:
    if isinstance(as_of, (datetime.datetime, datetime.date)):
        return as_of.isoformat()
    return str(as_of)


class Client(Catalog):
    """A session with a Laker server. Create it with :func:`laker.connect`.

    Methods are safe to call from several threads."""

    def __init__(
        self,
        url: str,
        *,
        user: Optional[str] = None,
        password: Optional[str] = None,
        api_key: Optional[str] = None,
        token: Optional[str] = None,
        parallel: int = 4,
        progress: Optional[bool] = None,
        ca_cert: Optional[_tls.PEM] = None,
        client_cert: Optional[_tls.PEM] = None,
        client_key: Optional[_tls.PEM] = None,
        tls_root_certs: Optional[bytes] = None,
    ):
        if api_key is not None:
            if user is not None or password is not None:
                raise InvalidSpec("give either user and password or api_key, not both")
            user, password = "key", api_key
        if (user is None) != (password is None):
            raise InvalidSpec("user and password go together")
        if user is None and token is None and client_cert is None:
            raise InvalidSpec("connect needs user and password, api_key, token, or a client "
                              "certificate (client_cert and client_key, over grpc+tls://)")
        if tls_root_certs is not None:
            if ca_cert is not None:
                raise InvalidSpec("give ca_cert or tls_root_certs (its older name), not both")
            ca_cert = tls_root_certs
        self.url = url
        self.parallel = parallel
        self.progress = progress
        kwargs = _tls.options(url, ca_cert, client_cert, client_key)
        try:
            self._flight = fl.FlightClient(url, **kwargs)
        except Exception as e:  # noqa: BLE001 (translated)
            raise translate(e) from None
        self._lock = threading.Lock()
        try:
            self._tokens = Tokens(self._flight, user, password, token)
            if self._tokens.certificate_only:
                # Nothing was sent yet: check the handshake and the certificate now.
                self.whoami()
        except LakerError as e:
            raise self._connect_error(e, client_cert is not None) from None

    def _connect_error(self, error: LakerError, certificate: bool) -> LakerError:
        """What went wrong connecting, said plainly. pyarrow's login stream
        hides why the connection failed ("Could not finish writing before
        closing"): a plain call shows it (a TLS handshake failure, say)."""
        if type(error) in (LakerError, Unavailable, ServerError):
            try:
                list(self._flight.list_actions(options=fl.FlightCallOptions(timeout=30)))
            except Exception as e:  # noqa: BLE001 (translated)
                probed = translate(e)
                if isinstance(probed, Unavailable):
                    error = probed
        if certificate and isinstance(error, Unavailable) and not isinstance(error, TLSError) \
                and "socket closed" in str(error).lower():
            return TLSError(f"TLS: the server closed the connection during the handshake, most "
                            f"likely refusing the client certificate (it must be signed by the CA "
                            f"the server trusts for clients): {error}", "client_certificate")
        return error

    # -- plumbing ---------------------------------------------------------

    def _headers(self) -> list:
        header = self._tokens.header()
        return [header] if header is not None else []

    def _options(self, extra: Sequence = ()) -> fl.FlightCallOptions:
        return fl.FlightCallOptions(headers=self._headers() + list(extra))

    def _call(self, fn: Callable[[], T]) -> T:
        """Runs ``fn``; logs in again once if the server refused the token."""
        try:
            return fn()
        except fl.FlightUnauthenticatedError as e:
            if not self._tokens.can_renew:
                raise translate(e) from None
            self._tokens.renew()
        except Exception as e:  # noqa: BLE001 (translated)
            raise translate(e) from None
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 (translated)
            raise translate(e) from None

    def action(self, kind: str, body: Optional[dict] = None) -> Any:
        """Runs a server action (see ``ListActions``); returns its JSON result.
        The typed methods (:meth:`register_dataset`, :meth:`grant`, …) wrap these."""
        payload = json.dumps(body or {}).encode()

        def run() -> list:
            return list(self._flight.do_action(fl.Action(kind, payload), options=self._options()))

        results = self._call(run)
        if not results:
            return None
        return json.loads(results[0].body.to_pybytes())

    def close(self) -> None:
        """Closes the connection."""
        self._flight.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- discovery --------------------------------------------------------

    def datasets(self, search: Optional[str] = None) -> List[DatasetInfo]:
        """The datasets you may see, optionally those matching ``search``
        (a case-insensitive match on names, descriptions and tags)."""
        criteria = (search or "").encode()
        infos = self._call(lambda: list(self._flight.list_flights(criteria, options=self._options())))
        out = []
        for info in infos:
            meta = json.loads(info.app_metadata or b"{}")
            total = info.total_records if info.total_records >= 0 else None
            out.append(DatasetInfo(meta.get("name", ""), meta.get("description", ""),
                                   list(meta.get("tags", [])), total))
        return out

    def schema(self, name: str) -> pa.Schema:
        """The dataset's Arrow schema (what you may read of it)."""
        descriptor = fl.FlightDescriptor.for_path(*_split(name))
        return self._call(lambda: self._flight.get_schema(descriptor, options=self._options()).schema)

    # -- downloads --------------------------------------------------------

    @staticmethod
    def _spec(name: str, columns: Optional[Sequence[str]], filter: Optional[str], limit: Optional[int],
              version: Optional[int], order_by: Optional[Sequence[str]],
              as_of: Optional[AsOf] = None) -> dict:
        _split(name)
        if isinstance(columns, str) or isinstance(order_by, str):
            raise InvalidSpec("columns and order_by are lists of names, e.g. ['fare DESC']")
        if version is not None and as_of is not None:
            raise InvalidSpec("give either version or as_of, not both")
        spec: Dict[str, Any] = {"dataset": name}
        if columns is not None:
            spec["columns"] = list(columns)
        if filter is not None:
            spec["filter"] = filter
        if limit is not None:
            spec["limit"] = int(limit)
        if version is not None:
            spec["version"] = int(version)
        if as_of is not None:
            spec["as_of"] = _as_of_text(as_of)
        if order_by:
            spec["order_by"] = list(order_by)
        return spec

    def _info(self, descriptor: fl.FlightDescriptor) -> fl.FlightInfo:
        return self._call(lambda: self._flight.get_flight_info(descriptor, options=self._options()))

    def _progress(self, info: fl.FlightInfo, initial: int = 0) -> _download.Progress:
        return _download.Progress(info.total_records, self.progress, initial)

    def _getter(self, compression: Optional[str]) -> Callable[[], list]:
        """The headers of each DoGet: the token, and the compression asked for."""
        extra = _download.compression_headers(compression)
        return lambda: self._headers() + extra

    def download(
        self,
        name: str,
        columns: Optional[Sequence[str]] = None,
        filter: Optional[str] = None,
        limit: Optional[int] = None,
        version: Optional[int] = None,
        order_by: Optional[Sequence[str]] = None,
        *,
        as_of: Optional[AsOf] = None,
        compression: Optional[str] = None,
    ) -> pa.Table:
        """Downloads a slice of a dataset as a ``pyarrow.Table``.

        ``columns`` to keep, a SQL ``filter`` (``"fare > 30 AND city = 'Oslo'"``),
        a row ``limit``, ``order_by`` keys (``["fare DESC"]``), and for Delta
        tables a ``version`` or ``as_of`` (a ``datetime``, or ``"2026-05-01"`` /
        RFC 3339: the newest version committed then). ``compression``
        (``"zstd"`` or ``"lz4"``) compresses message bodies on the wire —
        worth it on slow links, not on a fast network.

        The table's schema metadata says what was read: ``laker:dataset`` and,
        for Delta tables, ``laker:version`` (:func:`laker.version_of`), the
        version every endpoint read. Endpoints are fetched in parallel; a
        stream the network cuts is resumed where it stopped."""
        spec = self._spec(name, columns, filter, limit, version, order_by, as_of)
        headers = self._getter(compression)
        info = self._info(fl.FlightDescriptor.for_command(json.dumps(spec)))
        progress = self._progress(info)
        try:
            return _download.collect(self._flight, headers, info, self.parallel, progress)
        finally:
            progress.close()

    def to_pandas(
        self,
        name: str,
        columns: Optional[Sequence[str]] = None,
        filter: Optional[str] = None,
        limit: Optional[int] = None,
        version: Optional[int] = None,
        order_by: Optional[Sequence[str]] = None,
        *,
        as_of: Optional[AsOf] = None,
        compression: Optional[str] = None,
        **pandas_options: Any,
    ) -> "Any":
        """:meth:`download` as a pandas DataFrame, converted by pyarrow's own
        ``Table.to_pandas`` (so zone-aware timestamps stay zone-aware, decimals
        are ``decimal.Decimal``); ``pandas_options`` go to it
        (``types_mapper=pd.ArrowDtype``, ``categories=["city"]``…). A Delta
        table's version read is ``df.attrs["laker:version"]``."""
        table = self.download(name, columns, filter, limit, version, order_by, as_of=as_of,
                              compression=compression)
        frame = table.to_pandas(**pandas_options)
        read = version_of(table)
        if read is not None:
            frame.attrs["laker:version"] = read
        return frame

    def to_polars(
        self,
        name: str,
        columns: Optional[Sequence[str]] = None,
        filter: Optional[str] = None,
        limit: Optional[int] = None,
        version: Optional[int] = None,
        order_by: Optional[Sequence[str]] = None,
        *,
        as_of: Optional[AsOf] = None,
        compression: Optional[str] = None,
    ) -> "Any":
        """:meth:`download` as a polars DataFrame (``polars.from_arrow``).
        Polars frames carry no metadata: to learn the version read, use
        :meth:`download` and :func:`laker.version_of`, then ``pl.from_arrow``."""
        import polars as pl

        return pl.from_arrow(self.download(name, columns, filter, limit, version, order_by,
                                           as_of=as_of, compression=compression))

    def download_to(
        self,
        path: Union[str, Path],
        name: str,
        format: str = "parquet",
        columns: Optional[Sequence[str]] = None,
        filter: Optional[str] = None,
        limit: Optional[int] = None,
        version: Optional[int] = None,
        order_by: Optional[Sequence[str]] = None,
        *,
        as_of: Optional[AsOf] = None,
        compression: Optional[str] = None,
        resume: bool = True,
    ) -> Written:
        """Writes a slice of a dataset into a file (``parquet``, ``csv`` or
        ``arrow``), batch by batch, never holding the whole result. Returns
        a :class:`~laker.Written`: path, rows, format, the table ``version``
        read (Delta tables; also in the file's schema metadata) and
        ``resumed_rows``.

        With ``resume`` (the default) the rows first land in
        ``<path>.laker-partial/``, so a download whose process was killed
        continues where it stopped when called again with the same
        arguments: the rows already on disk are not fetched again — once the
        dataset is known to be unchanged (same Delta version; for other
        formats the same catalog revision, schema and partitioning), else
        :class:`~laker.VersionChanged`. The file is then written from them
        (disk for both meanwhile) and the folder removed. ``resume=False``
        discards any partial download and streams straight into the file."""
        if format not in FORMATS:
            raise InvalidSpec(f"format must be one of {', '.join(FORMATS)}, not '{format}'")
        spec = self._spec(name, columns, filter, limit, version, order_by, as_of)
        headers = self._getter(compression)
        path = Path(path)
        info = self._info(fl.FlightDescriptor.for_command(json.dumps(spec)))
        read = _download.info_version(info)
        metadata = _download.laker_metadata(info)
        if not resume:
            partial = _resume.Partial(path)
            partial.lock()
            try:
                partial.discard()
            finally:
                partial.unlock()
            rows = self._stream_to(path, format, info, headers, metadata)
            return Written(path, rows, format, read)
        return self._resumable_to(path, name, format, spec, info, headers, metadata)

    def _stream_to(self, path: Path, format: str, info: fl.FlightInfo,
                   headers: Callable[[], list], metadata: Dict[bytes, bytes]) -> int:
        progress = self._progress(info)
        writer = _Writer(path, format, metadata)
        try:
            _download.fetch_all(self._flight, headers, info, lambda _, b: writer.write(b),
                                self.parallel, progress)
            writer.close(info.schema)
        except BaseException:
            writer.abort()
            raise
        finally:
            progress.close()
        return writer.rows

    def _fingerprint(self, name: str, info: fl.FlightInfo) -> Dict[str, Any]:
        """What tells a dataset that is not a Delta table changed: its
        catalog revision and refresh time, and the row estimate."""
        fingerprint: Dict[str, Any] = {"total_records": info.total_records}
        try:
            described = self.describe(name)
        except LakerError:
            return fingerprint
        fingerprint.update(revision=described.revision, refreshed_at=described.refreshed_at,
                           updated_at=described.updated_at)
        return fingerprint

    def _resumable_to(self, path: Path, name: str, format: str, spec: dict, info: fl.FlightInfo,
                      headers: Callable[[], list], metadata: Dict[bytes, bytes]) -> Written:
        read = _download.info_version(info)
        fingerprint = None if read is not None else self._fingerprint(name, info)
        state = _resume.current_state(info, read, fingerprint)
        request = {"spec": spec, "format": format}
        partial = _resume.Partial(path)
        endpoints = state["endpoints"]
        done: set = set()
        starts: List[int] = []
        # Held before the folder is read, kept or discarded.
        partial.lock()
        try:
            manifest = partial.manifest()
            if manifest is not None and manifest.get("request") == request:
                _resume.check_unchanged(name, manifest, state)
                done = {i for i in range(endpoints) if partial.done(i)}
                starts = [partial.rows_done(i) if i in done else partial.rows_of(i)
                          for i in range(endpoints)]
            else:
                partial.begin({"layout": _resume.LAYOUT, "dataset": name, "request": request,
                               **state})
        except BaseException:
            partial.unlock()
            raise
        resumed = sum(starts)
        try:
            progress = self._progress(info, resumed)
            try:
                _download.fetch_all(self._flight, headers, info, partial.write, self.parallel,
                                    progress, starts=starts, skip=done, finished=partial.finish)
            finally:
                partial.close()
                progress.close()
            rows = _resume.assemble(partial, endpoints, lambda p: _Writer(p, format, metadata),
                                    info.schema)
            partial.discard()
        finally:
            partial.unlock()
        return Written(path, rows, format, read, resumed)

    # -- SQL ----------------------------------------------------------------

    def sql(self, query: str, *, compression: Optional[str] = None) -> pa.Table:
        """Runs a SQL query (Flight SQL) over the datasets you may read;
        ``compression`` as in :meth:`download`."""
        headers = self._getter(compression)
        info = self._info(fl.FlightDescriptor.for_command(statement_query(query)))
        progress = self._progress(info)
        try:
            return _download.collect(self._flight, headers, info, self.parallel, progress,
                                     resume=False)
        finally:
            progress.close()

    # -- uploads --------------------------------------------------------------

    def upload(self, name: str, data: Any, mode: str = "append", upload_id: Optional[str] = None) -> dict:
        """Uploads ``data`` (a pyarrow Table or RecordBatchReader, a pandas or
        polars DataFrame) into a dataset: ``mode`` is create, append, replace,
        create_append or create_replace. With an ``upload_id`` a retry
        commits at most once. Returns the server's answer (version, rows,
        bytes, duplicate)."""
        reader = _as_reader(data)
        headers = [(b"x-laker-upload-mode", mode.encode())]
        if upload_id is not None:
            headers.append((b"x-laker-upload-id", upload_id.encode()))
        descriptor = fl.FlightDescriptor.for_path(*_split(name))

        def run() -> dict:
            writer, results = self._flight.do_put(descriptor, reader.schema, options=self._options(headers))
            try:
                for batch in reader:
                    writer.write_batch(batch)
                writer.done_writing()
                answer = results.read()
            finally:
                writer.close()
            return json.loads(answer.to_pybytes())

        try:
            return run()
        except fl.FlightUnauthenticatedError as e:
            # The data may be a one-shot stream: do not send it twice.
            raise Unauthenticated(str(translate(e))) from None
        except Exception as e:  # noqa: BLE001 (translated)
            raise translate(e) from None


def _as_reader(data: Any) -> pa.RecordBatchReader:
    if isinstance(data, pa.RecordBatchReader):
        return data
    if isinstance(data, pa.Table):
        return data.to_reader()
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data]).to_reader()
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False).to_reader()
    if module == "polars":
        return data.to_arrow().to_reader()
    raise InvalidSpec(f"cannot upload a {type(data).__name__}: give a pyarrow Table, pandas or polars DataFrame")


class _Writer:
    """Writes batches to one file as they arrive (from several threads), its
    schema carrying ``metadata`` (the dataset and version read)."""

    def __init__(self, path: Path, format: str, metadata: Optional[Dict[bytes, bytes]] = None):
        self.path = path
        self.format = format
        self.metadata = dict(metadata or {})
        self.rows = 0
        self._lock = threading.Lock()
        self._writer: Any = None
        self._sink: Any = None
        self._schema: Optional[pa.Schema] = None

    def _open(self, schema: pa.Schema) -> None:
        if self.metadata:
            schema = schema.with_metadata({**(schema.metadata or {}), **self.metadata})
        self._schema = schema
        if self.format == "parquet":
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(str(self.path), schema)
        elif self.format == "csv":
            import pyarrow.csv as pacsv

            self._writer = pacsv.CSVWriter(str(self.path), schema)
        else:
            self._sink = pa.OSFile(str(self.path), "wb")
            self._writer = pa.ipc.new_file(self._sink, schema)

    def write(self, batch: pa.RecordBatch) -> None:
        with self._lock:
            if self._writer is None:
                self._open(batch.schema)
            elif not batch.schema.equals(self._schema, check_metadata=False):
                batch = batch.cast(self._schema.remove_metadata())
            self._writer.write_batch(batch)
            self.rows += batch.num_rows

    def close(self, schema: pa.Schema) -> None:
        with self._lock:
            if self._writer is None:
                self._open(schema)
            self._writer.close()
            if self._sink is not None:
                self._sink.close()

    def abort(self) -> None:
        with self._lock:
            try:
                if self._writer is not None:
                    self._writer.close()
                if self._sink is not None:
                    self._sink.close()
            finally:
                self.path.unlink(missing_ok=True)
