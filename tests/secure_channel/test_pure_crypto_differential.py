"""The pure-Python backend against pyca/cryptography (and hashlib), on random inputs.

Same public keys, same shared secrets, byte-identical ECDSA (both use RFC 6979) and
Ed25519 signatures, signatures of each accepted by the other, identical AES-CCM
ciphertexts, and every tampered or malformed input refused by both. The vectors are in
tests/portable/test_pure_crypto_portable.py; this module looks for the inputs they miss.
"""

import hashlib

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from hypothesis import assume, given, settings, strategies as st

from conftest import examples
from secure_channel import backend_cryptography as ref
from secure_channel import backend_pure as pure
from secure_channel import crypto
from secure_channel.pure import aes, ed25519, p256, sha512, x25519

keys32 = st.binary(min_size=32, max_size=32)
p256_private = st.integers(1, p256.N - 1).map(lambda d: d.to_bytes(32, "big"))
messages = st.binary(max_size=300)


def _tamper(data, index, bit):
    out = bytearray(data)
    out[index % len(out)] ^= 1 << bit
    return bytes(out)


def _or_none(fn, *args):
    """fn(*args), or None if it refused with ValueError."""
    try:
        return fn(*args)
    except ValueError:
        return None


# -- hashes and the block cipher ------------------------------------------------------------

@settings(max_examples=examples(300))
@given(st.binary(max_size=700))
def test_sha512_agrees_with_hashlib(data):
    assert sha512.sha512(data) == hashlib.sha512(data).digest()


@settings(max_examples=examples(300))
@given(st.sampled_from((16, 24, 32)).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
       st.binary(min_size=16, max_size=16))
def test_aes_block_agrees_with_cryptography(key, block):
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    assert aes.Aes(key).encrypt_block(block) == encryptor.update(block)


# -- AES-CCM --------------------------------------------------------------------------------

ccm_inputs = st.tuples(
    st.sampled_from((16, 24, 32)).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    st.sampled_from((4, 6, 8, 10, 12, 14, 16)),
    st.integers(7, 13).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    st.binary(max_size=200), st.binary(max_size=80))


@settings(max_examples=examples(300))
@given(ccm_inputs, st.integers(0, 10 ** 6), st.integers(0, 7))
def test_ccm_ciphertexts_identical_and_tampering_refused_by_both(inputs, where, bit):
    key, tag_length, nonce, plaintext, aad = inputs
    sealed = pure.aes_ccm_encrypt(key, nonce, plaintext, aad, tag_length)
    assert sealed == AESCCM(key, tag_length).encrypt(nonce, plaintext, aad)
    assert pure.aes_ccm_decrypt(key, nonce, sealed, aad, tag_length) == plaintext
    bad = _tamper(sealed, where, bit)
    assert pure.aes_ccm_decrypt(key, nonce, bad, aad, tag_length) is None
    with pytest.raises(InvalidTag):
        AESCCM(key, tag_length).decrypt(nonce, bad, aad)
    if aad:
        bad_aad = _tamper(aad, where, bit)
        assert pure.aes_ccm_decrypt(key, nonce, sealed, bad_aad, tag_length) is None
        with pytest.raises(InvalidTag):
            AESCCM(key, tag_length).decrypt(nonce, sealed, bad_aad)
    short = sealed[:where % tag_length]                       # shorter than the tag
    assert pure.aes_ccm_decrypt(key, nonce, short, aad, tag_length) is None
    with pytest.raises(InvalidTag):
        AESCCM(key, tag_length).decrypt(nonce, short, aad)


@settings(max_examples=examples(100))
@given(ccm_inputs)
def test_ccm_key_objects_interoperate(inputs):
    key, tag_length, nonce, plaintext, aad = inputs
    ours = pure.CcmKey(key, tag_length, crypto.AuthenticationFailed)
    theirs = ref.CcmKey(key, tag_length, crypto.AuthenticationFailed)
    assert ours.decrypt(nonce, theirs.encrypt(nonce, plaintext, aad), aad) == plaintext
    assert theirs.decrypt(nonce, ours.encrypt(nonce, plaintext, aad), aad) == plaintext
    forged = _tamper(ours.encrypt(nonce, plaintext, aad), len(plaintext), 0)
    for side in (ours, theirs):
        with pytest.raises(crypto.AuthenticationFailed):
            side.decrypt(nonce, forged, aad)


@given(st.integers(0, 20).filter(lambda n: not 7 <= n <= 13))
def test_ccm_nonce_lengths_refused_by_both(size):
    with pytest.raises(ValueError):
        pure.aes_ccm_encrypt(bytes(16), bytes(size), b"x", b"", 8)
    with pytest.raises(ValueError):
        AESCCM(bytes(16), 8).encrypt(bytes(size), b"x", b"")


# -- X25519 ---------------------------------------------------------------------------------

@settings(max_examples=examples(200))
@given(keys32, keys32)
def test_x25519_same_public_keys_and_shared_secrets(a, b):
    public_a = pure.x25519_public(a)
    assert public_a == ref.x25519_public(a)
    shared = pure.x25519_shared(b, public_a)
    assert shared == ref.x25519_shared(b, public_a) == pure.x25519_shared(a, pure.x25519_public(b))


@settings(max_examples=examples(200))
@given(keys32, st.one_of(keys32, st.sampled_from((
    bytes(32), (1).to_bytes(32, "little"), (x25519.P - 1).to_bytes(32, "little"),
    x25519.P.to_bytes(32, "little"), (x25519.P + 1).to_bytes(32, "little"),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157")))))
def test_x25519_any_peer_value_same_result_or_both_refuse(private, peer):
    assert _or_none(pure.x25519_shared, private, peer) == \
        _or_none(ref.x25519_shared, private, peer)


# -- P-256 ----------------------------------------------------------------------------------

@settings(max_examples=examples(100))
@given(p256_private, p256_private)
def test_p256_same_public_keys_and_shared_secrets(a, b):
    public_a = pure.p256_public(a)
    assert public_a == ref.p256_public(a)
    public_b = ref.p256_public(b)
    shared = pure.p256_shared(a, public_b)
    assert shared == ref.p256_shared(a, public_b) == pure.p256_shared(b, public_a)
    assert pure.p256_shared(a, public_b[:32]) == shared == ref.p256_shared(a, public_b[:32])


@settings(max_examples=examples(200))
@given(p256_private, st.one_of(st.binary(min_size=64, max_size=64),
                               st.binary(min_size=32, max_size=32),
                               st.binary(max_size=70)))
def test_p256_random_peer_bytes_same_result_or_both_refuse(private, peer):
    assert _or_none(pure.p256_shared, private, peer) == \
        _or_none(ref.p256_shared, private, peer)


@settings(max_examples=examples(100))
@given(p256_private, st.integers(0, 63), st.integers(0, 7))
def test_p256_off_curve_points_refused_by_both(private, where, bit):
    peer = ref.p256_public(bytes(31) + b"\x07")
    bad = _tamper(peer, where, bit)
    assume(not p256.on_curve(int.from_bytes(bad[:32], "big"), int.from_bytes(bad[32:], "big")))
    with pytest.raises(ValueError):
        pure.p256_shared(private, bad)
    with pytest.raises(ValueError):
        ref.p256_shared(private, bad)


@settings(max_examples=examples(100))
@given(p256_private, messages, st.integers(0, 10 ** 6), st.integers(0, 7))
def test_ecdsa_identical_signatures_verified_across_backends(private, message, where, bit):
    signature = pure.ecdsa_p256_sign(private, message)
    assert signature == ref.ecdsa_p256_sign(private, message)       # both RFC 6979
    public = ref.p256_public(private)
    digest = hashlib.sha256(message).digest()
    for verify in (pure.ecdsa_p256_verify, ref.ecdsa_p256_verify):
        assert verify(public, message, signature)
        assert not verify(public, message + b"!", signature)
        assert not verify(public, message, _tamper(signature, where, bit))
    for verify in (pure.ecdsa_p256_verify_digest, ref.ecdsa_p256_verify_digest):
        assert verify(public, digest, signature)
        assert not verify(public, _tamper(digest, where, bit), signature)
    # (r, n - s) is valid too, and both say so.
    r, s = signature[:32], int.from_bytes(signature[32:], "big")
    other = r + (p256.N - s).to_bytes(32, "big")
    assert pure.ecdsa_p256_verify(public, message, other)
    assert ref.ecdsa_p256_verify(public, message, other)


@settings(max_examples=examples(200))
@given(st.one_of(st.binary(min_size=64, max_size=64), st.binary(min_size=32, max_size=32),
                 st.binary(max_size=70)),
       st.binary(max_size=70), messages)
def test_ecdsa_random_keys_and_signatures_same_verdict(public, signature, message):
    assert pure.ecdsa_p256_verify(public, message, signature) == \
        ref.ecdsa_p256_verify(public, message, signature)


@settings(max_examples=examples(100))
@given(p256_private, messages, st.sampled_from(("r0", "s0", "rn", "sn", "r+n", "max")))
def test_ecdsa_out_of_range_r_and_s_refused_by_both(private, message, how):
    public = ref.p256_public(private)
    signature = ref.ecdsa_p256_sign(private, message)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    r, s = {"r0": (0, s), "s0": (r, 0), "rn": (p256.N, s), "sn": (r, p256.N),
            "r+n": ((r + p256.N) % (1 << 256), s), "max": ((1 << 256) - 1, s)}[how]
    bad = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert not pure.ecdsa_p256_verify(public, message, bad)
    assert not ref.ecdsa_p256_verify(public, message, bad)


# -- Ed25519 --------------------------------------------------------------------------------

@settings(max_examples=examples(100))
@given(keys32, messages, st.integers(0, 10 ** 6), st.integers(0, 7))
def test_ed25519_identical_signatures_verified_across_backends(private, message, where, bit):
    public = pure.ed25519_public(private)
    assert public == ref.ed25519_public(private)
    signature = pure.ed25519_sign(private, message)
    assert signature == ref.ed25519_sign(private, message)          # deterministic
    for verify in (pure.ed25519_verify, ref.ed25519_verify):
        assert verify(public, message, signature)
        assert not verify(public, message + b"!", signature)
        assert not verify(public, message, _tamper(signature, where, bit))
        assert not verify(_tamper(public, where, bit), message, signature)
    s = int.from_bytes(signature[32:], "little")
    if s + ed25519.L < 1 << 256:                  # non-canonical S: refused by both
        loose = signature[:32] + (s + ed25519.L).to_bytes(32, "little")
        assert not pure.ed25519_verify(public, message, loose)
        assert not ref.ed25519_verify(public, message, loose)


@settings(max_examples=examples(200))
@given(st.one_of(keys32, st.binary(max_size=40)), st.binary(max_size=70), messages)
def test_ed25519_random_keys_and_signatures_same_verdict(public, signature, message):
    assert pure.ed25519_verify(public, message, signature) == \
        ref.ed25519_verify(public, message, signature)


@settings(max_examples=examples(300))
@given(keys32)
def test_ed25519_decoded_points_are_on_the_curve_and_encode_back(encoding):
    point = ed25519.decode(encoding)
    y = int.from_bytes(encoding, "little") & ((1 << 255) - 1)
    if y >= ed25519.P:
        assert point is None                                  # RFC 8032 §5.1.3 step 1
        return
    if point is None:
        return
    x, y, z, t = point
    p = ed25519.P
    assert z == 1 and t == x * y % p
    assert (-x * x + y * y - 1 - ed25519.D * x * x * y * y) % p == 0      # -x^2 + y^2 = 1 + dx^2y^2
    assert ed25519.encode(point) == encoding


# -- the seam with the pure backend in it ---------------------------------------------------

@pytest.fixture
def pure_seam(monkeypatch):
    monkeypatch.setattr(crypto, "_backend", pure)


def test_bootloader_verifies_cryptography_signed_images_with_the_pure_backend(monkeypatch):
    from bootloader import image as fmt
    from bootloader import image_sign, verify as vf
    from bootloader.otp import KEY_ED25519, KEY_P256
    keys = ((KEY_ED25519, b"\x11" * 32), (KEY_P256, b"\x22" * 32))
    keyring = vf.Keyring()
    for kind, private in keys:
        keyring.add(kind, image_sign.public_of(kind, private))
    body = bytes(range(256)) * 8
    signed = {kind: image_sign.sign_image(body, kind, private, (1, 2, 3, 0), 5)
              for kind, private in keys}                                    # cryptography
    monkeypatch.setattr(crypto, "_backend", pure)
    for kind, private in keys:
        assert vf.verify(signed[kind], keyring).key_kind == kind
        again = image_sign.sign_image(body, kind, private, (1, 2, 3, 0), 5)  # pure
        assert again == signed[kind]                       # deterministic signatures
        end = len(again) - 1
        with pytest.raises(fmt.ImageError) as refused:
            vf.verify(again[:end] + bytes((again[end] ^ 1,)), keyring)
        assert refused.value.code == fmt.REJECT_BAD_SIGNATURE


def test_seam_refusals_are_the_same_exceptions_on_the_pure_backend(pure_seam):
    assert crypto._backend is pure
    key = crypto.aes_ccm_key(bytes(16), 8)
    sealed = key.encrypt(bytes(13), b"dose", b"")
    with pytest.raises(crypto.AuthenticationFailed):
        key.decrypt(bytes(13), _tamper(sealed, 0, 0), b"")
    with pytest.raises(crypto.AuthenticationFailed):
        crypto.aes_ccm_decrypt(bytes(16), bytes(13), _tamper(sealed, 5, 3), b"", 8)
    with pytest.raises(ValueError):
        crypto.x25519_shared(b"\x01" * 32, bytes(32))
    with pytest.raises(ValueError):
        crypto.p256_shared(b"\x01" * 32, bytes(64))
    with pytest.raises(ValueError):
        crypto.p256_public(bytes(32))
    assert not crypto.ed25519_verify(bytes(31), b"", bytes(64))
    assert not crypto.ecdsa_p256_verify(bytes(64), b"", bytes(64))
