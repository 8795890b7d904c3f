"""Pending confirmation of a remote bolus on the pump's button, on monotonic ticks. Sans-IO.

A remote bolus never starts on the message alone: ``begin`` shows the dose on the pump's
display and waits (the swap into a software update waits the same way, with its own
gate and ``subject``); each ``poll(now)`` (from the pump's main loop) reads the button
through the HAL (``ui.confirm_pressed()``) and answers CONFIRMED, EXPIRED or nothing yet.
One request waits at a time. Time is the monotonic tick passed in, never the wall clock,
so setting the clock cannot stretch or end the window.

A press that happened before the request is not a confirmation: ``begin`` reads the button
once and discards it. Expiry is checked before the button, so a press at or after the
deadline does not count.

States: IDLE -> AWAITING (begin) -> IDLE (poll: confirmed or expired; or cancel).
"""

IDLE = "idle"
AWAITING = "awaiting"

CONFIRMED = "confirmed"
EXPIRED = "expired"

DEFAULT_TIMEOUT_MS = 30000


class Pending:
    """The request waiting: its id, the requester's role, its fields and its deadline."""

    __slots__ = ("ref", "role", "fields", "deadline")

    def __init__(self, ref, role, fields, deadline):
        self.ref = ref
        self.role = role
        self.fields = fields
        self.deadline = deadline


def units_text(mu):
    """mU as a display string in units, without floats: 2500 -> '2.500 U'."""
    return "%d.%03d U" % (mu // 1000, mu % 1000)


class ConfirmationGate:
    def __init__(self, ui, timeout_ms=DEFAULT_TIMEOUT_MS, subject="Remote bolus"):
        if not isinstance(timeout_ms, int) or isinstance(timeout_ms, bool) \
                or not 1000 <= timeout_ms <= 300000:
            raise ValueError("confirmation timeout must be 1..300 s in ms")
        self.ui = ui
        self.timeout_ms = timeout_ms
        self.subject = subject
        self.pending = None

    @property
    def state(self):
        return IDLE if self.pending is None else AWAITING

    def begin(self, ref, role, fields, now, prompt=None):
        """Start waiting for ``fields`` (a bolus request); False if one already waits.
        ``prompt``: what the display asks instead of the bolus dose."""
        if self.pending is not None:
            return False
        self.ui.confirm_pressed()                 # discard a press made before the request
        self.pending = Pending(ref, role, fields, now + self.timeout_ms)
        if prompt is None:
            prompt = "%s %s: press OK to confirm" % (self.subject, units_text(fields["mu"]))
        self.ui.show(prompt)
        return True

    def cancel(self):
        """Stop waiting; returns the Pending that was dropped, or None."""
        pending, self.pending = self.pending, None
        if pending is not None:
            self.ui.show("%s cancelled" % self.subject)
        return pending

    def poll(self, now):
        """(CONFIRMED or EXPIRED, Pending) when the wait ends at ``now``, else (None, None)."""
        pending = self.pending
        if pending is None:
            return None, None
        pressed = self.ui.confirm_pressed()
        if now >= pending.deadline:
            self.pending = None
            self.ui.show("%s not confirmed: expired" % self.subject)
            return EXPIRED, pending
        if pressed:
            self.pending = None
            return CONFIRMED, pending
        return None, None
