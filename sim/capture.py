"""pcapng captures of the CoAP messages on a pump link, for Wireshark/tshark without plug-ins.

The pump's real links (a serial line with COBS+CRC frames, BLE, ...) have no dissector in
Wireshark, but the CoAP messages they carry do. ``Capture`` therefore wraps each CoAP message
as the UDP datagram it would be on an IP network, between a fixed pump address and a fixed
peer address, and names the real link in each packet's comment:

- pump ``10.0.0.1:5683`` (the CoAP port, so Wireshark dissects CoAP without "Decode As"),
  peer ``10.0.0.2:PEER_PORT`` (50000 unless given);
- one Section Header Block, one Interface Description Block with link type
  ``LINKTYPE_RAW`` (101: each packet is a bare IPv4 datagram) and microsecond timestamps,
  then one Enhanced Packet Block per message, with an ``opt_comment`` such as
  ``serial /dev/ttyUSB0 (COBS+CRC frame): peer -> pump`` (``pkt_comment`` / ``frame.comment``
  in tshark);
- the file is flushed after every packet, so a capture is complete up to the last message
  even when the process dies, and tshark can read it while it is still being written.

OSCORE keys for tshark (``oscore_contexts_uat``, ``write_oscore_contexts``, ``tshark_args``).
Wireshark 4.0's OSCORE dissector takes its security contexts from the ``oscore_contexts``
UAT, six quoted fields per line (packet-oscore.c, ``oscore_context_uat_flds``)::

    "SENDER_ID","RECIPIENT_ID","MASTER_SECRET","MASTER_SALT","ID_CONTEXT","AES-CCM-16-64-128 (CCM*)"

hex strings without separators, empty for an empty ID or salt; the algorithm column holds the
value string, not the COSE number 10. ``tshark_args`` passes each line as
``-o uat:oscore_contexts:LINE`` (one argument each; ``shlex.join`` for a shell), which adds
to the contexts of the user's profile and writes nothing into it. The file itself also works
as a profile: put it at ``$WIRESHARK_CONFIG_DIR/oscore_contexts``.

Point of view: a line describes the context **as the CoAP client holds it**. Wireshark
derives the request key from the Sender ID and the response key from the Recipient ID, and
picks the line whose Sender ID (and ID Context) equals the request's 'kid' (and 'kid context').
For our links the peer (gateway, phone) is the client and the pump the server: Sender ID =
the peer's Sender ID = the pump's Recipient ID. An exchange the pump starts needs a second
line with the IDs swapped.

What tshark 4.0 needs to decrypt (found by experiment with the RFC 8613 Appendix C vectors):

- a response carries no 'kid' and usually no Partial IV; Wireshark takes both from the
  request with the same token in the same UDP conversation (same addresses and ports, in
  either direction), so the request must come earlier in the same capture; a response whose
  request was not captured, or came later, is shown but not decrypted ("Partial IV not
  found");
- CoAP is found by port: one side must be UDP 5683 (the pump's side here) unless tshark is
  told ``-d udp.port==PORT,coap``;
- the context from the server's side (IDs swapped) matches no request: "Security context not
  set"; a modified message fails "Authentication tag check failed" and is not shown;
- only AES-CCM-16-64-128 (COSE algorithm 10) is implemented, Sender/Recipient IDs of at most
  7 bytes, an ID Context of at most 64 bytes, and a non-empty Master Secret.

``KeyLog`` / ``read_keylog``: the OSCORE contexts of a run (``pumpsim serve --keylog``), for
``pumpsim capture keys``.

Host-only: standard library and the project's CBOR codec, CPython.
"""

import os
import struct
import time

from secure_channel import cbor

LINKTYPE_RAW = 101             # each packet is an IPv4 (or IPv6) datagram, no link header
PUMP_ADDRESS = bytes((10, 0, 0, 1))
PEER_ADDRESS = bytes((10, 0, 0, 2))
COAP_PORT = 5683
DEFAULT_PEER_PORT = 50000
MAX_DATA = 65535 - 20 - 8      # largest UDP payload in one IPv4 datagram: 65507
MAX_LINK = 1000               # bytes of link name; it goes into every packet's comment

# pcapng, draft-ietf-opsawg-pcapng; all numbers little-endian (the byte-order magic says so).
SHB_TYPE = 0x0A0D0D0A
BYTE_ORDER_MAGIC = 0x1A2B3C4D
IDB_TYPE = 0x00000001
EPB_TYPE = 0x00000006
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
SHB_USERAPPL = 4
IF_NAME = 2
IF_TSRESOL = 9
SHB_BODY = "<IHHq"             # byte-order magic, major 1, minor 0, section length -1
IDB_BODY = "<HHI"              # link type, reserved, snap length (0: no limit)
EPB_BODY = "<IIIII"            # interface id, timestamp high, low, captured, original length

# IPv4 (RFC 791) and UDP (RFC 768) headers, network byte order.
IPV4_HEADER = "!BBHHHBBH4s4s"  # ver/IHL, TOS, total length, id, flags/fragment, TTL, proto,
                               # checksum, source, destination
UDP_HEADER = "!HHHH"           # source port, destination port, length, checksum
IPV4_DONT_FRAGMENT = 0x4000
IP_TTL = 64
IPPROTO_UDP = 17

# Wireshark 4.0 packet-oscore.c: oscore_context_alg_vals, OSCORE_KID_MAX_LEN_CCM_STAR,
# OSCORE_KID_CONTEXT_MAX_LEN.
WIRESHARK_ALGORITHMS = {10: "AES-CCM-16-64-128 (CCM*)"}
UAT_NAME = "oscore_contexts"
MAX_ID = 7
MAX_ID_CONTEXT = 64
CONTEXT_KEYS = ("sender_id", "recipient_id", "master_secret", "master_salt", "id_context",
                "alg")


def _option(code, value):
    """One pcapng option: code, length, value padded to 32 bits."""
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(block_type, body):
    """One pcapng block: type, total length, body padded to 32 bits, total length again."""
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def _checksum(data):
    """The Internet checksum (RFC 1071): ones' complement of the ones' complement sum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_datagram(data, source, destination, identification=0):
    """An IPv4 datagram carrying ``data`` in UDP, with both checksums filled in.

    ``source`` and ``destination`` are ``(4-byte address, port)``."""
    (src_ip, src_port), (dst_ip, dst_port) = source, destination
    udp_length = 8 + len(data)
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, IPPROTO_UDP, udp_length)
    header = struct.pack(UDP_HEADER, src_port, dst_port, udp_length, 0)
    udp_sum = _checksum(pseudo + header + data) or 0xFFFF   # 0 would mean "no checksum"
    udp = struct.pack(UDP_HEADER, src_port, dst_port, udp_length, udp_sum) + data
    fields = [0x45, 0, 20 + udp_length, identification & 0xFFFF, IPV4_DONT_FRAGMENT, IP_TTL,
              IPPROTO_UDP, 0, src_ip, dst_ip]
    fields[7] = _checksum(struct.pack(IPV4_HEADER, *fields))
    return struct.pack(IPV4_HEADER, *fields) + udp


class Capture:
    """A pcapng file of the CoAP messages on one link between the pump and one peer.

    ``path`` is created (or truncated); ``link`` names the real link in every packet's
    comment, e.g. ``"serial /dev/ttyUSB0 (COBS+CRC frame)"``. Use as a context manager or
    call ``close()``."""

    def __init__(self, path, link, peer_port=DEFAULT_PEER_PORT):
        if type(link) is not str or not link or len(link.encode()) > MAX_LINK:
            raise ValueError("capture link must be a non-empty string of at most %d bytes"
                             % MAX_LINK)
        if type(peer_port) is not int or not 0 < peer_port < 65536 or peer_port == COAP_PORT:
            raise ValueError("peer port must be an int in 1..65535 other than %d" % COAP_PORT)
        self.link = link
        self.pump = (PUMP_ADDRESS, COAP_PORT)
        self.peer = (PEER_ADDRESS, peer_port)
        self.count = 0
        self._file = open(path, "wb")
        try:
            self._write(self._header())
        except BaseException:
            self._file.close()
            raise

    def _header(self):
        shb = _block(SHB_TYPE, struct.pack(SHB_BODY, BYTE_ORDER_MAGIC, 1, 0, -1)
                     + _option(SHB_USERAPPL, b"secure-insulin-pump sim.capture")
                     + _option(OPT_ENDOFOPT, b""))
        idb = _block(IDB_TYPE, struct.pack(IDB_BODY, LINKTYPE_RAW, 0, 0)
                     + _option(IF_NAME, self.link.encode())
                     + _option(IF_TSRESOL, b"\x06")          # 10^-6 s: microseconds
                     + _option(OPT_ENDOFOPT, b""))
        return shb + idb

    def _write(self, block):
        self._file.write(block)
        self._file.flush()                     # a dying process loses no packet

    @property
    def closed(self):
        return self._file.closed

    def record(self, data, from_pump, when=None):
        """Append one CoAP message (bytes or bytearray) as a UDP datagram, pump to peer if
        ``from_pump``; ``when`` is Unix time in seconds (int or float, default now).
        A refused message writes nothing."""
        if self._file.closed:
            raise ValueError("capture is closed")
        if type(data) not in (bytes, bytearray):
            raise ValueError("capture data must be bytes, not %s" % type(data).__name__)
        if len(data) > MAX_DATA:
            raise ValueError("capture data of %d bytes does not fit in one UDP datagram "
                             "(at most %d)" % (len(data), MAX_DATA))
        if type(from_pump) is not bool:
            raise ValueError("from_pump must be True or False")
        if when is None:
            when = time.time()
        if type(when) not in (int, float) or not 0 <= when < 2 ** 64 / 1e6:
            raise ValueError("capture time must be a non-negative number of seconds")
        source, destination = (self.pump, self.peer) if from_pump else (self.peer, self.pump)
        packet = udp_datagram(bytes(data), source, destination, self.count)
        micros = round(when * 1000000)
        comment = "%s: %s" % (self.link, "pump -> peer" if from_pump else "peer -> pump")
        body = (struct.pack(EPB_BODY, 0, micros >> 32, micros & 0xFFFFFFFF, len(packet),
                            len(packet))
                + packet + b"\0" * (-len(packet) % 4)
                + _option(OPT_COMMENT, comment.encode())
                + _option(OPT_ENDOFOPT, b""))
        self._write(_block(EPB_TYPE, body))
        self.count += 1

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _uat_hex(context, key, limit, optional):
    value = context[key]
    if value is None and optional:
        value = b""
    if type(value) is not bytes:
        raise ValueError("OSCORE context %s must be bytes%s" % (key, " or None" if optional
                                                                   else ""))
    if limit is not None and len(value) > limit:
        raise ValueError("OSCORE context %s is %d bytes; Wireshark takes at most %d"
                         % (key, len(value), limit))
    return '"%s"' % value.hex()


def oscore_contexts_uat(contexts):
    """The text of Wireshark's ``oscore_contexts`` UAT file: one line per context.

    Each context is a dict with ``sender_id``, ``recipient_id``, ``master_secret``,
    ``master_salt`` (bytes or None), ``id_context`` (bytes or None) and ``alg`` (10 =
    AES-CCM-16-64-128, the only one Wireshark decrypts), seen from the CoAP client: its
    Sender ID is the 'kid' of the requests."""
    if type(contexts) not in (list, tuple):
        raise ValueError("OSCORE contexts must be a list of dicts")
    lines = []
    for context in contexts:
        if type(context) is not dict or sorted(context) != sorted(CONTEXT_KEYS):
            raise ValueError("an OSCORE context is a dict with exactly the keys "
                             + ", ".join(CONTEXT_KEYS))
        alg = context["alg"]
        if type(alg) is not int or alg not in WIRESHARK_ALGORITHMS:
            raise ValueError("OSCORE algorithm %r is not one Wireshark decrypts (only 10)"
                             % (alg,))
        if type(context["master_secret"]) is bytes and not context["master_secret"]:
            raise ValueError("OSCORE context master_secret must not be empty")
        fields = [_uat_hex(context, "sender_id", MAX_ID, False),
                  _uat_hex(context, "recipient_id", MAX_ID, False),
                  _uat_hex(context, "master_secret", None, False),
                  _uat_hex(context, "master_salt", None, True),
                  _uat_hex(context, "id_context", MAX_ID_CONTEXT, True),
                  '"%s"' % WIRESHARK_ALGORITHMS[alg]]
        lines.append(",".join(fields) + "\n")
    return "".join(lines)


def write_oscore_contexts(path, contexts):
    """Write the UAT file for ``contexts``; it holds master secrets, so only the owner may
    read it."""
    text = oscore_contexts_uat(contexts)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="ascii", newline="\n") as out:
        out.write(text)


def tshark_args(uat_path):
    """tshark options that load the contexts in ``uat_path`` for this run only:
    ``-o uat:oscore_contexts:LINE`` per line (comments and blank lines skipped)."""
    with open(uat_path, encoding="ascii") as source:
        lines = [line.strip() for line in source]
    args = []
    for line in lines:
        if line and not line.startswith("#"):
            args += ["-o", "uat:%s:%s" % (UAT_NAME, line)]
    return args


# -- key log: the OSCORE contexts of a run, for decrypting its capture -------------------

class KeyLog:
    """Appends the OSCORE inputs of every context the pump derives during a run (after
    each handshake and key update) to a file only the owner may read: like a TLS
    SSLKEYLOGFILE, a host debugging aid that a device never has. One CBOR map per
    context, seen from the client: ``{1: sender_id, 2: recipient_id, 3: master_secret,
    4: master_salt, 5: alg}``. Use as the session manager's ``keylog``."""

    def __init__(self, path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        self._file = os.fdopen(fd, "ab")
        self.count = 0

    def __call__(self, parameters):
        """``parameters``: the pump's (master secret, salt, sender ID, recipient ID,
        AEAD alg, hash alg), as ``edhoc.oscore_parameters()`` returns them."""
        secret, salt, pump_sender, pump_recipient, alg = parameters[:5]
        self._file.write(cbor.encode({1: pump_recipient, 2: pump_sender, 3: secret,
                                      4: salt, 5: alg}))
        self._file.flush()
        self.count += 1

    def close(self):
        self._file.close()


def read_keylog(path):
    """The contexts (dicts for ``oscore_contexts_uat``) in a key log; ValueError on a
    file that is not one. A context appears once even if logged twice."""
    with open(path, "rb") as source:
        data = source.read()
    contexts = []
    pos = 0
    while pos < len(data):
        try:
            item, pos = cbor.decode_prefix(data, pos)
        except cbor.CBORError as exc:
            raise ValueError("not a key log: %s" % exc)
        if type(item) is not dict or sorted(item) != [1, 2, 3, 4, 5]:
            raise ValueError("not a key log: an entry is not {1..5: ...}")
        context = {"sender_id": item[1], "recipient_id": item[2], "master_secret": item[3],
                   "master_salt": item[4], "id_context": None, "alg": item[5]}
        if context not in contexts:
            contexts.append(context)
    return contexts
