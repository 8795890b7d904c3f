"""The therapy state machine, declared once as data.

Both engines read this table: ``transitions`` on CPython (which also draws the diagram in
docs/) and the small interpreter in ``pump.fsm`` on MicroPython. A property test proves
they agree. Each row: (trigger, source states, destination, guard names). A trigger is legal
only from its sources; it fires only if every guard holds.

The reservoir change is part of the table: rewind, load a reservoir, fill the tubing while
disconnected (the patient confirms on the pump), connect (confirmed again), fill the cannula.
Tubing fill never reaches the patient; cannula fill does and counts as delivered insulin.
"""

SELF_TEST = "self_test"
STOPPED = "stopped"
REWOUND = "rewound"               # plunger back, no reservoir: change in progress
LOADED = "loaded"                 # reservoir in, infusion set disconnected
PRIMING = "priming"               # filling the tubing, disconnected
CONNECTED = "connected"           # infusion set connected to the patient
FILLING_CANNULA = "filling_cannula"
DELIVERING = "delivering"
SUSPENDED = "suspended"
ALARM = "alarm"                   # recoverable: needs acknowledgement
SAFE_STOP = "safe_stop"           # latched: needs service
UPDATE_PENDING = "update_pending"  # therapy paused for the swap into a new image

STATES = (SELF_TEST, STOPPED, PRIMING, DELIVERING, SUSPENDED, ALARM, SAFE_STOP,
          UPDATE_PENDING, REWOUND, LOADED, CONNECTED, FILLING_CANNULA)
INITIAL = SELF_TEST

CHANGE_STATES = (REWOUND, LOADED, PRIMING, CONNECTED, FILLING_CANNULA)
_RUNNING = (STOPPED, DELIVERING, SUSPENDED, UPDATE_PENDING) + CHANGE_STATES

TRANSITIONS = (
    ("self_test_passed", (SELF_TEST,), STOPPED, ("hardware_ok",)),
    ("self_test_failed", (SELF_TEST,), SAFE_STOP, ()),
    ("rewind", (STOPPED,), REWOUND, ()),
    ("load_reservoir", (REWOUND,), LOADED, ("reservoir_ok",)),
    ("prime", (LOADED,), PRIMING, ("reservoir_ok", "battery_ok", "patient_confirmed")),
    ("prime_done", (PRIMING,), LOADED, ()),
    ("connect", (LOADED,), CONNECTED, ("patient_confirmed",)),
    ("fill_cannula", (CONNECTED,), FILLING_CANNULA, ("reservoir_ok", "battery_ok")),
    ("cannula_done", (FILLING_CANNULA,), STOPPED, ()),
    ("finish_change", (CONNECTED,), STOPPED, ()),
    ("start", (STOPPED,), DELIVERING, ("reservoir_ok", "battery_ok", "program_set")),
    ("suspend", (DELIVERING,), SUSPENDED, ()),
    ("resume", (SUSPENDED,), DELIVERING, ("reservoir_ok", "battery_ok")),
    ("stop", (DELIVERING, SUSPENDED, REWOUND, LOADED, CONNECTED), STOPPED, ()),
    ("stop_fill", (PRIMING,), LOADED, ()),
    ("stop_cannula", (FILLING_CANNULA,), CONNECTED, ()),
    ("raise_alarm", _RUNNING, ALARM, ()),
    ("acknowledge", (ALARM,), STOPPED, ("alarm_cleared",)),
    ("acknowledge_resume", (ALARM,), DELIVERING,
     ("alarm_cleared", "reservoir_ok", "battery_ok", "program_set")),
    ("fault", (SELF_TEST,) + _RUNNING + (ALARM,), SAFE_STOP, ()),
    ("service_reset", (SAFE_STOP,), SELF_TEST, ("service_authorized",)),
    # The swap into a staged image, once the patient confirmed it on the pump: therapy
    # pauses (bounded, IL-UPDATE-SWAP) and comes back as it was, after the reset or not.
    ("install_update", (STOPPED, DELIVERING, SUSPENDED), UPDATE_PENDING, ("battery_ok",)),
    ("cancel_update", (UPDATE_PENDING,), STOPPED, ()),
    ("update_resume", (UPDATE_PENDING,), DELIVERING,
     ("reservoir_ok", "battery_ok", "program_set")),
)

TRIGGERS = tuple(sorted(set(row[0] for row in TRANSITIONS)))
GUARDS = tuple(sorted(set(g for row in TRANSITIONS for g in row[3])))

# States in which the motor may deliver insulin to the patient / run at all.
PATIENT_DELIVERY_STATES = (DELIVERING, FILLING_CANNULA)
MOTOR_STATES = (DELIVERING, PRIMING, FILLING_CANNULA)
