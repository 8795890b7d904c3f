"""`pumpsim gateway`: connect to a pump as a peer and send it protected requests.

    pumpsim gateway (--port PORT | --udp HOST:PORT) --identity KEY --pump CCS
                    [--timeout S] [--json] COMMAND [OPTIONS] [COMMAND [OPTIONS] ...]

Runs an EDHOC handshake with the identity given (any peer role: gateway, clinician,
patient, service; the pump's trust list decides the role and the permission matrix what
it may do), then each command in order, and prints the pump's answers:

    pumpsim gateway --port /dev/pts/5 --identity keys/gateway.key \\
        --pump keys/pump.ccs status telemetry
    pumpsim gateway --udp 127.0.0.1:5683 --identity keys/patient.key \\
        --pump keys/pump.ccs bolus 2.5
    pumpsim gateway ... temp-basal --percent 150 --minutes 30 status

``--port`` takes a serial device, a PTY slave path or a pyserial URL such as
``socket://127.0.0.1:4000`` (a pump started with ``pumpsim serve --listen``); ``--udp``
talks CoAP over UDP to a pump started with ``pumpsim serve --udp``. Options of the
gateway itself go before the first command; ``pumpsim gateway COMMAND --help`` shows a
command's own options.

Commands (one per pump-protocol request, docs/protocol.md):

  reading       status, telemetry, alarms, cgm-history, delivery-records, read-log
                (a table: seq, time, type, details), confirm-status
  insulin       bolus UNITS, cancel-bolus, temp-basal, cancel-temp-basal, suspend, resume
  settings      basal-program (48 rates), limits NAME=VALUE..., time-sync
  updates       update upload FILE, update install, update info, update confirm,
                update cancel
  service       service-reset
  home gateway  monitor [--db FILE] [--web HOST:PORT] [--relay HOST:PORT]
                [--interval S] [--speed X] [--cycles N]

Units on the command line are human ones: insulin in units (U), rates in U/h, durations
in minutes; they are converted to the pump's integers (mU, mU/h, ms) exactly, and a value
that does not convert (0.0001 U) or lies outside the schema's range is refused before
anything is sent. ``limits`` takes the pump's names with a bare integer in the name's
unit (``max_bolus_mu=8000``) or a number with a unit (``max_bolus_mu=8U``,
``max_basal_mu_h=2.5U/h``, ``max_suspend_ms=90min``, ``max_command_age_ms=30s``).

``bolus`` and ``temp-basal`` carry a command id (``--cmd-id HEX``, a fresh random one
unless given) so the pump runs a repeat once at most; its ``issued_ms`` is the pump's tick
from a ``time_sync`` sent just before (which sets the pump's wall clock from this host's).
A remote bolus may have to be confirmed on the pump's button: the command then polls
``confirm_status`` until it starts, is refused or expires, printing progress on stderr;
if ``--timeout`` passes first it cancels the waiting bolus. ``update upload`` sends the
image in chunks (begin_update, image_chunk) while the pump goes on delivering; run again
after an interruption or a pump reset, it asks the pump where it stopped (update_status)
and continues from there (the pump checks the slot against the image's SHA-256 and the
bootloader the signature before it boots it, so a resume can never make a mixed image
boot). ``update install`` asks the patient to confirm the swap on the pump's button and
waits for the press; ``update info`` shows the running version and the update's
progress (docs/updates.md).

A pump that is busy or backing off (an unprotected 5.03 with a retry time) is waited out
("pump busy, retrying in N s" on stderr), within ``--timeout``, for a handshake and for a
request that is safe to send again (one that only reads, or one with a command id).
Anyone on the wire can forge such an answer, so any other command is never sent twice.

Output: readable lines and tables on stdout, or with ``--json`` one JSON object per
answer shown (``{"request": ..., "ok": true, "fields": {...}}``; a refusal:
``{"request": ..., "ok": false, "error": {"code", "name", "reason"}}``). Commands run in
order and the first that fails ends the run: later ones are not sent.

Exit status:
  0  every command succeeded
  2  a usage or file error (bad flag, value, key file or port): nothing was sent
  3  the pump refused a command (its error name and reason on stderr), or a bolus was
     not confirmed on the pump
  4  no answer from the pump within --timeout, or the link failed
  5  the secure session failed: handshake refused (not in the pump's trust list), a
     back-off longer than --timeout, a session lost after a command that is not sent
     twice, or an answer that breaks the protocol
  130  interrupted (Ctrl-C)
"""

import argparse
import copy
import json
import os
import socket
import sys
import time

from secure_channel.protocol import schema as S
from secure_channel.protocol import resources
from secure_channel.errors import RecordError
from secure_channel.link.framed import FramedLink
from secure_channel.sessions.peer import PeerSession
from secure_channel.protocol.messages import ProtocolError
from sim import gateway_output as out
from sim import keyfiles
from sim.gateway_input import (
    MINUTES, RATE, UNITS, cmd_id_of, exact, in_field, parse_limit,
    parse_rates, request_field, validated,
)
from sim.cli import CliError, host_port, positive_seconds, read_file
from sim.gateway import update
from sim.gateway.update import DeliveryError, ImageDelivery
from sim.gateway_client import Gateway, GatewayError, tcp_nodelay

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_NO_ANSWER = 4
EXIT_SESSION = 5

DEFAULT_TIMEOUT_S = 40.0
POLL_S = 0.5                   # between confirm_status polls
NOTE_EVERY_S = 5.0             # a progress line while a bolus awaits confirmation
MAX_IMAGE = 1 << 24
MAX_CHUNK = S.MAX_CHUNK
LOG_PAGE = 32                  # read_log's largest count
MAX_LOG_COUNT = 10000


class Refused(Exception):
    """The pump answered a command with an error (or a bolus did not start)."""

    def __init__(self, command, text):
        super().__init__("%s refused: %s" % (command, text))


def positive_int(text):
    """argparse type: an integer above zero."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("%r is not a positive integer" % text)
    return int(text)


def seq_number(text):
    if not text.isdigit() or int(text) > S.U32:
        raise argparse.ArgumentTypeError("%r is not a log sequence number" % text)
    return int(text)


# -- the run -----------------------------------------------------------------------------------

class Run:
    """One connected peer running commands: asks, prints, counts."""

    def __init__(self, client, json_output, timeout_s, stdout=None, stderr=None):
        self.client = client
        self.json = json_output
        self.timeout_s = timeout_s
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.requests = 0

    def note(self, text):
        print("pumpsim gateway: %s" % text, file=self.stderr, flush=True)

    def ask_raw(self, name, fields=None):
        """The pump's answer, refusals included."""
        self.requests += 1
        return self.client.request(name, fields or {})

    def ask(self, name, fields=None, command=None, shown=False):
        """The pump's answer; a refusal raises Refused (printed as JSON first when asked
        for JSON and the answer is one shown)."""
        answer = self.ask_raw(name, fields)
        if answer.is_error:
            if shown and self.json:
                self.emit(name, answer)
            raise Refused(command or name, out.error_text(answer))
        return answer

    def emit(self, name, answer):
        """Print one answer: a JSON object, or its readable lines."""
        if self.json:
            print(json.dumps(out.answer_json(name, answer), sort_keys=True),
                  file=self.stdout, flush=True)
        else:
            self.say(*out.answer_lines(answer))

    def say(self, *lines):
        """Readable lines (nothing in JSON mode)."""
        if not self.json:
            for line in lines:
                print(line, file=self.stdout, flush=True)

    def show(self, name, fields=None, command=None):
        """Ask and print the answer."""
        answer = self.ask(name, fields, command, shown=True)
        self.emit(name, answer)
        return answer

    def pump_tick(self):
        """The pump's monotonic tick, from a time_sync (which sets its wall clock)."""
        answer = self.ask("time_sync", {"wall_s": int(time.time())}, "time-sync")
        return answer.fields["ticks_ms"]


# -- commands ----------------------------------------------------------------------------------

class Command:
    """A command word: its options, the checks before anything is sent, and its run."""

    name = ""
    help = ""
    message = None             # the protocol request, for the simple ones

    def add_arguments(self, parser):
        pass

    def prepare(self, args):
        """Check the options and build what the run needs; CliError for bad input."""
        self.args = args

    def run(self, run):
        run.show(self.message, None, self.name)


class Simple(Command):
    """A request with no options (``fields`` fixed)."""

    def __init__(self, name, message, help_text, fields=None):
        self.name = name
        self.message = message
        self.help = help_text
        self.fields = fields

    def run(self, run):
        run.show(self.message, self.fields, self.name)


class CgmHistory(Command):
    name = "cgm-history"
    help = "recent CGM readings, newest first (a table)"

    def add_arguments(self, parser):
        parser.add_argument("--count", type=positive_int, default=12, metavar="N",
                            help="readings wanted (1..24, default 12)")

    def prepare(self, args):
        self.fields = validated(self.name, "cgm_history", {"count": args.count})

    def run(self, run):
        run.show("cgm_history", self.fields, self.name)


class LogPage(Command):
    """alarms, delivery-records: one page of the log, from --from."""

    def __init__(self, name, message, help_text):
        self.name = name
        self.message = message
        self.help = help_text

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="from_seq", type=seq_number, default=0,
                            metavar="SEQ", help="first log sequence number (default 0)")
        parser.add_argument("--count", type=positive_int, default=8, metavar="N",
                            help="entries wanted (1..16, default 8)")

    def prepare(self, args):
        self.fields = validated(self.name, self.message,
                                {"from_seq": args.from_seq, "count": args.count})

    def run(self, run):
        run.show(self.message, self.fields, self.name)


class ReadLog(Command):
    name = "read-log"
    help = "audit-log records as a table: seq, time (pump wall clock, UTC), type, details"

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="from_seq", type=seq_number, metavar="SEQ",
                            help="first sequence number (default: the last --count records)")
        parser.add_argument("--count", type=positive_int, default=20, metavar="N",
                            help="records wanted (default 20; pages of %d)" % LOG_PAGE)

    def prepare(self, args):
        if args.count > MAX_LOG_COUNT:
            raise CliError("read-log: --count at most %d" % MAX_LOG_COUNT)
        self.from_seq = args.from_seq
        self.count = args.count

    def run(self, run):
        start = self.from_seq
        if start is None:             # the log's head first: an empty page past the end
            head = run.ask("read_log", {"from_seq": S.U32, "count": 1}, self.name)
            start = max(0, head.fields["head_seq"] - self.count + 1)
        records = []
        head_seq = None
        while len(records) < self.count:
            answer = run.ask("read_log", {"from_seq": start, "count": min(
                LOG_PAGE, self.count - len(records))}, self.name, shown=True)
            if run.json:
                run.emit("read_log", answer)
            page = answer.fields["records"]
            records.extend(page)
            head_seq = answer.fields["head_seq"]
            following = answer.fields["next_seq"]
            if not page or following <= start or following > head_seq:
                break
            start = following
        if records:
            run.say(*out.table(out.LOG_HEADERS, out.log_rows(records)))
        else:
            run.say("read_log: no records from #%d" % start)
        run.say("(log head #%d)" % head_seq)


class Bolus(Command):
    name = "bolus"
    help = "a bolus of UNITS (remote bolus: confirmed on the pump, which this waits for)"

    def add_arguments(self, parser):
        parser.add_argument("units", metavar="UNITS", help="dose in units, e.g. 2.5")
        parser.add_argument("--extended", metavar="MINUTES",
                            help="deliver over this many minutes (15..480)")
        parser.add_argument("--cmd-id", metavar="HEX",
                            help="command id (default: a fresh random one)")
        parser.add_argument("--no-wait", action="store_true",
                            help="do not wait for the confirmation on the pump")

    def prepare(self, args):
        mu = in_field(self.name, "bolus", "mu", exact(args.units, UNITS, self.name), UNITS)
        self.fields = {"mu": mu, "cmd_id": cmd_id_of(args.cmd_id, self.name)}
        if args.extended is not None:
            self.fields["duration_ms"] = in_field(
                "bolus --extended", "bolus", "duration_ms",
                exact(args.extended, MINUTES, "bolus --extended"), MINUTES)
        validated(self.name, "bolus", dict(self.fields, issued_ms=0))
        self.wait = not args.no_wait

    def run(self, run):
        fields = dict(self.fields, issued_ms=run.pump_tick())
        answer = run.show("bolus", fields, self.name)
        if answer.fields["status"] != S.BOLUS_AWAITING or not self.wait:
            return
        try:
            self._await(run)
        except KeyboardInterrupt:          # the patient may still press: drop it first
            try:
                run.note("bolus %s" % self._cancel(run, "interrupted"))
            except (GatewayError, OSError) as exc:
                run.note("bolus interrupted; cancelling it failed (%s): check the pump"
                         % exc)
            raise

    def _await(self, run):
        deadline = time.monotonic() + run.timeout_s
        run.note("bolus of %s awaiting confirmation on the pump: press its button "
                 "(waiting up to %g s)" % (out.units(self.fields["mu"]), run.timeout_s))
        next_note = time.monotonic() + NOTE_EVERY_S
        while True:
            time.sleep(POLL_S)
            answer = run.ask("confirm_status", {"ref": resources.REQUEST_ID}, self.name,
                             shown=True)
            if answer.fields["status"] == S.BOLUS_STARTED:
                run.emit("confirm_status", answer)
                return
            now = time.monotonic()
            if now >= deadline:
                raise Refused(self.name, self._cancel(
                    run, "not confirmed on the pump within %g s" % run.timeout_s))
            if now >= next_note:
                run.note("bolus still awaiting confirmation (%d s left)" % (deadline - now))
                next_note = now + NOTE_EVERY_S

    def _cancel(self, run, why):
        """Drop the bolus still awaiting confirmation; returns what happened, in words."""
        answer = run.ask_raw("cancel_bolus")
        if answer.is_error:
            return "%s, and cancelling it failed: %s" % (why, out.error_text(answer))
        return "%s: cancelled, %s not delivered" % (
            why, out.units(answer.fields["cancelled_mu"]))


class TempBasal(Command):
    name = "temp-basal"
    help = "a temporary basal: --percent P or --rate U/h, for --minutes M"

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--percent", type=int, metavar="P",
                           help="percent of the programmed basal")
        which.add_argument("--rate", metavar="U/H", help="absolute rate in U/h, e.g. 0.8")
        parser.add_argument("--minutes", required=True, metavar="M",
                            help="duration in minutes (>= 15)")
        parser.add_argument("--cmd-id", metavar="HEX",
                            help="command id (default: a fresh random one)")

    def prepare(self, args):
        what = self.name
        fields = {"duration_ms": in_field(what + " --minutes", "temp_basal", "duration_ms",
                                          exact(args.minutes, MINUTES, what), MINUTES)}
        if args.percent is not None:
            field = request_field("temp_basal", "percent")
            if not field.low <= args.percent <= field.high:
                raise CliError("%s: --percent %d is outside %d..%d" % (
                    what, args.percent, field.low, field.high))
            fields["percent"] = args.percent
        else:
            fields["rate_mu_h"] = in_field(what + " --rate", "temp_basal", "rate_mu_h",
                                           exact(args.rate, RATE, what), RATE)
        fields["cmd_id"] = cmd_id_of(args.cmd_id, self.name)
        validated(what, "temp_basal", dict(fields, issued_ms=0))
        self.fields = fields

    def run(self, run):
        run.show("temp_basal", dict(self.fields, issued_ms=run.pump_tick()), self.name)


class BasalProgram(Command):
    name = "basal-program"
    help = "replace the basal program: 48 half-hour rates in U/h (clinician)"

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--rates", metavar="LIST",
                            help="comma-separated U/h from midnight; RATE*N repeats one, "
                                 "e.g. 0.8*12,1.1*24,0.8*12")
        source.add_argument("--file", help="a file of the same (any white space; # comments)")

    def prepare(self, args):
        if args.file is not None:
            data = read_file(args.file, 64 * 1024, "rates file")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise CliError("%s is not a text file of rates" % args.file)
            what = "basal-program %s" % args.file
        else:
            text, what = args.rates, self.name
        self.fields = validated(self.name, "set_basal_program",
                                {"rates": parse_rates(text, what)})

    def run(self, run):
        run.show("set_basal_program", self.fields, self.name)


class Limits(Command):
    name = "limits"
    help = "change therapy limits: NAME=VALUE... (clinician)"

    def add_arguments(self, parser):
        parser.add_argument("pairs", nargs="+", metavar="NAME=VALUE",
                            help="e.g. max_bolus_mu=8U max_basal_mu_h=2.5U/h "
                                 "max_suspend_ms=90min battery_low_percent=25")

    def prepare(self, args):
        values = {}
        for pair in args.pairs:
            name, value = parse_limit(pair)
            if name in values:
                raise CliError("limits: %s given twice" % name)
            values[name] = value
        self.fields = validated(self.name, "set_limits", {"values": values})

    def run(self, run):
        run.show("set_limits", self.fields, self.name)


class TimeSync(Command):
    name = "time-sync"
    help = "set the pump's wall clock from this host's (UTC)"

    def run(self, run):
        run.show("time_sync", {"wall_s": int(time.time())}, self.name)


class Update(Command):
    name = "update"
    help = ("software update: upload FILE (resumable), install (the patient confirms on "
            "the pump), info, confirm, cancel (gateway, service)")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=("upload", "install", "info", "confirm",
                                               "cancel"), metavar="ACTION",
                            help="upload FILE, install (the staged image), info (version "
                                 "and progress), confirm (the running image), cancel")
        parser.add_argument("file", nargs="?", metavar="FILE", help="the signed image (upload)")
        parser.add_argument("--chunk", type=positive_int, default=MAX_CHUNK, metavar="BYTES",
                            help="bytes per image_chunk (1..%d, default %d)"
                                 % (MAX_CHUNK, MAX_CHUNK))
        parser.add_argument("--max-chunks", type=positive_int, metavar="N",
                            help="send at most this many chunks now; a later run continues")
        parser.add_argument("--restart", action="store_true",
                            help="drop an upload in progress and start from byte 0")

    def prepare(self, args):
        self.action = args.action
        if args.action != "upload":
            if args.file is not None:
                raise CliError("update %s takes no file" % args.action)
            return
        if args.file is None:
            raise CliError("update upload: give the image FILE")
        if args.chunk > MAX_CHUNK:
            raise CliError("update upload: --chunk at most %d bytes" % MAX_CHUNK)
        self.image = read_file(args.file, MAX_IMAGE, "pump image")
        if not self.image:
            raise CliError("%s is empty" % args.file)
        self.chunk = args.chunk
        self.max_chunks = args.max_chunks
        self.restart = args.restart
        validated("update upload", "begin_update",
                  {"size": len(self.image), "digest": b"\x00" * S.DIGEST_SIZE})

    def run(self, run):
        if self.action == "confirm":
            run.show("confirm_update", None, "update confirm")
        elif self.action == "cancel":
            run.show("cancel_update", None, "update cancel")
        elif self.action == "info":
            run.show("update_status", None, "update info")
        elif self.action == "install":
            self._install(run)
        else:
            self._upload(run)

    def _delivery(self, run, image=None, chunk=MAX_CHUNK, progress=None):
        """The gateway's one update path (sim.gateway.update), through this run's client;
        a lost link ends the run (a later run resumes from what the pump holds)."""
        client = _Asking(run)
        return ImageDelivery(client, image, chunk, progress, link_errors=())

    def _upload(self, run):
        image = self.image
        shown = [-1]

        def progress(stage, done, total):
            if stage == update.BEGIN:
                run.note("update: uploading %d bytes in chunks of %d" % (total, self.chunk))
            elif stage == update.RESUME:
                run.note("update: resuming the upload at byte %d of %d, where the pump "
                         "stopped" % (done, total))
            elif stage == update.CHUNK:
                percent = done * 100 // total
                if percent // 10 != shown[0] // 10:
                    run.note("update: %d of %d bytes (%d%%)" % (done, total, percent))
                    shown[0] = percent
        delivery = self._delivery(run, image, self.chunk, progress)
        try:
            result = delivery.upload(self.max_chunks, self.restart)
        except DeliveryError as exc:
            if run.json and exc.answer is not None:
                run.emit(exc.request, exc.answer)
            raise Refused("update upload", exc.reason)
        if not result.staged:
            run.note("update: stopped after %d chunk%s at byte %d of %d; run "
                     "`update upload` again to continue" % (
                         result.chunks, "" if result.chunks == 1 else "s", result.offset,
                         len(image)))
            if result.answer is not None:
                run.emit("image_chunk", result.answer)
            return
        if run.json:
            run.emit("update_status", result.answer)      # the pump's word: staged
        run.say("update: image of %d bytes staged and checked by the pump; `update "
                "install` asks the patient to confirm the swap on the pump" % len(image))

    def _install(self, run):
        """Ask for the install and wait (within --timeout) for the patient's press."""
        delivery = self._delivery(run)
        try:
            wait_s = delivery.install()
        except DeliveryError as exc:
            raise Refused("update install", exc.reason)
        deadline = time.monotonic() + min(run.timeout_s, wait_s + POLL_S)
        run.note("update: install awaiting confirmation on the pump: press its button "
                 "(the pump waits %d s)" % wait_s)
        try:
            while True:
                time.sleep(POLL_S)
                try:
                    phase = delivery.outcome().phase
                except (GatewayError, OSError):
                    phase = update.INSTALLING          # the pump is resetting
                if phase != update.AWAITING:
                    break
                if time.monotonic() >= deadline:
                    run.say("update: still awaiting the patient's press; `update info` "
                            "tells how it went, `update cancel` drops it")
                    return
        except KeyboardInterrupt:
            try:
                delivery.cancel()
                run.note("update install interrupted: cancelled")
            except (DeliveryError, GatewayError, OSError) as exc:
                run.note("update install interrupted; cancelling it failed (%s): check "
                         "the pump" % exc)
            raise
        if phase == update.DECLINED:
            raise Refused("update install", "not confirmed on the pump in time; the image "
                          "stays staged")
        run.say("update: confirmed on the pump: it pauses therapy and resets into the "
                "new image; `update info` tells how it went")


class _Asking:
    """``request(name, fields)`` through a Run (counted like every request it sends)."""

    def __init__(self, run):
        self.request = run.ask_raw


class MonitorCommand(Command):
    name = "monitor"
    help = ("the home gateway's service: pull status, readings and the audit log into an "
            "SQLite store every 5 minutes until stopped (docs/gateway.md)")

    def add_arguments(self, parser):
        from sim.gateway.store import DEFAULT_PATH
        parser.add_argument("--db", default=DEFAULT_PATH, metavar="FILE",
                            help="the store (default %s)" % DEFAULT_PATH)
        parser.add_argument("--interval", type=positive_seconds, default=300, metavar="S",
                            help="virtual seconds between cycles (default 300)")
        parser.add_argument("--speed", type=positive_seconds, default=1.0,
                            help="the device's --speed: cycles come that much faster, and "
                                 "the gateway takes the pump's clock as its own")
        parser.add_argument("--cycles", type=positive_int,
                            help="stop after this many cycles (default: run until stopped)")
        parser.add_argument("--web", type=host_port, metavar="HOST:PORT",
                            help="also serve the caregiver's page (docs/gateway-web.md)")
        parser.add_argument("--relay", type=host_port, metavar="HOST:PORT",
                            help="also relay a clinician's CoAP client to the pump, end to "
                                 "end (as pumpsim proxy)")

    def run(self, run):
        from sim.gateway.monitor import run_monitor
        status = run_monitor(run, self.args)
        if status:
            raise MonitorEnded(status)


class MonitorEnded(Exception):
    """The monitor stopped with this exit status (already reported)."""


COMMANDS = [
    Simple("status", "status", "full pump status"),
    Simple("telemetry", "telemetry", "the compact 5-minute telemetry"),
    LogPage("alarms", "alarms", "alarm, safe-stop and warning events (a table)"),
    CgmHistory(),
    LogPage("delivery-records", "delivery_records",
            "insulin reservations and refunds (a table)"),
    ReadLog(),
    Bolus(),
    Simple("confirm-status", "confirm_status",
           "how the last remote bolus went (awaiting, started, or why not)",
           {"ref": resources.REQUEST_ID}),             # over CoAP a bolus's id is 0
    Simple("cancel-bolus", "cancel_bolus", "stop a running bolus or drop an awaiting one"),
    TempBasal(),
    Simple("cancel-temp-basal", "cancel_temp_basal", "end a temporary basal"),
    Simple("suspend", "suspend", "suspend delivery"),
    Simple("resume", "resume", "resume delivery after a suspend"),
    BasalProgram(),
    Limits(),
    TimeSync(),
    Update(),
    Simple("service-reset", "service_reset", "clear a latched safe-stop (service)"),
    MonitorCommand(),
]
BY_WORD = dict((c.name, c) for c in COMMANDS)
_GLOBAL_OPTIONS = ("--port", "--udp", "--identity", "--pump", "--timeout", "--json")


class _CommandParser(argparse.ArgumentParser):
    """A command's own options; errors are CliErrors (one line, exit 2)."""

    def error(self, message):
        word = self.prog.split()[-1]
        if "unrecognized arguments" in message and any(
                option in message for option in _GLOBAL_OPTIONS):
            message += " (options of pumpsim gateway itself go before the first command)"
        raise CliError("%s: %s" % (word, message))


def _parser_for(command):
    parser = _CommandParser(prog="pumpsim gateway %s" % command.name,
                            description=command.help, allow_abbrev=False)
    command.add_arguments(parser)
    return parser


def _value_options(parser):
    """Option strings that take a value: the word after one is never a command."""
    names = set()
    for action in parser._actions:
        if action.option_strings and action.nargs != 0:
            names.update(action.option_strings)
    return names


def split_commands(words):
    """[(Command, its parser, its words)] from the words after the gateway's own
    options: a command word starts the next command unless it is an option's value."""
    if not words:
        raise CliError("give at least one command (%s)" % ", ".join(BY_WORD))
    segments = []
    index = 0
    while index < len(words):
        word = words[index]
        command = BY_WORD.get(word)
        if command is None:
            raise CliError("unknown command %r (commands: %s)" % (word[:32],
                                                                  ", ".join(BY_WORD)))
        parser = _parser_for(command)
        takes_value = _value_options(parser)
        end = index + 1
        while end < len(words) and not (words[end] in BY_WORD
                                         and words[end - 1] not in takes_value):
            end += 1
        segments.append((command, parser, words[index + 1:end]))
        index = end
    return segments


def prepare_commands(words):
    """Every command parsed and checked before anything is sent: a list of prepared
    Command objects, in order."""
    plans = []
    for command, parser, rest in split_commands(words):
        args, extra = parser.parse_known_args(rest)
        if extra and not extra[0].startswith("-"):
            raise CliError("unknown command %r after %s (commands: %s)"
                           % (extra[0][:32], command.name, ", ".join(BY_WORD)))
        if extra:
            parser.error("unrecognized arguments: %s" % " ".join(extra))
        fresh = copy.copy(command)          # one instance per use: `status ... status`
        fresh.prepare(args)
        plans.append(fresh)
    return plans


# -- connecting --------------------------------------------------------------------------------

def open_link(args):
    if args.udp is not None:
        from sim.coap_udp import UdpLink
        host, port = args.udp
        if port == 0:
            raise CliError("--udp: give the pump's port")
        try:
            address = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)[0][4]
        except (socket.gaierror, UnicodeError) as exc:
            raise CliError("cannot resolve %s: %s" % (host, exc))
        bind = ("127.0.0.1", 0) if address[0].startswith("127.") else ("0.0.0.0", 0)
        try:
            return UdpLink(address[:2], bind)
        except OSError as exc:
            raise CliError("cannot open UDP to %s:%d: %s" % (host, port,
                                                             exc.strerror or exc))
    from sim.transport_serial import open_serial
    try:
        transport = tcp_nodelay(open_serial(args.port))
    except Exception as exc:         # pyserial raises SerialException, ValueError, OSError
        raise CliError("cannot open %s: %s" % (args.port, str(exc).splitlines()[0]))
    return FramedLink(transport)


def cmd_gateway(args):
    plans = prepare_commands(args.commands)
    if (args.port is None) == (args.udp is None):
        raise CliError("give the pump's link: --port PORT or --udp HOST:PORT")
    if args.identity is None or args.pump is None:
        raise CliError("give --identity KEY (this peer) and --pump CCS (the pump)")
    identity = keyfiles.load_identity(args.identity)
    if identity.kind == keyfiles.PUMP:
        raise CliError("%s is the pump's identity; use a peer's" % args.identity)
    pump_credential = keyfiles.load_credential(args.pump)
    link = open_link(args)
    try:
        peer = PeerSession(identity.credential, identity.private_key, pump_credential,
                           os.urandom)
        gateway = Gateway(link, peer, timeout_s=args.timeout)
        return run_commands(gateway.client, plans, args, identity.kind)
    finally:
        link.close()


def run_commands(client, plans, args, role, stdout=None, stderr=None):
    """Run the prepared commands on ``client``; returns the exit status."""
    run = Run(client, args.json, args.timeout, stdout, stderr)
    client.patience_s = args.timeout
    client.on_wait = lambda seconds, exc: run.note(
        "pump busy, retrying in %d s" % max(1, int(seconds + 0.999)))
    started = time.monotonic()
    current = None
    try:
        for plan in plans:
            current = plan
            plan.run(run)
    except Refused as exc:
        run.note(str(exc))
        return EXIT_REFUSED
    except MonitorEnded as exc:
        return exc.args[0]
    except GatewayError as exc:
        text = str(exc)
        fields = getattr(current, "fields", None) or {}
        if "cmd_id" in fields:
            text += " (cmd_id %s)" % fields["cmd_id"].hex()
        run.note("error: %s: %s" % (current.name, text))
        return EXIT_NO_ANSWER if exc.no_answer else EXIT_SESSION
    except (ProtocolError, RecordError) as exc:
        run.note("error: %s: the pump's answer breaks the protocol: %s"
                 % (current.name, exc))
        return EXIT_SESSION
    except OSError as exc:
        run.note("error: %s: the link failed: %s"
                 % (current.name, str(exc).splitlines()[0] if str(exc) else exc))
        return EXIT_NO_ANSWER
    print("%s session: %d request%s in %.0f ms" % (
        role, run.requests, "" if run.requests == 1 else "s",
        (time.monotonic() - started) * 1000), file=run.stderr)
    return EXIT_OK


def register(subparsers):
    parser = subparsers.add_parser(
        "gateway", help="talk to a pump over a secure session",
        description=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="pumpsim gateway [-h] (--port PORT | --udp HOST:PORT) --identity KEY "
              "--pump CCS [--timeout S] [--json] COMMAND [OPTIONS] [COMMAND ...]")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--port", help="serial device, PTY or pyserial URL")
    where.add_argument("--udp", type=host_port, metavar="HOST:PORT",
                       help="the pump's CoAP-over-UDP address (pumpsim serve --udp)")
    parser.add_argument("--identity", metavar="KEY", help="this peer's identity (.key)")
    parser.add_argument("--pump", metavar="CCS", help="the pump's credential (.ccs)")
    parser.add_argument("--timeout", type=positive_seconds, default=DEFAULT_TIMEOUT_S,
                        metavar="S", help="longest wait for each answer, for a busy pump "
                        "and for a bolus confirmation (default %g s)" % DEFAULT_TIMEOUT_S)
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per answer on stdout")
    parser.add_argument("commands", nargs=argparse.REMAINDER, metavar="COMMAND",
                        help="what to do, in order (see above)")
    parser.set_defaults(func=cmd_gateway)
