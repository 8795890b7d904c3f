"""Renders docs/protocol.md from the tables the code validates with (host or board).

Everything in the document comes from ``schema`` (with the meanings in ``schema_doc``),
``resources``, ``roles`` and ``framing``, so a test can require the committed file to
equal ``document()``. Regenerate with ``python -m secure_channel.protocol.doc >
docs/protocol.md`` (``make diagram`` does, with the other generated documents).
"""

from secure_channel.link import framing
from secure_channel.protocol import messages as protocol
from secure_channel.protocol import resources
from secure_channel.protocol import roles
from secure_channel.protocol import schema as S
from secure_channel.protocol import schema_doc as D
from secure_channel.coap import numbers as N, protect

# Around the inner response: CoAP header 4, token 4 (the peer's), empty OSCORE option 1,
# payload marker 1, AES-CCM tag 8.
PROTECTION_OVERHEAD = 4 + 4 + 1 + 1 + 8
WIRE_BUDGET = 64


def _extreme(field):
    """A value of ``field`` whose encoding is as long as any the schema allows."""
    if field.kind == S.UINT:
        return field.high - field.high % field.step
    if field.kind == S.INT:
        return field.low if -1 - field.low > field.high else field.high
    if field.kind == S.BOOL:
        return True
    if field.kind == S.TUPLE:
        return [_extreme(item) for item in field.items]
    raise ValueError("no fixed-size extreme for %s" % field.kind)


def largest_telemetry():
    """The longest telemetry response the schema permits: every field present, each at
    its longest encoding, the largest id."""
    message = S.BY_NAME["telemetry"]
    fields = {}
    for field in message.response:
        fields[field.name] = _extreme(field)
    return protocol.encode_response("telemetry", S.MAX_ID, fields)


def wire_size(plaintext):
    """Bytes on the serial line for the protected CoAP answer carrying the pump-protocol
    response ``plaintext``: its inner response (code, Content-Format, CBOR body), the
    OSCORE protection and CoAP header around it, and the COBS+CRC frame."""
    inner = protect.inner_plaintext(resources.response_message(plaintext, N.CONTENT))
    return len(framing.encode_frame(bytes(len(inner) + PROTECTION_OVERHEAD)))


def _range(field):
    kind = field.kind
    if kind in (S.UINT, S.INT):
        text = "%d..%d" % (field.low, field.high)
        if field.step > 1:
            text += ", step %d" % field.step
        return text
    if kind in (S.BYTES, S.TEXT):
        return "%d..%d bytes" % (field.low, field.high)
    if kind == S.LIST:
        return "%d..%d items" % (field.low, field.high)
    if kind == S.LIMITS:
        return "%d..%d entries, each in its hard range" % (field.low, field.high)
    return ""


def _type(field):
    if field.kind == S.LIST:
        return "array of %s" % _type(field.items)
    if field.kind == S.TUPLE:
        return "[" + ", ".join("%s %s" % (i.name, _type(i)) for i in field.items) + "]"
    return field.kind


def _item(field, text):
    return " ".join(p for p in (field.name + ":", _range(field), text) if p)


def _doc(field, texts):
    """The meaning column: the field's text, its tuple items' with their ranges, its
    default. ``texts`` maps a field path to its text (``schema_doc``)."""
    text = texts.get(field.name, "")
    parts = [text] if text else []
    if field.kind == S.TUPLE:
        parts += [_item(i, texts.get(field.name + "." + i.name, "")) for i in field.items]
    elif field.kind == S.LIST and field.items.kind == S.TUPLE:
        parts += [_item(i, texts.get(field.name + "." + i.name, ""))
                  for i in field.items.items]
    elif field.kind == S.LIST and field.items.kind != S.TUPLE:
        parts.append("each %s" % _range(field.items))
    if field.default is not None:
        parts.append("default %r" % (field.default,))
    return "; ".join(p.strip() for p in parts).replace("|", "/")


def _fields_table(fields, texts):
    if not fields:
        return ["(no fields)"]
    lines = ["| key | name | type | range | required | meaning |",
             "|---|---|---|---|---|---|"]
    for f in fields:
        lines.append("| %d | %s | %s | %s | %s | %s |" % (
            f.key, f.name, _type(f), _range(f), "yes" if f.required else "no", _doc(f, texts)))
    return lines


def _resource_text(resource):
    """``GET /log?from_seq&count`` for the overview table."""
    text = "%s %s" % (N.CODE_NAMES[resource.method], resource.path)
    if resource.queries:
        text += "?" + "&".join(resource.queries)
    return text


def _resource_line(resource):
    method = N.CODE_NAMES[resource.method]
    line = "CoAP: `%s %s`" % (method, resource.path)
    if resource.queries:
        line += ", fields as Uri-Query (`%s`)" % "&".join(
            name + "=N" for name in resource.queries)
    elif resource.message.request:
        line += ", fields in the payload"
    return line + "; success %s %s." % (N.code_text(resource.success),
                                        N.CODE_NAMES[resource.success])


def _message_section(message):
    what, request_texts, response_texts = D.MESSAGES[message.name]
    lines = ["### %d `%s`" % (message.code, message.name), "", what, ""]
    if message.code != S.ERROR.code:
        lines += [_resource_line(resources.BY_NAME[message.name]), ""]
        lines += ["Request:", ""] + _fields_table(message.request, request_texts) + [""]
    lines += ["Response:", ""] + _fields_table(message.response, response_texts) + [""]
    for group in message.one_of:
        lines.append("Exactly one of: %s." % ", ".join(group))
    for group in message.together:
        lines.append("Together or not at all: %s." % ", ".join(group))
    if message.one_of or message.together:
        lines.append("")
    return lines


def _coap_section():
    return [
        "## CoAP resources", "",
        "Over the secure channel each request is the inner (OSCORE-protected) CoAP request "
        "of RFC 7252 to the resource named above (`secure_channel/protocol/resources.py`). A request "
        "that only reads is a GET: its fields, all unsigned integers, are Uri-Query options "
        "`name=decimal` (no sign, no leading zero), and it has no payload. Every other "
        "request is a POST, or a PUT where sending it twice leaves the pump as sending it "
        "once does (`set_basal_program`); its fields are the payload, a deterministic CBOR "
        "map with the keys above (%d and up), Content-Format application/cbor (%d) or none, "
        "and it takes no query. The pump adds key %d (the type its path names) and key %d "
        "(id %d): CoAP matches a response to its request by token, so the id does not "
        "travel, and a remote bolus is `ref` %d for `confirm_status`." % (
            S.FIRST_FIELD_KEY, N.CBOR, S.KEY_TYPE, S.KEY_ID, resources.REQUEST_ID,
            resources.REQUEST_ID),
        "",
        "A response is %s %s to a GET and %s %s otherwise (no request makes a resource of "
        "its own, so never 2.01 Created), with the response's fields (keys %d and up) as a "
        "CBOR map, or no payload when it has none; a refusal has the CoAP code given with "
        "its error code below and the `error` map (code, reason, ref_type) as payload. "
        "Every payload has Content-Format %d." % (
            N.code_text(N.CONTENT), N.CODE_NAMES[N.CONTENT], N.code_text(N.CHANGED),
            N.CODE_NAMES[N.CHANGED], S.FIRST_FIELD_KEY, N.CBOR),
        "",
        "Before a request becomes a protocol message, in this order: a critical option "
        "other than Uri-Path, Uri-Query and Accept, or one of those malformed or repeated, "
        "is `bad-option` (options outside OSCORE's protection are the session layer's); a "
        "path with no resource is `unknown-type`; another method is `bad-method`; a "
        "Content-Format other than %d is `bad-content-format`; an Accept other than %d is "
        "`not-acceptable`; an unknown, repeated or non-decimal query, a payload on a GET, "
        "a payload that is not a CBOR map of field keys, or one over %d bytes is refused "
        "with the schema error it is. These refusals are counted and audited like the "
        "dispatcher's own." % (N.CBOR, N.CBOR, S.MAX_MESSAGE),
        "",
    ]


def _roles_table():
    """The permission matrix with the reason for each row."""
    lines = ["| command | " + " | ".join(roles.ROLES) + " | why |",
             "|---|" + "---|" * len(roles.ROLES) + "---|"]
    for command in sorted(roles.MATRIX):
        lines.append("| %s | %s | %s |" % (command, " | ".join(roles.MATRIX[command]),
                                           D.ROLE_REASONS[command]))
    return lines


def _sorted_items(table):
    return sorted(table.items(), key=lambda kv: kv[1])


def document():
    telemetry = largest_telemetry()
    out = [
        "# Pump protocol",
        "",
        "Generated from `secure_channel/protocol/schema.py` and `schema_doc.py`, "
        "`secure_channel/protocol/resources.py`, `secure_channel/protocol/roles.py` and "
        "`secure_channel/link/framing.py` by",
        "`python -m secure_channel.protocol.doc > docs/protocol.md`; do not edit by hand.",
        "",
        "## Messages",
        "",
        "Every message is one deterministic CBOR map (RFC 8949 §4.2.1) with unsigned integer "
        "keys: key %d is the message type, key %d the request id (0..%d), echoed in the "
        "response; keys from %d are the fields below. A response has its request's type, or "
        "type 0 (`error`). Decoding is strict: unknown keys, missing required fields, wrong "
        "CBOR types (a boolean is never an integer, nor the reverse), values, lengths or "
        "steps out of range, and messages over %d bytes are refused with a schema error "
        "before anything reaches the pump." % (S.KEY_TYPE, S.KEY_ID, S.MAX_ID,
                                               S.FIRST_FIELD_KEY, S.MAX_MESSAGE),
        "",
        "| type | name | CoAP | what |",
        "|---|---|---|---|",
    ]
    for message in S.MESSAGES:
        resource = resources.BY_NAME.get(message.name)
        coap = "`%s`" % _resource_text(resource) if resource else "(any refusal)"
        out.append("| %d | %s | %s | %s |" % (message.code, message.name, coap,
                                              D.MESSAGES[message.name][0]))
    out += ["", "Order of checks for a request: over CoAP its resource's (path, method, "
            "options, query, payload: see CoAP resources), then schema, then the role's "
            "permission, then remote-bolus confirmation, then the pump's own validation, "
            "state machine and interlocks.", ""]
    for message in S.MESSAGES:
        out += _message_section(message)
    out += _coap_section()
    out += ["## Error codes", "",
            "Codes 1..6 are the pump's `Result` codes: a pump refusal passes through with "
            "the pump's reason (an interlock ID or a message). The dispatcher uses 3 for "
            "`install_update` when therapy cannot pause for it and 6 for an unreadable "
            "audit log or an internal fault. Codes from 16 are the secure channel's; 24..27 refuse the CoAP "
            "request around a message. The CoAP column is the response code an error "
            "gets (`secure_channel/protocol/resources.py`, `ERRORS`).", "",
            "| code | name | meaning | CoAP | why that CoAP code |", "|---|---|---|---|---|"]
    for code in sorted(S.ERROR_NAMES):
        meaning = D.ERRORS.get(code, "pump refusal (pump/results.py)" if code < 16 else "")
        why = ""
        for c, _, text in resources.ERRORS:
            if c == code:
                why = text
        status = resources.status_of(code)
        out.append("| %d | %s | %s | %s %s | %s |" % (
            code, S.ERROR_NAMES[code], meaning, N.code_text(status), N.CODE_NAMES[status],
            why))
    out += ["", "## Codes inside messages", "", "Therapy states:", "",
            "| code | state |", "|---|---|"]
    for name, code in _sorted_items(S.STATE_CODES):
        out.append("| %d | %s |" % (code, name))
    out += ["", "Update phases in `update_status` (docs/updates.md):", "",
            "| code | phase | meaning |", "|---|---|---|"]
    for code, name, meaning in D.UPDATE_PHASES:
        out.append("| %d | %s | %s |" % (code, name, meaning))
    out += ["", "Alarm codes in `telemetry` (0: an ID not listed; `status` has it as text):",
            "", "| code | ID |", "|---|---|"]
    for name, code in _sorted_items(S.ALARM_CODES):
        out.append("| %d | %s |" % (code, name))
    out += ["", "Telemetry flags:", "", "| bit | meaning |", "|---|---|"]
    for bit, meaning in D.FLAGS:
        out.append("| %d | %s |" % (bit, meaning))
    out += [
        "", "## Telemetry size", "",
        "The largest telemetry response the schema allows (every field present at its "
        "longest encoding, id %d) is %d bytes of CBOR (budget %d). As the inner CoAP "
        "response (code, Content-Format, the body's fields), protected by OSCORE (%d bytes: "
        "CoAP header, token, OSCORE option, payload marker, 8-byte tag) and framed (COBS, "
        "CRC), it is %d bytes on the serial wire (budget %d)."
        % (S.MAX_ID, len(telemetry), S.TELEMETRY_BUDGET, PROTECTION_OVERHEAD,
           wire_size(telemetry), WIRE_BUDGET),
        "", "## Roles and permissions", "",
        "`allow`: passed to the pump (whose interlocks still apply); `deny`: refused with "
        "`forbidden`; `confirm`: only when remote bolus is enabled (off by default), and "
        "then only once the patient presses the pump's confirm button within the timeout "
        "(the bolus response says `status` 1, awaiting; `confirm_status` tells the "
        "outcome). Settings need the clinician role; on the device they also need the "
        "clinician PIN (`pump/pin.py`, two factors).", "",
    ]
    out += _roles_table()
    out += [
        "", "## Audit", "",
        "The dispatcher (`secure_channel/protocol/dispatch.py`) calls `audit(op, reason)` once for "
        "every refusal it decides: schema errors, `forbidden`, `remote-bolus-off`, "
        "confirmation busy, expired or cancelled, unavailable services and refused update "
        "steps. `op` is the command name (`message` when the type was unreadable), `reason` "
        "one line `<error-name>: <detail>`. It must append the refusal to the pump's audit "
        "log. Refusals by the pump itself are logged by the pump and not passed again. "
        "The PIN store (`pump/pin.py`) takes the same callable for PIN refusals, which "
        "never carry the PIN.",
        "", "## Framing", "",
        "On a serial line each message is `0x00 || COBS(payload || CRC-16) || 0x00`, "
        "CRC-16/CCITT-FALSE big-endian, payload at most %d bytes. Receivers resynchronise at "
        "every zero byte and count dropped frames by reason: %s." % (
            framing.MAX_PAYLOAD, ", ".join(framing.DROP_REASONS)),
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    print(document(), end="")
