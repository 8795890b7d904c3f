"""Image format and verification: each refusal reason, strict encodings, fuzzed input."""

import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bootloader import image as fmt, image_sign, sigkeys, verify as vf
from bootloader.otp import KEY_ED25519, KEY_P256
from secure_channel import crypto

from conftest import examples
from bootloader_fixtures import private_key

ED = private_key(KEY_ED25519, "img-ed")
EC = private_key(KEY_P256, "img-ec")
BODY = bytes(range(256)) * 3


def keyring(*kinds, revoked=()):
    ring = vf.Keyring()
    for kind in kinds:
        priv = ED if kind == KEY_ED25519 else EC
        entry = ring.add(kind, image_sign.public_of(kind, priv))
        entry.revoked = entry.index in revoked
    return ring


def signed(kind=KEY_ED25519, **kw):
    priv = ED if kind == KEY_ED25519 else EC
    kw.setdefault("version", (1, 2, 3, 4))
    kw.setdefault("security_counter", 9)
    return image_sign.sign_image(BODY, kind, priv, **kw)


def reject(data, ring=None, code=None, **kw):
    with pytest.raises(fmt.ImageError) as info:
        vf.verify(data, ring or keyring(KEY_ED25519, KEY_P256), **kw)
    if code is not None:
        assert info.value.code == code, str(info.value)
    assert "\n" not in str(info.value)
    return info.value


@pytest.mark.parametrize("kind", [KEY_ED25519, KEY_P256])
@pytest.mark.parametrize("fmt_key", ["hash", "full"])
def test_round_trip(kind, fmt_key):
    data = signed(kind, public_key_format=fmt_key, header_size=0x200)
    info = vf.verify(data, keyring(KEY_ED25519, KEY_P256))
    assert info.version == (1, 2, 3, 4) and info.security_counter == 9
    assert info.key_kind == kind and info.size == len(data)
    assert info.digest == crypto.sha256(data[:fmt.parse(data).hashed_size])


def test_header_without_pad_header_needs_zeroed_space():
    with pytest.raises(image_sign.SignError):
        image_sign.sign_image(b"\x01" * 64, KEY_ED25519, ED, pad_header=False)
    data = image_sign.sign_image(b"\x00" * 32 + BODY, KEY_ED25519, ED, (1, 0, 0, 0), 1,
                                 pad_header=False)
    assert fmt.parse(data).header.img_size == len(BODY)


@pytest.mark.verifies("SC-IMAGE-SIGNATURE")
def test_unsigned():
    data = image_sign.sign_image(BODY, None, None, (1, 0, 0, 0), 1)
    reject(data, code=fmt.REJECT_UNSIGNED)


@pytest.mark.verifies("SC-IMAGE-SIGNATURE")
def test_unknown_and_revoked_key():
    reject(signed(), keyring(KEY_P256), code=fmt.REJECT_UNKNOWN_KEY)
    reject(signed(), keyring(KEY_ED25519, revoked=(0,)), code=fmt.REJECT_REVOKED_KEY)


def test_tampered_payload_header_and_protected_tlv():
    data = signed()
    parsed = fmt.parse(data)
    for offset in (0x18, parsed.header.hdr_size + 3, parsed.protected[0][1]):
        bad = bytearray(data)
        bad[offset] ^= 0x01
        reject(bytes(bad), code=fmt.REJECT_HASH_MISMATCH)


@pytest.mark.verifies("SC-IMAGE-SIGNATURE")
def test_tampered_signature_and_hash_tlv():
    data = signed()
    parsed = fmt.parse(data)
    by_kind = {k: (off, n) for k, off, n in parsed.tlvs}
    bad = bytearray(data)
    bad[by_kind[fmt.TLV_ED25519][0]] ^= 1
    reject(bytes(bad), code=fmt.REJECT_BAD_SIGNATURE)
    bad = bytearray(data)
    bad[by_kind[fmt.TLV_SHA256][0]] ^= 1
    reject(bytes(bad), code=fmt.REJECT_HASH_MISMATCH)
    bad = bytearray(data)
    bad[by_kind[fmt.TLV_KEYHASH][0]] ^= 1
    reject(bytes(bad), code=fmt.REJECT_UNKNOWN_KEY)


def test_ecdsa_signature_from_other_key_kind_refused():
    data = signed(KEY_P256)
    ring = vf.Keyring()
    # Same key hash bytes cannot map to another kind; check the kind/TLV mismatch path.
    entry = ring.add(KEY_ED25519, image_sign.public_of(KEY_ED25519, ED))
    entry.hash = vf.KeyEntry(0, KEY_P256, image_sign.public_of(KEY_P256, EC)).hash
    reject(data, ring, code=fmt.REJECT_BAD_SIGNATURE)


def test_truncated_and_oversized():
    data = signed()
    for cut in (0, 3, 20, 31, 40, len(data) - 1, len(data) - 70):
        err = reject(data[:cut])
        assert err.code in (fmt.REJECT_TRUNCATED, fmt.REJECT_BAD_MAGIC)
    reject(data, limit=len(data) - 1, code=fmt.REJECT_OVERSIZED)
    huge = bytearray(data)
    huge[12:16] = (0xFFFFFF00).to_bytes(4, "little")
    reject(bytes(huge), code=fmt.REJECT_OVERSIZED, limit=1 << 20)


@pytest.mark.verifies("SC-IMAGE-ROLLBACK")
def test_rollback():
    reject(signed(), min_security_counter=10, code=fmt.REJECT_ROLLBACK)
    assert vf.verify(signed(), keyring(KEY_ED25519), min_security_counter=9)


def test_missing_security_counter():
    data = image_sign.sign_image(BODY, KEY_ED25519, ED, (1, 0, 0, 0), None)
    reject(data, code=fmt.REJECT_NO_SECURITY_COUNTER)


def test_protected_tlv_policy():
    extra = signed(extra_protected=((0xA5, b"vendor"),))
    assert vf.verify(extra, keyring(KEY_ED25519)).security_counter == 9
    dup = image_sign.sign_image(BODY, KEY_ED25519, ED, (1, 0, 0, 0), 1,
                                extra_protected=((fmt.TLV_SEC_CNT, b"\x05\0\0\0"),))
    reject(dup, code=fmt.REJECT_BAD_TLV)
    misplaced = image_sign.sign_image(BODY, KEY_ED25519, ED, (1, 0, 0, 0), 1,
                                      extra_protected=((fmt.TLV_SHA256, b"\0" * 32),))
    reject(misplaced, code=fmt.REJECT_BAD_TLV)


def test_unsupported_flags():
    data = bytearray(signed())
    data[16] = fmt.FLAG_ENCRYPTED_AES128
    # The flag is covered by the hash, so re-sign it to reach the flag check.
    err = reject(bytes(data))
    assert err.code in (fmt.REJECT_UNSUPPORTED, fmt.REJECT_HASH_MISMATCH)


def test_version_policy():
    old = vf.verify(signed(version=(1, 2, 3, 0)), keyring(KEY_ED25519))
    new = vf.verify(signed(version=(1, 2, 2, 9)), keyring(KEY_ED25519))
    with pytest.raises(fmt.ImageError) as info:
        vf.check_version(new, old)
    assert info.value.code == fmt.REJECT_DOWNGRADE
    vf.check_version(old, old)
    vf.check_version(old, new)


def test_parse_version_like_imgtool():
    assert image_sign.parse_version("1") == (1, 0, 0, 0)
    assert image_sign.parse_version("1.2.3+4") == (1, 2, 3, 4)
    for bad in ("", "1.2.3.4", "01.2", "1.x", "256.0.0", "1.2.65536", "1+"):
        with pytest.raises(image_sign.SignError):
            image_sign.parse_version(bad)
    assert image_sign.auto_security_counter((1, 2, 3, 0)) == 0x01020003


def test_ecdsa_der_is_strict():
    raw = crypto.ecdsa_p256_sign(EC, b"message")
    der = image_sign.ecdsa_der_from_raw(raw)
    assert sigkeys.ecdsa_raw_from_der(der) == raw
    assert sigkeys.ecdsa_raw_from_der(der + b"\x00" * (72 - len(der))) == raw
    for bad in (der[:-1], der + b"\x01", b"\x31" + der[1:], der[:3] + b"\x00" + der[4:],
                b"\x30\x06\x02\x01\x00\x02\x01\x01", b"\x30" + bytes((len(der) - 1,)) + der[2:]):
        with pytest.raises(sigkeys.KeyFormatError):
            sigkeys.ecdsa_raw_from_der(bad)


def test_spki_round_trip():
    for kind, priv in ((KEY_ED25519, ED), (KEY_P256, EC)):
        pub = image_sign.public_of(kind, priv)
        assert image_sign.parse_spki(sigkeys.spki(kind, pub)) == (kind, pub)
    with pytest.raises(sigkeys.KeyFormatError):
        image_sign.parse_spki(b"\x30\x00")


# -- fuzzing -----------------------------------------------------------------------------------
SAMPLES = {k: signed(k) for k in (KEY_ED25519, KEY_P256)}
DEFINED = set(fmt.REJECT_NAMES)


def _regions(data):
    parsed = fmt.parse(data)
    end_payload = parsed.header.hdr_size + parsed.header.img_size
    return [(0, parsed.header.hdr_size), (end_payload, parsed.total_size)]


@pytest.mark.verifies("DC-PARSERS")
@settings(max_examples=examples(300), suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from([KEY_ED25519, KEY_P256]), data=st.data())
def test_fuzzed_header_and_tlvs_only_give_defined_rejections(kind, data):
    image = bytearray(SAMPLES[kind])
    regions = _regions(bytes(image))
    edits = data.draw(st.lists(st.tuples(st.sampled_from(regions), st.integers(0, 1 << 16),
                                         st.integers(0, 255)), min_size=1, max_size=6))
    for (lo, hi), pos, value in edits:
        image[lo + pos % (hi - lo)] = value
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(image))))
    blob = bytes(image if cut is None else image[:cut])
    try:
        vf.verify(blob, keyring(KEY_ED25519, KEY_P256))
    except fmt.ImageError as exc:
        assert exc.code in DEFINED
    else:
        # Accepted only if every signed byte is unchanged.
        hashed = fmt.parse(SAMPLES[kind]).hashed_size
        assert blob[:hashed] == SAMPLES[kind][:hashed]


@pytest.mark.verifies("DC-PARSERS")
@settings(max_examples=examples(300))
@given(blob=st.binary(max_size=400), magic=st.booleans())
def test_random_bytes_only_give_defined_rejections(blob, magic):
    if magic:
        blob = (fmt.IMAGE_MAGIC).to_bytes(4, "little") + blob
    with pytest.raises(fmt.ImageError) as info:
        vf.verify(blob, keyring(KEY_ED25519))
    assert info.value.code in DEFINED


@settings(max_examples=examples(100), deadline=None)
@given(data=st.data())
def test_never_more_lenient_than_imgtool(data):
    """Whatever we accept, imgtool's own verifier accepts too (in-process API)."""
    imgtool_image = pytest.importorskip("imgtool.image")
    imgtool_keys = pytest.importorskip("imgtool.keys")
    from cryptography.hazmat.primitives.asymmetric import ed25519
    image = bytearray(SAMPLES[KEY_ED25519])
    regions = _regions(bytes(image))
    edits = data.draw(st.lists(st.tuples(st.sampled_from(regions), st.integers(0, 1 << 16),
                                         st.integers(0, 255)), max_size=3))
    for (lo, hi), pos, value in edits:
        image[lo + pos % (hi - lo)] = value
    try:
        vf.verify(bytes(image), keyring(KEY_ED25519))
    except fmt.ImageError:
        return
    key = imgtool_keys.Ed25519(ed25519.Ed25519PrivateKey.from_private_bytes(ED))
    fd, path = tempfile.mkstemp(suffix=".bin")
    try:
        os.write(fd, bytes(image))
        os.close(fd)
        result = imgtool_image.Image.verify(path, key)[0]
    finally:
        os.unlink(path)
    assert result == imgtool_image.VerifyResult.OK
