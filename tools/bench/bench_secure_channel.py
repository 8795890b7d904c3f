"""Secure channel benchmarks: EDHOC handshake vs lakers-python, message sizes, and the
record layer's request+response rate vs raw AES-CCM, all measured in one run.

Run: ``.venv/bin/python tools/bench/run.py secure_channel``.
"""

import os

from common import best_time, report

from secure_channel import cbor
from secure_channel.edhoc import credentials
from secure_channel.edhoc import handshake as edhoc
from secure_channel.edhoc import initiator
from secure_channel.oscore import context as oscore

# RFC 9529 trace 2 credentials (CCS, kid 0x2b / 0x32) and their static DH keys.
CRED_I = bytes.fromhex(
    "a2027734322d35302d33312d46462d45462d33372d33322d333908a101a5010202412b2001215820ac75e9ec"
    "e3e50bfc8ed60399889522405c47bf16df96660a41298cb4307f7eb62258206e5de611388a4b8a8211334a"
    "c7d37ecb52a387d257e6db3c2a93df21ff3affc8")
CRED_R = bytes.fromhex(
    "a2026b6578616d706c652e65647508a101a501020241322001215820bbc34960526ea4d32e940cad2a2341"
    "48ddc21791a12afbcbac93622046dd44f02258204519e257236b2a0ce2023f0931f1f386ca7afda64fcde0"
    "108c224c51eabf6072")
KEY_I = bytes.fromhex("fb13adeb6518cee5f88417660841142e830a81fe334380a953406a1305e8706b")
KEY_R = bytes.fromhex("72cc4761dbd4c78f758931aa589d348d1ef874a7e303ede2f140dcf3e6aa4aac")
PAYLOAD = bytes(range(64))


def our_handshake(cred_i, cred_r, store, sizes=None):
    ini = initiator.Initiator(cred_i, KEY_I, os.urandom, method=3, suites=(2,))
    rsp = edhoc.Responder(cred_r, KEY_R, os.urandom, methods=(3,), suites=(2,))
    m1 = ini.message_1()
    rsp.receive_message_1(m1)
    m2 = rsp.message_2()
    ev2 = ini.receive_message_2(m2)
    ini.verify_message_2(store.lookup(ev2.id_cred))
    m3 = ini.message_3()
    ev3 = rsp.receive_message_3(m3)
    rsp.verify_message_3(store.lookup(ev3.id_cred))
    secrets = (ini.exporter(0, b"", 16), rsp.exporter(0, b"", 16))
    assert secrets[0] == secrets[1]
    if sizes is not None:
        sizes[:] = [len(m1), len(m2), len(m3)]
    return secrets


def lakers_handshake(lakers, lcred_i, lcred_r):
    transfer = lakers.CredentialTransfer.ByReference
    while True:
        ini = lakers.EdhocInitiator()
        rsp = lakers.EdhocResponder(KEY_R, lcred_r)
        rsp.process_message_1(ini.prepare_message_1(None, None))
        _, id_cred_r, _ = ini.parse_message_2(rsp.prepare_message_2(transfer, None, None))
        ini.verify_message_2(KEY_I, lcred_i, lakers.credential_check_or_fetch(id_cred_r, lcred_r))
        m3, _ = ini.prepare_message_3(transfer, None)
        id_cred_i, _ = rsp.parse_message_3(m3)
        rsp.verify_message_3(lakers.credential_check_or_fetch(id_cred_i, lcred_i))
        ini.completed_without_message_4()
        rsp.completed_without_message_4()
        secrets = (ini.edhoc_exporter(0, [], 16), rsp.edhoc_exporter(0, [], 16))
        assert secrets[0] == secrets[1]
        return secrets


def bench_handshake():
    cred_i = credentials.ccs(CRED_I)
    cred_r = credentials.ccs(CRED_R)
    store = credentials.CredentialStore([cred_i, cred_r])
    try:
        import lakers
    except ImportError:
        ours = best_time(lambda: our_handshake(cred_i, cred_r, store))
        report("EDHOC handshake, both sides, suite 2 method 3", ours * 1e6, "us",
               reference="lakers-python not installed")
        return
    lcred_i = lakers.Credential(CRED_I)
    lcred_r = lakers.Credential(CRED_R)
    ours = theirs = float("inf")
    for _ in range(3):       # interleaved, best of each
        ours = min(ours, best_time(lambda: our_handshake(cred_i, cred_r, store), repeat=3))
        theirs = min(theirs, best_time(lambda: lakers_handshake(lakers, lcred_i, lcred_r),
                                       repeat=3))
    report("EDHOC handshake (ours), both sides, suite 2 method 3", ours * 1e6, "us")
    report("EDHOC handshake (lakers-python)", theirs * 1e6, "us")
    report("EDHOC handshake time relative to lakers-python", ours / theirs, "x",
           target=("<=", 1.0), reference="lakers-python %s" % getattr(lakers, "__version__",
                                                                      "installed"))


def bench_sizes():
    cred_i = credentials.ccs(CRED_I)
    cred_r = credentials.ccs(CRED_R)
    store = credentials.CredentialStore([cred_i, cred_r])
    sizes = []
    our_handshake(cred_i, cred_r, store, sizes)
    for name, size, expected in zip(("message_1", "message_2", "message_3"), sizes,
                                    (37, 45, 19)):
        report("EDHOC %s size, method 3, kid credentials" % name, size, "bytes",
               target=("<=", expected), reference="lakers: %d bytes" % expected)


def bench_record_layer():
    client = oscore.SecurityContext(bytes(16), b"salt", b"\x01", b"\x02")
    server = oscore.SecurityContext(bytes(16), b"salt", b"\x02", b"\x01",
                                    replay_window=32)

    def exchange():
        request, pending = client.protect_request(PAYLOAD)
        plaintext, bound = server.unprotect_request(request)
        return client.unprotect_response(server.protect_response(plaintext, bound), pending)

    assert exchange() == PAYLOAD
    # Reference: one raw AES-CCM-16-64-128 encrypt + decrypt of the same 64 bytes with a
    # pre-expanded key, straight through the CPython backend library.
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM
    aead = AESCCM(bytes(16), 8)
    nonce = bytes(13)
    aad = bytes(20)

    def raw():
        return aead.decrypt(nonce, aead.encrypt(nonce, PAYLOAD, aad), aad)

    # Interleaved rounds, best of each, so machine drift hits both figures alike.
    ours = reference = float("inf")
    for _ in range(4):
        ours = min(ours, best_time(exchange, repeat=3))
        reference = min(reference, best_time(raw, repeat=3))
    report("protected request+response, 64-byte payloads", 1.0 / ours, "per s")
    report("raw AES-CCM encrypt+decrypt, 64 bytes", 1.0 / reference, "per s")
    report("request+response rate relative to raw AES-CCM enc+dec", 100.0 * reference / ours,
           "%", target=(">=", 25), reference="one raw encrypt+decrypt per exchange")
    fresh = oscore.SecurityContext(bytes(16), b"salt", b"\x01", b"\x02")
    request, _ = fresh.protect_request(PAYLOAD)
    report("protected request size, 64-byte payload, 1-byte kid", len(request), "bytes")


def main():
    assert cbor.encode(0) == b"\x00"
    bench_handshake()
    bench_sizes()
    bench_record_layer()


if __name__ == "__main__":
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
