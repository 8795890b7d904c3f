"""Primitives in plain Python for interpreters without pyca/cryptography (MicroPython).

Integers and bytes only: no floats, no imports beyond the standard modules MicroPython
has. ``secure_channel.backend_pure`` is the only firmware module that imports them; it
puts a faster platform primitive in front where one exists (``hashlib.sha512``,
``cryptolib.aes``). See
docs/pure-crypto.md for what is constant-time here and what is not.
"""
