"""The pure-Python primitives against their published vectors, on CPython and MicroPython.

Each test calls ``secure_channel.pure`` (and ``backend_pure``) directly, so the pure code
is what runs under both interpreters, whichever backend ``secure_channel.crypto`` picked.
Plain asserts only: tools/micropython/run.py runs this module too. The last tests run
EDHOC (RFC 9529 traces 1 and 2) and OSCORE (RFC 8613 C.4, C.7) through the seam with the
pure backend in it, so the handshake the pump runs on MicroPython is checked byte for byte.

Vectors: FIPS 180-2 (SHA-512), FIPS 197 (AES), NIST SP 800-38C Appendix C and RFC 3610 §8
(CCM), RFC 7748 §5.2 and §6.1 (X25519), RFC 8032 §7.1 (Ed25519), RFC 6979 A.2.5 (ECDSA
P-256/SHA-256), NIST CAVP FIPS 186-3 SigVer [P-256,SHA-256] and KAS ECC CDH primitive
[P-256] (ECDH).
"""

from binascii import unhexlify

from secure_channel import backend_pure, crypto, errors
from secure_channel.edhoc import credentials, handshake, initiator
from secure_channel.oscore import context as oscore_context
from secure_channel.oscore import from_edhoc
from secure_channel.pure import aes, ccm, ed25519, p256, sha512, x25519
from pump_fixtures import raises


def h(text):
    return unhexlify(text.replace(" ", ""))


def flipped(data, index, bit=1):
    out = bytearray(data)
    out[index] ^= bit
    return bytes(out)


# -- SHA-512 (FIPS 180-2 appendix C) -------------------------------------------------------

NIST_896 = (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
            b"klmnopqrlmnopqrsmnopqrstnopqrstu")


def test_sha512_fips180_examples():
    assert sha512.sha512(b"abc") == h(
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
    assert sha512.sha512(NIST_896) == h(                      # two blocks
        "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
        "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909")
    assert sha512.sha512(b"") == h(
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e")


def test_sha512_padding_boundaries_agree_with_the_backend_hash():
    # 111/112 bytes: the length field just fits / spills into a second block.
    for n in (0, 1, 55, 56, 111, 112, 127, 128, 129, 239, 240, 256):
        data = bytes((i * 31 + n) & 0xFF for i in range(n))
        assert sha512.sha512(data) == backend_pure.sha512(data), n
        assert sha512.sha512(bytearray(data)) == sha512.sha512(data)


# -- AES (FIPS 197) ------------------------------------------------------------------------

def test_aes_fips197_examples():
    plain = h("00112233445566778899aabbccddeeff")
    for key, cipher in (
            ("000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"),   # C.1
            ("000102030405060708090a0b0c0d0e0f1011121314151617",
             "dda97ca4864cdfe06eaf70a0ec0d7191"),                                       # C.2
            ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
             "8ea2b7ca516745bfeafc49904b496089")):                                      # C.3
        assert aes.Aes(h(key)).encrypt_block(plain) == h(cipher), len(key)
    assert aes.Aes(h("2b7e151628aed2a6abf7158809cf4f3c")).encrypt_block(              # App. B
        h("3243f6a8885a308d313198a2e0370734")) == h("3925841d02dc09fbdc118597196a0b32")


def test_aes_refuses_bad_key_and_block_sizes():
    for size in (0, 15, 17, 20, 33):
        assert raises(ValueError, aes.Aes, bytes(size)), size
    key = aes.Aes(bytes(16))
    assert raises(ValueError, key.encrypt_block, bytes(15))
    assert raises(ValueError, key.encrypt_block, bytes(17))


# -- AES-CCM (NIST SP 800-38C appendix C, RFC 3610 §8) -------------------------------------

SP800_KEY = h("404142434445464748494a4b4c4d4e4f")
SP800_38C = (  # (nonce, associated data, payload, tag length, ciphertext || tag)
    ("10111213141516", "0001020304050607", "20212223", 4, "7162015b4dac255d"),      # C.1
    ("1011121314151617", "000102030405060708090a0b0c0d0e0f",
     "202122232425262728292a2b2c2d2e2f", 6,
     "d2a1f0e051ea5f62081a7792073d593d1fc64fbfaccd"),                                # C.2
    ("101112131415161718191a1b", "000102030405060708090a0b0c0d0e0f10111213",
     "202122232425262728292a2b2c2d2e2f3031323334353637", 8,
     "e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951"),            # C.3
)

RFC3610_KEY = h("c0c1c2c3c4c5c6c7c8c9cacbcccdcecf")
RFC3610 = (  # (packet vector, nonce, header length, packet length, M, output packet)
    (1, "00000003020100a0a1a2a3a4a5", 8, 31, 8,
     "0001020304050607588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0"),
    (2, "00000004030201a0a1a2a3a4a5", 8, 32, 8,
     "000102030405060772c91a36e135f8cf291ca894085c87e3cc15c439c9e43a3ba091d56e10400916"),
    (3, "00000005040302a0a1a2a3a4a5", 8, 33, 8,
     "000102030405060751b1e5f44a197d1da46b0f8e2d282ae871e838bb64da8596574adaa76fbd9fb0c5"),
    (7, "00000009080706a0a1a2a3a4a5", 8, 31, 10,
     "00010203040506070135d1b2c95f41d5d1d4fec185d166b8094e999dfed96c048c56602c97acbb7490"),
)


def _ccm(key, tag_length):
    return ccm.Ccm(aes.Aes(key).encrypt_block, tag_length)


def test_ccm_sp800_38c_examples():
    for nonce, aad, payload, tag_length, expected in SP800_38C:
        mode = _ccm(SP800_KEY, tag_length)
        assert mode.seal(h(nonce), h(payload), h(aad)) == h(expected), nonce
        assert mode.open(h(nonce), h(expected), h(aad)) == h(payload), nonce


def test_ccm_sp800_38c_c4_long_associated_data():
    # 2^16 bytes of associated data: its length takes the 0xfffe || 4-byte form.
    aad = bytes(range(256)) * 256
    mode = _ccm(SP800_KEY, 14)
    nonce = h("101112131415161718191a1b1c")
    payload = h("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f")
    expected = h("69915dad1e84c6376a68c2967e4dab615ae0fd1faec44cc484828529463ccf72"
                 "b4ac6bec93e8598e7f0dadbcea5b")
    assert mode.seal(nonce, payload, aad) == expected
    assert mode.open(nonce, expected, aad) == payload
    assert mode.open(nonce, expected, aad[:-1]) is None


def test_ccm_rfc3610_packet_vectors():
    for number, nonce, header_length, length, tag_length, output in RFC3610:
        packet = bytes(range(length))
        header, payload = packet[:header_length], packet[header_length:]
        mode = _ccm(RFC3610_KEY, tag_length)
        assert header + mode.seal(h(nonce), payload, header) == h(output), number
        assert mode.open(h(nonce), h(output)[header_length:], header) == payload, number


def test_ccm_refuses_every_tampering():
    nonce, aad, payload, tag_length, expected = SP800_38C[2]
    nonce, aad, payload, sealed = h(nonce), h(aad), h(payload), h(expected)
    mode = _ccm(SP800_KEY, tag_length)
    for i in range(len(sealed)):                           # ciphertext and tag bytes
        assert mode.open(nonce, flipped(sealed, i, 1 << (i % 8)), aad) is None, i
    assert mode.open(nonce, sealed, flipped(aad, 0)) is None
    assert mode.open(nonce, sealed, aad + b"\x00") is None
    assert mode.open(flipped(nonce, 11), sealed, aad) is None
    assert mode.open(nonce, sealed[:-1], aad) is None
    assert mode.open(nonce, sealed[:tag_length - 1], aad) is None        # shorter than a tag
    assert mode.open(nonce, b"", aad) is None
    assert _ccm(SP800_KEY, 16).open(nonce, sealed, aad) is None         # other tag length


def test_ccm_backend_interface_and_its_exceptions():
    nonce, aad, payload, tag_length, expected = SP800_38C[1]
    nonce, aad, payload, sealed = h(nonce), h(aad), h(payload), h(expected)
    assert backend_pure.aes_ccm_encrypt(SP800_KEY, nonce, payload, aad, tag_length) == sealed
    assert backend_pure.aes_ccm_decrypt(SP800_KEY, nonce, sealed, aad, tag_length) == payload
    assert backend_pure.aes_ccm_decrypt(SP800_KEY, nonce, flipped(sealed, 0), aad,
                                        tag_length) is None
    key = backend_pure.CcmKey(SP800_KEY, tag_length, crypto.AuthenticationFailed)
    assert key.encrypt(nonce, payload, aad) == sealed
    assert key.decrypt(nonce, sealed, aad) == payload
    assert raises(crypto.AuthenticationFailed, key.decrypt, nonce, flipped(sealed, 21), aad)
    assert raises(crypto.AuthenticationFailed, key.decrypt, nonce, sealed[:3], aad)
    # 192- and 256-bit keys, empty payload and empty associated data.
    for size in (24, 32):
        key = backend_pure.CcmKey(bytes(range(size)), 8, crypto.AuthenticationFailed)
        assert key.decrypt(nonce, key.encrypt(nonce, b"", b""), b"") == b""
        assert key.decrypt(nonce, key.encrypt(nonce, payload, b""), b"") == payload


def test_ccm_parameter_checks():
    for size in (0, 6, 14, 16):
        assert raises(ValueError, backend_pure.aes_ccm_encrypt, SP800_KEY, bytes(size),
                      b"", b"", 8), size
        assert raises(ValueError, backend_pure.aes_ccm_decrypt, SP800_KEY, bytes(size),
                      bytes(8), b"", 8), size
    for tag_length in (0, 2, 5, 18):
        assert raises(ValueError, ccm.Ccm, aes.Aes(SP800_KEY).encrypt_block, tag_length)
    assert raises(ValueError, backend_pure.aes_ccm_encrypt, bytes(20), bytes(13), b"", b"", 8)
    # L = 2 (13-byte nonce): the payload length must fit in two bytes.
    assert raises(ValueError, _ccm(SP800_KEY, 8).seal, bytes(13), bytes(65536), b"")


# -- X25519 (RFC 7748) ---------------------------------------------------------------------

def test_x25519_rfc7748_section_5_2_vectors():
    assert x25519.x25519(
        h("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
        h("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")) == h(
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
    assert x25519.x25519(
        h("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
        h("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493")) == h(
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957")


def test_x25519_rfc7748_iterated_1_and_1000_times():
    k = u = x25519.BASE
    for i in range(1000):
        k, u = x25519.x25519(k, u), k
        if i == 0:
            assert k == h("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079")
    assert k == h("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51")


def test_x25519_rfc7748_section_6_1_diffie_hellman():
    alice = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    bob = h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    alice_public = backend_pure.x25519_public(alice)
    bob_public = backend_pure.x25519_public(bob)
    assert alice_public == h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    assert bob_public == h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    shared = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    assert backend_pure.x25519_shared(alice, bob_public) == shared
    assert backend_pure.x25519_shared(bob, alice_public) == shared


def test_x25519_masks_the_top_bit_and_reduces_u():
    k = h("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    u = h("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    assert x25519.x25519(k, flipped(u, 31, 0x80)) == x25519.x25519(k, u)
    # u = p + 9 is the base point's u, not canonically encoded (RFC 7748 §5 accepts it).
    assert x25519.x25519(k, (x25519.P + 9).to_bytes(32, "little")) == x25519.public(k)


def test_x25519_refuses_low_order_points_and_bad_lengths():
    private = bytes(range(32))
    # The small-order u-coordinates that give an all-zero result for every clamped
    # scalar: 0, 1, the two points of order 8, and p - 1, p, p + 1 (non-canonical).
    low_order = (
        bytes(32),
        (1).to_bytes(32, "little"),
        h("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        h("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
        (x25519.P - 1).to_bytes(32, "little"),
        x25519.P.to_bytes(32, "little"),
        (x25519.P + 1).to_bytes(32, "little"),
    )
    for u in low_order:
        assert x25519.x25519(private, u) == bytes(32), u
        assert raises(ValueError, backend_pure.x25519_shared, private, u), u
    assert raises(ValueError, x25519.x25519, private, bytes(31))
    assert raises(ValueError, x25519.x25519, bytes(33), x25519.BASE)
    assert raises(ValueError, backend_pure.x25519_public, bytes(31))


# -- Ed25519 (RFC 8032 §7.1) ---------------------------------------------------------------

_MESSAGE_1023 = (
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1"
    "e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
    "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a"
    "7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
    "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10"
    "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
    "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d"
    "502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
    "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b"
    "eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
    "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b"
    "e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
    "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d"
    "cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
    "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7"
    "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
    "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09"
    "43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
    "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161"
    "0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
    "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca"
    "c60c905c15fc910840b94c00a0b9d0")

RFC8032 = (  # (name, secret key, public key, message, signature)
    ("TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
     "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
     "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290"
     "ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ("TEST 1024", "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
     "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e", _MESSAGE_1023,
     "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f45"
     "28ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"),
    ("TEST SHA(abc)", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
     "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ec"
     "fdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"),
)


def test_ed25519_rfc8032_vectors():
    for name, secret, public, message, signature in RFC8032:
        secret, public, message, signature = h(secret), h(public), h(message), h(signature)
        assert ed25519.public(secret) == public, name
        assert ed25519.sign(secret, message) == signature, name
        assert ed25519.verify(public, message, signature), name
        assert not ed25519.verify(public, message + b"\x00", signature), name
        assert not ed25519.verify(public, message, flipped(signature, 7)), name    # R
        assert not ed25519.verify(public, message, flipped(signature, 40)), name   # S
    assert len(h(RFC8032[3][3])) == 1023


def test_ed25519_backend_interface():
    name, secret, public, message, signature = RFC8032[2]
    secret, public, message, signature = h(secret), h(public), h(message), h(signature)
    assert backend_pure.ed25519_public(secret) == public
    assert backend_pure.ed25519_sign(secret, message) == signature
    assert backend_pure.ed25519_verify(public, message, signature)
    assert backend_pure.ed25519_verify(public, bytearray(message), signature)
    assert not backend_pure.ed25519_verify(public[:31], message, signature)
    assert not backend_pure.ed25519_verify(public, message, signature[:63])
    assert not backend_pure.ed25519_verify(public, message, signature + b"\x00")
    assert raises(ValueError, backend_pure.ed25519_sign, secret[:31], message)
    assert raises(ValueError, backend_pure.ed25519_public, secret + b"\x00")


def test_ed25519_refuses_non_canonical_s_and_bad_points():
    name, secret, public, message, signature = RFC8032[1]
    public, message, signature = h(public), h(message), h(signature)
    s = int.from_bytes(signature[32:], "little")
    # S + L verifies the same equation but is not reduced: RFC 8032 §5.1.7 requires S < L.
    assert not ed25519.verify(public, message, signature[:32] + (s + ed25519.L).to_bytes(
        32, "little"))
    assert not ed25519.verify(public, message, signature[:32] + b"\xff" * 32)
    # Encodings that are not points: y >= p, x of "negative zero", and a y with no x.
    p_encoded = ed25519.P.to_bytes(32, "little")
    minus_zero = ((1 << 255) | 1).to_bytes(32, "little")            # y = 1, x = 0, sign 1
    no_x = (2).to_bytes(32, "little")                               # (4 - 1)/(4d + 1) no root
    for bad in (p_encoded, minus_zero, no_x, b"\xff" * 32):
        assert ed25519.decode(bad) is None, bad
        assert not ed25519.verify(bad, message, signature), bad
    assert ed25519.decode((1).to_bytes(32, "little")) == ed25519.IDENTITY
    # A valid point that is not the signer's key.
    other = h(RFC8032[0][2])
    assert ed25519.decode(other) is not None
    assert not ed25519.verify(other, message, signature)


# -- P-256: RFC 6979 A.2.5, NIST CAVP SigVer and ECDH --------------------------------------

RFC6979_KEY = h("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721")
RFC6979_PUBLIC = h("60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
                   "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299")
RFC6979_SHA256 = (  # (message, k, r || s) for SHA-256
    (b"sample", "a6e3c57dd01abe90086538398355dd4c3b17aa873382b0f24d6129493d8aad60",
     "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716"
     "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"),
    (b"test", "d16b6ae827f17175e040871a1c7ec3500192c4c92677336ec2537acaee0008e0",
     "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367"
     "019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083"),
)


def test_p256_rfc6979_a25_key_and_deterministic_signatures():
    assert p256.public(RFC6979_KEY) == RFC6979_PUBLIC
    assert backend_pure.p256_public(RFC6979_KEY) == RFC6979_PUBLIC
    d = int.from_bytes(RFC6979_KEY, "big")
    for message, k, signature in RFC6979_SHA256:
        digest = backend_pure.sha256(message)
        nonce = next(p256._nonces(d, digest, backend_pure.hmac_sha256))
        assert nonce == int.from_bytes(h(k), "big"), message
        assert p256.sign_digest(RFC6979_KEY, digest, backend_pure.hmac_sha256) == \
            h(signature), message
        assert backend_pure.ecdsa_p256_sign(RFC6979_KEY, message) == h(signature), message
        assert backend_pure.ecdsa_p256_verify(RFC6979_PUBLIC, message, h(signature))
        assert backend_pure.ecdsa_p256_verify_digest(RFC6979_PUBLIC, digest, h(signature))
        assert not backend_pure.ecdsa_p256_verify(RFC6979_PUBLIC, message + b".",
                                                  h(signature))


# NIST CAVP FIPS 186-3 SigVer.rsp [P-256,SHA-256]: (Msg, Qx, Qy, R, S, Result).
SIGVER = (
    ("e4796db5f785f207aa30d311693b3702821dff1168fd2e04c0836825aefd850d9aa60326d88cde1a23c7"
     "745351392ca2288d632c264f197d05cd424a30336c19fd09bb229654f0222fcb881a4b35c290a093ac15"
     "9ce13409111ff0358411133c24f5b8e2090d6db6558afc36f06ca1f6ef779785adba68db27a409859fc4c4a0",
     "87f8f2b218f49845f6f10eec3877136269f5c1a54736dbdf69f89940cad41555",
     "e15f369036f49842fac7a86c8a2b0557609776814448b8f5e84aa9f4395205e9",
     "d19ff48b324915576416097d2544f7cbdf8768b1454ad20e0baac50e211f23b0",
     "a3e81e59311cdfff2d4784949f7a2cb50ba6c3a91fa54710568e61aca3e847c6", False),  # S changed
    ("069a6e6b93dfee6df6ef6997cd80dd2182c36653cef10c655d524585655462d683877f95ecc6d6c81623"
     "d8fac4e900ed0019964094e7de91f1481989ae1873004565789cbf5dc56c62aedc63f62f3b894c9c6f77"
     "88c8ecaadc9bd0e81ad91b2b3569ea12260e93924fdddd3972af5273198f5efda0746219475017557616170e",
     "5cf02a00d205bdfee2016f7421807fc38ae69e6b7ccd064ee689fc1a94a9f7d2",
     "ec530ce3cc5c9d1af463f264d685afe2b4db4b5828d7e61b748930f3ce622a85",
     "dc23d130c6117fb5751201455e99f36f59aba1a6a21cf2d0e7481a97451d6693",
     "d6ce7708c18dbf35d4f8aa7240922dc6823f2e7058cbc1484fcad1599db5018c", False),  # R changed
    ("df04a346cf4d0e331a6db78cca2d456d31b0a000aa51441defdb97bbeb20b94d8d746429a393ba88840d"
     "661615e07def615a342abedfa4ce912e562af714959896858af817317a840dcff85a057bb91a3c2bf901"
     "05500362754a6dd321cdd86128cfc5f04667b57aa78c112411e42da304f1012d48cd6a7052d7de44ebcc01de",
     "2ddfd145767883ffbb0ac003ab4a44346d08fa2570b3120dcce94562422244cb",
     "5f70c7d11ac2b7a435ccfbbae02c3df1ea6b532cc0e9db74f93fffca7c6f9a64",
     "9913111cff6f20c5bf453a99cd2c2019a4e749a49724a08774d14e4c113edda8",
     "9467cd4cd21ecb56b0cab0a9a453b43386845459127a952421f5c6382866c5cc", False),  # Q changed
    ("e1130af6a38ccb412a9c8d13e15dbfc9e69a16385af3c3f1e5da954fd5e7c45fd75e2b8c36699228e928"
     "40c0562fbf3772f07e17f1add56588dd45f7450e1217ad239922dd9c32695dc71ff2424ca0dec1321aa4"
     "7064a044b7fe3c2b97d03ce470a592304c5ef21eed9f93da56bb232d1eeb0035f9bf0dfafdcc4606272b20a3",
     "e424dc61d4bb3cb7ef4344a7f8957a0c5134e16f7a67c074f82e6e12f49abf3c",
     "970eed7aa2bc48651545949de1dddaf0127e5965ac85d1243d6f60e7dfaee927",
     "bf96b99aa49c705c910be33142017c642ff540c76349b9dab72f981fd9347f4f",
     "17c55095819089c2e03b9cd415abdf12444e323075d98f31920b9e0f57ec871c", True),
    ("73c5f6a67456ae48209b5f85d1e7de7758bf235300c6ae2bdceb1dcb27a7730fb68c950b7fcada0ecc46"
     "61d3578230f225a875e69aaa17f1e71c6be5c831f22663bac63d0c7a9635edb0043ff8c6f26470f02a7b"
     "c56556f1437f06dfa27b487a6c4290d8bad38d4879b334e341ba092dde4e4ae694a9c09302e2dbf443581c08",
     "e0fc6a6f50e1c57475673ee54e3a57f9a49f3328e743bf52f335e3eeaa3d2864",
     "7f59d689c91e463607d9194d99faf316e25432870816dde63f5d4b373f12f22a",
     "1d75830cd36f4c9aa181b2c4221e87f176b7f05b7c87824e82e396c88315c407",
     "cb2acb01dac96efc53a32d4a0d85d0c2e48955214783ecf50a4f0414a319c05a", True),
    ("1669bfb657fdc62c3ddd63269787fc1c969f1850fb04c933dda063ef74a56ce13e3a649700820f0061ef"
     "abf849a85d474326c8a541d99830eea8131eaea584f22d88c353965dabcdc4bf6b55949fd529507dfb80"
     "3ab6b480cd73ca0ba00ca19c438849e2cea262a1c57d8f81cd257fb58e19dec7904da97d8386e87b84948169",
     "69b7667056e1e11d6caf6e45643f8b21e7a4bebda463c7fdbc13bc98efbd0214",
     "d3f9b12eb46c7c6fda0da3fc85bc1fd831557f9abc902a3be3cb3e8be7d1aa2f",
     "288f7a1cd391842cce21f00e6f15471c04dc182fe4b14d92dc18910879799790",
     "247b3c4e89a3bcadfea73c7bfd361def43715fa382b8c3edf4ae15d6e55e9979", False),  # Msg changed
)


def test_ecdsa_p256_cavp_sigver_samples():
    for message, qx, qy, r, s, result in SIGVER:
        public, signature = h(qx + qy), h(r + s)
        digest = backend_pure.sha256(h(message))
        assert p256.verify_digest(public, digest, signature) is result, r
        assert backend_pure.ecdsa_p256_verify(public, h(message), signature) is result, r


def test_ecdsa_p256_refuses_malformed_signatures():
    message, k, signature = RFC6979_SHA256[0]
    signature = h(signature)
    digest = backend_pure.sha256(message)
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    n = p256.N

    def sig(a, b):
        return a.to_bytes(32, "big") + b.to_bytes(32, "big")
    # (r, n - s) is the other valid signature for the same nonce (ECDSA is malleable).
    assert p256.verify_digest(RFC6979_PUBLIC, digest, sig(r, n - s))
    for a, b in ((0, s), (r, 0), (r + n, s), (r, s + n), (n, s), (r, n), (0, 0)):
        if a < 1 << 256 and b < 1 << 256:
            assert not p256.verify_digest(RFC6979_PUBLIC, digest, sig(a, b)), (a, b)
    assert not p256.verify_digest(RFC6979_PUBLIC, digest, b"\xff" * 64)
    assert not p256.verify_digest(RFC6979_PUBLIC, digest, signature[:63])
    assert not p256.verify_digest(RFC6979_PUBLIC, digest[:31], signature)
    assert not backend_pure.ecdsa_p256_verify_digest(RFC6979_PUBLIC, digest + b"\x00", signature)
    assert not p256.verify_digest(RFC6979_PUBLIC[:63], digest, signature)
    assert not p256.verify_digest(flipped(RFC6979_PUBLIC, 63), digest, signature)  # off curve
    # The x-only form of a key names the point with even y.
    assert RFC6979_PUBLIC[63] & 1 == 1                 # this key's y is odd: x alone is -Q
    assert not p256.verify_digest(RFC6979_PUBLIC[:32], digest, signature)


def test_ecdsa_p256_sign_refuses_bad_private_keys():
    digest = bytes(32)
    for private in (bytes(32), p256.N.to_bytes(32, "big"), (p256.N + 1).to_bytes(32, "big"),
                    b"\xff" * 32, bytes(31) + b"\x01" + b"\x00", b"\x01" * 31):
        assert raises(ValueError, p256.sign_digest, private, digest, backend_pure.hmac_sha256)
    assert raises(ValueError, p256.sign_digest, RFC6979_KEY, digest[:31],
                  backend_pure.hmac_sha256)


# NIST CAVP KAS ECC CDH primitive test [P-256]: (QCAVSx, QCAVSy, dIUT, QIUTx, QIUTy, ZIUT).
ECDH_CAVP = (
    ("700c48f77f56584c5cc632ca65640db91b6bacce3a4df6b42ce7cc838833d287",           # COUNT 0
     "db71e509e3fd9b060ddb20ba5c51dcc5948d46fbf640dfe0441782cab85fa4ac",
     "7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534",
     "ead218590119e8876b29146ff89ca61770c4edbbf97d38ce385ed281d8a6b230",
     "28af61281fd35e2fa7002523acc85a429cb06ee6648325389f59edfce1405141",
     "46fc62106420ff012e54a434fbdd2d25ccc5852060561e68040dd7778997bd7b"),
    ("a2339c12d4a03c33546de533268b4ad667debf458b464d77443636440ee7fec3",           # COUNT 2
     "ef48a3ab26e20220bcda2c1851076839dae88eae962869a497bf73cb66faf536",
     "1accfaf1b97712b85a6f54b148985a1bdc4c9bec0bd258cad4b3d603f49f32c8",
     None, None,
     "2d457b78b4614132477618a5b077965ec90730a8c81a1c75d6d4ec68005d67ec"),
)


def test_p256_ecdh_cavp_vectors():
    for qx, qy, d, own_x, own_y, z in ECDH_CAVP:
        peer, d, z = h(qx + qy), h(d), h(z)
        if own_x is not None:
            assert p256.public(d) == h(own_x + own_y)
        assert p256.shared(d, peer) == z
        assert backend_pure.p256_shared(d, peer) == z
        assert p256.shared(d, peer[:32]) == z          # x alone: either y gives the same x


def test_p256_ecdh_refuses_invalid_peer_points_and_keys():
    qx, qy, d = ECDH_CAVP[0][:3]
    peer, d = h(qx + qy), h(d)
    bad_points = (
        flipped(peer, 0, 0x10),                        # x changed: (x, y) not on the curve
        flipped(peer, 63),                             # y changed
        bytes(64),                                     # (0, 0), where infinity would hide
        p256.P.to_bytes(32, "big") + peer[32:],        # x >= p
        peer[:32] + (int.from_bytes(peer[32:], "big") + p256.P).to_bytes(33, "big")[1:],
        (1).to_bytes(32, "big"),                       # x with no point (x^3 - 3x + b no square)
        p256.P.to_bytes(32, "big"),
        peer[:31], peer + b"\x00", peer[:33], b"",
    )
    for bad in bad_points:
        assert raises(ValueError, p256.shared, d, bad), bad
        assert raises(ValueError, backend_pure.p256_shared, d, bad), bad
    for private in (bytes(32), p256.N.to_bytes(32, "big"), b"\xff" * 32, d[:31]):
        assert raises(ValueError, p256.shared, private, peer), private
        assert raises(ValueError, p256.public, private), private
    # The identity never leaves affine(); the ladder's result for k = n is the identity.
    assert p256.multiply(p256.N, p256.G)[2] == 0
    assert raises(ValueError, p256.affine, p256.IDENTITY)


def test_p256_complete_formulas_at_their_edges():
    g2 = p256.double(p256.G)
    assert p256.add(p256.G, p256.G) == g2 or p256.affine(p256.add(p256.G, p256.G)) == \
        p256.affine(g2)
    assert p256.affine(p256.add(p256.G, p256.IDENTITY)) == (p256.GX, p256.GY)
    assert p256.affine(p256.add(p256.IDENTITY, p256.G)) == (p256.GX, p256.GY)
    assert p256.add(p256.G, (p256.GX, p256.P - p256.GY, 1))[2] == 0            # G + (-G)
    assert p256.double(p256.IDENTITY)[2] == 0
    assert p256.affine(p256.multiply(1, p256.G)) == (p256.GX, p256.GY)
    assert p256.affine(p256.multiply(p256.N - 1, p256.G)) == (p256.GX, p256.P - p256.GY)
    assert p256.affine(p256.multiply(2, p256.G)) == p256.affine(g2)
    # The ladder runs over k + n or k + 2n, always 257 bits long, never over k itself.
    for k in (0, 1, 2, p256.N - 1, (1 << 256) - p256.N - 1, (1 << 256) - p256.N):
        fixed = p256._fixed_length(k)
        assert fixed >> 256 == 1 and (fixed - k) % p256.N == 0, k
    # The same for Ed25519 over k mod L + 8L, always 256 bits long.
    assert ed25519.encode(ed25519.multiply(ed25519.L + 5, ed25519.BASE)) == \
        ed25519.encode(ed25519.multiply(5, ed25519.BASE))


# -- The seam end to end on the pure backend: EDHOC (RFC 9529) and OSCORE (RFC 8613) ------

def _vectors(table):
    return {name: h(value) for name, value in table.items()}


# RFC 9529 §2: method 0 (signatures), suite 0 (X25519, Ed25519, AES-CCM-16-64-128), x5t.
TRACE_1 = _vectors({
    "CRED_I": (
        "3081ee3081a1a003020102020462319ea0300506032b6570301d311b301906035504030c12454448"
        "4f4320526f6f742045643235353139301e170d3232303331363038323430305a170d323931323331"
        "3233303030305a30223120301e06035504030c174544484f4320496e69746961746f722045643235"
        "353139302a300506032b6570032100ed06a8ae61a829ba5fa54525c9d07f48dd44a302f43e0f23d8"
        "cc20b73085141e300506032b6570034100521241d8b3a770996bcfc9b9ead4e7e0a1c0db353a3bdf"
        "2910b39275ae48b756015981850d27db6734e37f67212267dd05eeff27b9e7a813fa574b72a00b43"
        "0b"
    ),
    "CRED_R": (
        "3081ee3081a1a003020102020462319ec4300506032b6570301d311b301906035504030c12454448"
        "4f4320526f6f742045643235353139301e170d3232303331363038323433365a170d323931323331"
        "3233303030305a30223120301e06035504030c174544484f4320526573706f6e6465722045643235"
        "353139302a300506032b6570032100a1db47b95184854ad12a0c1a354e418aace33aa0f2c662c00b"
        "3ac55de92f9359300506032b6570034100b723bc01eab0928e8b2b6c98de19cc3823d46e7d6987b0"
        "32478fecfaf14537a1af14cc8be829c6b73044101837eb4abc949565d86dce51cfae52ab82c152cb"
        "02"
    ),
    "X": "892ec28e5cb6669108470539500b705e60d008d347c5817ee9f3327c8a87bb03",
    "Y": "e69c23fbf81bc435942446837fe827bf206c8fa10a39db47449e5a813421e1e8",
    "SK_I": "4c5b25878f507c6b9dae68fbd4fd3ff997533db0af00b25d324ea28e6c213bc8",
    "SK_R": "ef140ff900b0ab03f0c08d879cbbd4b31ea71e6e7ee7ffcb7e7955777a332799",
    "C_I": "2d",
    "C_R": "18",
    "message_1": (
        "0000582031f82c7b5b9cbbf0f194d913cc12ef1532d328ef32632a4881a1c0701e237f042d"
    ),
    "message_2": (
        "5872dc88d2d51da5ed67fc4616356bc8ca74ef9ebe8b387e623a360ba480b9b29d1cbc26dd270fe9"
        "c02c44ce3934794b1cc62ba22f05459f8d358c8d12275ac42c5f96ded5f13cc9084e5b201889a45e"
        "5a60a5562dc118619c3daa2fd9f4c9f4d6edad109dd4edf95962aafbaf9ab3f4a1f6b98f"
    ),
    "message_3": (
        "585825c345884aaaeb22c527f9b1d2b6787207e0163c69b62a0d43928150427203c31674e4514ea6"
        "e383b566eb29763efeb0afa518776ae1c65f856d84bf32af3a7836970466dcb71f76745d39d3025e"
        "7703e0c032ebad51947c"
    ),
    "message_4": "484f0edee366e5c883",
    "OSCORE_Master_Secret": "1e1c6beac3a8a1cac435de7e2f9ae7ff",
    "OSCORE_Master_Salt": "ce7ab844c0106d73",
})

# RFC 9529 §3: method 3 (static DH), suite 2 (P-256, AES-CCM-16-64-128), CCS by kid.
TRACE_2 = _vectors({
    "CRED_I_item": (
        "a2027734322d35302d33312d46462d45462d33372d33322d333908a101a5010202412b2001215820"
        "ac75e9ece3e50bfc8ed60399889522405c47bf16df96660a41298cb4307f7eb62258206e5de61138"
        "8a4b8a8211334ac7d37ecb52a387d257e6db3c2a93df21ff3affc8"
    ),
    "CRED_R_item": (
        "a2026b6578616d706c652e65647508a101a501020241322001215820bbc34960526ea4d32e940cad"
        "2a234148ddc21791a12afbcbac93622046dd44f02258204519e257236b2a0ce2023f0931f1f386ca"
        "7afda64fcde0108c224c51eabf6072"
    ),
    "X": "368ec1f69aeb659ba37d5a8d45b21bdc0299dceaa8ef235f3ca42ce3530f9525",
    "Y": "e2f4126777205e853b437d6eaca1e1f753cdcc3e2c69fa884b0a1a640977e418",
    "SK_I": "fb13adeb6518cee5f88417660841142e830a81fe334380a953406a1305e8706b",
    "SK_R": "72cc4761dbd4c78f758931aa589d348d1ef874a7e303ede2f140dcf3e6aa4aac",
    "C_I": "37",
    "C_R": "27",
    "message_1": (
        "0382060258208af6f430ebe18d34184017a9a11bf511c8dff8f834730b96c1b7c8dbca2fc3b637"
    ),
    "message_2": (
        "582b419701d7f00a26c2dc587a36dd752549f33763c893422c8ea0f955a13a4ff5d59862a1eef9e0"
        "e7e1886fcd"
    ),
    "message_3": "52e562097bc417dd5919485ac7891ffd90a9fc",
    "message_4": "4828c966b7ca304f83",
    "OSCORE_Master_Secret": "f9868f6a3aca78a05d1485b35030b162",
    "OSCORE_Master_Salt": "ada24c7dbfc85eeb",
})


def _on_pure_backend(fn):
    """Run ``fn`` with backend_pure in the crypto seam (on MicroPython it is there anyway)."""
    saved = crypto._backend
    crypto._backend = backend_pure
    try:
        return fn()
    finally:
        crypto._backend = saved


def _scripted_rng(*chunks):
    """The HAL RNG of a trace: hands out its ephemeral private keys in order."""
    queue = list(chunks)

    def rng(n):
        chunk = queue.pop(0)
        assert len(chunk) == n, (len(chunk), n)
        return chunk
    return rng


def _run_trace(t, method, suites, cred_i, cred_r):
    store = credentials.CredentialStore([cred_i, cred_r])
    suite = suites[-1]
    ini = initiator.Initiator(cred_i, t["SK_I"], _scripted_rng(t["X"]), method=method,
                              suites=suites, selected_suite=suite, c_i=t["C_I"])
    rsp = handshake.Responder(cred_r, t["SK_R"], _scripted_rng(t["Y"]), methods=(method,),
                              suites=(suite,), c_r=t["C_R"])
    m1 = ini.message_1()
    assert m1 == t["message_1"]
    rsp.receive_message_1(m1)
    m2 = rsp.message_2()
    assert m2 == t["message_2"]
    ev2 = ini.receive_message_2(m2)
    ini.verify_message_2(store.lookup(ev2.id_cred))
    m3 = ini.message_3()
    assert m3 == t["message_3"]
    ev3 = rsp.receive_message_3(m3)
    rsp.verify_message_3(store.lookup(ev3.id_cred))
    m4 = rsp.message_4()
    assert m4 == t["message_4"]
    assert ini.receive_message_4(m4).ead == []
    for side in (ini, rsp):
        assert side.exporter(0, b"", 16) == t["OSCORE_Master_Secret"]
        assert side.exporter(1, b"", 8) == t["OSCORE_Master_Salt"]
    return ini, rsp


def test_edhoc_rfc9529_trace_1_ed25519_x25519_on_the_pure_backend():
    def run():
        cred_i = credentials.x509(TRACE_1["CRED_I"])
        cred_r = credentials.x509(TRACE_1["CRED_R"])
        _run_trace(TRACE_1, 0, (0,), cred_i, cred_r)
        # An altered message_3 is refused (its AES-CCM tag no longer verifies).
        rsp = handshake.Responder(cred_r, TRACE_1["SK_R"], _scripted_rng(TRACE_1["Y"]),
                                  methods=(0,), suites=(0,), c_r=TRACE_1["C_R"])
        rsp.receive_message_1(TRACE_1["message_1"])
        rsp.message_2()
        m3 = flipped(TRACE_1["message_3"], 40)
        try:
            ev3 = rsp.receive_message_3(m3)
            rsp.verify_message_3(credentials.CredentialStore([cred_i]).lookup(ev3.id_cred))
        except errors.EdhocError:
            return
        raise AssertionError("altered message_3 accepted")
    _on_pure_backend(run)


def test_edhoc_rfc9529_trace_2_p256_and_oscore_on_the_pure_backend():
    def run():
        cred_i = credentials.ccs(TRACE_2["CRED_I_item"])
        cred_r = credentials.ccs(TRACE_2["CRED_R_item"])
        ini, rsp = _run_trace(TRACE_2, 3, (6, 2), cred_i, cred_r)
        client = from_edhoc.security_context(ini)
        server = from_edhoc.security_context(rsp)
        request, exchange = client.protect_request(b"bolus?")
        plaintext, server_exchange = server.unprotect_request(request)
        assert plaintext == b"bolus?"
        response = server.protect_response(b"ok", server_exchange)
        assert client.unprotect_response(response, exchange) == b"ok"
    _on_pure_backend(run)


def test_oscore_rfc8613_c4_request_and_c7_response_on_the_pure_backend():
    def run():
        secret = h("0102030405060708090a0b0c0d0e0f10")
        salt = h("9e7ca92223786340")
        client = oscore_context.SecurityContext(secret, salt, b"", h("01"))
        server = oscore_context.SecurityContext(secret, salt, h("01"), b"")
        client.sender_seq = 20
        request, client_exchange = client.protect_request(h("01b3747631"))
        assert oscore_context.split(request) == (h("0914"), h("612f1092f1776f1c1668b3825e"))
        plaintext, exchange = server.unprotect_request(request)
        assert plaintext == h("01b3747631")
        response = server.protect_response(h("45ff48656c6c6f20576f726c6421"), exchange)
        assert oscore_context.split(response) == \
            (b"", h("dbaad1e9a7e7b2a813d3c31524378303cdafae119106"))
        assert client.unprotect_response(response, client_exchange) == \
            h("45ff48656c6c6f20576f726c6421")
    _on_pure_backend(run)
