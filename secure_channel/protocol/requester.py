"""The client's half of the pump protocol's CoAP resources: the inner request for a
request type and its fields, and the pump's answer read back.

Both validate with ``messages``' encoder and decoder, so a client cannot send what the pump
would refuse, and it gets the ``messages.Parsed`` it got before. The pump only serves
(``resources``), so a board does not carry this module.
"""

from secure_channel import cbor
from secure_channel.coap import message as M, numbers as N
from secure_channel.protocol import messages as protocol
from secure_channel.protocol import schema as S
from secure_channel.protocol.messages import ProtocolError
from secure_channel.protocol.resources import (
    BY_NAME, CBOR_VALUE, REQUEST_ID, ResponseError, clipped, content_format_text, status_of,
)


def request_message(name, fields=None):
    """The inner CoAP request for request ``name`` with ``fields`` (by name); raises
    ProtocolError, as ``protocol.encode_request`` does, for what the pump would refuse."""
    raw = protocol.checked_request(name, REQUEST_ID, fields)[0]
    resource = BY_NAME[name]
    request = M.Message(N.CON, resource.method).set_path(resource.path)
    body = {}
    for field in resource.message.request:
        if field.key not in raw:
            continue
        if resource.method == N.GET:
            request.add(N.URI_QUERY, "%s=%d" % (field.name, raw[field.key]))
        else:
            body[field.key] = raw[field.key]
    if body:
        request.add(N.CONTENT_FORMAT, N.CBOR)
        request.payload = cbor.encode(body)
    return request


def parse_response(name, response):
    """The ``protocol.Parsed`` answer (or error) to request ``name`` in the inner CoAP
    ``response``. Raises ResponseError when it is no pump answer, ProtocolError when its
    body breaks the schema."""
    resource = BY_NAME.get(name)
    if resource is None:
        raise ProtocolError(S.UNKNOWN_TYPE, "no request type %r" % (name,))
    if not isinstance(response, M.Message) or not N.is_response(response.code):
        raise ResponseError(getattr(response, "code", None), "not a CoAP response")
    code = response.code
    text = N.code_text(code)
    for value in response.values(N.CONTENT_FORMAT):
        if value != CBOR_VALUE:
            raise ResponseError(code, "%s with Content-Format %s"
                                % (text, content_format_text(value)))
    body = {}
    if response.payload:
        if not response.has(N.CONTENT_FORMAT):
            raise ResponseError(code, "%s payload without Content-Format" % text)
        try:
            body = cbor.decode(bytes(response.payload))
        except cbor.CBORError as exc:
            raise ResponseError(code, "%s payload is not CBOR: %s" % (text, exc))
        if not isinstance(body, dict):
            raise ResponseError(code, "%s payload is not a CBOR map" % text)
        for key in body:
            if not protocol.is_int(key) or key < S.FIRST_FIELD_KEY:
                raise ResponseError(code, "%s payload has key %s"
                                    % (text, clipped(repr(key), 16)))
    if code >> 5 == 2:
        if code != resource.success:
            raise ResponseError(code, "%s to %s %s" % (text, N.CODE_NAMES[resource.method],
                                                       resource.path))
        return _parsed(resource.message.code, body)
    if not body:
        raise ResponseError(code, "%s without a pump error body" % text)
    parsed = _parsed(S.ERROR.code, body)
    if status_of(parsed.fields["code"]) != code:
        raise ResponseError(code, "%s does not go with error %d"
                            % (text, parsed.fields["code"]))
    return parsed


def _parsed(type_code, body):
    body[S.KEY_TYPE] = type_code
    body[S.KEY_ID] = REQUEST_ID
    return protocol.parse_response(body)
