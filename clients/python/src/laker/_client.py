"""The Laker client: discover, describe, download, query and upload."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar, Union

import pyarrow as pa
import pyarrow.flight as fl

from . import _download
from ._auth import Tokens
from ._sql import statement_query
from .errors import InvalidSpec, Unauthenticated, translate

T = TypeVar("T")

FORMATS = ("parquet", "csv", "arrow")


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset you may see."""

    name: str
    description: str = ""
    tags: List[str] = field(default_factory=list)
    total_records: Optional[int] = None


def _split(name: str) -> List[str]:
    parts = name.split(".")
    if len(parts) != 2 or not all(parts):
        raise InvalidSpec(f"'{name}' is not a dataset name of the form namespace.dataset")
    return parts


class Client:
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
        tls_root_certs: Optional[bytes] = None,
    ):
        if api_key is not None:
            if user is not None or password is not None:
                raise InvalidSpec("give either user and password or api_key, not both")
            user, password = "key", api_key
        if (user is None) != (password is None):
            raise InvalidSpec("user and password go together")
        if user is None and token is None:
            raise InvalidSpec("connect needs user and password, api_key, or token")
        self.url = url
        self.parallel = parallel
        self.progress = progress
        kwargs: Dict[str, Any] = {}
        if tls_root_certs is not None:
            kwargs["tls_root_certs"] = tls_root_certs
        self._flight = fl.FlightClient(url, **kwargs)
        self._tokens = Tokens(self._flight, user, password, token)
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------

    def _headers(self) -> list:
        return [self._tokens.header()]

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
        """Runs a server action (see ``ListActions``); returns its JSON result."""
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

    def describe(self, name: str) -> dict:
        """Schema, size, statistics, partitions and versions of a dataset."""
        _split(name)
        return self.action("describe_dataset", {"name": name})

    # -- downloads --------------------------------------------------------

    @staticmethod
    def _spec(name: str, columns: Optional[Sequence[str]], filter: Optional[str], limit: Optional[int],
              version: Optional[int], order_by: Optional[Sequence[str]]) -> dict:
        _split(name)
        spec: Dict[str, Any] = {"dataset": name}
        if columns is not None:
            spec["columns"] = list(columns)
        if filter is not None:
            spec["filter"] = filter
        if limit is not None:
            spec["limit"] = int(limit)
        if version is not None:
            spec["version"] = int(version)
        if order_by:
            spec["order_by"] = list(order_by)
        return spec

    def _info(self, descriptor: fl.FlightDescriptor) -> fl.FlightInfo:
        return self._call(lambda: self._flight.get_flight_info(descriptor, options=self._options()))

    def _progress(self, info: fl.FlightInfo) -> _download.Progress:
        return _download.Progress(info.total_records, self.progress)

    def download(
        self,
        name: str,
        columns: Optional[Sequence[str]] = None,
        filter: Optional[str] = None,
        limit: Optional[int] = None,
        version: Optional[int] = None,
        order_by: Optional[Sequence[str]] = None,
    ) -> pa.Table:
        """Downloads a slice of a dataset as a ``pyarrow.Table``.

        ``columns`` to keep, a SQL ``filter`` (``"fare > 30 AND city = 'Oslo'"``),
        a row ``limit``, a Delta ``version``, and ``order_by`` keys
        (``["fare DESC"]``). Endpoints are fetched in parallel; a stream the
        network cuts is resumed where it stopped."""
        spec = self._spec(name, columns, filter, limit, version, order_by)
        info = self._info(fl.FlightDescriptor.for_command(json.dumps(spec)))
        progress = self._progress(info)
        try:
            return _download.collect(self._flight, self._headers, info, self.parallel, progress)
        finally:
            progress.close()

    def to_pandas(self, name: str, **slice: Any) -> "Any":
        """:meth:`download` as a pandas DataFrame."""
        return self.download(name, **slice).to_pandas()

    def to_polars(self, name: str, **slice: Any) -> "Any":
        """:meth:`download` as a polars DataFrame."""
        import polars as pl

        return pl.from_arrow(self.download(name, **slice))

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
    ) -> int:
        """Streams a slice of a dataset into a file (``parquet``, ``csv`` or
        ``arrow``) batch by batch, never holding the whole result; returns
        the rows written."""
        if format not in FORMATS:
            raise InvalidSpec(f"format must be one of {', '.join(FORMATS)}, not '{format}'")
        spec = self._spec(name, columns, filter, limit, version, order_by)
        info = self._info(fl.FlightDescriptor.for_command(json.dumps(spec)))
        progress = self._progress(info)
        writer = _Writer(Path(path), format)
        try:
            _download.fetch_all(self._flight, self._headers, info, lambda _, b: writer.write(b),
                                self.parallel, progress)
            writer.close(info.schema)
        except BaseException:
            writer.abort()
            raise
        finally:
            progress.close()
        return writer.rows

    # -- SQL ----------------------------------------------------------------

    def sql(self, query: str) -> pa.Table:
        """Runs a SQL query (Flight SQL) over the datasets you may read."""
        info = self._info(fl.FlightDescriptor.for_command(statement_query(query)))
        progress = self._progress(info)
        try:
            return _download.collect(self._flight, self._headers, info, self.parallel, progress,
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
    """Writes batches to one file as they arrive (from several threads)."""

    def __init__(self, path: Path, format: str):
        self.path = path
        self.format = format
        self.rows = 0
        self._lock = threading.Lock()
        self._writer: Any = None
        self._sink: Any = None

    def _open(self, schema: pa.Schema) -> None:
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
