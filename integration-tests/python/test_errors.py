"""Errors reach pyarrow as the right exception types with messages that name the problem."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.flight as fl
import pytest


def info(client, opts, spec):
    return client.get_flight_info(fl.FlightDescriptor.for_command(json.dumps(spec)), opts)


def test_bad_credentials(client):
    with pytest.raises(fl.FlightUnauthenticatedError, match="invalid user name or password"):
        client.authenticate_basic_token("demo", "not-the-password")


def test_calls_need_a_token(client):
    with pytest.raises(fl.FlightUnauthenticatedError, match="Handshake"):
        list(client.list_flights())
    with pytest.raises(fl.FlightUnauthenticatedError):
        client.do_get(fl.Ticket(json.dumps({"dataset": "demo.zones"}))).read_all()


def test_invalid_specs(client, opts):
    with pytest.raises(pa.ArrowInvalid, match="columns: unknown column 'nope'"):
        info(client, opts, {"dataset": "demo.trips", "columns": ["nope"]})
    with pytest.raises(pa.ArrowInvalid, match="filter:"):
        info(client, opts, {"dataset": "demo.trips", "filter": "fare >>> 3"})
    with pytest.raises(pa.ArrowInvalid, match="subqueries are not allowed"):
        info(client, opts, {"dataset": "demo.trips", "filter": "fare IN (SELECT 1)"})
    with pytest.raises(pa.ArrowInvalid, match="unknown field `colums`"):
        info(client, opts, {"dataset": "demo.trips", "colums": ["fare"]})
    with pytest.raises(pa.ArrowInvalid, match="filter:"):
        client.do_get(fl.Ticket(json.dumps({"dataset": "demo.trips", "filter": "nope = 1"})), opts).read_all()


def test_unknown_dataset(client, opts):
    with pytest.raises(pa.ArrowKeyError, match="dataset 'demo.nope' not found"):
        info(client, opts, {"dataset": "demo.nope"})


def test_undiscoverable_dataset_looks_missing(client, opts):
    # demo may not discover finance.*: whether it exists is not revealed.
    with pytest.raises(pa.ArrowKeyError, match="dataset 'finance.payroll' not found"):
        info(client, opts, {"dataset": "finance.payroll"})


def test_tampered_ticket(client, opts):
    spec = {"dataset": "demo.zones"}
    ticket = info(client, opts, spec).endpoints[0].ticket.ticket
    tampered = ticket[:12] + (b"A" if ticket[12:13] != b"A" else b"B") + ticket[13:]
    with pytest.raises(fl.FlightUnauthorizedError, match="ticket signature is invalid"):
        client.do_get(fl.Ticket(tampered), opts).read_all()
