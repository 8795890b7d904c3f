"""What an audit-log record means to a reader: a delivery, an alarm, a security event.

One place for these readings of ``pump.audit_log`` records, used by the pump when it
answers ``delivery_records`` and ``alarms`` and by the gateway when it files the records
it pulled, so both always agree.
"""

from pump import audit_log as L

ALARM_KINDS = {L.EV_ALARM: "alarm", L.EV_SAFE_STOP: "safe-stop", L.EV_WARNING: "warning"}


def delivery(rtype, data):
    """(mU reserved (> 0) or refunded (< 0), is a bolus) for a reservation, else None."""
    if rtype != L.EV_RESERVE or not isinstance(data, dict):
        return None
    total = 0
    for delta in data.get("d", ()):
        total += delta[1]
    return total, "bolus" in data


def alarm(rtype, data):
    """(ID, raised, kind) for an alarm, safe-stop or warning record, else None. An alarm
    record is ``[id, 1 raised | 0 acknowledged]``; a warning is an ID or ``[id, detail]``."""
    kind = ALARM_KINDS.get(rtype)
    if kind is None:
        return None
    if rtype == L.EV_ALARM:
        return (str(data[0])[:32] or "?"), data[1] == 1, kind
    if isinstance(data, list) and data:
        data = data[0]
    return (str(data)[:32] or "?"), True, kind


def security_event(rtype, data):
    """(kind, detail) for a record a caregiver should see as a security event: a refused
    command, a change of the pump's clock (a set that changed nothing is not), a service
    reset; else None."""
    if rtype == L.EV_REFUSAL and isinstance(data, dict):
        return "refused " + str(data.get("op", "?"))[:32], str(data.get("why", ""))[:64]
    if rtype == L.EV_CLOCK and isinstance(data, list) and len(data) == 2 and \
            data[0] != data[1]:
        return "clock set", "%s -> %s (%+d s)" % (data[0], data[1], data[1] - data[0])
    if rtype == L.EV_SERVICE:
        return "service reset", str(data)[:64]
    return None
