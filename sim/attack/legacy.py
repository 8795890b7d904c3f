"""The LEGACY profile: a deliberately insecure pump link, for teaching only.

    *** NOT SECURE. NEVER A DEFAULT. It exists to reproduce published attacks. ***

It is what the published insulin-pump attacks exploited, put in front of the same pump
core: the pump's therapy engine and interlocks are ours, the link is theirs.

- **Plaintext, unauthenticated** (Radcliffe 2011 on a Medtronic pump; Rapid7 2016 on the
  Animas OneTouch Ping, CVE-2016-5084 cleartext, CVE-2016-5085 weak pairing;
  Medtronic MiniMed CVE-2019-10964 improper access control): the pump serves plain
  CoAP; whoever can reach the link is treated as the clinician.
- **No replay protection** (CVE-2016-5086; MiniMed CVE-2018-14781): a recorded command
  sent again later runs again; only CoAP's de-duplication of a retransmission within its
  exchange lifetime (247 s) remains, as on the real link layer.
- **No confirmation on the pump**: a remote bolus starts on the message alone.
- **Unsigned updates**: an image is taken as it comes and runs at once.

It lives in ``sim/`` on purpose: nothing here can be deployed as firmware. The secure
profile is ``secure_channel.sessions.manager``; the two answer the same ``receive``.
"""

from secure_channel.coap import message as M, numbers as N
from secure_channel.coap.layer import ServerLayer
from secure_channel.protocol import requester, resources, roles
from secure_channel.protocol import schema as S
from secure_channel.protocol.dispatch import Dispatcher

BANNER = "LEGACY PROFILE: plaintext, unauthenticated, no replay protection, unsigned " \
         "updates: deliberately insecure, for teaching only"
LEGACY_ROLE = roles.CLINICIAN          # whoever reaches the link is trusted as this
LINK = "link"


def _allow_everything(role, command):
    return roles.ALLOW


class LegacyDispatcher(Dispatcher):
    """The pump's dispatcher without its access control and confirmations: every
    command is allowed, a bolus starts at once, an update installs at once."""

    def __init__(self, pump, audit, on_install=None, **kwargs):
        Dispatcher.__init__(self, pump, audit, updater=LegacyUpdater(), **kwargs)
        self.permission = _allow_everything
        self.on_install = on_install

    def _install_update(self, request, role, now, allowed):
        image = self.updater.install()
        if self.on_install is not None:
            self.on_install(image)
        return self._reply(request, {"wait_s": 0})

    def tick(self, now):
        return []


class LegacyUpdater:
    """Takes whatever image it is sent: no digest, no signature, no version check."""

    def __init__(self):
        self.image = bytearray()
        self.size = 0
        self.installed = None

    def begin(self, size, digest):
        self.image = bytearray()
        self.size = size

    def write(self, offset, data):
        self.image[offset:offset + len(data)] = data
        return len(self.image), len(self.image) >= self.size

    def check_staged(self):
        pass

    def install(self):
        self.installed = bytes(self.image)
        return self.installed

    def cancel(self):
        self.image = bytearray()

    def confirm(self):
        pass

    def install_prompt(self):
        return ""

    def status_fields(self):
        return {"phase": S.UPDATE_STAGED if self.image else S.UPDATE_IDLE,
                "received": len(self.image)}

    def tick(self, pump):
        return []


class LegacyLink:
    """The pump's end of the legacy link: plain CoAP in, plain CoAP out, every request
    served as ``LEGACY_ROLE``. Same ``receive`` as the secure session manager."""

    def __init__(self, dispatcher, rng):
        self.dispatcher = dispatcher
        self.layer = ServerLayer(self._handle, rng)
        self.counts = {}                # refusals by name: none are made here
        self.stats = {"frames": 0, "requests": 0, "echo_challenges": 0}
        self.tap = None

    def receive(self, payload, now, address=LINK):
        self.stats["frames"] += 1
        return [data for data, _ in self.layer.receive(payload, address, now)]

    def _handle(self, request, address, now):
        self.stats["requests"] += 1
        return resources.serve(self.dispatcher, request, LEGACY_ROLE, now)

    def tick(self, now):
        return []


class LegacyChannel:
    """The gateway's end of the legacy link: the ``FastChannel`` interface, in the clear."""

    def __init__(self, manager):
        self.manager = manager
        self.restarted = False
        self._mid = 0
        self.stats = {"handshakes": 0, "messages": 0, "bytes_on_wire": 0,
                      "echo_challenges": 0, "refusals": {}, "reconnects": 0,
                      "security_events": {}, "lost": 0}

    def request(self, name, fields, now):
        from sim.loop.channel import ChannelDown
        self._mid = (self._mid + 1) & 0xFFFF
        message = request_bytes(name, fields, self._mid)
        self.stats["messages"] += 1
        self.stats["bytes_on_wire"] += len(message)
        answers = self.manager.receive(message, now)
        if len(answers) != 1:
            self.stats["lost"] += 1
            raise ChannelDown("the pump gave %d answers to %s" % (len(answers), name))
        self.stats["messages"] += 1
        self.stats["bytes_on_wire"] += len(answers[0])
        answer = requester.parse_response(name, M.decode(answers[0]))
        if answer.is_error:
            key = "%s: %s" % (name, answer.fields.get("reason", "?"))
            self.stats["refusals"][key] = self.stats["refusals"].get(key, 0) + 1
        return answer


def request_bytes(name, fields, mid):
    """One plain CoAP request for pump command ``name``, as the legacy link carries it."""
    message = requester.request_message(name, fields)
    message.mtype = N.CON
    message.mid = mid
    message.token = mid.to_bytes(2, "big")
    return M.encode(message)
