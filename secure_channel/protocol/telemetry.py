"""What the pump reports: a buffer of CGM readings and the telemetry built from its status.

``CgmBuffer`` keeps the last readings the pump received from its sensor, on the monotonic
tick counter (never the settable wall clock, so a clock change cannot make a stale
reading look fresh). ``telemetry_fields`` turns ``Pump.status()`` and the latest reading
into the compact 5-minute telemetry response; numbers that could exceed their 16-bit
schema bounds saturate rather than wrap, since a reader must never see a small value
where a large one was. ``status_fields`` builds the full status response.
"""

from secure_channel.protocol import schema as S
from pump.units import PULSE_MU

MAX_READINGS = 24             # two hours at one reading per 5 minutes
_U16 = 0xFFFF


def _int(value):
    return isinstance(value, int) and not isinstance(value, bool)


class CgmBuffer:
    """Newest-last ring of (tick_ms, mg_dl, trend); refuses readings outside the schema."""

    def __init__(self, capacity=MAX_READINGS):
        self.capacity = capacity
        self.readings = []
        self.refused = 0

    def add(self, tick_ms, mg_dl, trend=0):
        """Store one reading; returns False (and counts it) if any value is out of range."""
        if not (_int(tick_ms) and _int(mg_dl) and _int(trend)) or tick_ms < 0 \
                or not 20 <= mg_dl <= 600 or not -3 <= trend <= 3 \
                or (self.readings and tick_ms < self.readings[-1][0]):
            self.refused += 1
            return False
        self.readings.append((tick_ms, mg_dl, trend))
        del self.readings[:-self.capacity]
        return True

    def latest(self):
        return self.readings[-1] if self.readings else None

    def recent(self, count):
        """Up to ``count`` readings, newest first."""
        return list(reversed(self.readings[-count:])) if count > 0 else []


def _sat(value, high=_U16):
    if not _int(value) or value < 0:
        return 0
    return value if value <= high else high


def age_s(now, tick_ms):
    return max(0, now - tick_ms) // 1000


def telemetry_fields(status, reading, now):
    """The telemetry response fields from ``Pump.status()`` and a CGM reading (or None)."""
    fields = {
        "state": S.STATE_CODES[status["state"]],
        "iob_mu": _sat(status["iob_mu"]),
        "reservoir_pulses": _sat(status["reservoir_mu"] // PULSE_MU),
        "battery_percent": _sat(status["battery_percent"], 100),
        "basal_mu_h": _sat(status["basal_mu_h"]),
    }
    if status["alarm"]:
        fields["alarm"] = S.ALARM_CODES.get(status["alarm"], S.ALARM_OTHER)
    flags = 0
    if status["temp_basal"]:
        flags |= S.FLAG_TEMP_BASAL
    if status["bolus_left_mu"]:
        flags |= S.FLAG_BOLUS
    if "IL-RESERVOIR-LOW" in status["warnings"]:
        flags |= S.FLAG_RESERVOIR_LOW
    if "IL-BATTERY-LOW" in status["warnings"]:
        flags |= S.FLAG_BATTERY_LOW
    if flags:
        fields["flags"] = flags
    if reading is not None:
        tick_ms, mg_dl, trend = reading
        fields["cgm"] = [mg_dl, trend, _sat(age_s(now, tick_ms))]
    return fields


def status_fields(status, remote_bolus, awaiting):
    """The full status response fields from ``Pump.status()``."""
    fields = {
        "state": S.STATE_CODES[status["state"]],
        "iob_mu": _sat(status["iob_mu"], S.U32),
        "reservoir_mu": _sat(status["reservoir_mu"], S.U32),
        "battery_percent": _sat(status["battery_percent"], 100),
        "basal_mu_h": _sat(status["basal_mu_h"], S.U32),
        "bolus_left_mu": _sat(status["bolus_left_mu"], S.U32),
        "temp_basal": bool(status["temp_basal"]),
        "log_seq": _sat(status["log_seq"], S.U32),
        "remote_bolus": bool(remote_bolus),
        "awaiting": bool(awaiting),
    }
    if status.get("wall_s") is not None:
        fields["wall_s"] = status["wall_s"]
    if status["alarm"]:
        fields["alarm"] = str(status["alarm"])[:32]
    warnings = [str(w)[:32] for w in status["warnings"] if w][:8]
    if warnings:
        fields["warnings"] = warnings
    return fields
