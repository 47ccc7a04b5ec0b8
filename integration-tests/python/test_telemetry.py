"""Trace export: with --otlp-endpoint, laker-server sends its spans over
OTLP/gRPC; a stand-in collector (the OTLP trace service, from the
opentelemetry-proto stubs) receives them."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pyarrow.flight as fl
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from conftest import start_server, stop_server


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self):
        self.lock = threading.Lock()
        self.spans: list[dict] = []

    def Export(self, request, context):  # noqa: N802 (gRPC method name)
        with self.lock:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        attributes = {a.key: a.value for a in span.attributes}
                        self.spans.append({
                            "service": resource.get("service.name"),
                            "name": span.name,
                            "attributes": {k: v.string_value or v.int_value for k, v in attributes.items()},
                            "duration_ns": span.end_time_unix_nano - span.start_time_unix_nano,
                        })
        return trace_service_pb2.ExportTraceServiceResponse()


def test_rpc_spans_reach_the_collector(tmp_path):
    collector = Collector()
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    laker = start_server(tmp_path, "--otlp-endpoint", f"http://127.0.0.1:{port}")
    try:
        client = fl.FlightClient(laker.url)
        opts = fl.FlightCallOptions(headers=[client.authenticate_basic_token("demo", "demo")])
        table = client.do_get(fl.Ticket(json.dumps({"dataset": "demo.zones"})), opts).read_all()
        client.close()
    finally:
        # SIGTERM: the server exports the spans it still buffers before exiting.
        stop_server(laker)
        server.stop(grace=None)
    assert laker.proc.returncode == 0
    rpcs = [s for s in collector.spans if s["name"] == "rpc"]
    assert {s["service"] for s in rpcs} == {"laker-server"}
    downloads = [s for s in rpcs if s["attributes"].get("rpc") == "DoGet"]
    assert len(downloads) == 1, rpcs
    assert downloads[0]["attributes"]["principal"] == "demo"
    assert downloads[0]["attributes"]["dataset"] == "demo.zones"
    assert int(downloads[0]["attributes"]["rows"]) == table.num_rows > 0
    assert downloads[0]["duration_ns"] > 0
