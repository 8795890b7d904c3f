"""The dispatcher: a validated request, from a peer with a role, to the pump; a response back.

Order for every request (sans-IO: bytes and ticks in, bytes out):

1. schema validation (``protocol.decode_request``): a refusal answers with a schema error
   code (16..23);
2. authorization (``roles.permission``): ``forbidden`` (32); a bolus also needs remote
   bolus enabled (33) and then waits for the pump's button (``confirm.ConfirmationGate``);
3. the pump's entry point: its ``Result`` code (1..6) and reason pass through unchanged.

Audit. ``audit(op, reason)`` is called once for every refusal the secure channel decides
(steps 1-2, confirmation expiry or cancellation, and refused service steps): ``op`` is the
command name (``"message"`` when the type was unreadable), ``reason`` one line
``"<error-name>: <detail>"``. It must append the refusal to the pump's audit log (e.g. as
an ``EV_REFUSAL`` record). Refusals by the pump itself (step 3) are already logged by
the pump and are not passed to ``audit`` again. ``PowerCut`` from ``audit`` propagates;
any other exception from it is counted in ``audit_failures`` and the refusal stands.

Services the pump object does not provide are passed in: ``cgm`` (a
``telemetry.CgmBuffer``), ``log_reader`` (a window of the audit log's records,
``verified_log_reader``) and ``updater`` (``update_stager.UpdateStager``). A
request needing one that is absent is answered ``unavailable``.

Software updates (docs/updates.md): the transfer (begin_update, image_chunk) goes to the
``updater`` while therapy runs; install_update waits, like a remote bolus, for the pump's
button (a gate of its own, ``install_timeout_ms``, IL-UPDATE-CONSENT), and only then does
the pump pause therapy and the updater write the swap request: ``tick`` then answers
'install' and the main loop must reset the device into the image.

Time: ``now`` is the pump's monotonic tick (ms); ``tick(now)`` must be called from the
pump's main loop (a bolus or an install awaiting the button, a trial image's self-test).
"""

from pump import results, therapy_table as T
from pump import audit_log as L
from secure_channel import cbor
from secure_channel.protocol import confirm
from secure_channel.protocol import log_views
from secure_channel.protocol import messages as protocol
from secure_channel.protocol import roles
from secure_channel.protocol import schema as S
from secure_channel.protocol.messages import ProtocolError
from secure_channel.protocol.telemetry import age_s, status_fields, telemetry_fields
from secure_channel.protocol.update_stager import CONSENT_MS, StageError

MAX_OUTCOMES = 4          # finished confirmations kept for confirm_status
_PAGE_MARGIN = 24         # bytes kept free for the envelope around a page of records
_CHAIN_ROOM = 36          # the page's chain hash: key, byte-string head, 32 bytes


LOG_WINDOW = 64           # records a log read holds at once (a page takes fewer)


def verified_log_reader(region, key, head=None):
    """A log reader over the pump's audit-log region: ``read(start, keep=None)`` gives
    ``(records, complete)``: up to LOG_WINDOW verified records (MACs and chain checked
    from the log's start, ``pump.audit_log.records``) with seq >= start and ``keep(record)``
    true, oldest first, and whether they reach the log's end. It raises LogIntegrityError
    on a tampered log; a page holds a window, never the whole log (a board's heap cannot).

    ``head``: the live log's ``head()`` (seq, chain). Reading then goes on from where the
    last read stopped while the head has not moved (a suspended reader is a cursor; it
    keeps the last LOG_WINDOW records read, so a page that sent fewer goes on from inside
    them), so a gateway catching up page by page costs one pass over the log, not one per
    page; and a read that reaches the end checks the log reaches that head. What is served
    was verified either way; a change to the flash behind an unmoved head is found at the
    next record or boot."""
    cursor = {"head": None, "records": None, "scan": None, "next": 0, "held": []}

    def fresh(now):
        scan = L.Scan()
        cursor.update(head=now, scan=scan, records=L.records(region, key, scan), next=0,
                      held=[])

    def read(start, keep=None):
        now = head() if head is not None else None
        held = cursor["held"]           # the last LOG_WINDOW records read, before "next"
        if head is None or cursor["head"] != now or cursor["scan"] is None or \
                start < (held[0].seq if held else cursor["next"]):
            fresh(now)
            held = cursor["held"]
        found = [record for record in held
                 if record.seq >= start and (keep is None or keep(record))]
        if len(found) >= LOG_WINDOW:
            return found[:LOG_WINDOW], False
        for record in cursor["records"]:
            cursor["next"] = record.seq + 1
            held.append(record)
            if len(held) > LOG_WINDOW:
                del held[0]
            if record.seq >= start and (keep is None or keep(record)):
                found.append(record)
                if len(found) == LOG_WINDOW:
                    return found, False
        L.check_read(cursor["scan"], now)        # read to the end: it must reach the head
        return found, True
    return read


class Dispatcher:
    def __init__(self, pump, audit, ui=None, cgm=None, log_reader=None, updater=None,
                 remote_bolus=False, confirm_timeout_ms=confirm.DEFAULT_TIMEOUT_MS,
                 install_timeout_ms=CONSENT_MS):
        if not callable(audit):
            raise ValueError("audit must be a callable audit(op, reason)")
        self.pump = pump
        self.audit = audit
        self.ui = ui if ui is not None else pump.hw.ui
        self.cgm = cgm
        self.log_reader = log_reader
        self.updater = updater
        self.remote_bolus = remote_bolus is True
        self.gate = confirm.ConfirmationGate(self.ui, confirm_timeout_ms)
        self.install_gate = confirm.ConfirmationGate(self.ui, install_timeout_ms, "Update")
        self.outcomes = []         # [(role, ref, kind, payload)], newest last
        self.refusals = {}         # error code -> count, for every refusal answered
        self.audit_failures = 0
        self.faults = 0            # unexpected exceptions contained (should stay 0)
        self.permission = roles.permission     # (role, command) -> allow, deny, confirm
        self._handlers = {
            "status": self._status, "telemetry": self._telemetry,
            "cgm_history": self._cgm_history, "delivery_records": self._delivery_records,
            "alarms": self._alarms, "bolus": self._bolus, "cancel_bolus": self._cancel_bolus,
            "temp_basal": self._temp_basal,
            "cancel_temp_basal": self._simple(lambda p: p.cancel_temp_basal()),
            "suspend": self._simple(lambda p: p.suspend()),
            "resume": self._simple(lambda p: p.resume()),
            "set_basal_program": self._simple_field(
                "rates", lambda p, v: p.set_basal_program(v)),
            "set_limits": self._simple_field("values", lambda p, v: p.set_limits(v)),
            "time_sync": self._time_sync, "read_log": self._read_log,
            "begin_update": self._begin_update, "image_chunk": self._image_chunk,
            "confirm_update": self._confirm_update, "cancel_update": self._cancel_update,
            "update_status": self._update_status, "install_update": self._install_update,
            "confirm_status": self._confirm_status,
            "service_reset": self._simple(lambda p: p.service_reset(True)),
            "cgm_reading": self._cgm_reading,
        }

    # -- refusals ------------------------------------------------------------------------
    def _count(self, code):
        self.refusals[code] = self.refusals.get(code, 0) + 1

    def _audit(self, op, code, detail):
        try:
            self.audit(op, "%s: %s" % (S.ERROR_NAMES.get(code, str(code)), detail))
        except Exception:          # the refusal stands even if it could not be logged
            self.audit_failures += 1

    def _refuse(self, request_id, msg_type, op, code, detail):
        """Answer a refusal decided here, and audit it."""
        self._count(code)
        self._audit(op, code, detail)
        return protocol.encode_error(request_id, code, detail, msg_type)

    def refuse(self, op, code, detail, msg_type=None):
        """Refuse a request before it became a protocol message (``resources``: path,
        method, options, query, payload): counted and audited like every refusal decided
        here; returns the error response bytes (no id)."""
        return self._refuse(None, msg_type, op, code, detail)

    def _pump_refused(self, request, result):
        """Pass the pump's refusal through; the pump has logged it already."""
        self._count(result.code)
        return protocol.encode_error(request.id, result.code, result.reason,
                                     request.message.code)

    # -- entry points --------------------------------------------------------------------
    def handle(self, data, role, now):
        """Answer one request from a peer authenticated as ``role``; returns response bytes."""
        return self._answer(protocol.decode_request, data, role, now)

    def handle_map(self, raw, role, now):
        """``handle`` for a request already decoded from CBOR (the CoAP resources have
        it as a map): no encoding to decode again."""
        return self._answer(protocol.parse_request, raw, role, now)

    def _answer(self, parse, data, role, now):
        try:
            request = parse(data)
        except ProtocolError as err:
            message = S.BY_CODE.get(err.msg_type)
            op = message.name if message is not None else "message"
            return self._refuse(err.msg_id, err.msg_type, op, err.code, err.reason)
        name = request.name
        try:
            allowed = self.permission(role, name)
            if allowed == roles.DENY:
                return self._refuse(request.id, request.message.code, name, S.FORBIDDEN,
                                    "role %s may not send %s" % (_role_text(role), name))
            if allowed == roles.CONFIRM and not self.remote_bolus:
                return self._refuse(request.id, request.message.code, name,
                                    S.REMOTE_BOLUS_OFF, "remote bolus is disabled")
            return self._handlers[name](request, role, now, allowed)
        except Exception as exc:       # a bug here must not take the pump down; 0 in tests
            self.faults += 1
            return self._refuse(request.id, request.message.code, name, results.ERR_INTERNAL,
                                "dispatcher fault %s" % type(exc).__name__)

    def tick(self, now):
        """Resolve a bolus or an install awaiting confirmation, and an update's own steps;
        returns [(event, role, ref)] where event is, for a bolus, 'started', 'refused' (by
        the pump) or 'expired'; for an install, 'install' (reset now into the staged
        image), 'install-refused' or 'install-expired'; and from the updater,
        'install-withdrawn', 'update-confirmed' or 'update-revert' (reset now: the trial
        image failed its self-test, the bootloader reverts it)."""
        events = self._bolus_tick(now)
        if self.updater is not None:
            events.extend(self._install_tick(now))
            events.extend(self.updater.tick(self.pump))
        return events

    def _bolus_tick(self, now):
        event, pending = self.gate.poll(now)
        if event is None:
            return []
        if event == confirm.EXPIRED:
            self._count(S.CONFIRM_EXPIRED)
            self._audit("bolus", S.CONFIRM_EXPIRED, "request %d from %s not confirmed"
                        % (pending.ref, pending.role))
            self._remember(pending.role, pending.ref, "error",
                           (S.CONFIRM_EXPIRED, "not confirmed on the pump in time"))
            return [("expired", pending.role, pending.ref)]
        result = self._start_bolus(pending.fields)
        if result.ok:
            self._remember(pending.role, pending.ref, "ok", result.value)
            return [("started", pending.role, pending.ref)]
        self._count(result.code)
        self._remember(pending.role, pending.ref, "error", (result.code, result.reason))
        return [("refused", pending.role, pending.ref)]

    def _remember(self, role, ref, kind, payload):
        self.outcomes = [o for o in self.outcomes if (o[0], o[1]) != (role, ref)]
        self.outcomes.append((role, ref, kind, payload))
        del self.outcomes[:-MAX_OUTCOMES]

    # -- handlers ------------------------------------------------------------------------
    def _reply(self, request, fields=None):
        return protocol.encode_response(request.name, request.id, fields)

    def _simple(self, call):
        def handler(request, role, now, allowed):
            result = call(self.pump)
            return self._reply(request) if result.ok else self._pump_refused(request, result)
        return handler

    def _simple_field(self, field, call):
        def handler(request, role, now, allowed):
            result = call(self.pump, request.fields[field])
            return self._reply(request) if result.ok else self._pump_refused(request, result)
        return handler

    def _status(self, request, role, now, allowed):
        return self._reply(request, status_fields(self.pump.status(), self.remote_bolus,
                                                  self.gate.pending is not None))

    def _telemetry(self, request, role, now, allowed):
        reading = self.cgm.latest() if self.cgm is not None else None
        return self._reply(request, telemetry_fields(self.pump.status(), reading, now))

    def _cgm_history(self, request, role, now, allowed):
        if self.cgm is None:
            return self._unavailable(request, "no CGM is paired")
        readings = [[mg_dl, trend, age_s(now, tick)]
                    for tick, mg_dl, trend in self.cgm.recent(request.fields["count"])]
        return self._reply(request, {"readings": readings})

    def _start_bolus(self, fields):
        return self.pump.bolus(fields["mu"], cmd_id=fields.get("cmd_id"),
                               issued_ms=fields.get("issued_ms"),
                               duration_ms=fields["duration_ms"])

    def _bolus(self, request, role, now, allowed):
        if allowed == roles.CONFIRM:
            if not self.gate.begin(request.id, role, request.fields, now):
                return self._refuse(request.id, request.message.code, "bolus",
                                    S.CONFIRM_BUSY, "another bolus awaits confirmation")
            self._remember(role, request.id, "awaiting", None)
            return self._reply(request, {"status": S.BOLUS_AWAITING})
        result = self._start_bolus(request.fields)
        if not result.ok:
            return self._pump_refused(request, result)
        return self._reply(request, {"status": S.BOLUS_STARTED, "mu": result.value})

    def _cancel_bolus(self, request, role, now, allowed):
        dropped = self.gate.cancel()
        if dropped is not None:
            self._count(S.CONFIRM_CANCELLED)
            self._audit("bolus", S.CONFIRM_CANCELLED, "request %d from %s cancelled by %s"
                        % (dropped.ref, dropped.role, _role_text(role)))
            self._remember(dropped.role, dropped.ref, "error",
                           (S.CONFIRM_CANCELLED, "cancelled before confirmation"))
            if not self.pump.status()["bolus_left_mu"]:
                return self._reply(request, {"cancelled_mu": 0})
        result = self.pump.cancel_bolus()
        if not result.ok:
            return self._pump_refused(request, result)
        return self._reply(request, {"cancelled_mu": result.value or 0})

    def _confirm_status(self, request, role, now, allowed):
        ref = request.fields["ref"]
        pending = self.gate.pending
        if pending is not None and pending.role == role and pending.ref == ref:
            return self._reply(request, {"status": S.BOLUS_AWAITING})
        for who, which, kind, payload in self.outcomes:
            if who == role and which == ref and kind != "awaiting":
                if kind == "ok":
                    return self._reply(request, {"status": S.BOLUS_STARTED, "mu": payload})
                code, reason = payload
                return protocol.encode_error(request.id, code, reason, request.message.code)
        return self._refuse(request.id, request.message.code, "confirm_status",
                            S.NO_PENDING, "no remote bolus %d from this peer" % ref)

    def _temp_basal(self, request, role, now, allowed):
        f = request.fields
        result = self.pump.temp_basal(f["duration_ms"], percent=f.get("percent"),
                                      rate_mu_h=f.get("rate_mu_h"), cmd_id=f.get("cmd_id"),
                                      issued_ms=f.get("issued_ms"))
        return self._reply(request) if result.ok else self._pump_refused(request, result)

    def _cgm_reading(self, request, role, now, allowed):
        f = request.fields
        result = self.pump.cgm_reading(f["mg_dl"], f["measured_ms"])
        if not result.ok:
            return self._pump_refused(request, result)
        if self.cgm is not None:               # what telemetry and cgm_history report
            self.cgm.add(f["measured_ms"], f["mg_dl"], f.get("trend", 0))
        return self._telemetry(request, role, now, allowed)

    def _time_sync(self, request, role, now, allowed):
        result = self.pump.set_wall_clock(request.fields["wall_s"])
        if not result.ok:
            return self._pump_refused(request, result)
        return self._reply(request, {"ticks_ms": now})

    # -- the audit log -------------------------------------------------------------------
    def _page(self, request, window, convert, list_name, extra=None, chained=False):
        """Fill one response with converted records until count or the size budget.
        ``chained``: the page carries the chain hash after its last record and ends after
        a record sent without its data, so a reader can check every other record.
        ``window``: the log reader's (records, complete)."""
        records, complete = window
        count = request.fields["count"]
        budget = S.MAX_MESSAGE - _PAGE_MARGIN - (_CHAIN_ROOM if chained else 0)
        items = []
        used = 0
        next_seq = request.fields["from_seq"]
        head = self.pump.log_head()[0]
        last = None
        for record in records:
            item = convert(record)
            next_seq = record.seq + 1
            if item is None:
                continue
            size = len(cbor.encode(item))
            if used + size > budget or len(items) == count:
                next_seq = record.seq
                break
            items.append(item)
            used += size
            last = record
            if chained and item[4] is None:
                break
        else:
            if complete:
                next_seq = max(next_seq, head + 1)
        fields = {list_name: items, "next_seq": min(next_seq, S.U32)}
        if chained and last is not None and last.chain is not None:
            fields["chain"] = last.chain
        if extra:
            fields.update(extra)
        return self._reply(request, fields)

    def _log_request(self, request, convert, list_name, extra=None, chained=False):
        if self.log_reader is None:
            return self._unavailable(request, "no audit-log reader")
        keep = None if chained else (lambda record: convert(record) is not None)
        try:
            window = self.log_reader(request.fields["from_seq"], keep)
        except L.LogIntegrityError as exc:
            self.pump.log_damaged(str(exc))
            return self._refuse(request.id, request.message.code, request.name,
                                results.ERR_INTERNAL, "log integrity: %s" % exc)
        return self._page(request, window, convert, list_name, extra, chained)

    def _read_log(self, request, role, now, allowed):
        budget = S.MAX_MESSAGE - _PAGE_MARGIN - 16

        def convert(record):
            item = [record.seq, record.tick, record.wall, record.type, record.data]
            if len(cbor.encode(item)) > budget:
                item[4] = None
            return item
        head = {"head_seq": self.pump.log_head()[0]}
        return self._log_request(request, convert, "records", head, chained=True)

    def _delivery_records(self, request, role, now, allowed):
        def convert(record):
            mu = log_views.delivery(record.type, record.data)
            return None if mu is None else [record.seq, record.wall, mu[0], mu[1]]
        return self._log_request(request, convert, "records")

    def _alarms(self, request, role, now, allowed):
        def convert(record):
            event = log_views.alarm(record.type, record.data)
            return None if event is None else [record.seq, record.wall, event[0], event[1]]
        return self._log_request(request, convert, "events")

    # -- updates -------------------------------------------------------------------------
    def _unavailable(self, request, detail):
        return self._refuse(request.id, request.message.code, request.name, S.UNAVAILABLE,
                            detail)

    def _stage_refused(self, request, exc):
        return self._refuse(request.id, request.message.code, request.name,
                            S.UPDATE_REFUSED, str(exc))

    def _begin_update(self, request, role, now, allowed):
        if self.updater is None:
            return self._unavailable(request, "no update stager")
        result = self.pump.begin_update(request.fields["size"])     # logged; therapy goes on
        if not result.ok:
            return self._pump_refused(request, result)
        try:
            self.updater.begin(request.fields["size"], request.fields["digest"])
        except StageError as exc:
            return self._stage_refused(request, exc)
        self._drop_install("a new transfer began")
        return self._reply(request)

    def _image_chunk(self, request, role, now, allowed):
        if self.updater is None:
            return self._unavailable(request, "no update stager")
        try:
            self.updater.write(request.fields["offset"], request.fields["data"])
        except StageError as exc:
            return self._stage_refused(request, exc)
        return self._reply(request)           # held up to the chunk's end (staged if last)

    def _update_status(self, request, role, now, allowed):
        if self.updater is None:
            return self._unavailable(request, "no update stager")
        fields = self.updater.status_fields()
        if self.install_gate.pending is not None and fields["phase"] == S.UPDATE_STAGED:
            fields["phase"] = S.UPDATE_AWAITING
        return self._reply(request, fields)

    def _install_update(self, request, role, now, allowed):
        if self.updater is None:
            return self._unavailable(request, "no update stager")
        try:
            self.updater.check_staged()
        except StageError as exc:
            return self._stage_refused(request, exc)
        blocked = self.pump.install_blocked()
        if blocked:
            return self._refuse(request.id, request.message.code, "install_update",
                                results.ERR_GUARD if blocked.startswith("IL-")
                                else results.ERR_STATE, blocked)
        if not self.install_gate.begin(request.id, role, {}, now,
                                       self.updater.install_prompt()):
            return self._refuse(request.id, request.message.code, "install_update",
                                S.CONFIRM_BUSY, "an install already awaits confirmation")
        return self._reply(request, {"wait_s": self.install_gate.timeout_ms // 1000})

    def _install_tick(self, now):
        """The patient's press for an install: pause therapy, then write the request."""
        event, pending = self.install_gate.poll(now)
        if event is None:
            return []
        if event == confirm.EXPIRED:
            self._count(S.CONFIRM_EXPIRED)
            self._audit("install_update", S.CONFIRM_EXPIRED, "install %d from %s not "
                        "confirmed on the pump" % (pending.ref, pending.role))
            return [("install-expired", pending.role, pending.ref)]
        result = self.pump.install_update(True)      # the pump logs its own refusal
        if not result.ok:
            self._count(result.code)
            return [("install-refused", pending.role, pending.ref)]
        try:
            self.updater.install()
        except StageError as exc:
            self.pump.cancel_update()               # no request, no reset: therapy back
            self._count(S.UPDATE_REFUSED)
            self._audit("install_update", S.UPDATE_REFUSED, str(exc))
            return [("install-refused", pending.role, pending.ref)]
        return [("install", pending.role, pending.ref)]

    def _drop_install(self, why):
        if self.install_gate.cancel() is not None:
            self._count(S.CONFIRM_CANCELLED)
            self._audit("install_update", S.CONFIRM_CANCELLED, why)

    def _confirm_update(self, request, role, now, allowed):
        if self.updater is None:
            return self._unavailable(request, "no update stager")
        try:
            self.updater.confirm()
        except StageError as exc:
            return self._stage_refused(request, exc)
        return self._reply(request)

    def _cancel_update(self, request, role, now, allowed):
        """Drop whatever the update holds; in the pause for a swap, therapy comes back."""
        if self.pump.state == T.UPDATE_PENDING:
            result = self.pump.cancel_update()
            if not result.ok:
                return self._pump_refused(request, result)
        self._drop_install("cancelled by %s" % _role_text(role))
        if self.updater is not None:
            self.updater.cancel()
        return self._reply(request)


def _role_text(role):
    return role if role in roles.ROLES else "unknown"
