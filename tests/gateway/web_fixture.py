"""A gateway store as the web page reads it: a day of readings, the pump's status, alarms
and security events, and an account; shared by the page's tests."""

import math

from pump import audit_log as L
from sim.gateway.store import Store
from sim.gateway.web import accounts

NOW = 1_760_000_000            # a fixed wall clock, s
PASSWORD = "correct horse battery staple"
NAME = accounts.DEFAULT_NAME
HOSTILE = ('<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
           '<svg onload="window.pwned = 3">')


def fill_day(path, now=NOW, account=True):
    """A store at ``path`` with 24 h of readings every 5 min up to ``now``; returns it
    closed. The glucose rises and falls around 140 mg/dL, crossing the band."""
    store = Store(path, clock=lambda: now)
    readings = [(now - 300 * i, int(140 + 70 * math.sin(i / 20)), (i % 7) - 3)
                for i in range(288)]
    store.add_readings(readings, source="sensor")
    store.add_status({"state": "delivering", "alarm": None, "iob_mu": 1250,
                      "reservoir_mu": 152300, "battery_percent": 81, "basal_mu_h": 850},
                     glucose=readings[0][1], at_s=now - 60)
    chain = bytes(32)
    store.add_log_page([(1, 1000, now - 7200, L.EV_ALARM, ["occlusion", 1], chain, True),
                        (2, 2000, now - 3600, L.EV_ALARM, ["occlusion", 0], chain, True),
                        (3, 3000, now - 1800, L.EV_WARNING, ["reservoir_low", 20], chain,
                         True)])
    store.add_security_event("clock step refused", "step of 900 s", at_s=now - 900)
    if account:
        accounts.set_password(store, NAME, PASSWORD, now)
    store.close()
    return path


def add_hostile_event(path, now=NOW):
    store = Store(path, clock=lambda: now)
    store.add_security_event(HOSTILE, HOSTILE, at_s=now)
    store.close()
