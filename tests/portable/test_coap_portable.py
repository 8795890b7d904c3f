"""The CoAP codec (RFC 7252 §3) on both interpreters: RFC 8613 Appendix C messages as
vectors, round trips, and every message format error refused."""

from secure_channel.coap import message as M, numbers as N

# RFC 8613 Appendix C.4 (unprotected request) and C.7 (unprotected response)
C4_REQUEST = bytes.fromhex("44015d1f00003974396c6f63616c686f737483747631")
C7_RESPONSE = bytes.fromhex("64455d1f00003974ff48656c6c6f20576f726c6421")


def _refused(data):
    try:
        M.decode(data)
    except M.CoapFormatError:
        return True
    return False


def test_rfc8613_appendix_c_messages_decode_and_encode_byte_for_byte():
    request = M.decode(C4_REQUEST)
    assert request.mtype == N.CON and request.code == N.GET and request.mid == 0x5D1F
    assert request.token == bytes.fromhex("00003974")
    assert request.first(N.URI_HOST) == b"localhost" and request.path == "/tv1"
    assert M.encode(request) == C4_REQUEST
    built = M.Message(N.CON, N.GET, 0x5D1F, bytes.fromhex("00003974"))
    built.set_path("/tv1").add(N.URI_HOST, "localhost")     # added out of order: sorted
    assert M.encode(built) == C4_REQUEST
    response = M.decode(C7_RESPONSE)
    assert response.mtype == N.ACK and response.code == N.CONTENT
    assert response.payload == b"Hello World!" and M.encode(response) == C7_RESPONSE


def test_extended_deltas_and_lengths_round_trip():
    message = M.Message(N.NON, N.POST, 7, b"\x01")
    message.add(N.URI_PATH, "a" * 12).add(N.URI_PATH, "b" * 13).add(N.URI_QUERY, "q" * 255)
    message.add(65000, b"z" * 300)                      # 14-nibble delta and length
    message.add(N.ECHO, b"\x05" * 8).add(N.REQUEST_TAG, b"").add(N.CONTENT_FORMAT, N.CBOR)
    message.add(N.NO_RESPONSE, 26).add(N.SIZE1, 70000)
    message.payload = b"\xa1\x01\x02"
    again = M.decode(M.encode(message))
    assert again == message
    assert again.values(N.URI_PATH) == [b"a" * 12, b"b" * 13]
    assert again.uint(N.CONTENT_FORMAT) == 60 and again.uint(N.SIZE1) == 70000
    assert again.option_problem() is None


def test_message_format_errors_are_refused():
    assert _refused(b"")
    assert _refused(b"\x40\x01\x00")                      # short header
    assert _refused(b"\x80\x01\x00\x00")                  # version 2
    assert _refused(b"\x49\x01\x00\x00" + b"\x00" * 9)    # token length 9 is reserved
    assert _refused(b"\x44\x01\x00\x00\x00")              # token runs past the end
    assert _refused(b"\x41\x00\x00\x00\x00")              # Empty message with a token
    assert _refused(b"\x40\x00\x00\x00\xff\x01")          # Empty message with a payload
    assert _refused(b"\x40\x01\x00\x00\xff")              # marker, no payload
    assert _refused(b"\x40\x01\x00\x00\xf1\x00")          # delta nibble 15
    assert _refused(b"\x40\x01\x00\x00\x1f")              # length nibble 15
    assert _refused(b"\x40\x01\x00\x00\xd1")              # delta extension missing
    assert _refused(b"\x40\x01\x00\x00\x13ab")            # value runs past the end
    assert _refused(b"\x40\x01\x00\x00\xe0\xff\xff\xe0\xff\xff")   # number above 65535
    assert not _refused(b"\x40\x00\x12\x34")              # a well-formed Empty (ping)
    assert not _refused(b"\x70\x00\x12\x34")              # and RST


def test_option_problems_are_reported_not_raised():
    message = M.decode(b"\x40\x01\x00\x00\xc2\x00\x3c")   # Content-Format 0x003c
    assert message.option_problem()[0] == N.CONTENT_FORMAT
    twice = M.Message(N.CON, N.GET).add(N.CONTENT_FORMAT, 60).add(N.CONTENT_FORMAT, 0)
    assert "repeated" in twice.option_problem()[1]
    bad_utf8 = M.Message(N.CON, N.GET).add(N.URI_PATH, b"\xff\xfe")
    assert bad_utf8.option_problem()[0] == N.URI_PATH


def test_encoding_refuses_fields_out_of_range():
    for field, value in (("mtype", 4), ("code", 256), ("mid", 70000), ("token", b"x" * 9)):
        message = M.Message(N.CON, N.GET)
        setattr(message, field, value)
        try:
            M.encode(message)
        except ValueError:
            continue
        raise AssertionError("%s=%r was encoded" % (field, value))
    try:
        M.encode(M.Message(N.CON, N.EMPTY, 1, b"t"))
    except ValueError:
        pass
    else:
        raise AssertionError("an Empty message with a token was encoded")
