"""The data-flow model of the system for pytm: who and what talks to whom, across which
trust boundary, carrying which assets.

Elements are named after the code that is each of them. The threats (threats.py) are a
pytm threat library of our own, one STRIDE threat per entry, whose conditions pytm
evaluates against these elements; every match is a finding, and every threat with a
finding becomes a risk in the register. The hospital service is drawn but out of scope
(not built yet), so pytm finds nothing on it.
"""

import json

import pytm
from pytm import Actor, Boundary, Data, Dataflow, Datastore, ExternalEntity, Process, TM

from tools.evidence import threats as threat_library
from tools.evidence.threats import (CGM, CHANNEL, CLINICIAN_TOOL, DOSE, GATEWAY, IMAGE, KEYS,
                                    LOG, PIN, PRESS, PUMP_BOUNDARY, SETTINGS, SIGNING_KEY,
                                    TELEMETRY, TIME, WEB_LOGIN, WEB_SESSION)


class Model:
    """A resolved threat model: the pytm TM, its elements and flows, and the findings
    (threat ID, element name) that pytm produced."""

    def __init__(self, tm, elements, flows, findings, library, boundaries, data):
        self.tm = tm
        self.elements = elements
        self.flows = flows
        self.findings = findings
        self.library = library
        self.boundaries = boundaries
        self.data = data

    def findings_of(self, threat_id):
        return [name for tid, name in self.findings if tid == threat_id]

    def dot(self):
        """The data-flow diagram in Graphviz DOT, as pytm draws it."""
        return self.tm.dfd()


def _data(name, description, classification, **flags):
    return Data(name, description=description, classification=classification, **flags)


def build(threats_file, library=None):
    """Build the model, write the threat library (default: threats.THREATS) to
    ``threats_file`` (pytm reads it from a file) and resolve it."""
    library = threat_library.THREATS if library is None else library
    with open(threats_file, "w", encoding="utf8") as out:
        json.dump(threat_library.pytm_threats(library), out, indent=1, sort_keys=True)
    TM.reset()
    C = pytm.Classification
    tm = TM("Secure insulin pump", description=(
        "Body-worn insulin pump (firmware: pump/, secure_channel/, bootloader/), its home "
        "gateway with a caregiver web page, a clinician's tool relayed by the gateway, the "
        "patient's phone, a CGM sensor and the manufacturer's update signing."),
        threatsFile=str(threats_file))
    tm.isOrdered = True

    pump_b = Boundary(PUMP_BOUNDARY, description="the body-worn device: firmware, flash, OTP")
    cgm_b = Boundary("CGM sensor", description="a third-party sensor on the patient's body")
    phone_b = Boundary("Patient's phone")
    home_b = Boundary("Patient's home", description="the gateway host on the home network")
    clinic_b = Boundary("Clinic")
    vendor_b = Boundary("Manufacturer")
    hospital_b = Boundary("Hospital (planned)")

    dose = _data(DOSE, "bolus, temporary basal, suspend, resume", C.RESTRICTED)
    settings = _data(SETTINGS, "basal program, limits, calculator settings", C.RESTRICTED)
    cgm = _data(CGM, "sensor glucose with its measurement time", C.SENSITIVE, isPII=True)
    telemetry = _data(TELEMETRY, "status, glucose, deliveries, alarms", C.SENSITIVE, isPII=True)
    log = _data(LOG, "hash-chained, MAC'ed audit records", C.SENSITIVE, isPII=True)
    image = _data(IMAGE, "MCUboot-format signed application image", C.RESTRICTED)
    keys = _data(KEYS, "EDHOC private keys, OSCORE and log keys", C.SECRET, isCredentials=True)
    signing_key = _data(SIGNING_KEY, "Ed25519/ECDSA key that signs images", C.SECRET,
                        isCredentials=True)
    time_ = _data(TIME, "the gateway's time for the pump's wall clock", C.RESTRICTED)
    pin = _data(PIN, "patient or clinician PIN typed on the buttons", C.SECRET,
                isCredentials=True)
    press = _data(PRESS, "the patient's press that confirms a bolus or an update", C.RESTRICTED)
    web_login = _data(WEB_LOGIN, "the caregiver's password and second factor", C.SECRET,
                      isCredentials=True)
    web_session = _data(WEB_SESSION, "random session id, CSRF token", C.SECRET,
                        isCredentials=True)

    patient = Actor("Patient")
    caregiver = Actor("Caregiver")
    clinician = Actor("Clinician")

    core = Process("Therapy controller", inBoundary=pump_b,
                   description="pump/: state machine, delivery, interlocks, audit log")
    monitor = Process("Safety monitor", inBoundary=pump_b,
                      description="pump/safety_monitor.py: holds the motor driver")
    channel = Process(CHANNEL, inBoundary=pump_b, protocol="CoAP/EDHOC/OSCORE",
                      description="secure_channel/: framing, CoAP, EDHOC, OSCORE, schema, roles")
    loader = Process("Bootloader", inBoundary=pump_b, description="bootloader/: verify, swap")
    flash_log = Datastore("Audit log in flash", inBoundary=pump_b, storesLogData=True,
                          isSQL=False, data=[log])
    keystore = Datastore("Key store", inBoundary=pump_b, isSQL=False, data=[keys],
                         description="sealed under the device-unique key in OTP")
    sealed = Datastore("Sealed settings", inBoundary=pump_b, isSQL=False, data=[settings])
    slots = Datastore("Image slots A/B", inBoundary=pump_b, isSQL=False, data=[image])

    sensor = ExternalEntity("CGM transmitter", inBoundary=cgm_b)
    phone = Process("Patient's phone app", inBoundary=phone_b)
    gateway = Process(GATEWAY, inBoundary=home_b, description="sim/gateway/")
    store = Datastore("Gateway store (SQLite)", inBoundary=home_b, storesPII=True,
                      storesLogData=True, storesSensitiveData=True, data=[telemetry, log])
    gateway_key = Datastore("Gateway identity file", inBoundary=home_b, isSQL=False,
                            data=[keys])
    web = Process("Caregiver web page", inBoundary=home_b, description="sim/gateway/web/")
    tool = Process(CLINICIAN_TOOL, inBoundary=clinic_b,
                   description="pumpsim gateway / aiocoap client with the clinician's key")
    tool_key = Datastore("Clinician identity file", inBoundary=clinic_b, isSQL=False,
                         data=[keys])
    signer = Process("Image signing", inBoundary=vendor_b, description="pumpsim image sign")
    signing_store = Datastore("Signing key store", inBoundary=vendor_b, isSQL=False,
                              data=[signing_key])
    hospital = ExternalEntity("Hospital service", inBoundary=hospital_b, inScope=False,
                              description="planned: therapy reports to a hospital record")

    protocols = {}      # pytm fills a flow's protocol from its ends; keep what was said

    def flow(source, sink, name, data, protocol="", in_scope=True):
        protocols[name] = protocol
        return Dataflow(source, sink, name, data=data, protocol=protocol, inScope=in_scope)

    flows = [
        flow(patient, core, "Buttons: PIN, confirmations", [pin, press], "buttons"),
        flow(sensor, gateway, "CGM readings", [cgm], "sensor radio"),
        flow(gateway, channel, "Commands, readings, time sync", [dose, cgm, time_],
             "CoAP+OSCORE over radio/serial"),
        flow(gateway, channel, "Image chunks", [image], "CoAP+OSCORE over radio/serial"),
        flow(channel, gateway, "Telemetry and log pages", [telemetry, log],
             "CoAP+OSCORE over radio/serial"),
        flow(tool, channel, "Clinician session relayed by the gateway", [settings, dose],
             "end-to-end OSCORE through a CoAP proxy"),
        flow(phone, channel, "Remote bolus", [dose], "CoAP+OSCORE over radio"),
        flow(channel, core, "Validated commands", [dose, settings, cgm, time_]),
        flow(core, monitor, "Pulse requests and declarations", [dose]),
        flow(core, flash_log, "Audit records", [log]),
        flow(core, sealed, "Settings sealed in flash", [settings]),
        flow(keystore, channel, "Session and log keys", [keys]),
        flow(channel, slots, "Staged image", [image]),
        flow(slots, loader, "Image to verify and swap", [image]),
        flow(signing_store, signer, "Signing key", [signing_key], "on the signing host"),
        flow(signer, gateway, "Signed image file", [image], "file"),
        flow(gateway_key, gateway, "Gateway identity", [keys], "owner-only key file"),
        flow(tool_key, tool, "Clinician identity", [keys], "owner-only key file"),
        flow(gateway, store, "Stored telemetry and log", [telemetry, log], "SQLite"),
        flow(store, web, "Read-only queries", [telemetry], "SQLite"),
        flow(caregiver, web, "Login and page requests", [web_login, web_session],
             "HTTP on loopback"),
        flow(web, caregiver, "Glucose, pump state, alarms", [telemetry], "HTTP on loopback"),
        flow(clinician, tool, "Settings entered", [settings], "the tool's interface"),
        flow(patient, phone, "Bolus request", [dose], "the app's interface"),
        flow(gateway, hospital, "Therapy reports (planned)", [telemetry], "HTTPS",
             in_scope=False),
    ]
    tm.check()
    tm.resolve()
    findings = sorted({(f.threat_id, f.element.name) for f in tm.findings})
    elements = [e for e in (patient, caregiver, clinician, core, monitor, channel, loader,
                            flash_log, keystore, sealed, slots, sensor, phone, gateway, store,
                            gateway_key, web, tool, tool_key, signer, signing_store, hospital)]
    boundaries = [pump_b, cgm_b, phone_b, home_b, clinic_b, vendor_b, hospital_b]
    data = [dose, settings, cgm, telemetry, log, image, keys, signing_key, time_, pin, press,
            web_login, web_session]
    model = Model(tm, elements, flows, findings, library, boundaries, data)
    model.protocols = protocols
    return model
