"""The gateway service run until stopped: one cycle every ``POLL_S`` (faster with
``speed``), each failure reported in one line and retried at the next cycle.

- A dead link, a crashed or rebooting pump: "pump not answering", retried; the session is
  set up again by the client when the pump answers again.
- A full disk, a locked database: the store's one-line error, retried (nothing that was
  committed is lost; the pump keeps its log until the gateway has it).
- A wrong credential (the pump refuses the handshake): reported and not retried, since
  trying again cannot help; exit 5.
"""

import sys
import threading
import time

from sim.gateway import service as G
from sim.gateway.store import Store, StoreError
from sim.gateway_client import HANDSHAKE, GatewayError

EXIT_OK = 0
EXIT_LAST_FAILED = 4         # --cycles ran out and the last cycle failed
EXIT_SESSION = 5
MAX_REFUSED_HANDSHAKES = 3    # handshakes refused in a row: the pump does not trust us
HANDSHAKE_RETRY_S = 2.0
EXIT_INTERRUPTED = 130


class SessionLink:
    """The service's client over a ``gateway_client.SessionClient``: its link failures
    become ``LinkDown``; a refused handshake stays a GatewayError (not retried)."""

    def __init__(self, session_client):
        self.client = session_client
        self.requests = 0

    @property
    def sessions(self):
        return self.client.sessions

    def request(self, name, fields):
        self.requests += 1
        try:
            return self.client.request(name, fields)
        except GatewayError as exc:
            if exc.stage == HANDSHAKE and not exc.no_answer and not exc.retry_ms:
                raise
            raise G.LinkDown(str(exc)) from None
        except OSError as exc:
            raise G.LinkDown("the link failed: %s" % (exc.strerror or exc)) from None


def accelerated(speed, clock=time.time):
    """A clock running ``speed`` times faster than ``clock`` from now on."""
    start = clock()
    return lambda: start + (clock() - start) * speed


class Monitor:
    def __init__(self, client, db_path, interval_s=G.POLL_S, speed=1.0, cycles=None,
                 out=None, err=None, clock=time.time):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.store = Store(db_path)
        self.link = SessionLink(client)
        self.service = G.Service(self.link, self.store,
                                 clock=accelerated(speed, clock) if speed != 1 else clock,
                                 adopt_pump_clock=speed != 1, note=self.say_error)
        self.wait_s = interval_s / speed
        self.cycles = cycles
        self.stop = threading.Event()
        self.idle = lambda seconds: self.stop.wait(seconds)   # between cycles

    def say(self, text):
        print(text, file=self.out, flush=True)

    def say_error(self, text):
        print("gateway: " + text, file=self.err, flush=True)

    def run(self):
        """Cycles until stopped; 0, or EXIT_SESSION for a pump that refuses this gateway,
        or EXIT_LAST_FAILED when ``cycles`` ran out on a failed cycle."""
        done = 0
        down = False
        failed = False
        refused = 0                    # handshakes refused in a row
        try:
            while not self.stop.is_set():
                failed = True
                try:
                    summary = self.service.cycle()
                    failed = False
                    refused = 0
                    if down:
                        self.say("pump answering again")
                        down = False
                    last = self.store.last_log()
                    self.say("cycle %d: %d new readings, %d new log records (log at seq %s)"
                             % (self.service.cycles, summary["readings"], summary["records"],
                                last[0] if last else "-"))
                    if self.service.diverged:
                        self.say_error("the pump's log is not filed: %s; readings and "
                                       "status still are; start a new --db to file the log"
                                       % self.service.diverged)
                except G.LinkDown as exc:
                    self.say_error("pump not answering (%s): retrying in %g s"
                                   % (exc, self.wait_s))
                    self.service.new_session()
                    down = True
                except G.PumpRefused as exc:
                    self.say_error("%s: retrying in %g s" % (exc, self.wait_s))
                except StoreError as exc:
                    self.say_error("store: %s" % exc)
                except GatewayError as exc:
                    self._record("handshake refused", str(exc))
                    refused += 1
                    if refused >= MAX_REFUSED_HANDSHAKES:
                        self.say_error("the pump refused this gateway: %s" % exc)
                        return EXIT_SESSION
                    # A damaged frame (noise, or an attacker flipping a bit or sending an
                    # EDHOC error, which is not authenticated) fails a handshake as surely
                    # as a wrong key: only a refusal that repeats ends the monitoring.
                    self.say_error("%s: trying again in %g s" % (exc, HANDSHAKE_RETRY_S))
                    self.service.new_session()
                    self.idle(HANDSHAKE_RETRY_S)
                    continue
                except Exception as exc:       # a fault here must not end the monitoring
                    self.say_error("unexpected %s: %s: retrying in %g s"
                                   % (type(exc).__name__, exc, self.wait_s))
                    self.service.new_session()
                done += 1
                if self.cycles is not None and done >= self.cycles:
                    break
                self.idle(self.wait_s)
        finally:
            self.store.close()
        return EXIT_LAST_FAILED if failed and self.cycles is not None else EXIT_OK

    def _record(self, kind, detail):
        """A security event the caregiver sees (a refused handshake: perhaps not our pump)."""
        try:
            self.store.add_security_event(kind, detail[:200], at_s=self.service.now())
        except StoreError as exc:
            self.say_error("store: %s" % exc)


def run_monitor(run, args):
    """``pumpsim gateway ... monitor``: the service (and with ``--web`` the caregiver's
    page on a thread) until SIGTERM, Ctrl-C or ``--cycles``; returns the exit status."""
    import signal
    from sim.cli import CliError
    try:
        monitor = Monitor(run.client, args.db, args.interval, args.speed, args.cycles,
                          run.stdout, run.stderr)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    proxy = None
    if args.relay is not None:
        proxy = _start_relay(monitor, run.client.gateway, args.relay, run.stdout)
    web = None
    if args.web is not None:
        web = _start_web(monitor, args.web, run.stdout)
    stopped = []

    def stop(signum, frame):
        stopped.append(signum)
        monitor.stop.set()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        status = monitor.run()
    finally:
        run.requests += monitor.link.requests
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if web is not None:
            web.set()
        if proxy is not None:
            proxy.close()
            counts = proxy.counts
            print("relayed: forwarded %d, answered %d, refused %d"
                  % (counts["forwarded"], counts["answered"], counts["refused"]),
                  file=run.stdout, flush=True)
    if signal.SIGINT in stopped:
        return EXIT_INTERRUPTED
    return status


def _start_relay(monitor, gateway, address, out):
    """A clinician's app reaches the pump through this gateway (``sim.coap_proxy``), end to
    end, between the gateway's own cycles on the same link."""
    from sim.cli import CliError
    from sim.coap_proxy import ForwardProxy
    try:
        proxy = ForwardProxy(gateway, address, "pump")
    except OSError as exc:
        raise CliError("cannot listen on %s:%d: %s"
                       % (address + (exc.strerror or exc,))) from None
    monitor.idle = lambda seconds: proxy.serve(monitor.stop.is_set, seconds)
    print("relay for coap://pump on coap://%s:%d" % proxy.address, file=out, flush=True)
    return proxy


def _start_web(monitor, address, out):
    """The caregiver's page on a thread over the same store; an account is made first. A
    refused or busy address is one line (a CliError), before the first cycle."""
    from sim.cli import CliError
    from sim.gateway import web
    host, port = address
    try:
        web.check_address(host)
    except web.WebError as exc:
        raise CliError(str(exc)) from None
    try:
        web.first_start(monitor.store.path, sys.stdin, out)
    except web.WebError as exc:
        raise CliError(str(exc)) from None
    stop = threading.Event()
    ready = threading.Event()
    where, failed = [], []

    def on_ready(actual_port):
        where.append(actual_port)
        ready.set()

    def run():
        try:
            web.serve(monitor.store.path, host, port, ready=on_ready, stop=stop)
        except Exception as exc:          # WebError, StoreError: reported by the caller
            failed.append(exc)
            ready.set()
    threading.Thread(target=run, daemon=True).start()
    ready.wait(30)
    if failed or not where:
        stop.set()
        raise CliError(str(failed[0]) if failed else "the caregiver's page did not start")
    print("caregiver's page on http://%s:%d/" % (host, where[0]), file=out, flush=True)
    return stop
