"""Result codes of every public pump entry point. A refusal never changes therapy."""

from pump.units import is_int

OK = 0
ERR_TYPE = 1          # an argument has the wrong type
ERR_RANGE = 2         # an argument is out of its documented range
ERR_STATE = 3         # the command is not legal in the current therapy state
ERR_INTERLOCK = 4     # a safety interlock refused it; ``reason`` names the interlock ID
ERR_GUARD = 5         # the state machine's guard refused the transition
ERR_INTERNAL = 6      # an internal fault: the pump has gone to safe-stop

NAMES = {
    OK: "ok", ERR_TYPE: "bad-type", ERR_RANGE: "out-of-range", ERR_STATE: "illegal-in-state",
    ERR_INTERLOCK: "interlock", ERR_GUARD: "guard-refused", ERR_INTERNAL: "internal-fault",
}


class Result:
    """What a command returns: a code, a short reason (an interlock ID or a message), a value."""

    __slots__ = ("code", "reason", "value")

    def __init__(self, code, reason="", value=None):
        self.code = code
        self.reason = reason
        self.value = value

    @property
    def ok(self):
        return self.code == OK

    def __repr__(self):
        if self.ok:
            return "Result(ok%s)" % ("" if self.value is None else ", %r" % (self.value,))
        return "Result(%s, %r)" % (NAMES.get(self.code, self.code), self.reason)


class Refused(Exception):
    """Raised inside the pump to refuse a command; turned into a Result at the entry point."""

    MAX_REASON = 80         # reasons go into the log and to the peer: never unbounded input

    def __init__(self, code, reason):
        reason = reason[:self.MAX_REASON]
        super().__init__(reason)
        self.code = code
        self.reason = reason


def check_int(name, value, low, high):
    """``value`` if it is an int in low..high; else Refused (ERR_TYPE / ERR_RANGE)."""
    if not is_int(value):
        raise Refused(ERR_TYPE, "%s must be an integer" % name)
    if not low <= value <= high:
        raise Refused(ERR_RANGE, "%s=%d outside %d..%d" % (name, value, low, high))
    return value
