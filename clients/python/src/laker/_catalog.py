"""The catalog from Python: typed methods over the server's actions
(``ListActions``) — datasets, namespaces, grants and roles, users, keys,
onboarding, access requests and ingest jobs. Each raises the
:mod:`laker.errors` exception for the server's answer (most need the
``admin`` grant: :class:`~laker.PermissionDenied` otherwise)."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ._types import (
    AccessRequest,
    ApiKey,
    Dataset,
    DatasetDescription,
    Grant,
    Identity,
    Namespace,
    NewApiKey,
    Onboarding,
    Role,
    User,
)
from .errors import InvalidSpec

Mask = Union[str, Mapping[str, str]]


def _split(name: str) -> List[str]:
    parts = name.split(".")
    if len(parts) != 2 or not all(parts):
        raise InvalidSpec(f"'{name}' is not a dataset name of the form namespace.dataset")
    return parts


def _grantee(user: Optional[str], role: Optional[str]) -> Dict[str, str]:
    if (user is None) == (role is None):
        raise InvalidSpec("name one grantee: user= or role=")
    return {"user": user} if user is not None else {"role": role}  # type: ignore[dict-item]


def _some(**fields: Any) -> Dict[str, Any]:
    """The fields that were given (not None)."""
    return {k: v for k, v in fields.items() if v is not None}


class Catalog:
    """Catalog methods of :class:`laker.Client` (which provides ``action``)."""

    def action(self, kind: str, body: Optional[dict] = None) -> Any:  # pragma: no cover
        raise NotImplementedError

    def datasets(self, search: Optional[str] = None) -> list:  # pragma: no cover
        raise NotImplementedError

    # -- datasets -----------------------------------------------------------

    def describe(self, name: str) -> DatasetDescription:
        """Schema (as you see it), owner, row count, files and bytes, column
        statistics, partition columns and, for Delta tables, the current
        ``version`` and newest ``versions``. Needs ``read``."""
        _split(name)
        return DatasetDescription.from_json(self.action("describe_dataset", {"name": name}))

    def exists(self, name: str) -> bool:
        """Whether dataset ``name`` exists and you may discover it (a dataset
        you may not discover is, to you, missing)."""
        _split(name)
        wanted = name.strip().lower()
        return any(d.name == wanted for d in self.datasets(wanted))

    def register_dataset(
        self,
        name: str,
        location: str,
        format: str,
        *,
        options: Optional[Dict[str, Any]] = None,
        description: str = "",
        tags: Sequence[str] = (),
        owner: str = "",
    ) -> Dataset:
        """Registers files already on a configured store as dataset ``name``
        (``namespace.dataset``; the namespace must exist). ``location`` is a
        URL under a store's prefix (``s3://bucket/sales/orders/``,
        ``file:///lake/orders/``); ``format`` is parquet, csv, json, arrow or
        delta; ``options`` as in ``docs/catalog.md`` (partition columns, CSV
        settings…). The files are read (schema inferred) before anything is
        stored. Needs ``admin`` on the dataset. Returns the record with its
        schema."""
        _split(name)
        body: Dict[str, Any] = {"name": name, "location": location, "format": format,
                                "description": description, "tags": list(tags), "owner": owner}
        if options is not None:
            body["options"] = dict(options)
        return Dataset.from_json(self.action("register_dataset", body))

    def update_dataset(
        self,
        name: str,
        *,
        location: Optional[str] = None,
        format: Optional[str] = None,
        options: Optional[Dict[str, Any]] = None,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        owner: Optional[str] = None,
    ) -> Dataset:
        """Changes what is given; a new location, format or options are read
        before the change is stored. Needs ``admin``."""
        _split(name)
        body = _some(name=name, location=location, format=format, options=options,
                     description=description, owner=owner)
        if tags is not None:
            body["tags"] = list(tags)
        return Dataset.from_json(self.action("update_dataset", body))

    def delete_dataset(self, name: str) -> None:
        """Removes the dataset from the catalog; its files stay. Needs ``admin``."""
        _split(name)
        self.action("delete_dataset", {"name": name})

    def refresh_dataset(self, name: str) -> Dataset:
        """Reads the dataset's files (or Delta log) again after the lake
        changed, on every replica. Needs ``admin``."""
        _split(name)
        return Dataset.from_json(self.action("refresh_dataset", {"name": name}))

    # -- namespaces ---------------------------------------------------------

    def create_namespace(self, name: str, description: str = "") -> Namespace:
        """Creates a namespace. Needs ``admin`` on ``name.*``."""
        j = self.action("create_namespace", {"name": name, "description": description})
        return Namespace(j.get("name", name), j.get("description", ""), int(j.get("created_at", 0)))

    def delete_namespace(self, name: str) -> None:
        """Deletes an empty namespace. Needs ``admin`` on ``name.*``."""
        self.action("delete_namespace", {"name": name})

    # -- grants and roles ---------------------------------------------------

    def grant(
        self,
        pattern: str,
        action: str = "read",
        *,
        user: Optional[str] = None,
        role: Optional[str] = None,
        row_filter: Optional[str] = None,
        column_masks: Optional[Mapping[str, Mask]] = None,
    ) -> Grant:
        """Lets ``user`` (or every member of ``role``) ``action`` (discover,
        read, write or admin) the datasets matching ``pattern`` (``*``,
        ``ns.*`` or ``ns.dataset``), replacing the grant they had for that
        pattern and action. A read grant may carry a SQL ``row_filter`` and
        ``column_masks`` (``{"email": "hash", "ssn": "hide", "salary": "null",
        "phone": {"expr": "SQL"}}``), checked before they are stored. Needs
        ``admin`` on ``*``."""
        body: Dict[str, Any] = {**_grantee(user, role), "pattern": pattern, "action": action}
        if row_filter is not None:
            body["row_filter"] = row_filter
        if column_masks:
            body["column_masks"] = {k: (dict(v) if isinstance(v, Mapping) else v)
                                    for k, v in column_masks.items()}
        return Grant.from_json(self.action("grant", body))

    def revoke(self, pattern: str, action: str = "read", *, user: Optional[str] = None,
               role: Optional[str] = None) -> None:
        """Removes a grant. Needs ``admin`` on ``*``."""
        self.action("revoke", {**_grantee(user, role), "pattern": pattern, "action": action})

    def grants(self, *, user: Optional[str] = None, role: Optional[str] = None) -> List[Grant]:
        """Every grant, or those of one user or role. Needs ``admin`` on ``*``."""
        body = {} if user is None and role is None else _grantee(user, role)
        return [Grant.from_json(g) for g in self.action("list_grants", body)]

    def create_role(self, name: str, description: str = "") -> Role:
        """Creates a role. Needs ``admin`` on ``*``."""
        return Role.from_json(self.action("create_role", {"name": name, "description": description}))

    def delete_role(self, name: str) -> None:
        """Deletes a role with its grants and memberships."""
        self.action("delete_role", {"name": name})

    def roles(self) -> List[Role]:
        """Every role with its members and grants."""
        return [Role.from_json(r) for r in self.action("list_roles", {})]

    def add_role_member(self, role: str, principal: str) -> Role:
        """Gives ``principal`` the role."""
        return Role.from_json(self.action("add_role_member", {"role": role, "principal": principal}))

    def remove_role_member(self, role: str, principal: str) -> Role:
        """Takes the role from ``principal``."""
        return Role.from_json(
            self.action("remove_role_member", {"role": role, "principal": principal}))

    # -- principals and keys ------------------------------------------------

    def create_user(self, name: str, password: str, *, attributes: Optional[Dict[str, str]] = None,
                    roles: Sequence[str] = ()) -> User:
        """Creates a user who logs in with ``password`` (12 characters or
        more); ``attributes`` are what row filters read with
        ``principal_attribute('name')``. Needs ``admin`` on ``*``."""
        body: Dict[str, Any] = {"name": name, "password": password, "roles": list(roles)}
        if attributes:
            body["attributes"] = dict(attributes)
        return User.from_json(self.action("create_user", body))

    def set_password(self, name: str, password: str) -> None:
        """Replaces a user's password."""
        self.action("set_password", {"name": name, "password": password})

    def disable_user(self, name: str, disabled: bool = True) -> User:
        """Disables (``disabled=False``: enables) a user or service account;
        a disabled one is refused at its next call."""
        return User.from_json(self.action("set_user_disabled", {"name": name, "disabled": disabled}))

    def set_user_attributes(self, name: str, attributes: Dict[str, str]) -> User:
        """Replaces a principal's attributes."""
        return User.from_json(
            self.action("set_user_attributes", {"name": name, "attributes": dict(attributes)}))

    def delete_user(self, name: str) -> None:
        """Deletes a user or service account with its keys, roles and grants."""
        self.action("delete_user", {"name": name})

    def users(self) -> List[User]:
        """Every principal."""
        return [User.from_json(u) for u in self.action("list_users", {})]

    def create_service_account(self, name: str) -> User:
        """Creates a service account (no password: it logs in with API keys)."""
        j = self.action("create_service_account", {"name": name})
        return User(j.get("name", name), "service", created_at=int(j.get("created_at", 0)))

    def create_api_key(self, principal: str, description: str = "",
                       expires_in_secs: Optional[int] = None) -> NewApiKey:
        """Creates an API key for a user or service account; its text is in
        the result only (store it as a secret)."""
        body = _some(principal=principal, description=description, expires_in_secs=expires_in_secs)
        j = self.action("create_api_key", body)
        return NewApiKey(j.get("key_id", ""), j.get("principal", principal), j.get("api_key", ""),
                         int(j.get("expires_at", 0)))

    def revoke_api_key(self, key_id: str) -> None:
        """Revokes an API key; it stops working at the next login."""
        self.action("revoke_api_key", {"key_id": key_id})

    def api_keys(self, principal: str) -> List[ApiKey]:
        """A principal's API keys (never their secrets)."""
        return [ApiKey.from_json(k) for k in self.action("list_api_keys", {"name": principal})]

    def onboard(self, client: str, read: Sequence[str] = (), description: str = "",
                ingest_job: Optional[Dict[str, Any]] = None) -> Onboarding:
        """Onboards a client in one call: namespace ``client`` and a service
        account of that name with write and read on it, read on the ``read``
        datasets (``ns.dataset`` or ``ns.*``), an API key (returned once),
        and optionally an ingest job (see ``docs/ingest-jobs.md``). Running
        it again creates nothing new. Needs ``admin`` on ``*``."""
        body: Dict[str, Any] = {"client": client, "read": list(read), "description": description}
        if ingest_job is not None:
            body["ingest_job"] = dict(ingest_job)
        return Onboarding.from_json(self.action("onboard", body))

    def whoami(self) -> Identity:
        """Who the server takes you to be, and the id of your token."""
        j = self.action("whoami", {})
        return Identity(j.get("name", ""), j.get("token_id"), j.get("issuer"), j.get("key_id"))

    # -- access requests ----------------------------------------------------

    def request_access(self, dataset: Optional[str] = None, reason: str = "", *,
                       need: Optional[str] = None) -> AccessRequest:
        """Asks an admin for read access to ``dataset`` (one you may
        discover), or describes data no dataset meets (``need=``), saying
        why (``reason``)."""
        if not reason.strip():
            raise InvalidSpec("request_access needs a reason")
        body = _some(dataset=dataset, need=need)
        body["reason"] = reason
        return AccessRequest.from_json(self.action("request_access", body))

    def access_requests(self, *, all: bool = False, status: Optional[str] = None) -> List[AccessRequest]:
        """Your access requests, newest first; admins see everyone's with
        ``all=True``. ``status``: pending, approved or rejected."""
        body: Dict[str, Any] = _some(status=status)
        if all:
            body["all"] = True
        answer = self.action("list_access_requests", body)
        return [AccessRequest.from_json(r) for r in answer.get("requests", [])]

    def approve_access_request(self, id: int, *, row_filter: Optional[str] = None,
                               column_masks: Optional[Mapping[str, Mask]] = None,
                               note: Optional[str] = None) -> AccessRequest:
        """Approves a pending request: its requester gets the read grant on
        its dataset, through ``row_filter`` and ``column_masks`` if given.
        Needs ``admin`` on ``*``."""
        body: Dict[str, Any] = _some(id=int(id), row_filter=row_filter, note=note)
        if column_masks:
            body["column_masks"] = {k: (dict(v) if isinstance(v, Mapping) else v)
                                    for k, v in column_masks.items()}
        return AccessRequest.from_json(self.action("approve_access_request", body))

    def reject_access_request(self, id: int, *, note: Optional[str] = None) -> AccessRequest:
        """Rejects a pending request; the requester sees ``note``."""
        return AccessRequest.from_json(
            self.action("reject_access_request", _some(id=int(id), note=note)))

    # -- ingest jobs and curated datasets -----------------------------------

    def create_ingest_job(self, name: str, source: Dict[str, Any], target: str, *,
                          schedule: Optional[str] = None, mode: Optional[str] = None,
                          **settings: Any) -> Dict[str, Any]:
        """Creates an ingest job: files dropped under ``source`` (``{"store":
        "drop", "prefix": "acme/", "pattern": "*.csv", "format": "csv"}``)
        are imported into Delta dataset ``target``, on ``schedule``
        (``"every 5m"`` or cron) or when run. Returns the job as the server
        answers it (``docs/ingest-jobs.md``)."""
        body = {"name": name, "source": dict(source), "target": target,
                **_some(schedule=schedule, mode=mode), **settings}
        return self.action("create_ingest_job", body)

    def ingest_jobs(self) -> List[Dict[str, Any]]:
        """Every ingest job with its specification, next and latest run."""
        return list(self.action("list_ingest_jobs", {}).get("jobs", []))

    def run_ingest_job(self, name: str) -> Dict[str, Any]:
        """Runs a job now; returns its report (files, rows, rejections, version)."""
        return self.action("run_ingest_job", {"name": name})

    def delete_ingest_job(self, name: str, forget_files: bool = False) -> Dict[str, Any]:
        """Deletes a job (with ``forget_files``, also which files it took)."""
        return self.action("delete_ingest_job", {"name": name, "forget_files": forget_files})

    def replay(self, name: str, from_version: Optional[int] = None,
               to_version: Optional[int] = None) -> Dict[str, Any]:
        """Rebuilds curated dataset ``name`` from landing versions
        ``from_version..to_version`` (``docs/uploads.md``)."""
        _split(name)
        return self.action("replay", _some(name=name, from_version=from_version,
                                           to_version=to_version))
