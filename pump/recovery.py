"""Rebuild the pump's persistent state from a verified audit log at boot.

The log is the single source of truth: settings, the reservation ledger, recent command
ids and a latched safe-stop are all replayed from it. Each sector starts with a checkpoint,
so replay from the oldest surviving sector always has a complete base.
"""

from pump import audit_log as L
from pump.limits import Limits
from pump.units import BASAL_SLOTS


def initial_state(limits):
    return {
        "program": [0] * BASAL_SLOTS, "program_set": False, "limits": limits.as_list(),
        "ledger": [], "ids": [], "last_bolus": None, "latched": "",
    }


def _remember(state, entry):
    """``entry`` is [cmd_id, issued_ms]; the controller prunes by age after boot."""
    if entry[0] is not None and entry not in state["ids"]:
        state["ids"].append(list(entry))


def rebuild(records, limits):
    """State after replaying ``records`` over defaults; None if there is nothing to replay."""
    if not records:
        return None
    state = initial_state(limits)
    for record in records:
        data = record.data
        if record.type == L.EV_CHECKPOINT:
            state = {
                "program": list(data["program"]), "program_set": data["program_set"],
                "limits": list(data["limits"]), "ledger": [list(e) for e in data["ledger"]],
                "ids": [list(e) for e in data["ids"]], "last_bolus": data["last_bolus"],
                "latched": data["latched"],
            }
        elif record.type == L.EV_COMMAND:
            op, args = data["op"], data["args"]
            if op == "set_basal_program":
                state["program"] = list(args["rates"])
                state["program_set"] = True
            elif op == "set_limits":
                state["limits"] = Limits.from_list(state["limits"]).updated(
                    args["values"]).as_list()
            if "cmd_id" in args:
                _remember(state, [args["cmd_id"], args["issued_ms"]])
        elif record.type == L.EV_RESERVE:
            state["ledger"].extend([list(d) for d in data["d"]])
            if "id" in data:
                _remember(state, data["id"])
            if "bolus" in data:
                state["last_bolus"] = data["bolus"]
        elif record.type == L.EV_SAFE_STOP:
            state["latched"] = data
        elif record.type == L.EV_SERVICE:
            state["latched"] = ""
    return state
