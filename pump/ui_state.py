"""What every pump UI shares, in-memory, a board's and the hardware-in-the-loop one: the
alarm output's state, and how long a button press counts (``PRESS_VALID_MS``: a stale
press must never confirm something asked later). A module of its own so that a board's
HAL takes it without ``pump.hal``'s in-memory hardware.
"""

PRESS_VALID_MS = 2 * 60 * 1000


class AlarmState:
    """What the pump's alarm output shows and how often it sounded: kept alike by the
    in-memory UI and a board's."""

    def __init__(self):
        self.alarm_active = False
        self.alarm_code = ""
        self.alarm_level = 0
        self.sounded = 0          # how many times an alarm was annunciated

    def alarm(self, active, code="", level=1):
        self.alarm_active = bool(active)
        self.alarm_code = code
        self.alarm_level = level if active else 0
        if active:
            self.sounded += 1
