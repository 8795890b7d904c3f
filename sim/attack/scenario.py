"""Attack scenario files: a timeline of attacker actions on a day of the simulated patient,
and what is expected of each profile.

TOML, checked field by field like the run's scenarios (``sim.scenario``): every refusal
is a ``ScenarioError`` naming the file, the line and the field::

    forged.toml:9: actions[0].command: unknown command "bolos"; did you mean bolus?

The format (every key: docs/attack-lab.md)::

    title = "Unauthenticated remote bolus"
    reference = "Rapid7 2016 (Animas OneTouch Ping), CVE-2016-5086"
    [expect]                   # the verdict each profile must give
    legacy = "succeeded"
    secure = "blocked"
    [[actions]]
    kind = "command"           # see KINDS
    at = "11:00"               # time of the day the run starts on
    attacker = "outsider"      # whose credentials it holds
    command = "bolus"
    fields = { mu = 10000, duration_ms = 0 }

A ``time_sync`` command may give ``fields = { offset_min = N }``: the wall clock the pump is
told is the true time plus N minutes.
"""

import os
from dataclasses import dataclass, field

from secure_channel.protocol import messages as protocol, roles, schema as S_schema
from secure_channel.protocol.messages import ProtocolError
from sim import scenario as base
from sim.scenario import ScenarioError, _Reader, _boolean, _choice, _clock, _hhmm, \
    _integer, _number, _suggest, _text
from sim.attack.link import RULES

KINDS = ("command", "replay", "link", "eavesdrop", "image", "phone-bolus", "flood", "fuzz",
         "cgm-spoof", "pin-guess")
ATTACKERS = ("outsider", "gateway", "clinician")
IMAGES = ("unsigned", "wrong-key", "tampered", "downgrade", "revoked-key")
FLOODS = ("garbage", "handshake", "forged")
VERDICTS = ("blocked", "succeeded")
PROFILES = ("legacy", "secure")
MINUTES = 1440                      # a run is one simulated day
MAX_FRAMES = 200000                 # flood and fuzz frames in one scenario (a few seconds each 10^5)

# kind -> (required keys, optional keys) besides kind and at
_SHAPE = {
    "command": (("command",), ("attacker", "fields", "repeat", "every_min")),
    "replay": (("captured_from", "captured_to"), ("repeat", "every_min")),
    "link": (("rule", "duration_min"), ("probability", "delay_min", "command", "fields")),
    "eavesdrop": ((), ("duration_min",)),
    "image": (("image",), ("attacker", "payload_u")),
    "phone-bolus": (("mu",), ("press",)),
    "flood": (("frames", "count"), ("attacker",)),
    "fuzz": (("count",), ()),
    "cgm-spoof": (("duration_min",), ("attacker", "mg_dl", "offset_mg_dl")),
    "pin-guess": (("duration_min",), ("mu",)),
}


@dataclass(frozen=True)
class Action:
    kind: str
    at_min: int
    attacker: str = "outsider"
    command: str = None
    fields: dict = None
    repeat: int = 1
    every_min: int = 0
    captured_from: int = 0
    captured_to: int = 0
    rule: str = None
    duration_min: int = 0
    probability: float = 1.0
    delay_min: int = 0
    image: str = None
    payload_u: float = 10.0
    mu: int = 0
    press: bool = True
    frames: str = None
    count: int = 0
    mg_dl: int = None
    offset_mg_dl: int = 0
    data: tuple = ()            # "frames" (a capture's, not from TOML): the bytes to send


@dataclass(frozen=True)
class AttackScenario:
    name: str
    title: str
    reference: str
    description: str
    expect: dict                          # profile -> verdict
    remote_bolus: bool
    actions: tuple
    source: str = "<string>"
    base: object = field(default=None, compare=False)

    @property
    def uses_bootloader(self):
        return any(action.kind == "image" for action in self.actions)


def _command(reader, path, value):
    name = _text(limit=40)(reader, path, value)
    if name not in roles.MATRIX:
        reader.fail(path, "unknown command %s%s" % (base._show(name),
                                                   _suggest(name, sorted(roles.MATRIX))))
    return name


def _fields(reader, path, value):
    if type(value) is not dict:
        reader.fail(path, "expected a table of the command's fields, got %s"
                    % base._got(value))
    return dict(value)


_ACTION = (
    ("kind", "kind", _choice(KINDS)),
    ("at", "at_min", _clock),
    ("attacker", "attacker", _choice(ATTACKERS)),
    ("command", "command", _command),
    ("fields", "fields", _fields),
    ("repeat", "repeat", _integer(1, 1000)),
    ("every_min", "every_min", _integer(0, 1440, " min")),
    ("captured_from", "captured_from", _clock),
    ("captured_to", "captured_to", _clock),
    ("rule", "rule", _choice(RULES)),
    ("duration_min", "duration_min", _integer(1, 1440, " min")),
    ("probability", "probability", _number(0, 1)),
    ("delay_min", "delay_min", _integer(1, 1440, " min")),
    ("image", "image", _choice(IMAGES)),
    ("payload_u", "payload_u", _number(0, 100, " U")),
    ("mu", "mu", _integer(25, 25000, " mU")),
    ("press", "press", _boolean),
    ("frames", "frames", _choice(FLOODS)),
    ("count", "count", _integer(1, 100000)),
    ("mg_dl", "mg_dl", _integer(40, 400, " mg/dL")),
    ("offset_mg_dl", "offset_mg_dl", _integer(-300, 300, " mg/dL")),
)
_EXPECT = tuple((profile, profile, _choice(VERDICTS)) for profile in PROFILES)
_PUMP = (("remote_bolus", "remote_bolus", _boolean),)
_TOP = ("name", "title", "reference", "description", "expect", "pump", "actions")
KEYS = {"": _TOP, "expect": PROFILES, "pump": tuple(k for k, _, _ in _PUMP),
        "actions": tuple(k for k, _, _ in _ACTION)}


class _AttackReader(_Reader):
    def scenario(self, document, stem):
        self.refuse_unknown((), document, _TOP)
        name = _text(limit=80)(self, ("name",), document.get("name", stem))
        title = _text(limit=200)(self, ("title",), document.get("title", name))
        reference = _text(empty_ok=True, limit=500)(self, ("reference",),
                                                    document.get("reference", ""))
        description = _text(empty_ok=True, limit=10000)(self, ("description",),
                                                         document.get("description", ""))
        if "expect" not in document:
            self.fail(("expect",), "missing: the verdict expected of each profile")
        expect = self.table(("expect",), document["expect"], _EXPECT, PROFILES)
        pump = self.table(("pump",), document.get("pump", {}), _PUMP)
        if "actions" not in document:
            self.fail(("actions",), "missing: an attack needs at least one [[actions]]")
        actions = tuple(self.action(index, entry) for index, entry in enumerate(
            self.entries("actions", document["actions"])))
        if not actions:
            self.fail(("actions",), "empty: an attack needs at least one action")
        frames = sum(action.count for action in actions)
        if frames > MAX_FRAMES:
            self.fail(("actions",), "%d flood and fuzz frames in all, above the %d a run "
                      "may send" % (frames, MAX_FRAMES))
        return AttackScenario(name=name, title=title, reference=reference,
                              description=description, expect=expect,
                              remote_bolus=pump.get("remote_bolus", False),
                              actions=actions, source=self.source, base=base.default())

    def check_timeline(self, path, action, fields):
        """Everything an action does happens on the simulated day (00:00..24:00), so
        nothing it does goes unseen."""
        if "duration_min" in fields and _end_of_day(action) > MINUTES:
            self.fail(path + ("duration_min",), "%d min from %s runs past the end of the "
                      "simulated day (24:00)" % (action.duration_min, _hhmm(action.at_min)))
        if action.repeat > 1 and not action.every_min:
            self.fail(path + ("repeat",), "repeat needs every_min (the minutes between them)")
        last = action.at_min + (action.repeat - 1) * action.every_min
        if last >= MINUTES:
            self.fail(path + ("every_min",), "the last of %d, %d min apart from %s, would "
                      "fall after the end of the simulated day" % (
                          action.repeat, action.every_min, _hhmm(action.at_min)))

    def check_rule(self, path, action, fields):
        """Each link rule takes its own keys, and a modify rule's fields are the
        command's, checked as the pump protocol checks them."""
        allowed = {"drop": ("probability",), "delay": ("delay_min",), "reorder": (),
                   "modify": ("command", "fields")}[action.rule]
        for key in ("probability", "delay_min", "command", "fields"):
            if key in fields and key not in allowed:
                self.fail(path + (key,), "does not apply to rule %s" % action.rule)
        for key in allowed:
            if key not in fields and key != "probability":
                self.fail(path, "rule %s needs %s" % (action.rule, key))
        if action.rule == "modify":
            message = S_schema.BY_NAME[action.command]
            known = {field.name: field for field in message.request}
            for name, value in action.fields.items():
                if name not in known:
                    self.fail(path + ("fields", name), "%s has no field %s%s" % (
                        action.command, name, _suggest(name, sorted(known))))
                try:
                    protocol.check_value(known[name], value, name)
                except ProtocolError as exc:
                    self.fail(path + ("fields", name), exc.reason)

    def action(self, index, entry):
        path = ("actions", index)
        if type(entry) is dict and "kind" in entry:
            kind = _choice(KINDS)(self, path + ("kind",), entry["kind"])
            required, optional = _SHAPE[kind]
            self.refuse_unknown(path, entry, ("kind", "at") + required + optional)
        else:
            required = ()
        fields = self.table(path, entry, _ACTION, ("kind", "at") + required)
        action = Action(**fields)
        self.check_timeline(path, action, fields)
        if action.kind == "link":
            self.check_rule(path, action, fields)
        if action.kind == "cgm-spoof" and ("mg_dl" in fields) == ("offset_mg_dl" in fields):
            self.fail(path + ("mg_dl",), "give exactly one of mg_dl (a fixed reading) and "
                      "offset_mg_dl (the truth plus an offset)")
        if action.kind == "replay" and action.captured_to <= action.captured_from:
            self.fail(path + ("captured_to",), "must be after captured_from")
        if action.kind == "replay" and action.at_min < action.captured_to:
            self.fail(path + ("at",), "a replay comes after what it replays (captured_to)")
        if action.kind == "command" and action.command == "time_sync" and \
                set(action.fields or {}) == {"offset_min"}:
            _integer(-10 ** 6, 10 ** 6, " min")(self, path + ("fields", "offset_min"),
                                               action.fields["offset_min"])
        elif action.kind == "command":
            try:
                protocol.checked_request(action.command, 0, action.fields or {})
            except ProtocolError as exc:
                self.fail(path + ("fields",), "the pump protocol refuses these fields: %s"
                          % exc.reason)
        return action


def _end_of_day(action):
    return action.at_min + action.duration_min


def load(path):
    """The attack scenario in the TOML file ``path``; raises ScenarioError."""
    return base.load(path, reader=_AttackReader)


def loads(text, name="<string>"):
    return base.loads(text, name, reader=_AttackReader)


LIBRARY = os.path.join(os.path.dirname(__file__), "library")


def library():
    """The built-in scenarios, sorted by name."""
    return sorted((load(os.path.join(LIBRARY, entry)) for entry in os.listdir(LIBRARY)
                   if entry.endswith(".toml")), key=lambda s: s.name)


def find(name_or_path):
    """A built-in scenario by name, or a scenario file by path."""
    if os.path.exists(name_or_path):
        return load(name_or_path)
    candidate = os.path.join(LIBRARY, name_or_path + ".toml")
    if os.path.exists(candidate):
        return load(candidate)
    names = sorted(entry[:-5] for entry in os.listdir(LIBRARY) if entry.endswith(".toml"))
    raise ScenarioError(name_or_path, None, None, "no such file and no built-in scenario "
                        "of that name%s" % (_suggest(name_or_path, names)
                                            or " (built-in: %s)" % ", ".join(names)))
