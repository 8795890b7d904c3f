"""sim.capture read back by the real tshark: CoAP fields and packet comments dissected without
plug-ins, OSCORE decrypted from the exported contexts (RFC 8613 Appendix C.1, C.4, C.7), and a
capture that stays readable after every packet, even when the writer dies."""

import os
import stat
import subprocess
import sys

import pytest

from conftest import real_tool

from sim import capture

H = bytes.fromhex
LINK = "serial /dev/ttyUSB0 (COBS+CRC frame)"

# RFC 8613 Appendix C.1 (client Sender ID empty, server Sender ID 0x01), the client's view.
C1_CLIENT = {"sender_id": b"", "recipient_id": H("01"),
             "master_secret": H("0102030405060708090a0b0c0d0e0f10"),
             "master_salt": H("9e7ca92223786340"), "id_context": None, "alg": 10}
C1_SERVER = dict(C1_CLIENT, sender_id=H("01"), recipient_id=b"")
# C.4: protected request (outer POST, Uri-Host localhost, OSCORE option 0914; inner GET /tv1).
C4_REQUEST = H("44025d1f00003974396c6f63616c686f7374620914ff612f1092f1776f1c1668b3825e")
# C.7: protected response (outer ACK 2.04, empty OSCORE option; inner 2.05 "Hello World!").
C7_RESPONSE = H("64445d1f0000397490ffdbaad1e9a7e7b2a813d3c31524378303cdafae119106")

# Hand-built CoAP (RFC 7252 §3): ver 1, type, token length | code | message id | token | options.
TOKEN_1, TOKEN_2 = H("4a7b0c01"), H("4a7b0c02")
GET_CORE = (H("44011234") + TOKEN_1 + b"\xbb.well-known" + b"\x04core")     # CON GET
CORE_LINKS = b'</status>;rt="pump"'
CORE_ANSWER = H("64451234") + TOKEN_1 + H("c128") + b"\xff" + CORE_LINKS   # ACK 2.05, CF 40
GET_STATUS = H("44011235") + TOKEN_2 + b"\xb6status"                        # CON GET
STATUS = H("a1011864")
STATUS_ANSWER = H("64451235") + TOKEN_2 + b"\xff" + STATUS                   # ACK 2.05, bytes

FIELDS = ["frame.number", "frame.comment", "frame.time_epoch", "ip.src", "ip.dst",
          "ip.checksum.status", "udp.srcport", "udp.dstport", "udp.checksum.status",
          "coap.type", "coap.code", "coap.mid", "coap.token", "coap.opt.uri_path_recon",
          "coap.opt.ctype", "coap.payload_length", "coap.response_to", "data.data",
          "coap.opt.object_security_kid_present", "coap.opt.object_security_piv",
          "oscore.code", "oscore.opt.uri_path", "_ws.expert.message"]
GOOD = "1"                    # Wireshark's PROTO_CHECKSUM_E_GOOD


@pytest.fixture(scope="module")
def tshark():
    return real_tool("tshark")


def _run(tshark, path, config_dir, *options):
    # An empty configuration directory keeps the developer's own profile (and any OSCORE
    # keys in it) out of the result.
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(config_dir))
    result = subprocess.run([tshark, "-n", "-r", str(path), *options], capture_output=True,
                            text=True, timeout=30, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _fields(tshark, path, tmp_path, *options):
    """One dict per packet, field name -> every occurrence joined with '|'."""
    config_dir = tmp_path / "wireshark-config"
    config_dir.mkdir(exist_ok=True)
    args = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", *options,
            "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for name in FIELDS:
        args += ["-e", name]
    out = _run(tshark, path, config_dir, *args)
    return [dict(zip(FIELDS, line.split("\t"))) for line in out.splitlines()]


def _oscore_capture(tmp_path, messages, contexts):
    path = tmp_path / "oscore.pcapng"
    with capture.Capture(path, "BLE GATT (CoAP characteristic)") as cap:
        for data, from_pump in messages:
            cap.record(data, from_pump)
    uat = tmp_path / "oscore_contexts"
    capture.write_oscore_contexts(uat, contexts)
    return path, capture.tshark_args(uat)


def _text(colon_hex):
    return bytes.fromhex(colon_hex.replace(":", ""))


# --- plain CoAP --------------------------------------------------------------------------


def test_tshark_dissects_coap_fields_addresses_comments_and_timestamps(tshark, tmp_path):
    path = tmp_path / "coap.pcapng"
    start = 1700000000.123456
    with capture.Capture(path, LINK) as cap:
        for i, (data, from_pump) in enumerate([(GET_CORE, False), (CORE_ANSWER, True),
                                               (GET_STATUS, False), (STATUS_ANSWER, True)]):
            cap.record(data, from_pump, when=start + i * 0.25)
    get, links, get_status, status = _fields(tshark, path, tmp_path)

    for packet, from_pump, i in ((get, False, 0), (links, True, 1), (get_status, False, 2),
                                 (status, True, 3)):
        direction = "pump -> peer" if from_pump else "peer -> pump"
        assert packet["frame.comment"] == "%s: %s" % (LINK, direction)
        assert packet["frame.time_epoch"] == "%d.%06d000" % divmod(
            1700000000123456 + i * 250000, 1000000)
        pump, peer = ("10.0.0.1", "5683"), ("10.0.0.2", "50000")
        source, destination = (pump, peer) if from_pump else (peer, pump)
        assert (packet["ip.src"], packet["udp.srcport"]) == source
        assert (packet["ip.dst"], packet["udp.dstport"]) == destination
        assert packet["ip.checksum.status"] == packet["udp.checksum.status"] == GOOD

    assert (get["coap.type"], get["coap.code"], get["coap.mid"]) == ("0", "1", "4660")
    assert get["coap.token"] == TOKEN_1.hex()
    assert get["coap.opt.uri_path_recon"] == "/.well-known/core"
    assert (links["coap.type"], links["coap.code"], links["coap.mid"]) == ("2", "69", "4660")
    assert links["coap.token"] == TOKEN_1.hex()
    assert links["coap.response_to"] == "1"
    assert links["coap.opt.ctype"] == "application/link-format"
    assert links["coap.payload_length"] == str(len(CORE_LINKS))
    assert get_status["coap.opt.uri_path_recon"] == "/status"
    assert (status["coap.code"], status["coap.mid"]) == ("69", "4661")
    assert status["coap.token"] == TOKEN_2.hex() and status["coap.response_to"] == "3"
    assert _text(status["data.data"]) == STATUS


def test_a_chosen_peer_port_is_used_both_ways(tshark, tmp_path):
    path = tmp_path / "port.pcapng"
    with capture.Capture(path, "usb", peer_port=61616) as cap:
        cap.record(GET_STATUS, False)
        cap.record(STATUS_ANSWER, True)
    request, response = _fields(tshark, path, tmp_path)
    assert (request["udp.srcport"], request["udp.dstport"]) == ("61616", "5683")
    assert (response["udp.srcport"], response["udp.dstport"]) == ("5683", "61616")
    assert response["coap.response_to"] == "1"


# --- OSCORE ------------------------------------------------------------------------------


def test_uat_line_for_the_rfc_8613_c1_client_context():
    assert capture.oscore_contexts_uat([C1_CLIENT]) == (
        '"","01","0102030405060708090a0b0c0d0e0f10","9e7ca92223786340","",'
        '"AES-CCM-16-64-128 (CCM*)"\n')
    with_context = dict(C1_CLIENT, id_context=H("37cbf3210017a2d3"), master_salt=None)
    assert capture.oscore_contexts_uat([C1_CLIENT, with_context]).splitlines()[1] == (
        '"","01","0102030405060708090a0b0c0d0e0f10","","37cbf3210017a2d3",'
        '"AES-CCM-16-64-128 (CCM*)"')


def test_tshark_decrypts_the_rfc_8613_c4_request_and_c7_response(tshark, tmp_path):
    path, options = _oscore_capture(tmp_path, [(C4_REQUEST, False), (C7_RESPONSE, True)],
                                    [C1_CLIENT])
    assert options == ["-o", "uat:oscore_contexts:" + capture.oscore_contexts_uat(
        [C1_CLIENT]).strip()]
    request, response = _fields(tshark, path, tmp_path, *options)

    assert "can't decrypt" not in request["_ws.expert.message"]
    assert (request["coap.code"], request["coap.token"]) == ("2", "00003974")   # outer POST
    assert request["coap.opt.object_security_kid_present"] == "1"
    assert request["coap.opt.object_security_piv"] == "14"
    assert request["oscore.code"] == "1"                                         # inner GET
    assert request["oscore.opt.uri_path"] == "tv1"

    assert "can't decrypt" not in response["_ws.expert.message"]
    assert "tag check failed" not in response["_ws.expert.message"]
    assert (response["coap.code"], response["coap.token"]) == ("68", "00003974")  # 2.04
    assert response["coap.response_to"] == "1"
    assert response["oscore.code"] == "69"                                       # 2.05
    assert _text(response["data.data"].split("|")[-1]) == b"Hello World!"


@pytest.mark.parametrize("messages,contexts,refusal", [
    # No context: nothing to decrypt with.
    ([(C4_REQUEST, False), (C7_RESPONSE, True)], [], "Security context not set"),
    # The server's view of the same context: Wireshark looks up the request's kid (empty)
    # among the Sender IDs, so the line must be the client's.
    ([(C4_REQUEST, False), (C7_RESPONSE, True)], [C1_SERVER], "Security context not set"),
    # A response has neither kid nor Partial IV; they come from its request in the capture.
    ([(C7_RESPONSE, True)], [C1_CLIENT], "Partial IV not found"),
    ([(C7_RESPONSE, True), (C4_REQUEST, False)], [C1_CLIENT], "Partial IV not found"),
    # A modified response is refused, not shown as plaintext.
    ([(C4_REQUEST, False), (C7_RESPONSE[:-1] + b"\x07", True)], [C1_CLIENT],
     "Authentication tag check failed"),
], ids=["no-context", "server-view", "response-alone", "response-first", "tampered"])
def test_what_tshark_needs_to_decrypt_the_response(tshark, tmp_path, messages, contexts,
                                                   refusal):
    path, options = _oscore_capture(tmp_path, messages, contexts)
    packets = _fields(tshark, path, tmp_path, *options)
    response = [p for p in packets if p["coap.code"] == "68"][0]
    assert refusal in response["_ws.expert.message"]
    assert response["oscore.code"] == ""


def test_both_views_in_one_file_still_decrypt(tshark, tmp_path):
    path, options = _oscore_capture(tmp_path, [(C4_REQUEST, False), (C7_RESPONSE, True)],
                                    [C1_SERVER, C1_CLIENT])
    request, response = _fields(tshark, path, tmp_path, *options)
    assert (request["oscore.code"], response["oscore.code"]) == ("1", "69")


def test_the_uat_file_also_works_as_a_wireshark_profile(tshark, tmp_path):
    path, _ = _oscore_capture(tmp_path, [(C4_REQUEST, False), (C7_RESPONSE, True)],
                              [C1_CLIENT])
    profile = tmp_path / "profile"
    profile.mkdir()
    capture.write_oscore_contexts(profile / "oscore_contexts", [C1_CLIENT])
    out = _run(tshark, path, profile, "-T", "fields", "-e", "oscore.code")
    assert out.split() == ["1", "69"]


def test_the_uat_file_is_private(tmp_path):
    path = tmp_path / "keys.uat"
    capture.write_oscore_contexts(path, [C1_CLIENT])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert capture.tshark_args(path) == ["-o", "uat:oscore_contexts:"
                                         + path.read_text().strip()]


@pytest.mark.parametrize("change", [
    {"alg": 11}, {"alg": "10"}, {"alg": True},
    {"sender_id": bytes(8)}, {"recipient_id": None}, {"sender_id": "01"},
    {"master_secret": b""}, {"master_secret": None}, {"id_context": bytes(65)},
    {"master_salt": bytearray(2)},
])
def test_contexts_wireshark_cannot_use_are_refused(change):
    with pytest.raises(ValueError):
        capture.oscore_contexts_uat([dict(C1_CLIENT, **change)])


def test_malformed_context_lists_are_refused():
    for contexts in (C1_CLIENT, [dict(C1_CLIENT, extra=1)], [{"sender_id": b""}], ["x"],
                     None):
        with pytest.raises(ValueError):
            capture.oscore_contexts_uat(contexts)


# --- a capture that is always readable --------------------------------------------------


def test_the_file_is_valid_after_every_record_before_close(tshark, tmp_path):
    path = tmp_path / "live.pcapng"
    cap = capture.Capture(path, LINK)
    try:
        assert _fields(tshark, path, tmp_path) == []
        messages = [(GET_CORE, False), (CORE_ANSWER, True), (GET_STATUS, False)]
        for count, (data, from_pump) in enumerate(messages, 1):
            cap.record(data, from_pump)
            packets = _fields(tshark, path, tmp_path)
            assert len(packets) == count
            assert packets[-1]["coap.mid"] == str(int.from_bytes(data[2:4], "big"))
    finally:
        cap.close()


def test_nothing_is_lost_when_the_writer_dies(tshark, tmp_path):
    path = tmp_path / "killed.pcapng"
    script = ("import os, sys; from sim.capture import Capture\n"
              "cap = Capture(sys.argv[1], 'serial')\n"
              "cap.record(bytes.fromhex(sys.argv[2]), False)\n"
              "cap.record(bytes.fromhex(sys.argv[3]), True)\n"
              "os._exit(3)\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run([sys.executable, "-c", script, str(path), GET_CORE.hex(),
                             CORE_ANSWER.hex()], cwd=root, timeout=30)
    assert result.returncode == 3
    packets = _fields(tshark, path, tmp_path)
    assert [p["coap.code"] for p in packets] == ["1", "69"]


def test_the_largest_datagram_fits_and_one_byte_more_is_refused(tshark, tmp_path):
    path = tmp_path / "big.pcapng"
    largest = H("50011236") + b"\xff" + bytes(capture.MAX_DATA - 5)     # NON GET, payload
    assert capture.MAX_DATA == 65507
    with capture.Capture(path, "usb") as cap:
        cap.record(largest, True)
        size = os.path.getsize(path)
        with pytest.raises(ValueError, match="65508 bytes"):
            cap.record(largest + b"\0", True)
        assert os.path.getsize(path) == size            # a refused record writes nothing
        cap.record(bytearray(GET_STATUS), False)
    big, small = _fields(tshark, path, tmp_path)
    assert big["coap.payload_length"] == str(capture.MAX_DATA - 5)
    assert big["ip.checksum.status"] == big["udp.checksum.status"] == GOOD
    assert small["coap.opt.uri_path_recon"] == "/status"


@pytest.mark.parametrize("data", ["GET", None, 5, [0x40, 0x01], memoryview(b"\x40\x01")])
def test_record_refuses_what_is_not_bytes(tmp_path, data):
    path = tmp_path / "refused.pcapng"
    with capture.Capture(path, "usb") as cap:
        size = os.path.getsize(path)
        with pytest.raises(ValueError, match="bytes"):
            cap.record(data, True)
        assert os.path.getsize(path) == size and cap.count == 0


@pytest.mark.parametrize("from_pump,when", [(1, None), (None, None), (True, -1),
                                            (True, "now"), (True, True), (True, 2.0 ** 64)])
def test_record_refuses_bad_direction_and_time(tmp_path, from_pump, when):
    with capture.Capture(tmp_path / "c.pcapng", "usb") as cap:
        with pytest.raises(ValueError):
            cap.record(GET_STATUS, from_pump, when)


def test_record_after_close_is_refused(tmp_path):
    with capture.Capture(tmp_path / "c.pcapng", "usb") as cap:
        cap.record(GET_STATUS, False)
    assert cap.closed
    with pytest.raises(ValueError, match="closed"):
        cap.record(STATUS_ANSWER, True)


@pytest.mark.parametrize("link,port", [("", 50000), (None, 50000), (b"usb", 50000),
                                       ("usb", 5683), ("usb", 0), ("usb", 65536),
                                       ("usb", "50000"), ("usb", True)])
def test_capture_refuses_bad_link_or_port(tmp_path, link, port):
    with pytest.raises(ValueError):
        capture.Capture(tmp_path / "c.pcapng", link, peer_port=port)
    assert not (tmp_path / "c.pcapng").exists()
