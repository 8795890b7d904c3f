"""OSCORE protection of whole CoAP messages (RFC 8613 §4, §5.3, §8), sans-IO.

A protected request is an ordinary CoAP message to any stack and any proxy on the way::

    outer: POST (FETCH when observing) | class U options + OSCORE option | ciphertext
    inner (encrypted): code | class E options | 0xFF payload

and its response is ``2.04 Changed`` (``2.05`` when observing) with the OSCORE option
(empty, or the server's own Partial IV) and the ciphertext of the inner response. Class U
options (Uri-Host, Uri-Port, Proxy-Scheme, Hop-Limit, No-Response, EDHOC, ...) stay
outside for proxies; every other option, known or not, is encrypted (§4.1), and one found
outside on receipt is dropped, so a relay cannot change what a request asks. Proxy-Uri is
refused: a client must split it into Proxy-Scheme/Uri-Host outside and Uri-Path inside
(§4.1.3.3), which ``message.Message.set_path`` and friends make easy.

The record layer (``secure_channel.oscore.context.SecurityContext``) does the nonce, AAD, replay
window and budgets; this module only builds and splits the messages around it, so the
RFC 8613 Appendix C vectors hold for both, byte for byte.
"""

from secure_channel.oscore import context as oscore
from secure_channel.coap import message as M, numbers as N
from secure_channel.errors import RECORD_MALFORMED, RecordError


_CLASS_U = set(N.CLASS_U)            # a set: the hot paths test every option against it


def inner_plaintext(message):
    """The plaintext of §5.3: code, class E options, payload marker and payload."""
    inner = [(n, v) for n, v in message.options if n not in _CLASS_U]
    body = bytes((message.code,)) + M.encode_options(inner)
    if message.payload:
        body += b"\xff" + message.payload
    return body


def _outer(message, code, option_value):
    options = []
    for n, v in message.options:
        if n == N.PROXY_URI:
            raise RecordError(RECORD_MALFORMED, "Proxy-Uri must be split for OSCORE "
                              "(§4.1.3.3)")
        if n in _CLASS_U and n != N.OSCORE:
            options.append((n, v))
    options.append((N.OSCORE, option_value))
    return M.Message(message.mtype, code, message.mid, message.token, options)


def _from_plaintext(outer, plaintext):
    """The inner message: outer header and class U options, decrypted code and the rest."""
    if not plaintext:
        raise RecordError(RECORD_MALFORMED, "empty OSCORE plaintext")
    try:
        options, payload = M.decode_options(plaintext, 1)
    except M.CoapFormatError as exc:
        raise RecordError(RECORD_MALFORMED, "inner message: %s" % exc)
    for number, _ in options:
        if number in _CLASS_U and number != N.OBSERVE:
            raise RecordError(RECORD_MALFORMED, "class U option %d inside" % number)
    # Only class U options come from outside: a class E option a relay added there
    # (Uri-Path, Uri-Query, Content-Format, ...) is dropped, never merged (§4.1), so it
    # cannot change what the protected request asks for.
    outside = [(n, v) for n, v in outer.options if n in _CLASS_U and n != N.OSCORE]
    return M.Message(outer.mtype, plaintext[0], outer.mid, outer.token,
                     outside + options, payload)


def _record(outer):
    """The record layer's view of a protected message: len(option) || option || ct."""
    value = outer.first(N.OSCORE)
    if value is None:
        raise RecordError(RECORD_MALFORMED, "no OSCORE option")
    if len(value) > 255:
        raise RecordError(RECORD_MALFORMED, "OSCORE option too long")
    return oscore.join(value, outer.payload)


def request_header(outer):
    """(Partial IV, kid, kid context) of a protected request, before any key is chosen."""
    value = outer.first(N.OSCORE)
    if value is None:
        raise RecordError(RECORD_MALFORMED, "no OSCORE option")
    if len(outer.values(N.OSCORE)) > 1:
        raise RecordError(RECORD_MALFORMED, "OSCORE option repeated")
    return oscore.decompress(value)


def protect_request(context, message, now=None):
    """(outer Message, Exchange) for the inner request ``message``."""
    option, ciphertext, exchange = context.protect_request_parts(inner_plaintext(message),
                                                                 now)
    code = N.FETCH if message.has(N.OBSERVE) else N.POST
    outer = _outer(message, code, option)
    outer.payload = ciphertext
    return outer, exchange


def unprotect_request(context, outer, now=None):
    """(inner Message, Exchange) from a protected request; RecordError on refusal."""
    plaintext, exchange = context.unprotect_request(_record(outer), now)
    return _from_plaintext(outer, plaintext), exchange


def protect_response(context, message, exchange, new_piv=False, now=None):
    """The outer response carrying the inner response ``message`` to ``exchange``."""
    option, ciphertext = context.protect_response_parts(inner_plaintext(message), exchange,
                                                        new_piv, now)
    code = N.CONTENT if message.has(N.OBSERVE) else N.CHANGED
    outer = _outer(message, code, option)
    outer.payload = ciphertext
    return outer


def unprotect_response(context, outer, exchange, now=None):
    """The inner response from a protected one; RecordError on refusal."""
    plaintext = context.unprotect_response(_record(outer), exchange, now)
    return _from_plaintext(outer, plaintext)
