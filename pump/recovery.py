"""Rebuild the pump's persistent state from a verified audit log at boot.

The log is the single source of truth for history: the reservation ledger, recent command
ids, a latched safe-stop, the therapy a reboot must resume (the latest therapy record) and
the time without basal, all replayed from it. Each sector starts with a checkpoint, so
replay from the oldest surviving sector always has a complete base. (Limits and the basal
program also live sealed in the secure store, which wins over the log: ``pump.sealed``.)
"""

from pump import audit_log as L
from pump import therapy_table as T
from pump.basal_watch import FULL, BasalWatch
from pump.limits import Limits
from pump.units import BASAL_SLOTS


def initial_state(limits):
    return {
        "program": [0] * BASAL_SLOTS, "program_set": False, "limits": limits.as_list(),
        "ledger": [], "ids": [], "last_bolus": None, "latched": "", "therapy": None,
        "gaps": [], "unknown": None, "block": None,
    }


def _remember(state, entry):
    """``entry`` is [cmd_id, issued_ms]; the controller prunes by age after boot."""
    if entry[0] is not None and entry not in state["ids"]:
        state["ids"].append(list(entry))


def therapy_deficit(record, tick):
    """Parts per SCALE of the program missing at ``tick`` under a therapy record (the
    controller logs its own figure; a record without one counts as fully missing unless
    delivering without a temporary basal)."""
    if not record or record.get("mode") != T.DELIVERING:
        return FULL
    temp = record.get("temp")
    if temp and tick >= temp[2]:
        return 0
    return record.get("def", 0)


def _watch_therapy(watch, previous, record, tick):
    """Advance the basal watch from the previous therapy record to ``record`` at ``tick``."""
    temp = previous.get("temp") if previous else None
    if temp and temp[2] < tick and previous.get("mode") == T.DELIVERING:
        watch.update(temp[2], 0)                 # the temporary basal ended on its own
    watch.update(tick, therapy_deficit(record, tick))


class Replay:
    """The persistent state a verified log rebuilds, fed one record at a time as the log is
    read at boot (``audit_log.AuditLog``'s ``on_record``): it holds the state, never the
    log, whose region may be larger than a board's heap."""

    def __init__(self, limits):
        self.limits = limits
        self.state = None
        self.watch = BasalWatch()
        self.last_tick = None          # the newest record's tick: when the pump was alive

    def add(self, record):
        data = record.data
        if self.state is None:
            self.state = initial_state(self.limits)
        state = self.state
        self.last_tick = record.tick
        if record.type == L.EV_CHECKPOINT:
            self.state = {
                "program": list(data["program"]), "program_set": data["program_set"],
                "limits": list(data["limits"]), "ledger": [list(e) for e in data["ledger"]],
                "ids": [list(e) for e in data["ids"]], "last_bolus": data["last_bolus"],
                "latched": data["latched"], "therapy": data.get("therapy"),
                "gaps": data.get("gaps") or [], "unknown": data.get("unknown"),
                "block": data.get("block"), "blocked": data.get("blocked"),
            }
            self.watch = BasalWatch(self.state["gaps"])
        elif record.type == L.EV_THERAPY:
            _watch_therapy(self.watch, state["therapy"], data, record.tick)
            state["therapy"] = data
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
            if "blk" in data:
                state["block"] = data["blk"]
        elif record.type == L.EV_SAFE_STOP:
            state["latched"] = data
        elif record.type == L.EV_SERVICE:
            state["latched"] = ""

    def result(self):
        """The rebuilt state; None if there was nothing to replay."""
        if self.state is None:
            return None
        self.state["gaps"] = self.watch.snapshot(self.last_tick)
        return self.state

