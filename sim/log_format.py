"""Human-readable lines for audit-log records (host side)."""

from pump import audit_log as L


def _units(mu):
    return "%.3f U" % (mu / 1000)


def _clock(tick_ms):
    minutes = tick_ms // 60000
    return "%3d:%02d:%02d" % (minutes // 60, minutes % 60, tick_ms // 1000 % 60)


def _command(data):
    op, args = data["op"], data["args"]
    if op == "bolus":
        text = "bolus %s" % _units(args["mu"])
        if args.get("duration_ms"):
            text += " extended over %d min" % (args["duration_ms"] // 60000)
        return text
    if op == "set_basal_program":
        rates = args["rates"]
        return "basal program set: %s/h .. %s/h" % (_units(min(rates)), _units(max(rates)))
    if op == "temp_basal":
        if "percent" in args:
            return "temporary basal %d%% for %d min" % (args["percent"],
                                                         args["duration_ms"] // 60000)
        return "temporary basal %s/h for %d min" % (_units(args["rate_mu_h"]),
                                                     args["duration_ms"] // 60000)
    if op == "set_limits":
        return "limits changed: %s" % ", ".join(
            "%s=%d" % (k, args["values"][k]) for k in sorted(args["values"]))
    if op == "set_wall_clock":
        return "wall clock set"
    if op == "prime":
        return "fill tubing %s" % _units(args["mu"])
    if op == "fill_cannula":
        return "fill cannula %s" % _units(args["mu"])
    if op == "suspend":
        return "suspend for %d min%s" % (args["duration_ms"] // 60000,
                                         ", confirmed on the pump" if args.get("confirmed")
                                         else "")
    return op.replace("_", " ")


def _event(record):
    """(label, text) for a record, or None for bookkeeping that a reader need not see."""
    data = record.data
    kind = record.type
    if kind == L.EV_COMMAND:
        return "command", _command(data)
    if kind == L.EV_REFUSAL:
        return "REFUSED", "%s: %s" % (data["op"].replace("_", " "), data["why"])
    if kind == L.EV_STATE:
        return "state", "%s -> %s" % (data[0], data[1])
    if kind == L.EV_ALARM:
        return ("ALARM" if data[1] else "alarm ack"), str(data[0])
    if kind == L.EV_SAFE_STOP:
        return "SAFE-STOP", "%s (needs service)" % data
    if kind == L.EV_WARNING:
        return "warning", str(data)
    if kind == L.EV_CLOCK:
        return "clock", "wall clock moved by %+d s" % (data[1] - data[0])
    if kind == L.EV_RESERVE:
        total = sum(entry[1] for entry in data["d"])
        if "bolus" in data:
            return "reserve", "%s for the bolus" % _units(total)
        if total >= 0:
            return "reserve", "%s for the next basal block" % _units(total)
        return "refund", "%s not delivered" % _units(-total)
    if kind == L.EV_BOOT:
        return "boot", "log head #%d, boot %d" % (data["head"], data.get("boots", 0))
    if kind == L.EV_DELIVERED:
        return "delivered", "bolus %s of %s" % (_units(data[1]), _units(data[0]))
    if kind == L.EV_THERAPY:
        return "therapy", "%s%s" % (data["mode"], " with a temporary basal"
                                    if data.get("temp") else "")
    if kind == L.EV_SERVICE:
        return "service", "safe-stop cleared"
    return None


def describe(record):
    """One line for a record, or None for bookkeeping that a reader need not see."""
    event = _event(record)
    if event is None:
        return None
    return "%s  #%-4d %-10s %s" % (_clock(record.tick), record.seq, event[0], event[1])


def type_name(rtype):
    """The audit log's name of a record type (``pump.audit_log.TYPE_NAMES``)."""
    return L.TYPE_NAMES.get(rtype, "type %s" % rtype)


def details(record):
    """What a record says, in one line without its number and time: for a table of
    records with a type column. Never raises: a record whose data is not what its type
    logs (or was too large to send, None) is shown as plain data."""
    if record.data is None:
        return "(data too large for one message)"
    if record.type == L.EV_CHECKPOINT:
        return "(state checkpoint)"
    try:
        event = _event(record)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        event = None
    if event is None:
        return plain(record.data)
    label, text = event
    if record.type == L.EV_ALARM:
        return "%s %s" % (text, "raised" if label == "ALARM" else "acknowledged")
    if record.type == L.EV_RESERVE:
        return "%s %s" % (label, text)
    return text


def plain(value):
    """Any logged value as short text, without Python's reprs: maps as key=value, lists
    comma-separated, bytes in hex, None as -."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex() or "''"
    if isinstance(value, dict):
        return " ".join("%s=%s" % (plain(k), plain(value[k]))
                        for k in sorted(value, key=str))
    if isinstance(value, (list, tuple)):
        return "[%s]" % ", ".join(plain(item) for item in value)
    return str(value)
