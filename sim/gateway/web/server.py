"""Serving the page with waitress (a maintained pure-Python WSGI server, no C build, the
Pylons project's): bound to loopback unless the caller allows more, until a stop event."""

import logging

from waitress import create_server, wasyncore

from sim.gateway.web.addresses import is_loopback
from sim.gateway.web.app import make_app
from sim.gateway.web.errors import WebError

THREADS = 4                  # requests at once; logins hash in at most 2 (app.HASHING_AT_ONCE)
LOOP_S = 0.25                # how soon a set stop event is seen
MAX_HEADER_BYTES = 16384
MAX_BODY_BYTES = 65536


def check_address(host, allow_remote=False):
    """Refuse an address other machines can reach unless ``allow_remote``."""
    if not is_loopback(host) and not allow_remote:
        raise WebError(
            "refusing to listen on %s: not a loopback address, and the page shows health "
            "data and takes a password over plain HTTP; to reach it from another machine "
            "put an HTTPS reverse proxy in front of it and pass --allow-remote" % host)


def serve(db_path, host="127.0.0.1", port=8080, ready=None, stop=None, *,
          allow_remote=False, **options):
    """Serve the page over the store at ``db_path`` on ``host:port`` (port 0: any free one)
    until ``stop`` (a threading.Event) is set, or forever without one. ``ready(port)`` is
    called once listening, with the actual port. ``options`` go to make_app. WebError for
    a refused or unusable address; StoreError for a bad store."""
    # A request waiting for a free thread (logins hash at most 2 at once) is the design, not
    # a fault: waitress would print "Task queue depth is N" on the caregiver's terminal.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    host = (host or "127.0.0.1").strip("[]")
    if host.lower() == "localhost":
        host = "127.0.0.1"           # one socket: "localhost" may resolve to two
    check_address(host, allow_remote)
    if not is_loopback(host):
        options.setdefault("trusted_hosts", None)
    app = make_app(db_path, **options)
    sockets = {}
    try:
        server = create_server(app, map=sockets, host=host, port=port, threads=THREADS,
                               ident="", clear_untrusted_proxy_headers=True,
                               max_request_header_size=MAX_HEADER_BYTES,
                               max_request_body_size=MAX_BODY_BYTES)
    except (OSError, ValueError) as exc:
        raise WebError("cannot listen on %s:%d: %s"
                       % (host, port, getattr(exc, "strerror", None) or exc)) from None
    try:
        if ready is not None:
            ready(int(server.effective_port))
        while stop is None or not stop.is_set():
            wasyncore.loop(timeout=LOOP_S, map=sockets, use_poll=True, count=1)
    finally:
        server.task_dispatcher.shutdown()
        wasyncore.close_all(sockets)
