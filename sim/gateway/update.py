"""Delivering a signed software image to the pump over its secure session (host side).

``ImageDelivery`` works over any client with ``request(name, fields)`` returning the
pump's parsed answer (``.is_error``, ``.fields``): ``sim.gateway_client.SessionClient``
on a serial line, a PTY or UDP (``pumpsim gateway ... update``), the simulator's
in-memory ``FastChannel`` through ``sim.loop.channel.ServiceClient``. The same code
runs everywhere.

Resuming. The pump says where it is (``update_status``): ``upload`` asks first, and goes
on from ``received`` when the pump holds a transfer of this image (same size and
SHA-256), or begins one (dropping another image the pump holds). A request that raises
(``link_errors``: a lost link, a pump that is resetting) is retried up to ``attempts``
times in a row, each time asking the pump again where it stopped; so is a chunk the pump
refuses because it expects another offset (its answer was lost, or it reset and kept the
sectors its staging record marks written). A later ``upload`` (a new run of the gateway)
resumes the same way. Nothing here can make a mixed image boot: the pump checks the slot
against the digest announced at begin_update and vets the image as its bootloader will
(IL-UPDATE-IMAGE), and the bootloader checks the signature again before it boots it.

Installing. ``install`` asks the patient (the pump waits ``wait_s`` for its button,
IL-UPDATE-CONSENT); ``wait`` then reads ``update_status`` (calling ``sleep`` in between)
until the update is INSTALLED (the new version runs, confirmed after its self-test),
DECLINED (not pressed in time: the image stays staged), REVERTED (its self-test failed)
or REFUSED (by the bootloader at boot). ``deliver`` is all three.

Progress: ``progress(stage, done, total)``, with ``stage`` one of BEGIN, RESUME, CHUNK,
STAGED, PAUSED (``max_chunks`` sent) in bytes, then the phases of ``wait`` (0, 0).
"""

from bootloader import image as fmt
from bootloader.image import ImageError
from secure_channel import crypto
from secure_channel.protocol import schema as S
from sim.gateway_client import GatewayError
from sim.gateway.service import LinkDown
from sim.loop.channel import ChannelDown

BEGIN = "begin"
RESUME = "resume"
CHUNK = "chunk"
STAGED = "staged"
PAUSED = "paused"
RECEIVING = "receiving"
IDLE = "idle"
AWAITING = "awaiting"
INSTALLING = "installing"
TRIAL = "trial"
INSTALLED = "installed"
DECLINED = "declined"
REVERTED = "reverted"
REFUSED = "refused"
FINAL = (INSTALLED, DECLINED, REVERTED, REFUSED)

LINK_ERRORS = (ChannelDown, LinkDown, GatewayError, OSError)
ATTEMPTS = 5                  # failed requests (or resynchronisations) in a row tolerated
WAIT_POLLS = 900


class DeliveryError(Exception):
    """The pump refused a step of the update (or would not say where it is); one line.
    ``request``: the request; ``code``, ``reason``: the pump's error and ``answer`` the
    parsed refusal, when it answered."""

    def __init__(self, request, reason, code=None, answer=None):
        super().__init__("%s refused: %s" % (request, reason))
        self.request = request
        self.code = code
        self.reason = reason
        self.answer = answer


def refused(request, answer):
    return DeliveryError(request, error_text(answer), answer.fields.get("code"), answer)


class Upload:
    """What ``upload`` ended with: the offset reached, whether the image is staged, the
    last image_chunk answer (None if none was sent) and the chunks sent."""

    __slots__ = ("offset", "staged", "answer", "chunks")

    def __init__(self, offset, staged, answer, chunks):
        self.offset = offset
        self.staged = staged
        self.answer = answer
        self.chunks = chunks


class Outcome:
    """Where an install stands: ``phase``, the running ``version``, ``trial``, ``note``."""

    __slots__ = ("phase", "version", "trial", "note")

    def __init__(self, phase, version, trial, note):
        self.phase = phase
        self.version = version
        self.trial = trial
        self.note = note

    def __repr__(self):
        return "Outcome(%s, %r%s%s)" % (self.phase, self.version,
                                        ", trial" if self.trial else "",
                                        ", %r" % self.note if self.note else "")


def error_text(answer):
    code = answer.fields.get("code")
    name = S.ERROR_NAMES.get(code, str(code))
    reason = answer.fields.get("reason")
    return "%s: %s" % (name, reason) if reason else name


def version_of(image):
    """The version in an image's header, or None when it has none."""
    try:
        return fmt.parse_header(image[:fmt.HEADER_SIZE]).version
    except ImageError:
        return None


class ImageDelivery:
    def __init__(self, client, image=None, chunk=S.MAX_CHUNK, progress=None,
                 link_errors=LINK_ERRORS, attempts=ATTEMPTS):
        if type(chunk) is not int or not 1 <= chunk <= S.MAX_CHUNK:
            raise ValueError("chunk must be 1..%d bytes" % S.MAX_CHUNK)
        if image is not None:
            image = bytes(image)
            if not 0 < len(image) <= S.MAX_IMAGE:
                raise ValueError("an image is 1..%d bytes" % S.MAX_IMAGE)
        self.client = client
        self.image = image
        self.chunk = chunk
        self.progress = progress
        self.link_errors = tuple(link_errors)
        self.attempts = attempts
        self.digest = crypto.sha256(image) if image is not None else None
        self.version = version_of(image) if image is not None else None
        self._asked_install = False

    # -- requests -------------------------------------------------------------------------
    def _note(self, stage, done=0, total=0):
        if self.progress is not None:
            self.progress(stage, done, total)

    def _call(self, name, fields=None):
        """The pump's answer; a refusal raises DeliveryError (a lost link: the client's)."""
        answer = self.client.request(name, fields or {})
        if answer.is_error:
            raise refused(name, answer)
        return answer

    def _retrying(self, call):
        failures = 0
        while True:
            try:
                return call()
            except self.link_errors:
                failures += 1
                if failures > self.attempts:
                    raise

    def status(self):
        """The pump's update_status fields."""
        return self._retrying(lambda: self._call("update_status").fields)

    # -- the transfer -----------------------------------------------------------------------
    def _holds_this(self, status):
        return status["phase"] != S.UPDATE_IDLE and status.get("digest") == self.digest \
            and status.get("size") == len(self.image)

    def _where(self, restart):
        """Where the transfer goes on: the pump's ``received`` for this image, the image's
        size when it is staged already, or 0 after a begin_update."""
        status = self._call("update_status").fields
        if self._holds_this(status) and not restart:
            if status["phase"] != S.UPDATE_RECEIVING:
                return len(self.image)
            self._note(RESUME, status["received"], len(self.image))
            return status["received"]
        if status["phase"] != S.UPDATE_IDLE:
            self._call("cancel_update")               # another image, or asked to
        self._call("begin_update", {"size": len(self.image), "digest": self.digest})
        self._note(BEGIN, 0, len(self.image))
        return 0

    def upload(self, max_chunks=None, restart=False):
        """Send the image (the part the pump lacks) until it is staged, or ``max_chunks``
        chunks went; returns an ``Upload`` (its ``answer``: the last image_chunk answer
        when paused, the pump's update_status once staged). Raises DeliveryError when the
        pump refuses the image, the link's error after ``attempts`` failures in a row."""
        if self.image is None:
            raise ValueError("no image to upload")
        image = self.image
        total = len(image)
        offset = None
        answer = None
        sent = 0
        failures = 0
        while True:
            try:
                if offset is None:
                    offset = self._where(restart)
                    restart = False
                if offset >= total:
                    return self._staged(sent)
                if max_chunks is not None and sent >= max_chunks:
                    self._note(PAUSED, offset, total)
                    return Upload(offset, False, answer, sent)
                data = image[offset:offset + self.chunk]
                answer = self.client.request("image_chunk", {"offset": offset, "data": data})
                sent += 1
            except self.link_errors:
                failures += 1
                if failures > self.attempts:
                    raise
                offset = None                         # ask the pump where it is
                continue
            if answer.is_error:
                reason = str(answer.fields.get("reason", ""))
                if answer.fields.get("code") != S.UPDATE_REFUSED or not (
                        "expected" in reason or "begin_update first" in reason):
                    raise refused("image_chunk", answer)
                failures += 1                         # out of step: ask again
                if failures > self.attempts:
                    raise refused("image_chunk", answer)
                offset = None
                continue
            failures = 0
            offset += len(data)                       # the answer: held up to here
            self._note(CHUNK, offset, total)

    def _staged(self, sent):
        """The pump's word that it holds this image, checked and staged."""
        answer = self._call("update_status")
        status = answer.fields
        if not self._holds_this(status) or status["phase"] == S.UPDATE_RECEIVING:
            raise DeliveryError("image_chunk", "all %d bytes sent but the pump did not "
                                "stage the image" % len(self.image))
        self._note(STAGED, len(self.image), len(self.image))
        return Upload(len(self.image), True, answer, sent)

    # -- installing -------------------------------------------------------------------------
    def install(self):
        """Ask the patient to install the staged image; returns how long the pump waits
        for the press (s)."""
        answer = self._call("install_update")
        self._asked_install = True
        return answer.fields["wait_s"]

    def cancel(self):
        self._call("cancel_update")

    def confirm(self):
        self._call("confirm_update")

    def outcome(self):
        """One reading of update_status, as an ``Outcome``."""
        status = self.status()
        version = tuple(status["version"]) if "version" in status else None
        trial = status["trial"]
        state = status["phase"]
        note = status.get("note", "")
        if self.version is not None and version == self.version:
            phase = TRIAL if trial else INSTALLED
        elif state == S.UPDATE_AWAITING:
            phase = AWAITING
        elif state == S.UPDATE_INSTALLING:
            phase = INSTALLING
        elif state == S.UPDATE_STAGED:
            phase = DECLINED if self._asked_install else STAGED
        elif state == S.UPDATE_RECEIVING:
            phase = RECEIVING
        elif not self._asked_install:
            phase = IDLE
        else:
            phase = REFUSED if note.startswith("update refused") else REVERTED
        return Outcome(phase, version, trial, note)

    def wait(self, sleep, polls=WAIT_POLLS):
        """Read the outcome, ``sleep()`` in between, until it is final or ``polls`` ran
        out; returns the last Outcome. A pump that does not answer is resetting."""
        last = None
        for _ in range(polls):
            try:
                outcome = self.outcome()
            except self.link_errors:
                outcome = Outcome(INSTALLING, None, False, "")
            if last is None or outcome.phase != last.phase:
                self._note(outcome.phase)
            last = outcome
            if outcome.phase in FINAL:
                return outcome
            sleep()
        return last

    def deliver(self, sleep, polls=WAIT_POLLS):
        """Upload, ask the patient, wait for the outcome."""
        self.upload()
        self.install()
        return self.wait(sleep, polls)
