"""`pumpsim demo`: a scripted pump session printed as a timeline from the pump's audit log.

Programs basal, gives a bolus, has a bolus refused by an interlock, blocks the line until
the occlusion alarm stops delivery, clears it (acknowledging resumes basal), lets a
forgotten suspend run into IL-NO-DELIVERY, and ends by verifying the log's hash chain and
MACs. Runs the unmodified firmware on in-memory hardware in virtual time.
"""

from bootloader.flash import FlashRegion, NorFlash
from pump import audit_log
from pump.hal import MemoryHardware
from pump.main_loop import run_for
from pump.pump import Pump
from pump.units import MS_PER_HOUR, MS_PER_MINUTE
from sim.log_format import describe

DEMO_KEY = b"demo-only audit-log key, not secret"


def _run_for(pump, hw, ms):
    run_for(pump, hw.clock, ms)


def run_session(hw, pump, say):
    say("05:00: set the clock, program a basal of 0.8 U/h (1.0 U/h from 06:00) and start")
    pump.set_wall_clock(hw.clock.wall_s() // 86400 * 86400 + 5 * 3600)
    program = [800] * 48
    program[12:24] = [1000] * 12
    pump.set_basal_program(program)
    pump.start()
    _run_for(pump, hw, 2 * MS_PER_HOUR)
    say("07:00 breakfast: bolus 4.5 U from the gateway, then the same command replayed")
    now = hw.clock.ticks_ms()
    pump.bolus(4500, cmd_id=1001, issued_ms=now)
    pump.bolus(4500, cmd_id=1001, issued_ms=now)
    _run_for(pump, hw, 8 * MS_PER_MINUTE)
    say("a correction bolus 8 minutes later: too soon after the last one")
    pump.bolus(1000, cmd_id=1002, issued_ms=hw.clock.ticks_ms() - 1000)
    say("someone asks for 12 U: above the 10 U maximum bolus")
    pump.bolus(12000, cmd_id=1003, issued_ms=hw.clock.ticks_ms())
    say("a command captured an hour ago is sent again")
    pump.bolus(2000, cmd_id=1004, issued_ms=hw.clock.ticks_ms() - MS_PER_HOUR)
    _run_for(pump, hw, MS_PER_HOUR)
    say("the infusion line kinks: pressure builds")
    hw.pressure.mbar = 1800
    _run_for(pump, hw, 30 * MS_PER_MINUTE)
    say("the patient straightens the line and acknowledges; delivery resumes")
    hw.pressure.mbar = 120
    pump.acknowledge()
    _run_for(pump, hw, MS_PER_HOUR)
    say("the gateway suspends delivery and forgets it: with the occlusion, time without "
        "basal passes 2 h in 6 h, so the pump alerts and resumes basal by itself")
    pump.suspend()
    _run_for(pump, hw, 2 * MS_PER_HOUR + 10 * MS_PER_MINUTE)


def register(subparsers):
    parser = subparsers.add_parser(
        "demo", help="scripted pump session, printed as a timeline from the audit log")
    parser.add_argument("--all", action="store_true",
                        help="also show every basal reservation record")
    parser.set_defaults(func=main)


def main(args):
    hw = MemoryHardware()
    flash = NorFlash(16 * 4096, 4096)
    pump = Pump(hw, flash, DEMO_KEY)
    printed = [0]
    pulses = [0]

    def flush():
        for record in audit_log.verify(FlashRegion(flash, 0, flash.size), DEMO_KEY):
            if record.seq > printed[0]:
                line = describe(record)
                if line and (args.all or "basal block" not in line):
                    print("    " + line)
                printed[0] = record.seq
        if hw.motor.pulses > pulses[0]:
            count = hw.motor.pulses - pulses[0]
            print("    %s  motor      %d pulse%s since the last step (%.3f U)" % (
                " " * 9, count, "" if count == 1 else "s", count * 0.025))
            pulses[0] = hw.motor.pulses

    def say(text):
        flush()
        print("\n  > " + text)

    print("Secure insulin pump: scripted session (virtual time, in-memory hardware)")
    print("  time is pump uptime h:mm:ss; #n is the audit-log sequence number;"
          " basal reservations hidden (--all shows them)")
    run_session(hw, pump, say)
    flush()
    records = audit_log.verify(FlashRegion(flash, 0, flash.size), DEMO_KEY, pump.log_head())
    status = pump.status()
    print("\nEnd: state %s, delivered %.3f U in %d pulses, insulin on board %.3f U, "
          "refusals %s" % (status["state"], hw.motor.pulses * 0.025, hw.motor.pulses,
                           status["iob_mu"] / 1000, dict(sorted(pump.refusals.items()))))
    print("Audit log: %d records; hash chain, MACs and head verified." % len(records))
    return 0
