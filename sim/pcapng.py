"""Read the CoAP messages back out of a pcapng or pcap capture, to replay them.

The attack lab replays recorded messages into a pump (``pumpsim attack replay
CAPTURE.pcapng``). The recording may be one of ours (``sim.capture``) or one made by tshark,
dumpcap or tcpdump on a real network, so this reads what those write:

- pcapng (draft-ietf-opsawg-pcapng) in either byte order, several sections and interfaces,
  Enhanced and Simple Packet Blocks, ``if_tsresol``/``if_tsoffset`` and ``opt_comment``;
  other blocks are skipped, as the draft allows. A section of another version is refused,
  where the draft lets a reader skip it: a replay that quietly loses packets misleads;
- classic pcap (draft-ietf-opsawg-pcap), microsecond or nanosecond, either byte order;
- link types RAW (101), IPV4 (228), ETHERNET (1, with 802.1Q/802.1ad tags; what Linux
  ``lo`` gives), NULL (0) and LOOP (108) (BSD loopback), LINUX_SLL/SLL2 (113/276, Linux
  ``any``).

Every whole UDP/IPv4 datagram becomes a ``Packet``. Anything else (other protocols,
IPv4 fragments, which are not reassembled, datagrams cut short by the snap length, lengths
that do not fit) is skipped and listed, not refused. Neither the IPv4 header checksum nor
the UDP checksum is verified: with checksum offload, captures on loopback hold zeros or
wrong values, and replay wants the bytes as sent.

A bad file raises ``CaptureError`` naming the file and the byte offset. Files are bounded
(``MAX_FILE``) and so are blocks (``MAX_BLOCK``), so a hostile capture cannot exhaust
memory.

Host-only (CPython): standard library, and the format's numbers from ``sim.capture``.
"""

import struct
from dataclasses import dataclass
from os import fspath

from sim.capture import (BYTE_ORDER_MAGIC, COAP_PORT, EPB_TYPE, IDB_TYPE, IF_TSRESOL,
                         IPPROTO_UDP, LINKTYPE_RAW, OPT_COMMENT, OPT_ENDOFOPT, SHB_TYPE)

MAX_FILE = 64 * 1024 * 1024    # bytes of capture read at most
MAX_BLOCK = 1024 * 1024        # bytes in one pcapng block or pcap record at most

SPB_TYPE = 0x00000003
IF_TSOFFSET = 14
OPTION_LENGTH = {IF_TSRESOL: 1, IF_TSOFFSET: 8}
MIN_BLOCK = {SHB_TYPE: 28, IDB_TYPE: 20, SPB_TYPE: 16, EPB_TYPE: 32}
BLOCK_NAMES = {SHB_TYPE: "Section Header Block", IDB_TYPE: "Interface Description Block",
               SPB_TYPE: "Simple Packet Block", EPB_TYPE: "Enhanced Packet Block"}
PCAP_MICRO, PCAP_NANO = 0xA1B2C3D4, 0xA1B23C4D
PCAP_HEADER = "IHHiIII"        # magic, major 2, minor 4, this zone, sigfigs, snap length,
                               # link type (low 16 bits) and FCS information
PCAP_RECORD = "IIII"           # seconds, micro- or nanoseconds, captured, original length

# Link types (draft-ietf-opsawg-pcaplinktype) and what sits in front of the IPv4 datagram.
LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_LOOP = 0, 1, 108
LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_LINUX_SLL2 = 113, 228, 276
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100)       # 802.1Q, 802.1ad, old Q-in-Q
AF_INET = 2                                     # the same on every BSD and Linux


class CaptureError(ValueError):
    """A file that is not a readable capture: ``name: offset N: what is wrong``."""

    def __init__(self, name, offset, problem):
        super().__init__("%s: offset %d: %s" % (name, offset, problem))
        self.name, self.offset, self.problem = name, offset, problem


@dataclass(frozen=True)
class Packet:
    """One UDP/IPv4 datagram: ``index`` counts every packet in the file from 0, skipped ones
    too (tshark's frame number minus 1); ``time_us`` is microseconds since 1970 (rounded
    down), None for a Simple Packet Block, which has no timestamp; ``source`` and
    ``destination`` are ``("a.b.c.d", port)``; ``comment`` the packet's ``opt_comment``s,
    one per line, or None."""

    index: int
    time_us: "int | None"
    payload: bytes
    source: tuple
    destination: tuple
    comment: "str | None" = None

    @property
    def from_pump(self):
        """True when the datagram leaves UDP port 5683, the CoAP server port the pump
        listens on (and its side of a ``sim.capture``). Decided by port, not address; for
        traffic between other CoAP nodes it means "from a CoAP server"."""
        return self.source[1] == COAP_PORT


@dataclass(frozen=True)
class CaptureContents:
    """``packets`` in file order and ``skipped``: ``(index, reason)`` for every packet that
    is not a whole UDP/IPv4 datagram."""

    packets: tuple
    skipped: tuple


def read_packets(path):
    """The UDP/IPv4 datagrams in the capture at ``path``, as a list of ``Packet``."""
    return list(read_capture(path).packets)


def read_capture(path):
    """The packets and skipped packets in the capture at ``path``; CaptureError for a bad
    or too large file (OSError if it cannot be opened)."""
    name = fspath(path)
    with open(name, "rb") as source:
        data = source.read(MAX_FILE + 1)      # one byte more tells a file over the limit
    return parse_capture(data, name)


def parse_capture(data, name="<capture>"):
    """``read_capture`` for a capture already in memory (bytes); ``name`` is for errors."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("capture data must be bytes, not %s" % type(data).__name__)
    reader = _Reader(bytes(data), name)
    if len(data) > MAX_FILE:
        reader.fail(MAX_FILE, "file is larger than the limit of %d bytes" % MAX_FILE)
    if len(data) < 4:
        reader.fail(0, "too short for a capture (%d bytes)" % len(data))
    if struct.unpack_from("<I", data)[0] == SHB_TYPE:      # the same in both byte orders
        reader.pcapng()
    else:
        for order in "<>":
            magic = struct.unpack_from(order + "I", data)[0]
            if magic in (PCAP_MICRO, PCAP_NANO):
                reader.pcap(order, 1000 if magic == PCAP_NANO else 1)
                break
        else:
            reader.fail(0, "not a pcapng or pcap file (magic %s)" % data[:4].hex())
    return CaptureContents(tuple(reader.packets), tuple(reader.skipped))


class _Skip(Exception):
    """A packet that is not a whole UDP/IPv4 datagram; the message says why."""


@dataclass
class _Interface:
    """What an Interface Description Block says about the packets that name it."""

    linktype: int
    snaplen: int
    per_second: int = 1000000    # timestamp units per second (if_tsresol)
    offset: int = 0              # seconds added to every timestamp (if_tsoffset)

    def time_us(self, units):
        return units * 1000000 // self.per_second + self.offset * 1000000


class _Reader:
    """One file being read: its bytes, and the packets and skipped packets so far."""

    def __init__(self, data, name):
        self.data, self.name = data, name
        self.packets, self.skipped = [], []

    def fail(self, offset, problem):
        raise CaptureError(self.name, offset, problem)

    def add(self, linktype, frame, time_us, comment=None):
        index = len(self.packets) + len(self.skipped)
        try:
            source, destination, payload = _udp(_ipv4(linktype, frame))
        except _Skip as skip:
            self.skipped.append((index, str(skip)))
        else:
            self.packets.append(Packet(index, time_us, payload, source, destination, comment))

    # -- pcapng -------------------------------------------------------------------------

    def pcapng(self):
        data, offset = self.data, 0
        while offset < len(data):
            if len(data) - offset < 12:
                self.fail(offset, "truncated block: %d bytes left, a block has at least 12"
                          % (len(data) - offset))
            if struct.unpack_from("<I", data, offset)[0] == SHB_TYPE:
                order = self.section_order(offset)
                interfaces = []
            kind, length = struct.unpack_from(order + "II", data, offset)
            what = BLOCK_NAMES.get(kind, "block of type 0x%08x" % kind)
            if length % 4 or length < 12:
                self.fail(offset, "%s length %d is %s" % (
                    what, length, "not a multiple of 4" if length % 4 else
                    "below the minimum of 12"))
            if length > MAX_BLOCK:
                self.fail(offset, "%s length %d exceeds the limit of %d"
                          % (what, length, MAX_BLOCK))
            if length > len(data) - offset:
                self.fail(offset, "truncated %s: length %d, %d bytes left"
                          % (what, length, len(data) - offset))
            trailer = struct.unpack_from(order + "I", data, offset + length - 4)[0]
            if trailer != length:
                self.fail(offset, "%s trailing length %d differs from its length %d"
                          % (what, trailer, length))
            if length < MIN_BLOCK.get(kind, 12):
                self.fail(offset, "%s of %d bytes is below its minimum of %d"
                          % (what, length, MIN_BLOCK[kind]))
            body = data[offset + 8:offset + length - 4]
            if kind == SHB_TYPE:
                major, minor = struct.unpack_from(order + "HH", body, 4)
                if major != 1 or minor not in (0, 2):     # the draft: read 1.2 as 1.0
                    self.fail(offset + 12, "pcapng version %d.%d, not 1.0" % (major, minor))
            elif kind == IDB_TYPE:
                interfaces.append(self.interface(order, body, offset))
            elif kind == EPB_TYPE:
                self.enhanced_packet(order, body, offset, interfaces)
            elif kind == SPB_TYPE:
                self.simple_packet(order, body, offset, interfaces)
            offset += length

    def section_order(self, offset):
        magic = self.data[offset + 8:offset + 12]
        if magic == struct.pack("<I", BYTE_ORDER_MAGIC):
            return "<"
        if magic == struct.pack(">I", BYTE_ORDER_MAGIC):
            return ">"
        self.fail(offset + 8, "bad byte-order magic %s in Section Header Block" % magic.hex())

    def options(self, order, options, start):
        """(file offset, code, value) for each option up to opt_endofopt or the end of the
        block (the draft makes opt_endofopt optional); ``start`` is where ``options`` is."""
        position = 0
        while position < len(options):
            code, length = struct.unpack_from(order + "HH", options, position)
            if code == OPT_ENDOFOPT:
                return
            end = position + 4 + length
            if end > len(options):
                self.fail(start + position, "option %d of length %d overruns its block"
                          % (code, length))
            yield start + position, code, options[position + 4:end]
            position = end + -length % 4

    def interface(self, order, body, offset):
        linktype, _, snaplen = struct.unpack_from(order + "HHI", body)
        interface = _Interface(linktype, snaplen)
        for where, code, value in self.options(order, body[8:], offset + 16):
            if code in (IF_TSRESOL, IF_TSOFFSET) and len(value) != OPTION_LENGTH[code]:
                self.fail(where, "option %d has length %d, not %d"
                          % (code, len(value), OPTION_LENGTH[code]))
            if code == IF_TSRESOL:
                exponent = value[0] & 0x7F
                interface.per_second = 2 ** exponent if value[0] & 0x80 else 10 ** exponent
            elif code == IF_TSOFFSET:
                interface.offset = struct.unpack(order + "q", value)[0]
        return interface

    def enhanced_packet(self, order, body, offset, interfaces):
        number, high, low, captured, _ = struct.unpack_from(order + "IIIII", body)
        if number >= len(interfaces):
            self.fail(offset + 8, "Enhanced Packet Block names interface %d; the section "
                      "has %d" % (number, len(interfaces)))
        if captured > len(body) - 20:
            self.fail(offset + 20, "Enhanced Packet Block captured length %d exceeds its "
                      "%d bytes of packet data" % (captured, len(body) - 20))
        start = 20 + captured + -captured % 4
        comments = [bytes(value).split(b"\0")[0].decode("utf-8", "replace")
                    for _, code, value in self.options(order, body[start:], offset + 8 + start)
                    if code == OPT_COMMENT]
        interface = interfaces[number]
        self.add(interface.linktype, body[20:20 + captured], interface.time_us(high << 32 | low),
                 "\n".join(comments) if comments else None)

    def simple_packet(self, order, body, offset, interfaces):
        if not interfaces:
            self.fail(offset, "Simple Packet Block but the section has no interface 0")
        original = struct.unpack_from(order + "I", body)[0]
        captured = min(original, len(body) - 4, interfaces[0].snaplen or original)
        self.add(interfaces[0].linktype, body[4:4 + captured], None)

    # -- classic pcap -------------------------------------------------------------------

    def pcap(self, order, divisor):
        data = self.data
        if len(data) < 24:
            self.fail(0, "truncated pcap file header: %d of 24 bytes" % len(data))
        _, major, minor, _, _, _, linktype = struct.unpack_from(order + PCAP_HEADER, data)
        if major != 2:
            self.fail(4, "pcap version %d.%d, not 2.4" % (major, minor))
        offset = 24
        while offset < len(data):
            if len(data) - offset < 16:
                self.fail(offset, "truncated pcap record header: %d of 16 bytes"
                          % (len(data) - offset))
            seconds, fraction, captured, _ = struct.unpack_from(order + PCAP_RECORD, data,
                                                                offset)
            if captured > MAX_BLOCK:
                self.fail(offset, "pcap record captured length %d exceeds the limit of %d"
                          % (captured, MAX_BLOCK))
            end = offset + 16 + captured
            if end > len(data):
                self.fail(offset, "truncated pcap record: %d of %d bytes"
                          % (len(data) - offset, 16 + captured))
            self.add(linktype & 0xFFFF, data[offset + 16:end],
                     seconds * 1000000 + fraction // divisor)
            offset = end


# -- link layers, IPv4, UDP -----------------------------------------------------------------

def _ipv4(linktype, frame):
    """The IPv4 datagram in a link-layer frame."""
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4):
        return frame
    if linktype == LINKTYPE_ETHERNET:
        position = 12
        while len(frame) >= position + 2:
            ethertype = struct.unpack_from("!H", frame, position)[0]
            if ethertype not in ETHERTYPE_VLAN:
                return _ethertype(ethertype, frame[position + 2:])
            position += 4
        raise _Skip("truncated Ethernet header")
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        family = frame[:4]
        # NULL: in the byte order of the writing host; LOOP: in network byte order.
        if family == struct.pack(">I", AF_INET) or (linktype == LINKTYPE_NULL
                                                    and family == struct.pack("<I", AF_INET)):
            return frame[4:]
        raise _Skip("loopback address family %s is not AF_INET" % family.hex())
    if linktype in (LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2):
        position, size = (14, 16) if linktype == LINKTYPE_LINUX_SLL else (0, 20)
        if len(frame) < size:
            raise _Skip("truncated Linux cooked header")
        return _ethertype(struct.unpack_from("!H", frame, position)[0], frame[size:])
    raise _Skip("link type %d is not supported" % linktype)


def _ethertype(ethertype, data):
    if ethertype != ETHERTYPE_IPV4:
        raise _Skip("EtherType 0x%04x is not IPv4" % ethertype)
    return data


def _udp(datagram):
    """(source, destination, payload) of a whole, unfragmented UDP/IPv4 datagram."""
    if len(datagram) < 20:
        raise _Skip("truncated IPv4 header: %d bytes" % len(datagram))
    version_ihl, _, total, _, fragment, _, protocol = struct.unpack_from("!BBHHHBB", datagram)
    header = (version_ihl & 0x0F) * 4
    if version_ihl >> 4 != 4:
        raise _Skip("IP version %d is not IPv4" % (version_ihl >> 4))
    if header < 20 or total < header:
        raise _Skip("IPv4 header length %d, total length %d" % (header, total))
    if total > len(datagram):
        raise _Skip("IPv4 total length %d exceeds the %d bytes captured"
                    % (total, len(datagram)))
    if fragment & 0x3FFF:                               # More Fragments or an offset
        raise _Skip("IPv4 fragment (fragments are not reassembled)")
    if protocol != IPPROTO_UDP:
        raise _Skip("IP protocol %d is not UDP" % protocol)
    if total - header < 8:
        raise _Skip("truncated UDP header")
    source_port, destination_port, length = struct.unpack_from("!HHH", datagram, header)
    if not 8 <= length <= total - header:
        raise _Skip("UDP length %d does not fit the IPv4 payload of %d bytes"
                    % (length, total - header))
    return (("%d.%d.%d.%d" % tuple(datagram[12:16]), source_port),
            ("%d.%d.%d.%d" % tuple(datagram[16:20]), destination_port),
            bytes(datagram[header + 8:header + length]))
