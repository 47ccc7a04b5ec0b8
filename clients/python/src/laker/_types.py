"""What the catalog methods return: plain dataclasses built from the
server's JSON answers. Times are Unix epoch milliseconds, as the server
sends them. Each keeps the server's whole answer in ``raw``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union


def _value(stat: Any) -> Optional[int]:
    """``{"value": n, "exact": …}`` → n; null → None."""
    if isinstance(stat, dict):
        return stat.get("value")
    return None


@dataclass(frozen=True)
class Column:
    """A column as the caller sees it (``masked``: a grant masks its values)."""

    name: str
    type: str
    nullable: bool = True
    masked: bool = False

    @classmethod
    def from_json(cls, j: Dict[str, Any]) -> "Column":
        return cls(j.get("name", ""), j.get("type", ""), bool(j.get("nullable", True)),
                   bool(j.get("masked", False)))


@dataclass(frozen=True)
class ColumnStatistics:
    """A column's statistics from file footers or the Delta log (nothing is scanned)."""

    name: str
    null_count: Optional[int] = None
    min: Optional[str] = None
    max: Optional[str] = None
    distinct_count: Optional[int] = None

    @classmethod
    def from_json(cls, j: Dict[str, Any]) -> "ColumnStatistics":
        return cls(j.get("name", ""), _value(j.get("null_count")), j.get("min"), j.get("max"),
                   _value(j.get("distinct_count")))


@dataclass(frozen=True)
class TableVersion:
    """One commit of a Delta table."""

    version: int
    timestamp: Optional[int] = None
    operation: Optional[str] = None


@dataclass(frozen=True)
class Dataset:
    """A dataset's catalog record, as ``register_dataset``, ``update_dataset``
    and ``refresh_dataset`` answer. ``location`` and ``options`` are shown to
    the dataset's admins only."""

    name: str
    format: str
    description: str = ""
    tags: List[str] = field(default_factory=list)
    owner: str = ""
    location: Optional[str] = None
    options: Optional[Dict[str, Any]] = None
    schema: List[Column] = field(default_factory=list)
    version: Optional[int] = None
    revision: int = 0
    created_at: int = 0
    updated_at: int = 0
    refreshed_at: int = 0
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, j: Dict[str, Any]) -> "Dataset":
        return cls(
            name=j.get("name", ""), format=j.get("format", ""),
            description=j.get("description", ""), tags=list(j.get("tags", [])),
            owner=j.get("owner", ""), location=j.get("location"), options=j.get("options"),
            schema=[Column.from_json(c) for c in j.get("schema", [])],
            version=j.get("version"), revision=int(j.get("revision", 0)),
            created_at=int(j.get("created_at", 0)), updated_at=int(j.get("updated_at", 0)),
            refreshed_at=int(j.get("refreshed_at", 0)), raw=j)


@dataclass(frozen=True)
class DatasetDescription(Dataset):
    """What ``describe`` tells of a dataset you may read: the record, the
    schema you see, sizes and column statistics (``None`` where unknown or
    withheld: readers whose grants filter rows or mask columns get no
    counts), partition columns, and for Delta tables the version read and
    the newest commits.

    The server's JSON document also reads as a mapping: ``d["statistics"]``."""

    rows: Optional[int] = None
    rows_exact: bool = False
    files: Optional[int] = None
    size_bytes: Optional[int] = None
    columns: List[ColumnStatistics] = field(default_factory=list)
    statistics_withheld: Optional[str] = None
    partition_columns: List[Column] = field(default_factory=list)
    versions: List[TableVersion] = field(default_factory=list)

    @classmethod
    def from_json(cls, j: Dict[str, Any]) -> "DatasetDescription":
        base = Dataset.from_json(j)
        stats = j.get("statistics") or {}
        rows = stats.get("rows")
        return cls(
            **{f: getattr(base, f) for f in Dataset.__dataclass_fields__},
            rows=_value(rows), rows_exact=bool(isinstance(rows, dict) and rows.get("exact")),
            files=stats.get("files"), size_bytes=stats.get("size_bytes"),
            columns=[ColumnStatistics.from_json(c) for c in stats.get("columns", [])],
            statistics_withheld=stats.get("withheld"),
            partition_columns=[Column.from_json(c) for c in j.get("partition_columns", [])],
            versions=[TableVersion(v.get("version", 0), v.get("timestamp"), v.get("operation"))
                      for v in j.get("versions", [])])

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The server's JSON field ``key``, or ``default``."""
        return self.raw.get(key, default)


@dataclass(frozen=True)
class Namespace:
    """A namespace (the first part of ``namespace.dataset``)."""

    name: str
    description: str = ""
    created_at: int = 0


@dataclass(frozen=True)
class Grant:
    """Permission for a user or role to ``action`` (discover, read, write,
    admin) datasets matching ``pattern`` (``*``, ``ns.*`` or ``ns.dataset``);
    read grants may filter rows and mask columns."""

    grantee: str
    grantee_kind: str
    pattern: str
    action: str
    row_filter: Optional[str] = None
    column_masks: Dict[str, Union[str, Dict[str, str]]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, j: Dict[str, Any]) -> "Grant":
        grantee = j.get("grantee") or {}
        return cls(grantee.get("name", ""), grantee.get("kind", "user"), j.get("pattern", ""),
                   j.get("action", ""), j.get("row_filter"), dict(j.get("column_masks") or {}))


@dataclass(frozen=True)
class Role:
    """A role: grants that its members hold (``grants`` in ``roles()`` only)."""

    name: str
    description: str = ""
    members: List[str] = field(default_factory=list)
    grants: List[Grant] = field(default_factory=list)
    created_at: int = 0

    @classmethod
    def from_json(cls, j: Dict[str, Any]) -> "Role":
        return cls(j.get("name", ""), j.get("description", ""), list(j.get("members", [])),
                   [Grant.from_json(g) for g in j.get("grants", [])], int(j.get("created_at", 0)))


@dataclass(frozen=True)
class User:
    """A principal: a user (``kind="user"``, logs in with a password) or a
    service account (``kind="service"``, logs in with API keys)."""

    name: str
    kind: str = "user"
    disabled: bool = False
    roles: List[str] = field(default_factory=list)
    attributes: Dict[str, str] = field(default_factory=dict)
    created_at: int = 0

    @classmethod
    def from_json(cls, j: Dict[str, Any]) -> "User":
        return cls(j.get("name", ""), j.get("kind", "user"), bool(j.get("disabled", False)),
                   list(j.get("roles", [])), dict(j.get("attributes") or {}),
                   int(j.get("created_at", 0)))


@dataclass(frozen=True)
class ApiKey:
    """An API key's record (never its secret). ``expires_at`` and
    ``revoked_at`` are 0 when it does not expire / is not revoked."""

    key_id: str
    principal: str
    description: str = ""
    created_at: int = 0
    expires_at: int = 0
    revoked_at: int = 0

    @classmethod
    def from_json(cls, j: Dict[str, Any]) -> "ApiKey":
        return cls(j.get("id", j.get("key_id", "")), j.get("principal", ""),
                   j.get("description", ""), int(j.get("created_at", 0)),
                   int(j.get("expires_at", 0)), int(j.get("revoked_at", 0)))


@dataclass(frozen=True)
class NewApiKey:
    """A key just created: ``api_key`` is shown only now (log in with
    ``laker.connect(url, api_key=...)``)."""

    key_id: str
    principal: str
    api_key: str = field(repr=False)
    expires_at: int = 0


@dataclass(frozen=True)
class Onboarding:
    """What ``onboard`` set up for a client: its namespace and service
    account, grants, and an API key (``api_key`` only the first time;
    ``None`` when the client already had a usable key, ``key_id``).
    ``created`` lists what this call created (empty when run again)."""

    client: str
    namespace: str
    service_account: str
    key_id: str
    api_key: Optional[str] = field(default=None, repr=False)
    grants: List[Grant] = field(default_factory=list)
    created: List[str] = field(default_factory=list)
    ingest_job: Optional[Dict[str, Any]] = None
    note: str = ""
    python: str = field(default="", repr=False)  # carries the key

    @classmethod
    def from_json(cls, j: Dict[str, Any]) -> "Onboarding":
        client = j.get("client", "")
        grants = [Grant(client, "user", g.get("pattern", ""), g.get("action", ""))
                  for g in j.get("grants", [])]
        return cls(client, j.get("namespace", client), j.get("service_account", client),
                   j.get("key_id", ""), j.get("api_key"), grants, list(j.get("created", [])),
                   j.get("ingest_job"), j.get("note", ""), j.get("python", ""))


@dataclass(frozen=True)
class AccessRequest:
    """A request for read access to ``dataset`` (or for data no dataset
    meets: ``need``). ``status`` is pending, approved or rejected."""

    id: int
    requester: str
    reason: str
    status: str
    dataset: Optional[str] = None
    need: Optional[str] = None
    created_at: int = 0
    decided_by: Optional[str] = None
    decided_at: Optional[int] = None
    note: Optional[str] = None

    @classmethod
    def from_json(cls, j: Dict[str, Any]) -> "AccessRequest":
        return cls(int(j.get("id", 0)), j.get("requester", ""), j.get("reason", ""),
                   j.get("status", ""), j.get("dataset"), j.get("need"),
                   int(j.get("created_at", 0)), j.get("decided_by"), j.get("decided_at"),
                   j.get("note"))


@dataclass(frozen=True)
class Identity:
    """Who the server takes the caller to be (``whoami``)."""

    name: str
    token_id: Optional[str] = None
    issuer: Optional[str] = None
    key_id: Optional[str] = None


@dataclass(frozen=True)
class Written:
    """What ``download_to`` wrote: the file, its rows, the table version
    read (``None`` for datasets that are not Delta tables), and how many of
    the rows an earlier, interrupted run had already fetched."""

    path: Path
    rows: int
    format: str
    version: Optional[int] = None
    resumed_rows: int = 0
