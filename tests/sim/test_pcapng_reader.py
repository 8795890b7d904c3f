"""sim.pcapng, the capture reader behind ``pumpsim attack replay``, tested from the pcapng
draft (draft-ietf-opsawg-pcapng) and the pcap draft (draft-ietf-opsawg-pcap): round trips
through sim.capture, files written by independent tools (editcap, text2pcap, mergecap,
dumpcap) read as tshark reads them, and malformed files, which are refused with
CaptureError and nothing else."""

import decimal
import os
import struct
import subprocess
import tempfile

import pytest
from hypothesis import given, settings, strategies as st

from conftest import examples, real_tool

from sim import capture, pcapng
from sim.pcapng import CaptureError, Packet

H = bytes.fromhex
PUMP = ("10.0.0.1", 5683)
PEER = ("10.0.0.2", 50000)
GET_STATUS = H("440112354a7b0c02b6737461747573")                    # CON GET /status
STATUS = H("644512354a7b0c02ffa1011864")                            # ACK 2.05
LINK = "serial /dev/ttyUSB0 (COBS+CRC frame)"

# -- a pcapng writer written from the draft, in either byte order ---------------------------

SHB, IDB, SPB, ISB, EPB = 0x0A0D0D0A, 1, 3, 5, 6
RAW, ETHERNET, NULL, LOOP, LINUX_SLL, LINUX_SLL2, IPV4 = 101, 1, 0, 108, 113, 276, 228


def option(order, code, value):
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def block(order, kind, body, length=None):
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12 if length is None else length
    return struct.pack(order + "II", kind, length) + body + struct.pack(order + "I", length)


def shb(order="<", major=1, minor=0):
    return block(order, SHB, struct.pack(order + "IHHq", 0x1A2B3C4D, major, minor, -1))


def idb(order="<", linktype=RAW, snaplen=0, options=b""):
    return block(order, IDB, struct.pack(order + "HHI", linktype, 0, snaplen) + options)


def epb(order, data, when=0, interface=0, original=None, options=b""):
    original = len(data) if original is None else original
    return block(order, EPB, struct.pack(order + "IIIII", interface, when >> 32,
                                         when & 0xFFFFFFFF, len(data), original)
                 + data + b"\0" * (-len(data) % 4) + options)


def spb(order, data, original=None):
    original = len(data) if original is None else original
    return block(order, SPB, struct.pack(order + "I", original) + data)


def comment(order, text):
    return option(order, 1, text if type(text) is bytes else text.encode())


def pcap(records, order="<", magic=0xA1B2C3D4, linktype=RAW, major=2):
    """A classic pcap file; records are (seconds, fraction, data[, original length])."""
    out = struct.pack(order + "IHHiIII", magic, major, 4, 0, 0, 262144, linktype)
    for seconds, fraction, data, *original in records:
        out += struct.pack(order + "IIII", seconds, fraction, len(data),
                           original[0] if original else len(data)) + data
    return out


def udp(payload, source=PEER, destination=PUMP, length=None, protocol=17, fragment=0x4000,
        ip_options=b"", total=None, version=4):
    """An IPv4 datagram with UDP in it; both checksums left zero (the reader ignores them)."""
    length = 8 + len(payload) if length is None else length
    body = struct.pack("!HHHH", source[1], destination[1], length, 0) + payload
    ihl = 20 + len(ip_options)
    total = ihl + len(body) if total is None else total
    return (struct.pack("!BBHHHBBH4s4s", version << 4 | ihl // 4, 0, total, 0, fragment, 64,
                        protocol, 0, bytes(map(int, source[0].split("."))),
                        bytes(map(int, destination[0].split("."))))
            + ip_options + body)


def ethernet(datagram, *vlans, ethertype=0x0800):
    tags = b"".join(struct.pack("!HH", tpid, vid) for tpid, vid in vlans)
    return H("020000000001020000000002") + tags + struct.pack("!H", ethertype) + datagram


def parse(data):
    return pcapng.parse_capture(data, "test.pcapng")


def views(packets):
    return [(p.index, p.time_us, p.source, p.destination, p.payload, p.comment)
            for p in packets]


# -- round trip through sim.capture -------------------------------------------------------

def test_round_trip_through_the_writer(tmp_path):
    path = tmp_path / "run.pcapng"
    messages = [(GET_STATUS, False, 1700000000), (STATUS, True, 1700000000.25),
                (b"", False, 1700000001.000001), (bytes(range(256)) * 4, True, 0)]
    with capture.Capture(path, LINK, peer_port=50001) as cap:
        for data, from_pump, when in messages:
            cap.record(data, from_pump, when)
    pump, peer = ("10.0.0.1", 5683), ("10.0.0.2", 50001)
    packets = pcapng.read_packets(path)
    assert type(packets) is list
    assert [(p.index, p.payload, p.from_pump, p.source, p.destination, p.comment, p.time_us)
            for p in packets] == [
        (i, data, from_pump, pump if from_pump else peer, peer if from_pump else pump,
         "%s: %s" % (LINK, "pump -> peer" if from_pump else "peer -> pump"),
         round(when * 1000000))
        for i, (data, from_pump, when) in enumerate(messages)]
    assert [p.time_us for p in packets] == [1700000000000000, 1700000000250000,
                                            1700000001000001, 0]
    assert pcapng.read_capture(path).skipped == ()


def test_an_empty_capture_has_no_packets(tmp_path):
    path = tmp_path / "empty.pcapng"
    capture.Capture(path, LINK).close()
    assert pcapng.read_capture(path) == pcapng.CaptureContents(packets=(), skipped=())


@settings(max_examples=examples(200))
@given(st.lists(st.tuples(st.binary(max_size=300), st.booleans(), st.integers(0, 2 ** 34)),
                max_size=6))
def test_any_recorded_run_reads_back(messages):
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "run.pcapng")
        with capture.Capture(path, "BLE") as cap:
            for data, from_pump, when in messages:
                cap.record(data, from_pump, when)
        packets = pcapng.read_packets(path)
    assert [(p.payload, p.from_pump, p.time_us) for p in packets] == [
        (data, from_pump, when * 1000000) for data, from_pump, when in messages]


def test_packets_are_frozen_and_from_pump_is_the_coap_server_port():
    packet = Packet(0, 0, b"", ("10.0.0.2", 5683), ("10.0.0.1", 50000), None)
    assert packet.from_pump                      # decided by port, not by address
    assert not Packet(0, 0, b"", PEER, PUMP, None).from_pump
    with pytest.raises(AttributeError):
        packet.payload = b"x"


# -- what the draft says about blocks, options and timestamps ------------------------------

@pytest.mark.parametrize("order", ["<", ">"])
def test_both_byte_orders_sections_interfaces_and_simple_packet_blocks(order):
    other = ">" if order == "<" else "<"
    data = (shb(order) + idb(order, RAW) + idb(order, ETHERNET, options=option(order, 9, b"\x09"))
            + epb(order, udp(b"a"), 1_000_000, interface=0, options=comment(order, "one"))
            + epb(order, ethernet(udp(b"b", PUMP, PEER)), 5_000_000_123, interface=1)
            + spb(order, udp(b"c"))
            + shb(other) + idb(other, IPV4, options=option(other, 9, b"\x03"))
            + epb(other, udp(b"d"), 1500, options=comment(other, "two")))
    result = parse(data)
    assert views(result.packets) == [
        (0, 1_000_000, PEER, PUMP, b"a", "one"),
        (1, 5_000_000, PUMP, PEER, b"b", None),          # nanoseconds, rounded down
        (2, None, PEER, PUMP, b"c", None),               # a Simple Packet Block has no time
        (3, 1_500_000, PEER, PUMP, b"d", "two")]         # milliseconds
    assert result.skipped == ()


def test_interfaces_belong_to_their_section():
    data = shb() + idb() + idb() + shb() + idb() + epb("<", udp(b"x"), interface=1)
    with pytest.raises(CaptureError, match="interface 1"):
        parse(data)


@pytest.mark.parametrize("resolution, units, expected", [
    (b"\x06", 1_700_000_000_123_456, 1_700_000_000_123_456),
    (b"\x00", 1_700_000_000, 1_700_000_000_000_000),              # seconds
    (b"\x09", 1_700_000_000_123_456_789, 1_700_000_000_123_456),  # nanoseconds
    (b"\x8a", 1024 * 3 + 512, 3_500_000),                         # 2^-10 s
    (b"\x94", 2 ** 20 + 1, 1_000_000),                            # 2^-20 s, rounded down
])
def test_if_tsresol(resolution, units, expected):
    data = shb() + idb(options=option("<", 9, resolution)) + epb("<", udp(b""), units)
    assert parse(data).packets[0].time_us == expected


def test_if_tsoffset_is_added_in_seconds():
    data = (shb() + idb(options=option("<", 14, struct.pack("<q", 1_700_000_000))
                        + option("<", 9, b"\x03"))
            + epb("<", udp(b""), 250))
    assert parse(data).packets[0].time_us == 1_700_000_000_250_000


def test_options_of_the_wrong_length_are_refused():
    for code, value in ((9, b"\x06\x00"), (14, b"\0" * 4)):
        with pytest.raises(CaptureError, match="offset 44: .*length"):
            parse(shb() + idb(options=option("<", code, value)))


def test_comments():
    def first_comment(options):
        return parse(shb() + idb() + epb("<", udp(b""), options=options)).packets[0].comment
    assert first_comment(comment("<", "a") + comment("<", "b")) == "a\nb"
    assert first_comment(comment("<", b"cut\0here")) == "cut"     # a NUL ends a string
    assert first_comment(comment("<", b"\xffok")) == "\ufffdok"    # invalid UTF-8 repaired
    assert first_comment(comment("<", "no end")) == "no end"      # opt_endofopt optional
    assert first_comment(option("<", 0, b"") + comment("<", "after end")) is None
    assert first_comment(option("<", 2988, b"custom") + comment("<", "x")) == "x"


def test_other_blocks_are_skipped_and_minor_version_2_is_version_0():
    data = (shb(minor=2) + idb() + block("<", 4, b"\0" * 4) + block("<", ISB, b"\0" * 12)
            + block("<", 0x40000BAD, b"\0" * 8) + block("<", 0x80000001, b"")
            + epb("<", udp(b"x")))
    assert [p.payload for p in parse(data).packets] == [b"x"]


@pytest.mark.parametrize("major, minor", [(2, 0), (1, 1), (0, 0)])
def test_other_versions_are_refused(major, minor):
    with pytest.raises(CaptureError, match=r"offset 12: .*version %d\.%d" % (major, minor)):
        parse(shb(major=major, minor=minor) + idb() + epb("<", udp(b"x")))


# -- link layers, IPv4 and UDP --------------------------------------------------------------

@pytest.mark.parametrize("linktype, frame", [
    (RAW, udp(b"coap")),
    (IPV4, udp(b"coap")),
    (ETHERNET, ethernet(udp(b"coap"))),
    (ETHERNET, ethernet(udp(b"coap"), (0x8100, 5))),                 # 802.1Q
    (ETHERNET, ethernet(udp(b"coap"), (0x88A8, 5), (0x8100, 6))),    # 802.1ad Q-in-Q
    (ETHERNET, ethernet(udp(b"coap")) + b"\0" * 20 + b"FCS!"),       # padding and FCS
    (NULL, struct.pack("<I", 2) + udp(b"coap")),                     # AF_INET, writer's order
    (NULL, struct.pack(">I", 2) + udp(b"coap")),
    (LOOP, struct.pack(">I", 2) + udp(b"coap")),                     # AF_INET, network order
    (LINUX_SLL, H("00000304000600000000000000000800") + udp(b"coap")),
    (LINUX_SLL2, H("0800000000000001000403060000000000000000") + udp(b"coap")),
    (RAW, udp(b"coap", ip_options=b"\x01\x01\x01\x00")),             # IHL 6
    (RAW, udp(b"coap") + b"trailer"),                                # beyond IP total length
    (RAW, udp(b"coap", total=20 + 8 + 4 + 3) + b"xyz"),              # beyond UDP length
])
def test_udp_ipv4_in_every_link_type(linktype, frame):
    result = parse(shb() + idb(linktype=linktype) + epb("<", frame))
    assert [(p.payload, p.source, p.destination) for p in result.packets] == [
        (b"coap", PEER, PUMP)]


@pytest.mark.parametrize("linktype, frame, reason", [
    (RAW, udp(b"x", protocol=6), "protocol 6"),
    (RAW, udp(b"x", version=6), "version 6"),
    (RAW, udp(b"x", fragment=0x2000), "fragment"),                  # more fragments
    (RAW, udp(b"x", fragment=0x0010), "fragment"),                  # a later fragment
    (RAW, udp(b"x", length=10), "UDP length 10"),                   # beyond the IP payload
    (RAW, udp(b"x", length=7), "UDP length 7"),
    (RAW, udp(b"x")[:-1], "total length 29"),                       # cut short
    (RAW, udp(b"")[:27], "total length 28"),
    (RAW, udp(b"x", total=24), "UDP header"),
    (RAW, udp(b"x")[:19], "IPv4 header"),
    (RAW, H("44") + udp(b"x")[1:], "header length 16"),
    (ETHERNET, ethernet(udp(b"x"), ethertype=0x86DD), "EtherType 0x86dd"),
    (ETHERNET, ethernet(b"", (0x8100, 1))[:15], "Ethernet"),
    (NULL, struct.pack("<I", 24) + udp(b"x"), "family"),
    (LOOP, struct.pack("<I", 2) + udp(b"x"), "family"),
    (LINUX_SLL, H("00000304000600000000000000000806") + udp(b"x"), "0x0806"),
    (147, udp(b"x"), "link type 147"),
])
def test_what_is_not_a_whole_udp_ipv4_datagram_is_skipped_and_counted(linktype, frame, reason):
    result = parse(shb() + idb(linktype=linktype) + epb("<", frame) + idb()
                   + epb("<", udp(b"kept"), interface=1))
    assert [(p.index, p.payload) for p in result.packets] == [(1, b"kept")]
    assert len(result.skipped) == 1 and result.skipped[0][0] == 0
    assert reason in result.skipped[0][1]


def test_checksums_are_not_verified():
    good = capture.udp_datagram(b"coap", (H("0a000002"), 50000), (H("0a000001"), 5683))
    bad = bytearray(good)
    bad[10:12] = b"\xde\xad"                    # IPv4 header checksum
    bad[26:28] = b"\xbe\xef"                    # UDP checksum
    result = parse(shb() + idb() + epb("<", good) + epb("<", bytes(bad)))
    assert [p.payload for p in result.packets] == [b"coap", b"coap"]


def test_a_datagram_cut_by_the_snap_length_is_skipped_but_a_cut_fcs_does_not_matter():
    whole = udp(b"0123456789")
    cut = whole[:30]
    result = parse(shb() + idb(linktype=ETHERNET)
                   + epb("<", ethernet(whole), original=14 + len(whole) + 4)   # FCS not kept
                   + idb(snaplen=30) + epb("<", cut, original=len(whole), interface=1)
                   + shb() + idb(snaplen=30) + spb("<", cut + b"\0\0", original=len(whole)))
    assert [(p.index, p.payload) for p in result.packets] == [(0, b"0123456789")]
    assert [(index, "38" in reason) for index, reason in result.skipped] == [(1, True),
                                                                             (2, True)]


def test_a_simple_packet_block_is_cut_at_the_snap_length_not_at_its_padding():
    whole = udp(b"0123")                         # 32 bytes; 30 kept, then 2 bytes padding
    result = parse(shb() + idb(snaplen=30) + spb("<", whole[:30], original=len(whole)))
    assert result.packets == () and "32" in result.skipped[0][1]


def test_classic_pcap_both_orders_and_nanoseconds():
    records = [(1700000000, 123456, udp(b"a")), (1700000001, 999999, udp(b"b", PUMP, PEER)),
               (5, 0, udp(b"c", protocol=1))]
    for order in "<>":
        result = parse(pcap(records, order))
        assert views(result.packets) == [(0, 1700000000123456, PEER, PUMP, b"a", None),
                                         (1, 1700000001999999, PUMP, PEER, b"b", None)]
        assert [index for index, _ in result.skipped] == [2]
        nano = parse(pcap([(7, 123456789, udp(b"x"))], order, magic=0xA1B23C4D))
        assert nano.packets[0].time_us == 7_123_456
    ethernet_file = pcap([(0, 0, ethernet(udp(b"e")))], linktype=0x10000000 | ETHERNET)
    assert parse(ethernet_file).packets[0].payload == b"e"   # FCS bits above the link type


# -- files written by independent tools, read as tshark reads them --------------------------

@pytest.fixture(scope="module")
def tools():
    return {name: real_tool(name) for name in ("tshark", "editcap", "text2pcap", "mergecap")}


TSHARK_FIELDS = ["frame.number", "frame.time_epoch", "ip.src", "udp.srcport", "ip.dst",
                 "udp.dstport", "udp.payload", "frame.comment"]


def _run(tools, tmp_path, tool, *args):
    config = tmp_path / "wireshark-config"
    config.mkdir(exist_ok=True)
    result = subprocess.run([tools[tool], *map(str, args)], capture_output=True, text=True,
                            timeout=60, env=dict(os.environ, WIRESHARK_CONFIG_DIR=str(config)))
    assert result.returncode == 0, result.stderr
    return result.stdout


def tshark_view(tools, tmp_path, path):
    """What tshark finds in the UDP/IPv4 packets of a file, as views() shows ours."""
    args = ["-n", "-r", path, "-Y", "udp && ip", "-T", "fields", "-E", "separator=/t"]
    for name in TSHARK_FIELDS:
        args += ["-e", name]
    rows = []
    for line in _run(tools, tmp_path, "tshark", *args).splitlines():
        number, epoch, src, sport, dst, dport, payload, note = line.split("\t")
        rows.append((int(number) - 1, int(decimal.Decimal(epoch) * 1000000),
                     (src, int(sport)), (dst, int(dport)), H(payload), note or None))
    return rows


def check_against_tshark(tools, tmp_path, path, count):
    ours = views(pcapng.read_packets(path))
    assert ours == tshark_view(tools, tmp_path, path)
    assert len(ours) == count
    return ours


def text2pcap(tools, tmp_path, name, frames, *options):
    """Write frames (bytes) with text2pcap; frame i is stamped 2024-03-01T10:00:0i.25Z."""
    dump = tmp_path / (name + ".txt")
    lines = []
    for i, frame in enumerate(frames):
        lines.append("2024-03-01T10:00:%02d.250000Z" % i)
        for offset in range(0, len(frame), 16):
            lines.append("%06x  %s" % (offset, frame[offset:offset + 16].hex(" ")))
    dump.write_text("\n".join(lines) + "\n")
    path = tmp_path / name
    _run(tools, tmp_path, "text2pcap", "-q", "-t", "ISO", *options, dump, path)
    return path


def our_capture(tmp_path, name="ours.pcapng"):
    path = tmp_path / name
    with capture.Capture(path, LINK) as cap:
        cap.record(GET_STATUS, False, 1709287200.5)
        cap.record(STATUS, True, 1709287200.625125)
        cap.record(b"\x40\x00\x00\x07", False, 1709287201)
    return path


def test_our_capture_as_tshark_reads_it(tools, tmp_path):
    packets = check_against_tshark(tools, tmp_path, our_capture(tmp_path), 3)
    assert [p[4] for p in packets] == [GET_STATUS, STATUS, b"\x40\x00\x00\x07"]


@pytest.mark.parametrize("file_type", ["pcap", "nsecpcap", "pcapng"])
def test_editcap_conversions(tools, tmp_path, file_type):
    converted = tmp_path / ("converted." + file_type)
    _run(tools, tmp_path, "editcap", "-F", file_type, our_capture(tmp_path), converted)
    packets = check_against_tshark(tools, tmp_path, converted, 3)
    assert [p[4] for p in packets] == [GET_STATUS, STATUS, b"\x40\x00\x00\x07"]


@pytest.mark.parametrize("file_type", ["pcap", "pcapng"])
def test_text2pcap_ethernet_and_raw_ip(tools, tmp_path, file_type):
    messages = [GET_STATUS, b"\x60", bytes(range(200))]
    for options in (["-u", "50000,5683", "-4", "10.0.0.2,10.0.0.1"],
                    ["-l", "101", "-u", "50000,5683"]):
        path = text2pcap(tools, tmp_path, "t2p." + file_type, messages, "-F", file_type,
                         *options)
        packets = check_against_tshark(tools, tmp_path, path, 3)
        assert [p[4] for p in packets] == messages


def test_text2pcap_other_link_types(tools, tmp_path):
    datagram = capture.udp_datagram(GET_STATUS, (H("0a000002"), 50000), (H("0a000001"), 5683))
    for linktype, frame in [(IPV4, datagram), (NULL, struct.pack("<I", 2) + datagram),
                            (LOOP, struct.pack(">I", 2) + datagram),
                            (ETHERNET, ethernet(datagram, (0x8100, 7))),
                            (ETHERNET, ethernet(datagram, (0x88A8, 7), (0x8100, 8))),
                            (LINUX_SLL, H("00000304000600000000000000000800") + datagram)]:
        path = text2pcap(tools, tmp_path, "link%d.pcapng" % linktype, [frame, frame],
                         "-l", linktype)
        assert [p[4] for p in check_against_tshark(tools, tmp_path, path, 2)] == [GET_STATUS] * 2


def test_tcp_and_udp_merged_by_mergecap(tools, tmp_path):
    udp_file = text2pcap(tools, tmp_path, "udp.pcapng", [b"u1", b"u2"], "-u", "50000,5683")
    tcp_file = text2pcap(tools, tmp_path, "tcp.pcap", [b"t1", b"t2", b"t3"], "-F", "pcap",
                         "-T", "50000,5683")
    raw_file = text2pcap(tools, tmp_path, "raw.pcapng", [b"r1"], "-l", "101",
                         "-u", "50001,5683")
    merged = tmp_path / "merged.pcapng"
    _run(tools, tmp_path, "mergecap", "-F", "pcapng", "-w", merged, udp_file, tcp_file,
         raw_file)
    packets = check_against_tshark(tools, tmp_path, merged, 3)
    assert sorted(p[4] for p in packets) == [b"r1", b"u1", b"u2"]
    assert len(pcapng.read_capture(merged).skipped) == 3


def test_concatenated_sections(tools, tmp_path):
    first = our_capture(tmp_path, "first.pcapng").read_bytes()
    second = text2pcap(tools, tmp_path, "second.pcapng", [b"s"], "-u", "50000,5683")
    path = tmp_path / "sections.pcapng"
    path.write_bytes(first + second.read_bytes() + first)
    assert len(check_against_tshark(tools, tmp_path, path, 7)) == 7


@pytest.mark.parametrize("order", ["<", ">"])
def test_our_hand_built_files_as_tshark_reads_them(tools, tmp_path, order):
    path = tmp_path / "hand.pcapng"
    path.write_bytes(shb(order) + idb(order, ETHERNET, options=option(order, 9, b"\x89"))
                     + epb(order, ethernet(udp(b"a"), (0x8100, 3)), 2 ** 9 * 1709287200 + 17,
                           options=comment(order, "tagged"))
                     + idb(order, IPV4) + epb(order, udp(b"b", PUMP, PEER), 10 ** 15 + 1,
                                              interface=1))
    check_against_tshark(tools, tmp_path, path, 2)


# dumpcap 4.0.17 on Linux: `dumpcap -i lo` and `dumpcap -i any`, each sending CoAP to
# 127.0.0.1:5683. Loopback is Ethernet on Linux (zero MAC addresses), not LINKTYPE_NULL;
# "any" is LINKTYPE_LINUX_SLL. Timestamps are nanoseconds; the UDP checksums are wrong
# (offloaded). The blocks after the IDB are verbatim (Enhanced Packet Blocks, then an
# Interface Statistics Block); the SHB and IDB are rebuilt without the host's names.
LOOPBACK_BLOCKS = H(
    "060000005000000000000000362fed184069d3a82e0000002e000000000000000000000000000000080045"
    "0000205d3c40004011df8e7f0000017f000001bd961633000cfe1f40011234000050000000060000005000"
    "000000000000362fed188dbfd3a82f0000002f0000000000000000000000000000000800450000215d3d40"
    "004011df8c7f0000017f000001bd961633000dfe2068656c6c6f0050000000050000006c00000000000000"
    "9561060084527d4d01001c00436f756e746572732070726f76696465642062792064756d70636170020008"
    "0095610600b6555b4d030008009561060024527d4d0400080002000000000000000500080000000000000000"
    "00000000006c000000")
ANY_BLOCKS = H(
    "060000005000000000000000392fed181ec97013300000003000000000000304000600000000000000000800"
    "450000205e7040004011de5a7f0000017f000001d5ef1633000cfe1f4001123450000000050000006c000000"
    "00000000956106008c8c1b4e01001c00436f756e746572732070726f76696465642062792064756d70636170"
    "0200080095610600e97af94d0300080095610600898c1b4e0400080001000000000000000500080000000000"
    "00000000000000006c000000")


@pytest.mark.parametrize("linktype, name, blocks, expected", [
    (ETHERNET, b"lo", LOOPBACK_BLOCKS, [(1796143738197862, 48534, b"\x40\x01\x12\x34"),
                                        (1796143738197884, 48534, b"hello")]),
    (LINUX_SLL, b"any", ANY_BLOCKS, [(1796143748576495, 54767, b"\x40\x01\x12\x34")])])
def test_dumpcap_on_linux(tools, tmp_path, linktype, name, blocks, expected):
    path = tmp_path / "dumpcap.pcapng"
    path.write_bytes(shb() + idb(linktype=linktype, snaplen=262144,
                                 options=option("<", 2, name) + option("<", 9, b"\x09"))
                     + blocks)
    packets = pcapng.read_packets(path)
    assert [(p.time_us, p.source, p.destination, p.payload) for p in packets] == [
        (when, ("127.0.0.1", port), ("127.0.0.1", 5683), payload)
        for when, port, payload in expected]
    assert not any(p.from_pump for p in packets)
    check_against_tshark(tools, tmp_path, path, len(expected))


# -- malformed files ----------------------------------------------------------------------

def _boundaries(data, first, header):
    """Offsets where a block or record ends; header(offset) is its length."""
    offsets, offset = [], first
    while offset < len(data):
        offset += header(offset)
        offsets.append(offset)
    return offsets


def _pcapng_small(tmp_path):
    return our_capture(tmp_path).read_bytes() + spb("<", udp(b"spb"))


def _pcap_small():
    return pcap([(1, 2, udp(b"one")), (3, 4, udp(b"two", protocol=6)), (5, 6, udp(b"3"))])


def test_truncation_at_every_offset(tmp_path):
    """A prefix of a capture ending where a block or record ends is a capture of fewer
    packets; any other prefix is refused."""
    small = _pcapng_small(tmp_path)
    small_pcap = _pcap_small()
    cases = [(small, 4, _boundaries(small, 0, lambda o: struct.unpack_from("<I", small,
                                                                           o + 4)[0])),
             (small_pcap, 3, [24] + _boundaries(
                 small_pcap, 24, lambda o: 16 + struct.unpack_from("<I", small_pcap, o + 8)[0]))]
    for data, count, ends in cases:
        whole = parse(data)
        assert len(whole.packets) + len(whole.skipped) == count
        for size in range(len(data)):
            try:
                part = parse(data[:size])
            except CaptureError as error:
                assert size not in ends, (size, error)
                assert error.offset <= size
                assert str(error).startswith("test.pcapng: offset %d: " % error.offset)
            else:
                assert size in ends, size
                assert part.packets == whole.packets[:len(part.packets)]
                assert part.skipped == whole.skipped[:len(part.skipped)]


@pytest.mark.parametrize("data, offset, words", [
    (b"", 0, "too short"),
    (b"\x0a\x0d\x0d", 0, "too short"),
    (b"\0" * 64, 0, "not a pcapng or pcap file"),
    (idb() + shb(), 0, "not a pcapng or pcap file"),
    (shb()[:8] + H("1a2b3c4e") + shb()[12:], 8, "byte-order magic"),
    (shb() + block("<", IDB, b"\0" * 8, length=21), 28, "multiple of 4"),
    (shb() + block("<", IDB, b"\0" * 8, length=8), 28, "below the minimum"),
    (shb() + struct.pack("<II", 1, 0xFFFFFFF0) + b"\0" * 64, 28, "limit"),
    (shb() + idb()[:-4] + b"\x15\0\0\0", 28, "trailing"),
    (shb() + block("<", IDB, b"\0" * 4), 28, "Interface Description Block of 16 bytes"),
    (shb() + idb() + epb("<", udp(b"x"))[:20] + struct.pack("<I", 77)
     + epb("<", udp(b"x"))[24:], 68, "captured length 77"),
    (shb() + epb("<", udp(b"x")), 36, "interface 0"),
    (shb() + spb("<", udp(b"x")), 28, "interface 0"),
    (shb() + idb(options=option("<", 2, b"lo")[:2] + b"\x09\0lo\0\0"), 44, "option"),
    (shb() + idb() + idb()[:12], 48, "truncated"),
    (shb() + idb() + b"\0" * 8, 48, "truncated"),
    (pcap([])[:20], 0, "pcap file header"),
    (pcap([], major=3), 4, "version 3.4"),
    (pcap([(0, 0, b"abc")]) + b"\0" * 8, 43, "record header"),
    (pcap([(0, 0, b"abcd")])[:-1], 24, "truncated"),
    (pcap([])[:24] + struct.pack("<IIII", 0, 0, 0xFFFFFFFF, 0), 24, "limit"),
])
def test_malformed_files_are_refused_naming_the_offset(data, offset, words):
    with pytest.raises(CaptureError) as refused:
        parse(data)
    assert refused.value.offset == offset
    assert str(refused.value).startswith("test.pcapng: offset %d: " % offset)
    assert words in str(refused.value)
    assert "\n" not in str(refused.value)


def test_only_bytes_are_parsed():
    with pytest.raises(TypeError):
        pcapng.parse_capture("not bytes")
    assert pcapng.parse_capture(bytearray(shb())).packets == ()


def test_a_file_over_the_size_limit_is_refused_and_the_path_is_named(tmp_path):
    path = tmp_path / "huge.pcapng"
    with open(path, "wb") as out:
        out.write(shb())
        out.truncate(pcapng.MAX_FILE + 1)            # sparse: no disk used
    with pytest.raises(CaptureError) as refused:
        pcapng.read_capture(path)
    assert str(refused.value).startswith("%s: offset %d: " % (path, pcapng.MAX_FILE))
    assert "larger than" in str(refused.value)
    bad = tmp_path / "bad.pcapng"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(CaptureError) as refused:
        pcapng.read_packets(str(bad))
    assert str(refused.value).startswith("%s: offset 0: " % bad)


def _varied_pcapng():
    """A capture that reaches most of the reader: both byte orders, several link types and
    interfaces, options, a Simple Packet Block, an unknown block and skipped packets."""
    return (shb() + idb(options=option("<", 9, b"\x09") + option("<", 14, b"\0" * 8))
            + idb(linktype=ETHERNET, snaplen=100)
            + epb("<", udp(b"one"), 5, options=comment("<", "c") + option("<", 0, b""))
            + epb("<", ethernet(udp(b"two"), (0x8100, 1)), 6, interface=1)
            + spb("<", udp(b"three", protocol=6)) + block("<", ISB, b"\0" * 12)
            + shb(">") + idb(">", LINUX_SLL2)
            + epb(">", H("0800000000000001000403060000000000000000") + udp(b"four"), 7))


@settings(max_examples=examples(200))
@given(base=st.sampled_from(["pcapng", "pcap"]), data=st.data())
def test_mutated_captures_give_capture_error_or_a_valid_result(base, data):
    original = _varied_pcapng() if base == "pcapng" else _pcap_small()
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(mutated) - 1))
        mutated[position] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del mutated[data.draw(st.integers(0, len(mutated))):]
    try:
        result = parse(bytes(mutated))
    except CaptureError as error:
        assert str(error).startswith("test.pcapng: offset %d: " % error.offset)
        return
    indices = [p.index for p in result.packets] + [i for i, _ in result.skipped]
    assert sorted(indices) == list(range(len(indices)))
    for packet in result.packets:
        assert type(packet.payload) is bytes and len(packet.payload) < len(mutated)
        assert type(packet.time_us) is int or packet.time_us is None
        assert packet.comment is None or type(packet.comment) is str
        assert type(packet.from_pump) is bool
