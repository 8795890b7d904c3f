"""secure_channel.crypto hashes and KDFs against published vectors, on both interpreters.

On CPython the pyca/cryptography backend answers; on MicroPython, where ``cryptography``
is missing, the same calls fall back to backend_pure, so passing here on both is the
differential check that the fallback computes the same bytes.
"""

import sys
from binascii import unhexlify

from secure_channel import crypto


def test_backend_matches_interpreter():
    expected = "pure" if sys.implementation.name == "micropython" else "cryptography"
    assert crypto.BACKEND_NAME == expected, crypto.BACKEND_NAME


def test_sha256_fips180_vectors():
    assert crypto.sha256(b"abc") == unhexlify(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert crypto.sha256(b"") == unhexlify(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert crypto.sha256(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") == unhexlify(
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")


def test_hmac_sha256_rfc4231():
    # Test case 1
    assert crypto.hmac_sha256(b"\x0b" * 20, b"Hi There") == unhexlify(
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    # Test case 2: key shorter than the block
    assert crypto.hmac_sha256(b"Jefe", b"what do ya want for nothing?") == unhexlify(
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    # Test case 6: key longer than the block is hashed first
    assert crypto.hmac_sha256(
        b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First") == unhexlify(
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")


def test_hkdf_rfc5869_case_1():
    ikm = b"\x0b" * 22
    salt = unhexlify("000102030405060708090a0b0c")
    info = unhexlify("f0f1f2f3f4f5f6f7f8f9")
    prk = crypto.hkdf_extract(salt, ikm)
    assert prk == unhexlify("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
    assert crypto.hkdf_expand(prk, info, 42) == unhexlify(
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        "34007208d5b887185865")


def test_hkdf_rfc5869_case_3_empty_salt_and_info():
    prk = crypto.hkdf_extract(b"", b"\x0b" * 22)
    assert prk == unhexlify("19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04")
    assert crypto.hkdf_expand(prk, b"", 42) == unhexlify(
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
        "9d201395faa4b61a96c8")


def test_hkdf_expand_lengths():
    prk = b"\x01" * 32
    assert crypto.hkdf_expand(prk, b"x", 0) == b""
    full = crypto.hkdf_expand(prk, b"x", 255 * 32)
    assert len(full) == 255 * 32
    assert crypto.hkdf_expand(prk, b"x", 33) == full[:33]   # output is a prefix stream
    try:
        crypto.hkdf_expand(prk, b"x", 255 * 32 + 1)
    except ValueError:
        pass
    else:
        raise AssertionError("HKDF accepted a length over 255 blocks")


def test_constant_time_equal():
    assert crypto.constant_time_equal(b"", b"")
    assert crypto.constant_time_equal(b"\x00\x01\x02", b"\x00\x01\x02")
    assert crypto.constant_time_equal(bytearray(b"ab"), b"ab")
    assert not crypto.constant_time_equal(b"\x00\x01\x02", b"\x00\x01\x03")
    assert not crypto.constant_time_equal(b"\x80\x01\x02", b"\x00\x01\x02")
    assert not crypto.constant_time_equal(b"abc", b"ab")
    assert not crypto.constant_time_equal(b"", b"\x00")
