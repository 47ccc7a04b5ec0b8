"""moto's S3 server, handling one request at a time.

moto (5.2) honours a conditional write (``If-None-Match: *``) by looking
the key up and then storing the object, with no lock between the two, so
two writers racing for one key can both succeed. S3 checks and writes
atomically, and Delta commits rely on it: a commit is a create-if-absent of
``_delta_log/<version>.json``, and the loser of a version retries on top of
the winner. The tests that race commits on S3 therefore run moto through
this script, which takes one lock around each request: S3's atomicity, at
the price of moto's concurrency. Connections are still served by a thread
each (keep-alive works); only the handling of requests is serialised.

    python serial_moto.py -H 127.0.0.1 -p PORT

It runs with the Python that has ``moto[server]`` installed (the test
virtualenv) and takes moto_server's ``-H``/``-p``.
"""

from __future__ import annotations

import argparse
import os
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("-p", "--port", type=int, required=True, help="port to listen on")
    args = parser.parse_args()
    # As moto_server does: moto builds some URLs from it.
    os.environ.setdefault("MOTO_PORT", str(args.port))

    moto = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        # The request body is read, and the whole response made, under the lock.
        with lock:
            response = moto(environ, start_response)
            try:
                return list(response)
            finally:
                close = getattr(response, "close", None)
                if close is not None:
                    close()

    run_simple(args.host, args.port, one_at_a_time, threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
