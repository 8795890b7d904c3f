"""Architecture guards: one crypto/CBOR seam, and MicroPython-safe firmware modules."""

import pathlib
import re

import cbor2
from hypothesis import given, settings, strategies as st

from conftest import examples
from secure_channel import cbor

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_][\w.]*)", re.M)
PRIMITIVE_LIBRARIES = {"cryptography", "cbor2", "hashlib", "hmac", "random", "secrets"}
HOST_ONLY = {"typing", "dataclasses", "enum", "abc", "time", "os", "threading", "socket"}


def imports(path):
    return {name.split(".")[0] for name in IMPORT.findall(path.read_text())}


def test_only_backends_import_crypto_or_cbor_libraries():
    for package in ("secure_channel", "pump", "bootloader"):
        for path in sorted((ROOT / package).glob("**/*.py")):
            used = imports(path) & PRIMITIVE_LIBRARIES
            if path.name == "backend_cryptography.py":
                assert used <= {"cryptography", "hashlib", "hmac"}, path
            elif path.name == "backend_pure.py":
                assert used <= {"hashlib"}, path
            else:
                assert not used, "%s imports %s" % (path, sorted(used))


leaves = st.one_of(st.integers(-(1 << 64), (1 << 64) - 1), st.binary(max_size=20),
                   st.text(max_size=8), st.booleans(), st.none())
values = st.recursive(leaves, lambda c: st.one_of(
    st.lists(c, max_size=4), st.dictionaries(st.integers(-1000, 1000), c, max_size=4)),
    max_leaves=10)


@settings(max_examples=examples(300))
@given(values)
def test_pure_codec_agrees_with_cbor2(value):
    encoded = cbor.encode(value)
    assert cbor2.loads(encoded) == value
    assert cbor.decode(cbor2.dumps(value, canonical=True), canonical=False) == value
    assert cbor.decode(encoded) == value


@settings(max_examples=examples(50))
@given(st.binary(max_size=200), st.binary(min_size=32, max_size=32), st.booleans())
def test_prehashed_ecdsa_verify_agrees_with_plain_verify(message, seed, tamper):
    from secure_channel import crypto
    private = (int.from_bytes(crypto.sha256(seed), "big") % (2 ** 255) + 1).to_bytes(32, "big")
    public = crypto.p256_public(private)
    signature = crypto.ecdsa_p256_sign(private, message)
    if tamper:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    digest = crypto.sha256(message)
    assert crypto.ecdsa_p256_verify_digest(public, digest, signature) == \
        crypto.ecdsa_p256_verify(public, message, signature) == (not tamper)
    assert not crypto.ecdsa_p256_verify_digest(public, digest[:31], signature)


def test_incremental_sha256_matches_one_shot():
    from secure_channel import crypto
    hasher = crypto.sha256_hasher()
    for chunk in (b"a" * 1000, b"", b"b" * 70):
        hasher.update(chunk)
    assert hasher.digest() == crypto.sha256(b"a" * 1000 + b"b" * 70)


def test_refusals_carry_their_reason_apart_from_the_code_name():
    from secure_channel.errors import (
        EDHOC_CONFIG, RECORD_AUTH, EdhocError, RecordError,
    )
    refused = RecordError(RECORD_AUTH, "verification failed")
    assert refused.reason == "verification failed" and refused.code == RECORD_AUTH
    assert str(refused) == "RECORD-AUTH: verification failed" and not refused.caller_error
    assert EdhocError(EDHOC_CONFIG, "C_I must be bytes: a: b").reason == \
        "C_I must be bytes: a: b"                      # no parsing of the text
    assert EdhocError(EDHOC_CONFIG, "x").caller_error
