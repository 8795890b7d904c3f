"""Command-line values to pump-protocol fields (host side, `pumpsim gateway`).

Numbers on the command line are in human units (U, U/h, minutes); the pump's fields are
integers in its own (mU, mU/h, ms). ``exact`` converts without floats and refuses what
does not convert (0.0001 U is no whole number of mU); ``check_range`` and ``in_field``
apply the schema's bounds and steps (``protocol_schema``) and say them in the same human
units; ``validated`` finally runs the protocol's own encoder checks
(``requester.request_message``), so nothing the pump would refuse as malformed is sent.
Every problem is a ``CliError``: one line, exit status 2.
"""

import os
import re

from pump.limits import HARD_RANGES
from pump.units import BASAL_SLOTS
from secure_channel.protocol import schema as S
from secure_channel.protocol import requester
from secure_channel.protocol.messages import ProtocolError
from sim import gateway_output as out
from sim.cli import CliError

CMD_ID_BYTES = 8

_NUMBER = re.compile(r"^(\d{1,12})(?:\.(\d{1,12}))?$")
UNITS = ("U", 1000, "mU")
RATE = ("U/h", 1000, "mU/h")
MINUTES = ("min", 60000, "ms")


def exact(text, unit, what):
    """Non-negative decimal ``text`` in ``unit`` (label, scale, pump unit label) as an
    integer of the pump's unit, exactly: '2.5' U -> 2500 mU; CliError otherwise."""
    label, scale, pump_unit = unit
    match = _NUMBER.match(text.strip())
    if match is None:
        raise CliError("%s: %r is not a number of %s" % (what, text, label))
    fraction = match.group(2) or ""
    numerator = int(match.group(1) + fraction)
    denominator = 10 ** len(fraction)
    if numerator * scale % denominator:
        raise CliError("%s: %s %s is not a whole number of %s" % (what, text.strip(), label,
                                                                  pump_unit))
    return numerator * scale // denominator


def human(value, unit):
    """A pump-unit integer said in ``unit``: exact for a power-of-ten scale; a duration
    in minutes (or seconds) otherwise."""
    label, scale, _ = unit
    if str(scale).rstrip("0") != "1":
        return out.minutes(value)
    return "%s %s" % (out.decimal(value, scale), label)


def request_field(message, name):
    for field in S.BY_NAME[message].request:
        if field.name == name:
            return field
    raise KeyError(name)


def check_range(what, low, high, step, value, unit):
    """The schema's bounds, said in human units."""
    if not low <= value <= high:
        raise CliError("%s: %s is outside %s..%s" % (
            what, human(value, unit), human(low, unit), human(high, unit)))
    if step > 1 and value % step:
        raise CliError("%s: %s is not a multiple of %s" % (what, human(value, unit),
                                                           human(step, unit)))
    return value


def in_field(what, message, name, value, unit):
    field = request_field(message, name)
    return check_range(what, field.low, field.high, field.step, value, unit)


def validated(what, message, fields):
    """``fields`` if ``requester.request_message`` (the protocol's own checks) takes them."""
    try:
        requester.request_message(message, fields)
    except ProtocolError as exc:
        raise CliError("%s: %s" % (what, exc.reason))
    return fields


def cmd_id_of(text, what):
    """A command id from ``--cmd-id HEX``, or a fresh random one (None)."""
    if text is None:
        return os.urandom(CMD_ID_BYTES)
    digits = text[2:] if text.lower().startswith("0x") else text
    try:
        value = bytes.fromhex(digits)
    except ValueError:
        raise CliError("%s: --cmd-id must be hex, e.g. 0x1f2e: %r" % (what, text))
    if not 1 <= len(value) <= 16:
        raise CliError("%s: --cmd-id must be 1..16 bytes" % what)
    return value


def parse_rates(text, what):
    """48 basal rates in U/h from text: numbers separated by commas or white space, a
    ``RATE*COUNT`` repeating one, ``#`` starting a comment to the end of its line."""
    rates = []
    for line in text.splitlines():
        for token in re.split(r"[\s,]+", line.split("#", 1)[0].strip()):
            if not token:
                continue
            value, star, count = token.partition("*")
            repeat = 1
            if star:
                if not count.isdigit() or not 1 <= int(count) <= BASAL_SLOTS:
                    raise CliError("%s: %r: the count after * must be 1..%d"
                                   % (what, token, BASAL_SLOTS))
                repeat = int(count)
            field = request_field("set_basal_program", "rates").items
            rate = check_range(what, field.low, field.high, field.step,
                               exact(value, RATE, what), RATE)
            rates.extend([rate] * repeat)
    if len(rates) != BASAL_SLOTS:
        raise CliError("%s: %d rates given, the program has %d half-hours"
                       % (what, len(rates), BASAL_SLOTS))
    return rates


_LIMIT_UNITS = {
    "mu": {"u": UNITS},
    "mu_h": {"u/h": RATE},
    "ms": {"ms": ("ms", 1, "ms"), "s": ("s", 1000, "ms"), "min": MINUTES,
           "h": ("h", 3600000, "ms")},
}
_PUMP_UNITS = {"mu": "mU", "mu_h": "mU/h", "ms": "ms"}
_LIMIT_VALUE = re.compile(r"^([0-9.]+)\s*([A-Za-z/]*)$")


def limit_dimension(name):
    for suffix in ("mu_h", "mu", "ms"):
        if name.endswith("_" + suffix):
            return suffix
    return None


def parse_limit(pair):
    """(name, value) from ``NAME=VALUE``: a bare integer in the unit the limit's name
    ends in (``max_bolus_mu=8000``), or a number with a unit of the same dimension
    (``max_bolus_mu=8U``, ``max_basal_mu_h=2.5U/h``, ``max_suspend_ms=90min``)."""
    name, sep, text = pair.partition("=")
    name = name.strip()
    if not sep:
        raise CliError("limits: %r is not NAME=VALUE" % pair)
    if name not in HARD_RANGES:
        raise CliError("limits: no limit %r (one of %s)" % (name[:32],
                                                            ", ".join(sorted(HARD_RANGES))))
    match = _LIMIT_VALUE.match(text.strip())
    if match is None:
        raise CliError("limits: %s=%r is not a number" % (name, text))
    number, unit_text = match.groups()
    dimension = limit_dimension(name)
    pump_unit = _PUMP_UNITS.get(dimension) or name.rsplit("_", 1)[-1]
    what = "limits %s" % name
    if unit_text:
        units = _LIMIT_UNITS.get(dimension, {})
        unit = units.get(unit_text.lower())
        if unit is None:
            raise CliError("%s: unit %r does not fit (use %s)" % (
                what, unit_text, ", ".join(u[0] for u in units.values())
                or "a bare integer"))
    else:
        unit = (pump_unit, 1, pump_unit)
    value = exact(number, unit, what)
    _, low, high = HARD_RANGES[name]
    check_range(what, low, high, 1, value, unit)
    return name, value
