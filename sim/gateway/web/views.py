"""What the page shows, read from the store: plain dicts, the same for the HTML and the
JSON endpoints, with every number already in words (units, ages, local times), so the
page's script only places text.

Glucose comes from ``readings`` (pump wall clock), the pump's state from the newest row
of ``status`` (gateway clock), alarms from ``alarms``, security events from
``security_events`` (the pump's, the gateway's and this page's own).
"""

import time

DAY_S = 24 * 3600
STALE_S = 15 * 60             # no reading or status for this long: shown as stale
GAP_S = 15 * 60               # the plot's line breaks where readings are further apart
TARGET = (70, 180)            # mg/dL: the band drawn on the plot
PLOT_RANGE = (40, 400)
LISTED = 10                   # alarms and security events shown
LOGINS_LISTED = 5             # the page's own login events, in their own list
LOW_RESERVOIR_MU = 20000
LOW_BATTERY_PERCENT = 20

ARROWS = {-3: "\u21ca", -2: "\u2193", -1: "\u2198", 0: "\u2192", 1: "\u2197", 2: "\u2191",
          3: "\u21c8"}
TRENDS = {-3: "falling fast", -2: "falling", -1: "falling slowly", 0: "steady",
          1: "rising slowly", 2: "rising", 3: "rising fast"}


def age_text(seconds):
    seconds = max(0, int(seconds))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return "%d min ago" % (seconds // 60)
    if seconds < 2 * DAY_S:
        return "%d h %d min ago" % (seconds // 3600, seconds % 3600 // 60)
    return "%d days ago" % (seconds // DAY_S)


def clock_text(at_s, now):
    """Local time: HH:MM today, else with the date."""
    moment = time.localtime(at_s)
    if time.strftime("%Y-%m-%d", moment) == time.strftime("%Y-%m-%d", time.localtime(now)):
        return time.strftime("%H:%M", moment)
    return time.strftime("%d %b %H:%M", moment)


def range_of(mg_dl):
    if mg_dl < 54:
        return "very-low"
    if mg_dl < TARGET[0]:
        return "low"
    if mg_dl <= TARGET[1]:
        return "in-range"
    if mg_dl <= 250:
        return "high"
    return "very-high"


def units(mu, suffix="U"):
    return "%.2f %s" % (mu / 1000, suffix)


def glucose_now(db, now):
    row = db.execute("SELECT measured_s, mg_dl, trend FROM readings "
                     "ORDER BY measured_s DESC LIMIT 1").fetchone()
    if row is None:
        return None
    measured, mg_dl, trend = row
    return {"mg_dl": mg_dl, "trend": trend, "arrow": ARROWS.get(trend, "?"),
            "trend_text": TRENDS.get(trend, "unknown trend"), "measured_s": measured,
            "time": clock_text(measured, now), "age_text": age_text(now - measured),
            "stale": now - measured > STALE_S, "range": range_of(mg_dl)}


def pump_now(db, now):
    row = db.execute("SELECT at_s, state, alarm, iob_mu, reservoir_mu, battery_percent, "
                     "basal_mu_h FROM status ORDER BY at_s DESC LIMIT 1").fetchone()
    if row is None:
        return None
    at_s, state, alarm, iob, reservoir, battery, basal = row
    return {"state": state, "alarm": alarm, "iob": units(iob), "reservoir": units(reservoir),
            "battery": "%d %%" % battery, "basal": units(basal, "U/h"), "at_s": at_s,
            "time": clock_text(at_s, now), "age_text": age_text(now - at_s),
            "stale": now - at_s > STALE_S, "low_reservoir": reservoir < LOW_RESERVOIR_MU,
            "low_battery": battery < LOW_BATTERY_PERCENT}


def alarms(db, now):
    return [{"at_s": wall, "time": clock_text(wall, now), "id": alarm_id, "kind": kind,
             "active": bool(active)}
            for wall, alarm_id, kind, active in db.execute(
                "SELECT wall_s, id, kind, active FROM alarms ORDER BY seq DESC LIMIT ?",
                (LISTED,))]


def security_events(db, now, web=False):
    """The pump's and the gateway's events, or (``web``) this page's own logins: apart,
    so a flood of login attempts cannot push the pump's events off the page."""
    return [{"at_s": at_s, "time": clock_text(at_s, now), "source": source, "kind": kind,
             "detail": detail}
            for at_s, source, kind, detail in db.execute(
                "SELECT at_s, source, kind, detail FROM security_events WHERE "
                "(source = 'web') = ? ORDER BY at_s DESC, id DESC LIMIT ?",
                (1 if web else 0, LISTED if not web else LOGINS_LISTED))]


def store_problem(db):
    """Why the store no longer files the pump's log (it diverged), or None."""
    row = db.execute("SELECT value FROM meta WHERE key = 'log_diverged'").fetchone()
    return None if row is None else "The pump's log is no longer filed: " + row[0]


def current(db, now):
    """Everything but the plot: the glucose now, the pump, alarms, security events."""
    now = int(now)
    return {"now_s": now, "time": clock_text(now, now), "glucose": glucose_now(db, now),
            "pump": pump_now(db, now), "alarms": alarms(db, now),
            "events": security_events(db, now), "logins": security_events(db, now, True),
            "store_problem": store_problem(db)}


def glucose_day(db, now):
    """The last 24 h of readings, [[measured_s, mg_dl], ...] oldest first, with the plot's
    frame (time span, target band, the mg/dL range drawn, where the line breaks). When
    the newest reading is more than a day old (a pump out of reach, or a store from a
    simulated run) the plot shows the day up to it, marked ``old``."""
    now = int(now)
    newest = db.execute("SELECT MAX(measured_s) FROM readings WHERE measured_s <= ?",
                        (now + STALE_S,)).fetchone()[0]
    end = now if newest is None or newest > now - DAY_S else newest
    points = [[t, mg_dl] for t, mg_dl in db.execute(
        "SELECT measured_s, mg_dl FROM readings WHERE measured_s > ? AND measured_s <= ? "
        "ORDER BY measured_s", (end - DAY_S, end + STALE_S))]
    return {"now_s": now, "from_s": end - DAY_S, "to_s": end, "old": end != now,
            "low": TARGET[0],
            "high": TARGET[1], "y_min": PLOT_RANGE[0], "y_max": PLOT_RANGE[1],
            "gap_s": GAP_S, "points": points}
