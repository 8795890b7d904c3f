"""Every refusal of the session layer, counted and written to the pump's audit log.

``refuse(op, code, detail, now)`` counts the refusal under its stable name and passes one
line ``"<NAME>: <detail>"`` to ``audit(op, reason)`` (``Pump.record_refusal``). The
audit log lives in flash and is a ring, so a flood of forged frames must neither wear
the flash out, nor push older evidence out of the ring, nor eat the main loop's time. So
each window of ``window_ms`` ticks writes at most ``budget`` records one by one; the
refusals beyond that are counted and, when the window ends, written as one summary
record, ``"SESSION-SUMMARY: <n> more: <NAME>=<count> ..."`` (continued in
``"SESSION-SUMMARY+: ..."`` records when the counts do not fit one). Every refusal thus
reaches the log: on its own line, or counted in a summary. A power cut loses at most the
counts of the current window.

``PowerCut`` from ``audit`` propagates (the pump's power-loss handling owns it); any
other exception is counted in ``audit_failures`` and the refusal stands.
"""

from secure_channel import errors
from secure_channel.sessions import wire as session_wire

BUDGET = 16
WINDOW_MS = 60000
_MAX_REASON = 80


def name_of(code):
    """The stable name of a refusal code (secure-channel error, session code or text)."""
    if isinstance(code, str):
        return code
    name = errors.NAMES.get(code)
    if name is None:
        name = session_wire.SESSION_NAMES.get(code, str(code))
    return name


class RefusalLog:
    def __init__(self, audit, budget=BUDGET, window_ms=WINDOW_MS):
        if not callable(audit):
            raise ValueError("audit must be a callable audit(op, reason)")
        self.audit = audit
        self.budget = budget
        self.window_ms = window_ms
        self.counts = {}          # name -> refusals, ever
        self.total = 0
        self.logged = 0           # refusals written one by one
        self.summarized = 0       # refusals written as part of a summary
        self.audit_failures = 0
        self._window_start = None
        self._in_window = 0
        self._suppressed = {}     # name -> count in this window beyond the budget

    def refuse(self, op, code, detail, now):
        """Count one refusal and log it (or keep it for the window's summary)."""
        name = name_of(code)
        self.counts[name] = self.counts.get(name, 0) + 1
        self.total += 1
        self.flush(now)
        if self._window_start is None:
            self._window_start = now
        if self._in_window < self.budget:
            self._in_window += 1
            self.logged += 1
            self._write(op, ("%s: %s" % (name, detail))[:_MAX_REASON])
        else:
            self._suppressed[name] = self._suppressed.get(name, 0) + 1

    def flush(self, now, force=False):
        """End the window if it is over (or ``force``): write its summary, if any."""
        if self._window_start is None:
            return
        if not force and now - self._window_start < self.window_ms:
            return
        suppressed = self._suppressed
        self._window_start = None
        self._in_window = 0
        self._suppressed = {}
        if suppressed:
            count = 0
            parts = []
            for name in sorted(suppressed):
                count += suppressed[name]
                parts.append("%s=%d" % (name, suppressed[name]))
            self.summarized += count
            line = "SESSION-SUMMARY: %d more:" % count
            for part in parts:              # as many records as the counts need
                if len(line) + 1 + len(part) > _MAX_REASON:
                    self._write("session", line)
                    line = "SESSION-SUMMARY+:"
                line += " " + part
            self._write("session", line)

    def _write(self, op, reason):
        try:
            self.audit(op, reason)
        except Exception:            # the refusal stands even if it could not be logged
            self.audit_failures += 1

    @property
    def pending(self):
        """Refusals counted in this window but not yet written (the next summary)."""
        total = 0
        for name in self._suppressed:
            total += self._suppressed[name]
        return total
