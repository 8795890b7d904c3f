"""Image verification speed: a 1 MiB signed image, Ed25519 and ECDSA P-256.

Figures, all measured in this run:
- our verify (bootloader.verify) relative to hashlib.sha256 over the same hashed bytes
  plus one signature check done directly with pyca/cryptography (target <= 1.25x);
- our verify relative to imgtool's own verifier on the same file (in process, file read
  included on both sides), and `pumpsim image verify` relative to `imgtool verify` run as
  commands.
"""

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

from common import best_time, report
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from bootloader import image as fmt
from bootloader import image_sign, verify as vf
from bootloader.otp import KEY_ED25519, KEY_P256

SIZE = 1 << 20
BIN = pathlib.Path(sys.executable).parent


def _keys():
    ed = ed25519.Ed25519PrivateKey.generate()
    ec_key = ec.generate_private_key(ec.SECP256R1())
    return {
        "ed25519": (KEY_ED25519, ed, ed.private_bytes_raw()),
        "ecdsa-p256": (KEY_P256, ec_key, ec_key.private_numbers().private_value.to_bytes(32, "big")),
    }


def _pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _tool(name):
    return shutil.which(name, path=str(BIN)) or shutil.which(name)


def _run(cmd):
    res = subprocess.run(cmd, capture_output=True)
    if res.returncode != 0:
        raise RuntimeError("%s failed: %s" % (cmd[0], (res.stdout + res.stderr)[-200:]))


def main():
    body = os.urandom(SIZE)
    tmp = tempfile.mkdtemp(prefix="bench_image_")
    try:
        for name, (kind, key, raw) in _keys().items():
            image = image_sign.sign_image(body, kind, raw, (1, 0, 0, 0), 1, header_size=0x200)
            ring = vf.Keyring()
            ring.add(kind, image_sign.public_of(kind, raw))
            hashed = image[:fmt.parse(image).hashed_size]
            digest = hashlib.sha256(hashed).digest()
            parsed = fmt.parse(image)
            sig = [bytes(image[o:o + n]) for k, o, n in parsed.tlvs
                   if k in (fmt.TLV_ED25519, fmt.TLV_ECDSASIG)][0]
            public = key.public_key()
            if kind == KEY_ED25519:
                def reference():
                    d = hashlib.sha256(hashed).digest()
                    public.verify(sig, d)
            else:
                def reference():
                    d = hashlib.sha256(hashed).digest()
                    public.verify(sig, d, ec.ECDSA(Prehashed(hashes.SHA256())))
            assert vf.verify(image, ring).digest == digest

            ours = best_time(lambda: vf.verify(image, ring))
            ref = best_time(reference)
            report("verify 1 MiB image, %s / (sha256 + 1 signature check)" % name,
                   ours / ref, "x", target=("<=", 1.25), reference="%.2f ms" % (ref * 1e3))

            path = os.path.join(tmp, "%s.bin" % name)
            key_path = os.path.join(tmp, "%s.pem" % name)
            with open(path, "wb") as f:
                f.write(image)
            with open(key_path, "wb") as f:
                f.write(_pem(key))

            try:
                from imgtool import image as it_image, keys as it_keys
            except ImportError:
                print("   imgtool not installed: skipping the imgtool comparisons")
                continue
            it_key = it_keys.load(key_path)

            def ours_file():
                with open(path, "rb") as f:
                    vf.verify(f.read(), ring)

            def imgtool_file():
                result = it_image.Image.verify(path, it_key)[0]
                assert result == it_image.VerifyResult.OK

            t_ours = best_time(ours_file)
            t_it = best_time(imgtool_file)
            report("verify 1 MiB image file, %s / imgtool Image.verify" % name, t_ours / t_it,
                   "x", reference="%.2f ms" % (t_it * 1e3))

            imgtool_cmd = _tool("imgtool")
            pumpsim_cmd = _tool("pumpsim")
            if imgtool_cmd and pumpsim_cmd:
                t_cli = best_time(lambda: _run([pumpsim_cmd, "image", "verify", "-k", key_path,
                                                path]), repeat=3, min_seconds=0.05)
                t_itc = best_time(lambda: _run([imgtool_cmd, "verify", "-k", key_path, path]),
                                  repeat=3, min_seconds=0.05)
                report("`pumpsim image verify` / `imgtool verify`, %s" % name, t_cli / t_itc,
                       "x", reference="%.0f ms" % (t_itc * 1e3))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
