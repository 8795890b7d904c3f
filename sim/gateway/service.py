"""The gateway service: every few minutes, pull what the pump has and file it in the store.

One cycle (``Service.cycle``) over any client with ``request(name, fields)``: the pump's
status; its clock, kept within bounds; its recent CGM readings; its audit log from the
first record not yet stored, page by page, with the chain checked. The same code runs in
fast mode (``sim.loop``, the in-memory link, virtual time) and against a pump in another
process (``pumpsim gateway ... monitor``, over a PTY, a serial port or UDP).

What makes it safe to kill at any moment: every page of records is committed with the
rows derived from it, and where to go on is read back from the store, never kept only in
memory. A restarted gateway asks for the first record it does not have.

The clock. The pump's basal program runs on its wall clock, so whoever sets that clock
chooses which rate runs. The gateway steps it only by up to ``MAX_CLOCK_STEP_S``: a larger
difference means one of the two clocks is wrong (or the gateway's time source lies), so
it is refused, recorded on both sides (the pump logs every change it makes; the gateway
stores the refusal and a security event) and shown to the caregiver, not silently applied.

The chain. Each read_log page carries the chain hash after its last record. From the hash
after the last stored record the gateway recomputes every record's hash and must arrive
at the pump's: a log that no longer extends what was stored (rolled back, replaced,
restarted) is a security event and nothing more of it is stored. A record too large to be
sent (a checkpoint) ends its page and is taken on the pump's word (``verified`` 0), as is
the first page when the pump's oldest record is no longer its first.
"""

import time

from pump import audit_log as L
from secure_channel import cbor
from secure_channel.crypto import constant_time_equal, sha256
from secure_channel.protocol import schema as S

POLL_S = 300                  # one cycle per 5 minutes, the sensor's period
CLOCK_CHECK_S = 3600          # the clock is checked hourly and after every new session
CLOCK_TOLERANCE_S = 2         # closer than this: left alone
MAX_CLOCK_STEP_S = 300        # farther than this: refused and alarmed
LOG_PAGE = 32
CGM_HISTORY = 24              # two hours: the gap a cycle can still fill
STATE_NAMES = {code: name for name, code in S.STATE_CODES.items()}


class LinkDown(Exception):
    """The pump did not answer (dead link, crashed or rebooting pump): retried later."""


class PumpRefused(Exception):
    """The pump refused a request of the gateway's (a wrong credential, a role)."""


class Service:
    def __init__(self, client, store, clock=time.time, adopt_pump_clock=False,
                 note=None):
        """``client.request(name, fields)`` -> parsed answer, raising ``LinkDown``.
        ``adopt_pump_clock``: in accelerated time the gateway's own clock means nothing,
        so it takes the pump's at the first status and keeps the bound from there."""
        self.client = client
        self.store = store
        self._clock = clock
        self._offset = None if adopt_pump_clock else 0
        self.note = note or (lambda text: None)
        self._clock_checked = None
        self._refused_step = None
        self.diverged = store.meta("log_diverged")
        self.cycles = 0
        self._sessions = None

    def now(self):
        return int(self._clock() + (self._offset or 0))

    def _ask(self, name, fields=None):
        answer = self.client.request(name, fields or {})
        if answer.is_error:
            raise PumpRefused("%s refused: %s" % (name, answer.fields.get("reason", "?")))
        return answer.fields

    # -- one cycle --------------------------------------------------------------------------
    def cycle(self):
        """Pull status, clock, readings and log; returns what was stored. Everything is
        asked for first and then written in one transaction (no write lock is held while
        the link is waited on); a backlog of log pages then commits page by page."""
        status = self._ask("status")
        self._note_sessions()
        pump_s = status.get("wall_s")
        if self._offset is None and pump_s is not None:
            self._offset = pump_s - self._clock()
            self.store.add_clock_sync(pump_s, 0, True, "gateway clock taken from the pump "
                                                      "(accelerated time)")
        self._check_clock(pump_s)
        history = self._ask("cgm_history", {"count": CGM_HISTORY})["readings"]
        page, more = self._next_page()
        with self.store.transaction():
            self.store.add_status(self._status_row(status), at_s=self.now())
            # dated on the gateway's clock: a reading's age is counted on the pump's
            # monotonic tick, so a wrong pump wall clock cannot misdate it
            now = self.now()
            readings = self.store.add_readings(
                [(now - age, mg_dl, trend) for mg_dl, trend, age in history], source="pump")
            if page:
                self.store.add_log_page(page)
        records = len(page) + (self.catch_up_log() if more else 0)
        self.cycles += 1
        return {"readings": readings, "records": records}

    def new_session(self):
        """The pump may have rebooted: check its clock at the next cycle."""
        self._clock_checked = None

    def _note_sessions(self):
        """A session the client set up since the last cycle (``client.sessions`` counts
        its handshakes): stored, and the clock checked again (the pump may have
        rebooted)."""
        count = getattr(self.client, "sessions", None)
        if count is None or count == self._sessions:
            return
        if self._sessions is not None or count:
            self.store.add_session("pump", "established", "EDHOC handshake %d of this "
                                   "gateway run" % count)
        if self._sessions is not None:
            self.new_session()
        self._sessions = count

    @staticmethod
    def _status_row(status):
        return {"state": STATE_NAMES.get(status["state"], str(status["state"])),
                "alarm": status.get("alarm"), "iob_mu": status["iob_mu"],
                "reservoir_mu": status["reservoir_mu"],
                "battery_percent": status["battery_percent"],
                "basal_mu_h": status["basal_mu_h"]}

    # -- the clock --------------------------------------------------------------------------
    def _check_clock(self, pump_s):
        now = self.now()
        if pump_s is None or (self._clock_checked is not None and
                              now - self._clock_checked < CLOCK_CHECK_S):
            return
        self._clock_checked = now
        step = now - pump_s
        if abs(step) <= CLOCK_TOLERANCE_S:
            self._refused_step = None
            return
        if abs(step) > MAX_CLOCK_STEP_S:
            if self._refused_step is None or abs(step - self._refused_step) > MAX_CLOCK_STEP_S:
                detail = ("the pump's clock is %+d s from the gateway's, beyond the %d s "
                          "bound: not stepped; check both clocks" % (step, MAX_CLOCK_STEP_S))
                self.store.add_clock_sync(pump_s, step, False, detail)
                self.store.add_security_event("clock step refused", detail, at_s=now)
                self.note(detail)
            self._refused_step = step
            return
        self._refused_step = None
        self._ask("time_sync", {"wall_s": now})
        self.store.add_clock_sync(pump_s, step, True, "pump clock stepped %+d s" % step)

    # -- the audit log ----------------------------------------------------------------------
    def catch_up_log(self):
        """Pages of the pump's log from the first record not stored, until its head, each
        committed on its own. Returns how many records were stored."""
        stored = 0
        while True:
            page, more = self._next_page()
            if page:
                self.store.add_log_page(page)
                stored += len(page)
            if not more:
                return stored

    def _next_page(self):
        """The next page of checked records to store, and whether more follow; ([], False)
        once caught up or when the log no longer extends what is stored."""
        if self.diverged:
            return [], False
        last = self.store.last_log()
        from_seq = 1 if last is None else last[0] + 1
        page = self._ask("read_log", {"from_seq": from_seq, "count": LOG_PAGE})
        if last is not None and page["head_seq"] < last[0]:
            self._diverge("the pump's log ends at seq %d, before the %d already stored: "
                          "restarted or rolled back" % (page["head_seq"], last[0]))
            return [], False
        records = page["records"]
        if not records:
            return [], False
        checked = self._check_page(last, records, page.get("chain"))
        if checked is None:
            return [], False
        return checked, page["next_seq"] <= page["head_seq"]

    def _check_page(self, last, records, page_chain):
        """Records with their chain hashes and whether each was recomputed here; None
        (and a security event) if the page does not extend what is stored."""
        if last is None:
            chain = L.GENESIS if records[0][0] == 1 else None
        else:
            chain = last[1]
            if records[0][0] != last[0] + 1:
                self._diverge("the pump sent seq %d after the stored %d"
                              % (records[0][0], last[0]))
                return None
        out = []
        for seq, tick, wall, rtype, data in records:
            if chain is not None and data is not None:
                chain = sha256(chain + cbor.encode([seq, tick, wall, rtype, data]))
                out.append([seq, tick, wall, rtype, data, chain, True])
            else:
                chain = None
                out.append([seq, tick, wall, rtype, data, None, False])
        if page_chain is None:
            self._diverge("the pump's log page carries no chain hash")
            return None
        if chain is not None and not constant_time_equal(chain, page_chain):
            self._diverge("the pump's log does not extend the records stored up to seq %d: "
                          "replaced or rolled back" % (records[0][0] - 1))
            return None
        out[-1][5] = page_chain           # the hash the next page goes on from
        return out

    def _diverge(self, detail):
        self.diverged = detail
        self.store.set_meta("log_diverged", detail)
        self.store.add_security_event("audit log diverged", detail, at_s=self.now())
        self.note(detail)
