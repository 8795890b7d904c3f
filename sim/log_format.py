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


def describe(record):
    """One line for a record, or None for bookkeeping that a reader need not see."""
    data = record.data
    kind = record.type
    if kind == L.EV_COMMAND:
        text = "command    " + _command(data)
    elif kind == L.EV_REFUSAL:
        text = "REFUSED    %s: %s" % (data["op"].replace("_", " "), data["why"])
    elif kind == L.EV_STATE:
        text = "state      %s -> %s" % (data[0], data[1])
    elif kind == L.EV_ALARM:
        text = ("ALARM      %s" if data[1] else "alarm ack  %s") % data[0]
    elif kind == L.EV_SAFE_STOP:
        text = "SAFE-STOP  %s (needs service)" % data
    elif kind == L.EV_WARNING:
        text = "warning    %s" % data
    elif kind == L.EV_CLOCK:
        text = "clock      wall clock moved by %+d s" % (data[1] - data[0])
    elif kind == L.EV_RESERVE:
        total = sum(entry[1] for entry in data["d"])
        if "bolus" in data:
            text = "reserve    %s for the bolus" % _units(total)
        elif total >= 0:
            text = "reserve    %s for the next basal block" % _units(total)
        else:
            text = "refund     %s not delivered" % _units(-total)
    elif kind == L.EV_BOOT:
        text = "boot       log head #%d, boot %d" % (data["head"], data.get("boots", 0))
    elif kind == L.EV_DELIVERED:
        text = "delivered  bolus %s of %s" % (_units(data[1]), _units(data[0]))
    elif kind == L.EV_THERAPY:
        text = "therapy    %s%s" % (data["mode"], " with a temporary basal"
                                    if data.get("temp") else "")
    elif kind == L.EV_SERVICE:
        text = "service    safe-stop cleared"
    else:
        return None
    return "%s  #%-4d %s" % (_clock(record.tick), record.seq, text)
