"""The therapy state machine, declared once as data.

Both engines read this table: ``transitions`` on CPython (which also draws the diagram in
docs/) and the small interpreter in ``pump.fsm`` on MicroPython. A property test proves
they agree. Each row: (trigger, source states, destination, guard names). A trigger is legal
only from its sources; it fires only if every guard holds.
"""

SELF_TEST = "self_test"
STOPPED = "stopped"
PRIMING = "priming"
DELIVERING = "delivering"
SUSPENDED = "suspended"
ALARM = "alarm"                   # recoverable: needs acknowledgement
SAFE_STOP = "safe_stop"           # latched: needs service
UPDATE_PENDING = "update_pending"

STATES = (SELF_TEST, STOPPED, PRIMING, DELIVERING, SUSPENDED, ALARM, SAFE_STOP,
          UPDATE_PENDING)
INITIAL = SELF_TEST

_RUNNING = (STOPPED, PRIMING, DELIVERING, SUSPENDED, UPDATE_PENDING)

TRANSITIONS = (
    ("self_test_passed", (SELF_TEST,), STOPPED, ("hardware_ok",)),
    ("self_test_failed", (SELF_TEST,), SAFE_STOP, ()),
    ("prime", (STOPPED,), PRIMING, ("reservoir_ok", "battery_ok")),
    ("prime_done", (PRIMING,), STOPPED, ()),
    ("start", (STOPPED,), DELIVERING, ("reservoir_ok", "battery_ok", "program_set")),
    ("suspend", (DELIVERING,), SUSPENDED, ()),
    ("resume", (SUSPENDED,), DELIVERING, ("reservoir_ok", "battery_ok")),
    ("stop", (PRIMING, DELIVERING, SUSPENDED), STOPPED, ()),
    ("raise_alarm", _RUNNING, ALARM, ()),
    ("acknowledge", (ALARM,), STOPPED, ("alarm_cleared",)),
    ("fault", (SELF_TEST,) + _RUNNING + (ALARM,), SAFE_STOP, ()),
    ("service_reset", (SAFE_STOP,), SELF_TEST, ("service_authorized",)),
    ("begin_update", (STOPPED,), UPDATE_PENDING, ("battery_ok",)),
    ("cancel_update", (UPDATE_PENDING,), STOPPED, ()),
)

TRIGGERS = tuple(sorted(set(row[0] for row in TRANSITIONS)))
GUARDS = tuple(sorted(set(g for row in TRANSITIONS for g in row[3])))

# States in which the motor may deliver insulin to the patient / run at all.
PATIENT_DELIVERY_STATES = (DELIVERING,)
MOTOR_STATES = (DELIVERING, PRIMING)
