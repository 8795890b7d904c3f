"""The attacker's actions on a simulated day, scheduled on the kernel's clock.

Each action is one row of a scenario's timeline (``sim.attack.scenario.Action``). It acts
as an attacker could: over the radio (``LinkTap.inject``), with the credentials it holds
(none, or a stolen gateway or clinician key), or on the link itself. What the pump did
with it is judged from the pump's side: the dispatcher's answers while the attacker's
frames were handled (a command that ran is *applied*; one waiting for the patient's press
is *held*), the refusals the session layer counted, the interlock a refusal named. Every
action appends one entry to ``log`` and the controls that refused it to ``controls``.

Legitimate traffic a scenario needs (``phone-bolus``: the patient's phone sends a remote
bolus the attacker can record) runs on both days, so the day without the attack has it too.
"""

import random

from bootloader.flash import FlashRegion, NorFlash
from pump import pin
from pump.hal import CountingRng
from pump.pin import PinStore
from pump.units import MS_PER_MINUTE
from secure_channel import controls
from secure_channel.coap import message as M
from secure_channel.crypto import sha256 as crypto_sha
from secure_channel.sessions import wire as W
from secure_channel.protocol import messages as protocol, schema as S
from secure_channel.protocol.messages import ProtocolError
from secure_channel.sessions.peer import PeerSession
from sim.attack.legacy import LegacyChannel, request_bytes
from sim.attack.link import Rule
from sim.loop.channel import ChannelDown, FastChannel
from sim.loop.world import seeded_identity
from sim.scenario import _hhmm

# The identities the pump trusts in the lab (role, kid); the outsider's is never trusted.
TRUSTED = (("gateway", b"\x02"), ("clinician", b"\x03"), ("patient", b"\x04"))
OUTSIDER_KID = b"\x09"
RADIO_PERCENT_PER_FRAME = 0.0002      # battery the pump's receiver spends per frame heard
DAY_MIN = 1440
PIN_ENTRY_MS = 3000                   # keying one PIN on the pump's buttons
SPOOF_RAMP_MG_DL_MIN = 6              # a spoofer moves readings no faster than physiology
READS = ("status", "telemetry", "cgm_history", "delivery_records", "alarms", "read_log",
         "update_status", "confirm_status")


class _Injector:
    """The attacker's transmitter, as a channel's ``manager``."""

    def __init__(self, tap):
        self.tap = tap

    def receive(self, payload, now):
        return self.tap.inject(payload, now)


class Attacker:
    def __init__(self, simulation, tap, profile, seed):
        self.sim = simulation
        self.world = simulation.world
        self.kernel = simulation.kernel
        self.tap = tap
        self.profile = profile
        self.seed = seed
        self.random = random.Random("%s|attacker" % seed)
        self.log = []
        self.controls = set()
        self.succeeded = False
        self._clients = {}
        self._mid = 0x4000
        tap.on_frame = self._radio
        tap.judge = self._judge_hit
        self._hits = {}                   # rule -> [applied, refused names]

    # -- scheduling ---------------------------------------------------------------------
    def schedule(self, actions, attack):
        for index, action in enumerate(actions):
            legitimate = action.kind == "phone-bolus"
            if not (attack or legitimate):
                continue
            handler = getattr(self, "_" + action.kind.replace("-", "_"))
            for n in range(action.repeat if action.kind in ("command", "replay") else 1):
                minute = action.at_min + n * action.every_min
                if minute < DAY_MIN:
                    self.kernel.at(minute * MS_PER_MINUTE, handler, action)

    def _note(self, action, effect, detail, names=(), started=False):
        """Log what ``action`` did; ``started``: it lasted a while, and is logged at the
        minute it began (a window's effect is known only at its end)."""
        for name in names if effect in ("refused", "held") else ():
            control = controls.control_of(name)   # an action that got through was
            if control is not None:               # stopped by nothing on its way
                self.controls.add(control)
        if effect == "applied" and action.kind != "phone-bolus":
            self.succeeded = True
        minute = action.at_min if started else self.kernel.now / MS_PER_MINUTE
        self.log.append({"at_min": round(minute, 2), "kind": action.kind, "effect": effect,
                         "detail": detail[:300]})

    # -- what the pump did ------------------------------------------------------------------
    def _watched(self, send):
        """Run ``send()`` and return (answers the dispatcher gave, refusal names the
        session layer counted meanwhile)."""
        world = self.world
        dispatcher = world.dispatcher
        seen = []
        original = dispatcher._answer

        def answer(parse, data, role, now):
            out = original(parse, data, role, now)
            seen.append(out)
            return out
        before = dict(world.manager.counts)
        dispatcher._answer = answer
        try:
            send()
        except ChannelDown as exc:
            seen.append(exc)
        finally:
            del dispatcher._answer
        after = world.manager.counts
        names = [name for name in after if after[name] > before.get(name, 0)]
        return seen, names

    def _judge(self, seen, names, commands_only=False):
        """(effect, detail, refusal names) from what the dispatcher answered; with
        ``commands_only`` a read that was answered is no effect (a late status request
        does nothing)."""
        applied, held, refused = [], [], list(names)
        for out in seen:
            if isinstance(out, ChannelDown):
                continue
            try:
                parsed = protocol.decode_response(out)
            except ProtocolError:
                continue
            if parsed.is_error:
                reason = str(parsed.fields.get("reason", ""))
                code = S.ERROR_NAMES.get(parsed.fields.get("code"), "?")
                refused.append(reason if reason.startswith("IL-") else code)
            elif parsed.fields.get("status") == S.BOLUS_AWAITING:
                held.append(parsed.name)
            elif not (commands_only and parsed.name in READS):
                applied.append(parsed.name)
        if applied:
            return "applied", "the pump ran: %s" % ", ".join(_counted(applied)), refused
        if held:
            return "held", "waiting for the patient's press on the pump: %s" \
                % ", ".join(held), refused + ["confirm-expired"]
        lost = [str(out) for out in seen if isinstance(out, ChannelDown)]
        return "refused", "refused: %s" % (", ".join(_counted(refused)) or
                                          "; ".join(lost) or "no answer"), refused

    # -- clients ----------------------------------------------------------------------------
    def _client(self, who):
        """The attacker's channel as ``who`` (outsider, gateway, clinician)."""
        if who not in self._clients:
            self._clients[who] = self._channel(
                _Injector(self.tap), 0x8000 + len(self._clients) * 0x1000,
                self.seed if who != "outsider" else "attacker", who,
                dict(TRUSTED).get(who, OUTSIDER_KID), "attacker|%s" % who)
        return self._clients[who]

    def _channel(self, manager, first_mid, key_seed, role, kid, label):
        """A gateway-side channel to the pump through ``manager``: in the clear on the
        legacy link, else an EDHOC/OSCORE session with the seeded identity of ``role``."""
        if self.profile == "legacy":
            channel = LegacyChannel(manager)
            channel._mid = first_mid
            return channel
        private, credential = seeded_identity(key_seed, role, kid)
        return FastChannel(manager, PeerSession(
            credential, private, self.world.pump_credential,
            CountingRng(("%s|%s" % (self.seed, label)).encode())))

    def _send(self, who, name, fields):
        """One command as ``who`` would send it; the published attack tools send the plain
        protocol, so an outsider tries that first, then a session of its own."""
        now = self.kernel.now
        if who == "outsider" and self.profile == "secure":
            self._mid = (self._mid + 1) & 0xFFFF
            self.tap.inject(request_bytes(name, fields, self._mid), now)
        return self._client(who).request(name, fields, now)

    # -- the actions ------------------------------------------------------------------------
    def _command(self, action):
        fields = dict(action.fields or {})
        if "offset_min" in fields:                   # time_sync: the true time, shifted
            fields = {"wall_s": self.sim._wall_now() + fields["offset_min"] * 60}
        seen, names = self._watched(lambda: self._send(action.attacker, action.command,
                                                       fields))
        effect, detail, refused = self._judge(seen, names)
        self._note(action, effect, "%s as %s: %s" % (action.command, action.attacker,
                                                     detail), refused)
        if effect == "held":
            self._poll_confirmation(35)

    def _replay(self, action):
        frames = self.tap.captured(action.captured_from * MS_PER_MINUTE,
                                   action.captured_to * MS_PER_MINUTE)
        now = self.kernel.now

        def send():
            for frame in frames:
                self.tap.inject(frame, now)
        if not frames:
            self._note(action, "missed", "nothing was recorded between %s and %s" % (
                _hhmm(action.captured_from), _hhmm(action.captured_to)))
            return
        seen, names = self._watched(send)
        effect, detail, refused = self._judge(seen, names)
        self._note(action, effect, "%d recorded frames sent again: %s"
                   % (len(frames), detail), refused)
        if effect == "held":
            self._poll_confirmation(35)

    def _frames(self, action):
        """Recorded frames (a capture file's) sent to the pump with their recorded spacing;
        judged together once the last is sent."""
        end = DAY_MIN * MS_PER_MINUTE - 1
        tally = [[], [], len(action.data)]
        for offset, frame in action.data:
            self.kernel.at(min(end, self.kernel.now + offset), self._frame, action, frame,
                           tally)

    def _frame(self, action, frame, tally):
        seen, names = self._watched(lambda: self.tap.inject(frame, self.kernel.now))
        tally[0].extend(seen)
        tally[1].extend(names)
        tally[2] -= 1
        if tally[2] == 0:
            effect, detail, refused = self._judge(tally[0], tally[1])
            self._note(action, effect, "%d captured frames sent: %s" % (len(action.data),
                                                                      detail), refused,
                       started=True)

    def _link(self, action):
        start = self.kernel.now
        rule = Rule(action.rule, start, start + action.duration_min * MS_PER_MINUTE,
                    action.probability, action.delay_min * MS_PER_MINUTE, action.command,
                    action.fields)
        self.tap.rules.append(rule)
        self.kernel.at(rule.end, self._link_done, action, rule)

    def _judge_hit(self, rule, send):
        """What the pump did with a frame the attacker changed or held back."""
        answers = []
        seen, names = self._watched(lambda: answers.extend(send()))
        effect, _, refused = self._judge(seen, names, commands_only=True)
        tally = self._hits.setdefault(rule, [0, []])
        tally[0] += effect == "applied"
        tally[1].extend(refused)
        return answers

    def _link_done(self, action, rule):
        """A drop that hit frames worked (a jammer always can); a changed or late frame
        worked only if the pump acted on it."""
        applied, refused = self._hits.get(rule, [0, []])
        if not rule.hits:
            effect, detail = "missed", "no frame of the gateway's to act on"
        elif rule.kind == "drop":
            effect = "applied"
            detail = "%d of the gateway's frames dropped" % rule.hits
        else:
            effect = "applied" if applied else "refused"
            detail = "%d of the gateway's frames hit, %d acted on by the pump%s" % (
                rule.hits, applied, ": refused " + ", ".join(_counted(refused))
                if refused and not applied else " (lost to the gateway)")
        self._note(action, effect, "%s: %s" % (rule.kind, detail), refused, started=True)

    def _eavesdrop(self, action):
        end = min(DAY_MIN, action.at_min + (action.duration_min or DAY_MIN))
        self.kernel.at(end * MS_PER_MINUTE - 1, self._eavesdrop_done, action)

    def _eavesdrop_done(self, action):
        start = action.at_min * MS_PER_MINUTE
        read = self.tap.readable(start, self.kernel.now + 1)
        glucose = [fields["mg_dl"] for name, fields in read
                   if name == "cgm_reading" and "mg_dl" in fields]
        frames = len([1 for at, _, _ in self.tap.frames if at >= start])
        if read:
            self._note(action, "applied", "%d of %d frames read in the clear (%d glucose "
                       "readings, e.g. %s mg/dL; commands: %s)" % (
                           len(read), frames, len(glucose),
                           glucose[0] if glucose else "-",
                           ", ".join(sorted({name for name, _ in read})[:6])), started=True)
        elif frames:
            self._note(action, "refused", "%d frames recorded, none readable without the "
                       "session keys" % frames, ("RECORD-AUTH",), started=True)
        else:
            self._note(action, "missed", "no frame on the link to record", started=True)

    def _image(self, action):
        software = self.world.software
        if software is not None:
            image = software.rogue_image(action.image)
        else:                        # legacy: no bootloader checks anything
            image = bytes((0x5A + i) & 0xFF for i in range(64 * 1024))
        installed = []
        self.world.on_install = installed.append

        def send():
            answer = self._send(action.attacker, "begin_update",
                                {"size": len(image), "digest": crypto_sha(image)})
            if answer.is_error:
                return
            for offset in range(0, len(image), S.MAX_CHUNK):
                answer = self._send(action.attacker, "image_chunk", {
                    "offset": offset, "data": image[offset:offset + S.MAX_CHUNK]})
                if answer.is_error:
                    return
            self._send(action.attacker, "install_update", {})
        seen, names = self._watched(send)
        effect, detail, refused = self._judge(seen, names)
        if installed:
            self._rogue_firmware(action)
            self._note(action, "applied", "%s image installed without a check; its code "
                       "pushes %.1f U through the motor" % (action.image, action.payload_u))
            return
        if effect == "applied":            # every step ran, yet nothing was installed
            effect, detail = "refused", "%s image sent, never installed: %s" % (
                action.image, detail)
        self._note(action, effect, "%s image as %s: %s" % (action.image, action.attacker,
                                                           detail), refused)

    def _rogue_firmware(self, action):
        """The attacker's code runs in place of the pump's: it drives the motor directly,
        past every interlock and the safety monitor (they were the firmware it replaced),
        1 U a minute."""
        total = int(action.payload_u * 1000)
        for minute in range((total + 999) // 1000):
            mu = min(1000, total - minute * 1000)
            self.kernel.after((minute + 1) * MS_PER_MINUTE, self._motor, mu)

    def _motor(self, mu):
        hw = self.world.hw
        hw.reservoir.consume(mu)
        hw.line.deliver(hw.clock.ticks_ms(), mu)

    def _phone_bolus(self, action):
        """The patient's phone sends a remote bolus (legitimate traffic the attacker can
        record); the patient confirms it on the pump if ``press``."""
        now = self.kernel.now
        if "phone" not in self._clients:          # its traffic is the link's: recorded
            self._clients["phone"] = self._channel(self.tap, 0x2000, self.seed, "patient",
                                                   b"\x04", "phone")
        fields = {"mu": action.mu, "duration_ms": 0}
        seen, names = self._watched(
            lambda: self._clients["phone"].request("bolus", fields, now))
        effect, detail, _ = self._judge(seen, names)
        if effect == "held":
            if action.press:
                self.kernel.after(10000, self._press)
                effect, detail = "applied", detail + "; the patient presses OK 10 s later"
            self._poll_confirmation(35)
        self._note(action, effect, "the patient's phone: bolus %.3f U: %s"
                   % (action.mu / 1000.0, detail))

    def _pin_guess(self, action):
        """Someone holding the pump guesses the patient's PIN on its buttons, one entry
        every ``PIN_ENTRY_MS``, to reach the bolus menu. The legacy pump has no PIN; the
        secure one checks it with ``pump.pin.PinStore`` (lockout doubling after three
        failures, kept in flash)."""
        mu = action.mu or 10000
        if self.profile == "legacy":
            self._button_bolus(action, mu, "no PIN on the legacy pump's buttons")
            return
        store = PinStore(FlashRegion(NorFlash(4 * 4096, 4096), 0, 4 * 4096),
                         self.world.hw.rng, self.world.pump.clock, iterations=1000,
                         pepper=crypto_sha(("%s|pin-pepper" % self.seed).encode()),
                         audit=self.world.pump.record_refusal)
        store.set_pin(pin.PATIENT, _patient_pin(self.seed), self.world.pump.clock.ticks_ms())
        guesses = iter(_guesses())
        end = self.kernel.now + action.duration_min * MS_PER_MINUTE
        self._guess(action, store, guesses, end, mu, [0, 0])

    def _guess(self, action, store, guesses, end, mu, tally):
        if self.kernel.now >= end:
            self._note(action, "refused", "%d PINs tried in %d min, %d refused while locked "
                       "out: the PIN held" % (tally[0], action.duration_min, tally[1]),
                       (pin.LOCKED,), started=True)
            return
        now = self.world.pump.clock.ticks_ms()
        wait = store.wait_ms(pin.PATIENT, now)
        if wait:
            tally[1] += 1
            self.kernel.after(max(wait, PIN_ENTRY_MS), self._guess, action, store, guesses,
                              end, mu, tally)
            return
        guess = next(guesses)
        tally[0] += 1
        if store.verify(pin.PATIENT, guess, now).ok:
            self._button_bolus(action, mu, "PIN found after %d guesses" % tally[0])
            return
        self.kernel.after(PIN_ENTRY_MS, self._guess, action, store, guesses, end, mu, tally)

    def _button_bolus(self, action, mu, how):
        result = self.world.pump.bolus(mu, duration_ms=0)
        self._note(action, "applied" if result.ok else "refused", "%s; bolus %.3f U on the "
                   "pump's buttons: %s" % (how, mu / 1000.0, "started" if result.ok
                                           else result.reason), () if result.ok
                   else (result.reason,))

    def _press(self):
        self.world.hw.ui.pressed = True

    def _poll_confirmation(self, seconds):
        """The pump's main loop resolves a confirmation every tick; in the simulation the
        dispatcher's timers run while one waits."""
        for second in range(1, seconds + 1):
            self.kernel.after(second * 1000, self._dispatcher_tick)

    def _dispatcher_tick(self):
        if not self.sim._updating:
            self.world.dispatcher.tick(self.world.pump.clock.ticks_ms())

    def _flood(self, action):
        now = self.kernel.now
        battery = self.world.hw.battery.level
        frames = self._flood_frames(action)

        def send():
            for frame in frames:
                self.tap.inject(frame, now)
        seen, names = self._watched(send)
        effect, detail, refused = self._judge(seen, names)
        drained = battery - self.world.hw.battery.level
        self._note(action, "applied" if drained >= 1.0 else effect,
                   "%d %s frames: battery -%.1f %%; %s" % (
                       len(frames), action.frames, drained, detail), refused)

    def _flood_frames(self, action):
        rnd = self.random
        if action.frames == "garbage":
            return [bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(4, 64)))
                    for _ in range(action.count)]
        if action.frames == "handshake":
            frames = []
            for n in range(action.count):
                message = W.edhoc_request(W.TRUE + bytes(rnd.getrandbits(8)
                                                         for _ in range(40)))
                message.mid, message.token = n & 0xFFFF, n.to_bytes(4, "big")
                frames.append(M.encode(message))
            return frames
        captured = self.tap.captured(0, self.kernel.now) or [b"\x40\x02\x00\x01"]
        return [_mutate(rnd, captured[rnd.randrange(len(captured))], n)
                for n in range(action.count)]

    def _fuzz(self, action):
        rnd = self.random
        captured = self.tap.captured(0, self.kernel.now)
        plain = [request_bytes("status", {}, 1), request_bytes("bolus", {
            "mu": 1000, "duration_ms": 0}, 2)]
        seeds = captured[-50:] + plain
        faults = self.world.dispatcher.faults + self.world.manager.stats.get("faults", 0)
        now = self.kernel.now

        def send():
            for n in range(action.count):
                self.tap.inject(_mutate(rnd, seeds[rnd.randrange(len(seeds))], n), now)
        seen, names = self._watched(send)
        after = self.world.dispatcher.faults + self.world.manager.stats.get("faults", 0)
        effect, detail, refused = self._judge(seen, names)
        if after > faults:
            effect, detail = "applied", "%d faults contained: %s" % (after - faults, detail)
        elif effect == "applied" and self.profile == "secure":
            effect = "refused"                    # a mutated read answered, nothing ran
        self._note(action, effect, "%d mutated frames: %s" % (action.count, detail), refused)

    def _cgm_spoof(self, action):
        end = self.kernel.now + action.duration_min * MS_PER_MINUTE
        self._spoof_reading(action, end, [0, 0, []])

    def _spoof_reading(self, action, end, tally):
        now = self.kernel.now
        if now >= end:
            effect = "applied" if tally[0] else "refused"
            self._note(action, effect, "%d of %d spoofed readings taken by the pump%s" % (
                tally[0], tally[1], "" if effect == "applied" else ": " +
                ", ".join(_counted(tally[2]))), tally[2], started=True)
            return
        truth = int(self.world.patient.plasma_glucose_mg_dl)
        target = action.mg_dl if action.mg_dl is not None else truth + action.offset_mg_dl
        last = tally[3] if len(tally) > 3 else truth
        step = SPOOF_RAMP_MG_DL_MIN * 5            # plausible: the pump checks the rate
        value = max(last - step, min(last + step, target))
        tally[3:] = [value]
        fields = {"mg_dl": max(20, min(600, value)),
                  "measured_ms": self.world.pump.clock.ticks_ms()}
        seen, names = self._watched(lambda: self._send(action.attacker, "cgm_reading",
                                                       fields))
        effect, _, refused = self._judge(seen, names)
        tally[1] += 1
        if effect == "applied":
            tally[0] += 1
        tally[2].extend(refused)
        self.kernel.after(5 * MS_PER_MINUTE - 30000, self._spoof_reading, action, end, tally)

    # -- the radio ----------------------------------------------------------------------------
    def _radio(self, count=1):
        """Each frame the pump's receiver hears costs battery, wanted or not."""
        battery = self.world.hw.battery
        battery.drain(RADIO_PERCENT_PER_FRAME * count)


def _patient_pin(seed):
    """The patient's PIN in the lab: six digits from the seed that pass the pump's policy."""
    counter = 0
    while True:
        digest = crypto_sha(("%s|patient-pin|%d" % (seed, counter)).encode())
        candidate = "%06d" % (int.from_bytes(digest[:4], "big") % 1000000)
        if not pin.policy_problem(pin.PATIENT, candidate):
            return candidate
        counter += 1


def _guesses():
    """An attacker's order: the most common PINs, then every 4-digit one, then 6-digit."""
    for candidate in pin.COMMON_PINS:
        yield candidate
    for width in (4, 6):
        for number in range(10 ** width):
            yield "%0*d" % (width, number)


def _mutate(rnd, frame, n):
    data = bytearray(frame)
    for _ in range(1 + rnd.randrange(4)):
        choice = rnd.randrange(4)
        if choice == 0 and data:
            data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
        elif choice == 1 and len(data) > 4:
            del data[rnd.randrange(4, len(data)):]
        elif choice == 2:
            data.insert(rnd.randrange(len(data) + 1), rnd.getrandbits(8))
        elif data:
            data[rnd.randrange(len(data))] = rnd.choice((0x00, 0xFF, 0x7F, 0x80, 0x1F))
    if len(data) >= 4:
        data[2:4] = ((0x6000 + n) & 0xFFFF).to_bytes(2, "big")   # a new Message ID
    return bytes(data)


def _counted(names):
    counts = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return ["%s x%d" % (name, n) if n > 1 else name for name, n in sorted(counts.items())]
