"""One simulated run as one self-contained HTML page (``report.html``).

``render(run)`` turns the run dict the simulator produces (a sample every 5 min, boluses,
carbohydrates, suspends, events, secure-channel counters and metrics; every time in minutes
from the run start) into the text of one HTML page; ``write(run, path)`` stores it as UTF-8.

The page needs nothing but itself, so it reads the same from a file:// URL on any machine,
online or not: no script, font, style sheet or image is loaded from anywhere, every plot is
an inline SVG drawn here in Python, and a Content-Security-Policy forbids loading or running
anything else. Hover tooltips are SVG ``<title>`` elements, which need no script.

Why it is built this way:

- Hostile text. Event ids and texts come from attack scenarios: every string taken from the
  run is shortened and escaped before it reaches the page, and the CSP allows no script at
  all, so even a missed escape could not run one.
- Long runs. A year is 105,120 samples. Each series is cut into at most ``BUCKETS`` time
  buckets and keeps, per bucket, its minimum and its maximum in time order: the page stays
  small and a single low reading is still drawn. Markers that would overlap are merged
  (their tooltip says how many), and the event table shows the first ``MAX_ROWS``.
- Deterministic. The same run dict gives the same bytes: no clock, no locale, sorted keys,
  fixed number formats. Times are shown in UTC.

Bad input (a run that is not a dict, a time that is not a number, a negative dose) raises
``ReportError`` with a one-line message naming the field.
"""

import datetime
import html
import math

__all__ = ["ReportError", "render", "write"]

BUCKETS = 1000          # time buckets per drawn series (<= 2 points each)
MAX_ROWS = 1000         # rows of the event table
MAX_TEXT = 300          # characters of a run string shown in a table
MAX_TIP = 160           # characters of a run string shown in a tooltip
SAMPLE_MIN = 5          # nominal sample interval (min), when the samples do not tell
MAX_RUN_MIN = 20 * 366 * 1440       # times beyond 20 years are refused
MAX_START_S = 7258118400            # 2200-01-01 00:00 UTC

# Plot geometry (SVG user units = CSS px at 100 %). Every time plot shares the same x frame,
# so a bolus lines up with the glucose rise it causes.
WIDTH = 980
LEFT, RIGHT = 112, 64
X0, X1 = LEFT, WIDTH - RIGHT

# Consensus time-in-range colours (Battelino et al., Diabetes Care 2019): very low dark red,
# low red, in range green, high amber, very high orange.
RANGES = (
    ("very_low", "very low", "<54 mg/dL", "#8b1a1a"),
    ("low", "low", "54\u201369 mg/dL", "#e0413a"),
    ("in_range", "in range", "70\u2013180 mg/dL", "#2f9e55"),
    ("high", "high", "181\u2013250 mg/dL", "#f2b233"),
    ("very_high", "very high", ">250 mg/dL", "#e8671c"),
)

INK, MUTED, GRID, AXIS = "#1f2933", "#5f6b7a", "#e8ecf0", "#a3adb8"
BG_COLOUR, CGM_COLOUR = "#1d3f72", "#1c9aa6"
BASAL_COLOUR, IOB_COLOUR, CARB_COLOUR = "#2f6fb3", "#7c5cc4", "#c98a1a"
SUSPEND_FILL = "#8a96a3"
BOLUS_COLOURS = {"meal": "#1d3f72", "correction": "#d0622b", "manual": "#178a8a",
                 "prime": "#9aa5b1"}
OTHER_BOLUS = "#55606e"

# Event lanes, top to bottom: (lane label, event kinds, colour, marker shape).
LANES = (
    ("alarms", ("alarm",), "#c62828", "diamond"),
    ("alerts", ("alert",), "#e8671c", "triangle"),
    ("warnings", ("warning",), "#c9a100", "circle"),
    ("suspend/resume", ("suspend", "resume"), "#5f6b7a", "bar"),
    ("refusals", ("refusal",), "#37474f", "square"),
    ("security", ("security",), "#7b3fb5", "diamond"),
    ("faults", ("fault",), "#00838f", "square"),
    ("updates", ("update",), "#2e7d32", "triangle"),
)
OTHER_LANE = ("other", (), "#8a96a3", "circle")
KIND_ORDER = tuple(kind for _label, kinds, _colour, _shape in LANES for kind in kinds)


def _kind_rank(kind):
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

GLUCOSE_ROWS = (
    ("samples", "samples", "", 0),
    ("time_in_range_70_180_pct", "time in range 70\u2013180", "%", 1),
    ("time_below_70_pct", "time below 70", "%", 1),
    ("time_below_54_pct", "time below 54", "%", 1),
    ("time_above_180_pct", "time above 180", "%", 1),
    ("time_above_250_pct", "time above 250", "%", 1),
    ("mean_mg_dl", "mean", "mg/dL", 0),
    ("sd_mg_dl", "SD", "mg/dL", 0),
    ("cv_pct", "CV", "%", 1),
    ("gmi_pct", "GMI", "%", 1),
    ("lbgi", "LBGI", "", 2),
    ("hbgi", "HBGI", "", 2),
)


class ReportError(ValueError):
    """The run dict cannot be drawn: a field of the wrong type or out of range."""


# --- reading the run ------------------------------------------------------------------------

def _number(value, where, none=False, minimum=None, maximum=None):
    if value is None and none:
        return None
    if type(value) is bool or not isinstance(value, (int, float)):
        raise ReportError("%s: expected a number, got %s" % (where, type(value).__name__))
    value = float(value)
    if not math.isfinite(value):
        raise ReportError("%s: expected a finite number" % where)
    if minimum is not None and value < minimum:
        raise ReportError("%s: must be >= %g" % (where, minimum))
    if maximum is not None and value > maximum:
        raise ReportError("%s: must be <= %g" % (where, maximum))
    return value


def _minute(value, where, none=False):
    """A time in minutes from the run start: 0 to MAX_RUN_MIN."""
    return _number(value, where, none=none, minimum=0, maximum=MAX_RUN_MIN)


def _list(run, key):
    value = run.get(key)
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ReportError("run[%r]: expected a list, got %s" % (key, type(value).__name__))
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ReportError("run[%r][%d]: expected a dict, got %s"
                              % (key, i, type(item).__name__))
    return value


def _dict(value, where):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ReportError("%s: expected a dict, got %s" % (where, type(value).__name__))
    return value


def _string(value, where, default=""):
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if type(value) is bool or isinstance(value, (int, float)):
        return str(value)
    raise ReportError("%s: expected a string, got %s" % (where, type(value).__name__))


class _Run:
    """The run dict, checked and put in the shapes the plots draw from."""

    def __init__(self, run):
        if not isinstance(run, dict):
            raise ReportError("run: expected a dict, got %s" % type(run).__name__)
        self.title = _string(run.get("title"), "run['title']", "simulated run")
        self.info = [(label, _string(run.get(key), "run[%r]" % key, "\u2013"))
                     for key, label in (("patient", "patient"), ("days", "days"),
                                        ("seed", "seed"), ("profile", "profile"),
                                        ("controller", "controller"),
                                        ("firmware", "firmware on"))]
        days = run.get("days")
        self.days = 0.0 if days is None else _number(days, "run['days']", minimum=0,
                                                     maximum=MAX_RUN_MIN / 1440)
        start = run.get("start_wall_s")
        self.start_s = 0 if start is None else math.floor(
            _number(start, "run['start_wall_s']", minimum=0, maximum=MAX_START_S))

        self.bg, self.cgm, self.basal, self.iob = [], [], [], []
        t_last = None
        ordered = True
        for i, s in enumerate(_list(run, "samples")):
            where = "run['samples'][%d]" % i
            t = _minute(s.get("t_min"), where + "['t_min']")
            if t_last is not None and t < t_last:
                ordered = False
            t_last = t
            self.bg.append((t, _number(s.get("bg"), where + "['bg']", none=True)))
            self.cgm.append((t, _number(s.get("cgm"), where + "['cgm']", none=True)))
            self.basal.append((t, _number(s.get("basal_u_h"), where + "['basal_u_h']",
                                          none=True, minimum=0)))
            self.iob.append((t, _number(s.get("iob_u"), where + "['iob_u']", none=True)))
        if not ordered:
            for series in (self.bg, self.cgm, self.basal, self.iob):
                series.sort(key=lambda p: p[0])
        ts = [p[0] for p in self.bg]
        self.step = SAMPLE_MIN
        if len(ts) >= 2 and ts[-1] > ts[-2]:
            self.step = ts[-1] - ts[-2]

        self.boluses = []
        for i, b in enumerate(_list(run, "boluses")):
            where = "run['boluses'][%d]" % i
            self.boluses.append((_minute(b.get("t_min"), where + "['t_min']"),
                                 _number(b.get("units"), where + "['units']", minimum=0),
                                 _string(b.get("kind"), where + "['kind']", "bolus")))
        self.boluses.sort(key=lambda b: b[0])
        self.carbs = []
        for i, c in enumerate(_list(run, "carbs")):
            where = "run['carbs'][%d]" % i
            self.carbs.append((_minute(c.get("t_min"), where + "['t_min']"),
                               _number(c.get("grams"), where + "['grams']", minimum=0)))
        self.carbs.sort(key=lambda c: c[0])
        self.suspends = []
        for i, s in enumerate(_list(run, "suspends")):
            where = "run['suspends'][%d]" % i
            a = _minute(s.get("start_min"), where + "['start_min']")
            b = _minute(s.get("end_min"), where + "['end_min']", none=True)
            if b is not None and b < a:
                raise ReportError("%s: end_min is before start_min" % where)
            self.suspends.append((a, b, _string(s.get("why"), where + "['why']")))
        self.suspends.sort(key=lambda s: s[0])
        self.events = []
        for i, e in enumerate(_list(run, "events")):
            where = "run['events'][%d]" % i
            self.events.append((_minute(e.get("t_min"), where + "['t_min']"),
                                _string(e.get("kind"), where + "['kind']", "event"),
                                _string(e.get("id"), where + "['id']"),
                                _string(e.get("text"), where + "['text']")))
        self.events.sort(key=lambda e: e[0])

        channel = _dict(run.get("channel"), "run['channel']")
        self.channel = {}
        for key in ("handshakes", "messages", "bytes_on_wire", "retransmissions"):
            if channel.get(key) is not None:
                self.channel[key] = _number(channel[key], "run['channel'][%r]" % key, minimum=0)
        for key in ("refusals", "security_events"):
            counts = _dict(channel.get(key), "run['channel'][%r]" % key)
            self.channel[key] = sorted(
                (_string(name, "run['channel'][%r] key" % key),
                 _number(n, "run['channel'][%r] value" % key, minimum=0))
                for name, n in counts.items())
        # Totals: None (drawn as "none") when the channel reported nothing at all.
        self.channel["refusals_total"] = (sum(n for _k, n in self.channel["refusals"])
                                          if channel else None)
        self.channel["security_total"] = (sum(n for _k, n in self.channel["security_events"])
                                          if channel else None)

        metrics = _dict(run.get("metrics"), "run['metrics']")
        self.glucose = {}
        for source in ("glucose_true", "glucose_cgm"):
            values = _dict(metrics.get(source), "run['metrics'][%r]" % source)
            self.glucose[source] = {
                key: _number(values.get(key), "run['metrics'][%r][%r]" % (source, key),
                             none=True)
                for key, _label, _unit, _digits in GLUCOSE_ROWS}
        insulin = _dict(metrics.get("insulin"), "run['metrics']['insulin']")
        self.insulin = {key: _number(insulin.get(key), "run['metrics']['insulin'][%r]" % key,
                                     none=True)
                        for key in ("total_u", "basal_u", "bolus_u", "per_day_u")}
        counts = metrics.get("events")
        self.event_counts = []
        if counts is None:
            tally = {}
            for _t, kind, eid, _text in self.events:
                tally[(kind, eid)] = tally.get((kind, eid), 0) + 1
            self.event_counts = [(k, i, float(n)) for (k, i), n in tally.items()]
        else:
            for kind, by_id in _dict(counts, "run['metrics']['events']").items():
                where = "run['metrics']['events'][...]"
                for eid, n in _dict(by_id, where).items():
                    self.event_counts.append((_string(kind, where), _string(eid, where),
                                              _number(n, where, minimum=0)))
        self.event_counts.sort(key=lambda c: (_kind_rank(c[0]), c[0], c[1]))

        # The x axis runs from the start to the last thing that happened, or the run's days.
        ends = [self.days * 1440.0] + [t + self.step for t in ts[-1:]]
        ends += [b[0] for b in self.boluses[-1:]] + [c[0] for c in self.carbs[-1:]]
        ends += [e[0] for e in self.events[-1:]]
        ends += [a if b is None else b for a, b, _why in self.suspends]
        self.t_end = max(ends) or 1440.0
        # Times carry a day number once the run touches a second UTC calendar day.
        self.multi_day = (self.start_s % 86400) / 60.0 + self.t_end > 1440.0


# --- formatting -----------------------------------------------------------------------------

def _e(text, limit=MAX_TEXT):
    """Run text as HTML: shortened to ``limit`` characters, then escaped."""
    text = str(text)
    if len(text) > limit:
        text = text[:limit - 1] + "\u2026"
    return html.escape(text, quote=True)


def _fmt(value, digits=1, unit=""):
    if value is None:
        return "\u2013"
    text = "%.*f" % (digits, value)
    if text.lstrip("-").strip("0.") == "":
        text = text.lstrip("-")
    return text + ("\u2009" + unit if unit else "")


def _c(v):
    """An SVG coordinate: one decimal, no trailing ``.0``."""
    text = "%.1f" % v
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _count(value):
    return "\u2013" if value is None else "{:,}".format(int(round(value)))


def _wall(run, t_min):
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=run.start_s + t_min * 60)


def _day_number(run, t_min):
    """1 on the run's first (UTC) day, 2 on the next, ..."""
    return int((run.start_s + t_min * 60) // 86400 - run.start_s // 86400) + 1


def _clock(run, t_min, seconds=False):
    wall = _wall(run, t_min)
    text = wall.strftime("%H:%M:%S" if seconds else "%H:%M")
    if run.multi_day:
        text = "day %d %s" % (_day_number(run, t_min), text)
    return text


def _date(wall):
    return "%04d-%02d-%02d %02d:%02d" % (wall.year, wall.month, wall.day, wall.hour, wall.minute)


# --- series reduction -----------------------------------------------------------------------

def _reduce(points, t_end, buckets=BUCKETS):
    """Segments (lists of (t, v)) of ``points`` (time-ordered (t, v), v None = gap) with at
    most two points per time bucket: its minimum and maximum, in time order."""
    segments, seg = [], []
    scale = buckets / t_end if t_end > 0 else 0.0
    bucket, lo, hi = None, None, None

    def close_bucket():
        if lo is not None:
            seg.extend((lo,) if lo is hi else sorted((lo, hi)))

    for t, v in points:
        if v is None:                       # a gap ends the segment
            close_bucket()
            bucket = lo = hi = None
            if seg:
                segments.append(seg)
                seg = []
            continue
        b = int(t * scale)
        if b != bucket:
            close_bucket()
            bucket = b
            lo = hi = (t, v)
        elif v < lo[1]:
            lo = (t, v)
        elif v > hi[1]:
            hi = (t, v)
    close_bucket()
    if seg:
        segments.append(seg)
    return segments


def _nearby(items, x, spacing):
    """Items (time first, time-ordered) grouped so that a group spans less than ``spacing``
    pixels: markers closer than that would be drawn on top of each other."""
    groups, start = [], None
    for item in items:
        px = x(item[0])
        if start is not None and px - start < spacing:
            groups[-1].append(item)
        else:
            groups.append([item])
            start = px
    return groups


def _spans(spans, x, t_end):
    """Suspend spans as pixel intervals [(x0, x1, [spans])], merging those that touch."""
    out = []
    for a, b, why in spans:
        x0, x1 = x(a), x(t_end if b is None else b)
        x1 = max(x1, x0 + 1.0)
        if out and x0 <= out[-1][1] + 0.5:
            out[-1][1] = max(out[-1][1], x1)
            out[-1][2].append((a, b, why))
        else:
            out.append([x0, x1, [(a, b, why)]])
    return out


def _nice(vmax, floor):
    """(top, step): an axis from 0 to ``top`` in at most 5 round steps covering ``vmax``."""
    vmax = max(vmax, floor)
    magnitude = 10 ** math.floor(math.log10(vmax / 5))
    for m in (1, 2, 2.5, 5, 10):
        step = m * magnitude
        if vmax / step <= 5 + 1e-9:
            return math.ceil(vmax / step - 1e-9) * step, step
    return vmax, vmax / 5   # unreachable


def _label(v):
    return ("%.2f" % v).rstrip("0").rstrip(".")


# --- SVG pieces -----------------------------------------------------------------------------

class _Time:
    """The x frame shared by every time plot: run minutes -> pixels, and the time ticks."""

    STEPS = (15, 30, 60, 120, 180, 240, 360, 720)           # minutes; all divide a day
    DAY_STEPS = (1, 2, 7, 14, 28, 56, 91, 182, 364, 728, 1820)   # days
    MAX_TICKS = 13

    def __init__(self, run):
        self.run = run
        self.scale = (X1 - X0) / run.t_end

    @property
    def room(self):
        """Height under a plot's x axis for the tick labels (two lines on multi-day runs)."""
        return 36 if self.run.multi_day else 24

    def x(self, t):
        return X0 + min(max(t, 0.0), self.run.t_end) * self.scale

    def ticks(self):
        """[(t_min, first line, second line or "")]."""
        run, span = self.run, self.run.t_end
        offset = (run.start_s % 86400) / 60.0          # run start, minutes past UTC midnight
        step = next((s for s in self.STEPS if span / s <= self.MAX_TICKS), None)
        out = []
        if step is not None:
            t = math.ceil(offset / step - 1e-9) * step - offset
            while t <= span + 1e-9:
                wall = _wall(run, t)
                second = ""
                if run.multi_day and wall.hour == 0 and wall.minute == 0:
                    second = "day %d" % _day_number(run, t)
                out.append((t, "%02d:%02d" % (wall.hour, wall.minute), second))
                t += step
            return out
        days = next((d for d in self.DAY_STEPS if span / (d * 1440) <= self.MAX_TICKS),
                    self.DAY_STEPS[-1])
        t = math.ceil(offset / 1440 - 1e-9) * 1440 - offset    # the first midnight
        t += (-(_day_number(run, t) - 1) % days) * 1440          # ... on day 1, 1 + days, ...
        while t <= span + 1e-9:
            wall = _wall(run, t)
            out.append((t, "day %d" % _day_number(run, t),
                        "%02d %s" % (wall.day, MONTHS[wall.month - 1])))
            t += days * 1440
        return out

    def grid(self, top, bottom, labels=True):
        parts = []
        for t, first, second in self.ticks():
            x = _c(self.x(t))
            parts.append('<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>'
                         % (x, _c(top), x, _c(bottom)))
            if labels:
                parts.append('<text class="tick" x="%s" y="%s" text-anchor="middle">%s</text>'
                             % (x, _c(bottom + 15), first))
                if second:
                    parts.append('<text class="tick2" x="%s" y="%s" text-anchor="middle">%s'
                                 '</text>' % (x, _c(bottom + 28), second))
        return "".join(parts)


def _svg(name, height, title, body):
    return ('<svg data-plot="%s" viewBox="0 0 %d %d" width="%d" height="%d" role="img" '
            'aria-label="%s"><title>%s</title>%s</svg>'
            % (name, WIDTH, height, WIDTH, height, title, title, "".join(body)))


def _legend(items, y, x=X0):
    """A row of legend entries: (swatch, colour, label) with swatch one of line, dash,
    dot, stem, rect, band (light) and shade (lighter)."""
    parts = []
    for swatch, colour, label in items:
        if swatch == "line":
            parts.append('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>'
                         % (_c(x), _c(y), _c(x + 18), _c(y), colour))
        elif swatch == "dash":
            parts.append('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5" '
                         'stroke-dasharray="4 3"/>' % (_c(x), _c(y), _c(x + 18), _c(y), colour))
        elif swatch == "dot":
            parts.append('<circle cx="%s" cy="%s" r="2.5" fill="%s"/>' % (_c(x + 9), _c(y), colour))
        elif swatch == "stem":
            parts.append('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>'
                         '<circle cx="%s" cy="%s" r="2.5" fill="%s"/>'
                         % (_c(x + 9), _c(y + 5), _c(x + 9), _c(y - 4), colour,
                            _c(x + 9), _c(y - 4), colour))
        else:
            opacity = {"band": ' fill-opacity="0.25"', "shade": ' fill-opacity="0.3"'}.get(
                swatch, "")
            parts.append('<rect x="%s" y="%s" width="18" height="10" rx="2" fill="%s"%s/>'
                         % (_c(x), _c(y - 5), colour, opacity))
        parts.append('<text class="legend" x="%s" y="%s">%s</text>'
                     % (_c(x + 23), _c(y + 4), label))
        x += 23 + 6.4 * len(html.unescape(label)) + 18
    return "".join(parts)


def _none(y, text="none"):
    return ('<text class="none" x="%s" y="%s" text-anchor="middle">%s</text>'
            % (_c((X0 + X1) / 2), _c(y), text))


def _line_path(segments, x, y):
    out = []
    for seg in segments:
        out.append("M" + "L".join("%s %s" % (_c(x(t)), _c(y(v))) for t, v in seg))
    return "".join(out)


def _step_path(segments, x, y, step, t_end):
    out = []
    for seg in segments:
        parts = ["M%s %s" % (_c(x(seg[0][0])), _c(y(seg[0][1])))]
        for (_t0, _v0), (t1, v1) in zip(seg, seg[1:]):
            parts.append("H%sV%s" % (_c(x(t1)), _c(y(v1))))
        parts.append("H%s" % _c(x(min(seg[-1][0] + step, t_end))))
        out.append("".join(parts))
    return "".join(out)


def _dots_path(segments, x, y):
    return "".join("M%s %sh0" % (_c(x(t)), _c(y(v))) for seg in segments for t, v in seg)


def _suspend_tip(run, group):
    a, b, why = group[0]
    end = "end of run" if b is None else _clock(run, b)
    tip = "suspended %s\u2013%s%s" % (_clock(run, a), end, ": " + _e(why, MAX_TIP) if why else "")
    if len(group) > 1:
        tip = "%d suspends, first %s" % (len(group), tip)
    return tip


def _suspend_spans(run, time, top, bottom, label=False):
    parts = []
    for x0, x1, group in _spans(run.suspends, time.x, run.t_end):
        parts.append('<rect class="suspend" x="%s" y="%s" width="%s" height="%s"><title>%s'
                     '</title></rect>' % (_c(x0), _c(top), _c(x1 - x0), _c(bottom - top),
                                          _suspend_tip(run, group)))
        if label and x1 - x0 > 40:
            parts.append('<text class="spanlabel" x="%s" y="%s" text-anchor="middle">'
                         'suspended</text>' % (_c((x0 + x1) / 2), _c(top + 11)))
    return "".join(parts)


def _y_axis(ticks, y, x_line, side, title, top, bottom, colour=None, grid=True):
    """Tick labels (and grid lines) for values ``ticks`` on the left or right of the plot."""
    parts = []
    anchor, tx = ("end", x_line - 7) if side == "left" else ("start", x_line + 7)
    fill = ' style="fill:%s"' % colour if colour else ""
    for v in ticks:
        py = _c(y(v))
        if grid:
            parts.append('<line class="grid" x1="%d" y1="%s" x2="%d" y2="%s"/>' % (X0, py, X1, py))
        parts.append('<text class="tick" x="%s" y="%s" text-anchor="%s"%s>%s</text>'
                     % (_c(tx), _c(y(v) + 4), anchor, fill, _label(v)))
    mid = (top + bottom) / 2
    ax = X0 - 46 if side == "left" else X1 + 46
    rot = -90 if side == "left" else 90
    parts.append('<text class="axistitle" x="%s" y="%s" text-anchor="middle" '
                 'transform="rotate(%d %s %s)"%s>%s</text>'
                 % (_c(ax), _c(mid), rot, _c(ax), _c(mid), fill, title))
    return "".join(parts)


def _frame(top, bottom):
    return ('<line class="axis" x1="%d" y1="%s" x2="%d" y2="%s"/>'
            '<line class="axis" x1="%d" y1="%s" x2="%d" y2="%s"/>'
            % (X0, _c(bottom), X1, _c(bottom), X0, _c(top), X0, _c(bottom)))


# --- the plots ------------------------------------------------------------------------------

def _glucose_plot(run, time):
    top, bottom = 34, 284
    height = bottom + time.room
    values = [v for _t, v in run.bg + run.cgm if v is not None]
    ymax = max(400.0, math.ceil(max(values, default=0) / 100.0) * 100)
    scale = (bottom - top) / ymax

    def y(v):
        return bottom - min(max(v, 0.0), ymax) * scale

    body = [_legend([("line", BG_COLOUR, "true BG"),
                     ("dot", CGM_COLOUR, "CGM" if any(v is not None for _t, v in run.cgm)
                      else "CGM: none"),
                     ("band", RANGES[2][3], "target 70\u2013180"),
                     ("dash", RANGES[0][3], "54"), ("dash", RANGES[4][3], "250"),
                     ("shade", SUSPEND_FILL, "suspended")], 14)]
    body.append('<rect class="band" x="%d" y="%s" width="%d" height="%s"/>'
                % (X0, _c(y(180)), X1 - X0, _c(y(70) - y(180))))
    step = 100 if ymax <= 600 else _nice(ymax, 1)[1]
    body.append(_y_axis([i * step for i in range(int(ymax // step) + 1)], y, X0, "left",
                        "glucose (mg/dL)", top, bottom))
    body.append(time.grid(top, bottom))
    body.append(_suspend_spans(run, time, top, bottom, label=True))
    for value, colour in ((54, RANGES[0][3]), (250, RANGES[4][3])):
        body.append('<line data-ref="%d" x1="%d" y1="%s" x2="%d" y2="%s" stroke="%s" '
                    'stroke-width="1.2" stroke-dasharray="5 4"/>'
                    % (value, X0, _c(y(value)), X1, _c(y(value)), colour))
    for value, colour, dy in ((54, RANGES[0][3], 9), (70, RANGES[2][3], 0),
                              (180, RANGES[2][3], 4), (250, RANGES[4][3], 4)):
        body.append('<text class="tick" x="%d" y="%s" style="fill:%s">%d</text>'
                    % (X1 + 6, _c(y(value) + dy), colour, value))
    body.append(_frame(top, bottom))
    if not values:
        body.append(_none((top + bottom) / 2, "none: no glucose samples"))
    else:
        cgm = _reduce(run.cgm, run.t_end)
        if cgm:
            body.append('<path data-series="cgm" class="dots" d="%s" stroke="%s"/>'
                        % (_dots_path(cgm, time.x, y), CGM_COLOUR))
        bg = _reduce(run.bg, run.t_end)
        if bg:
            body.append('<path data-series="bg" class="line" d="%s" stroke="%s" '
                        'stroke-width="1.7"/>' % (_line_path(bg, time.x, y), BG_COLOUR))
    return _svg("glucose", height, "Glucose: true blood glucose and CGM readings (mg/dL)", body)


def _insulin_plot(run, time):
    top, bottom = 34, 214
    height = bottom + time.room
    basal = [v for _t, v in run.basal if v is not None]
    iob = [v for _t, v in run.iob if v is not None]
    left_top, left_step = _nice(max(basal, default=0) * 1.15, 1.0)
    right_top, right_step = _nice(max(iob + [b[1] for b in run.boluses], default=0) * 1.12, 1.0)

    def yl(v):
        return bottom - min(max(v, 0.0), left_top) * (bottom - top) / left_top

    def yr(v):
        return bottom - min(max(v, 0.0), right_top) * (bottom - top) / right_top

    kinds = sorted({b[2] for b in run.boluses},
                   key=lambda k: (list(BOLUS_COLOURS).index(k) if k in BOLUS_COLOURS else 9, k))
    legend = [("line", BASAL_COLOUR, "basal rate (U/h, left)" if basal else "basal: none"),
              ("band", IOB_COLOUR, "insulin on board (U, right)" if iob else "IOB: none")]
    legend += [("stem", BOLUS_COLOURS.get(k, OTHER_BOLUS), _e(k, 20) + " bolus (U, right)")
               for k in kinds[:5]]
    if not run.boluses:
        legend.append(("stem", OTHER_BOLUS, "boluses: none"))
    body = [_legend(legend, 14)]
    n = int(round(left_top / left_step))
    body.append(_y_axis([i * left_step for i in range(n + 1)], yl, X0, "left", "basal (U/h)",
                        top, bottom, colour=BASAL_COLOUR))
    n = int(round(right_top / right_step))
    body.append(_y_axis([i * right_step for i in range(n + 1)], yr, X1, "right",
                        "IOB, bolus (U)", top, bottom, colour=IOB_COLOUR, grid=False))
    body.append(time.grid(top, bottom))
    body.append(_suspend_spans(run, time, top, bottom, label=True))
    body.append(_frame(top, bottom))
    drawn = False
    for seg in _reduce(run.iob, run.t_end):
        line = "L".join("%s %s" % (_c(time.x(t)), _c(yr(v))) for t, v in seg)
        area = "M%s %sL%sL%s %sZ" % (_c(time.x(seg[0][0])), _c(bottom), line,
                                      _c(time.x(seg[-1][0])), _c(bottom))
        body.append('<path data-series="iob" d="%s" fill="%s" fill-opacity="0.14" '
                    'stroke="none"/><path class="line" d="M%s" stroke="%s" stroke-width="1.2"/>'
                    % (area, IOB_COLOUR, line, IOB_COLOUR))
        drawn = True
    basal_segments = _reduce(run.basal, run.t_end)
    if basal_segments:
        body.append('<path data-series="basal" class="line" d="%s" stroke="%s" '
                    'stroke-width="1.8"/>' % (_step_path(basal_segments, time.x, yl, run.step,
                                                         run.t_end), BASAL_COLOUR))
        drawn = True
    groups = _nearby(run.boluses, time.x, 3)
    sparse = len(groups) <= 120                 # else thin stems without caps
    last_label = -1e9
    for group in groups:
        t = group[0][0]
        units = max(b[1] for b in group)
        total = sum(b[1] for b in group)
        kind = group[0][2]
        colour = BOLUS_COLOURS.get(kind, OTHER_BOLUS)
        x, y = time.x(t), yr(units)
        if len(group) == 1:
            tip = "%s %s bolus %s U" % (_clock(run, t), _e(kind, MAX_TIP), _fmt(units, 2))
        else:
            tip = "%s: %d boluses, %s U in all" % (_clock(run, t), len(group), _fmt(total, 2))
        cap = ('<circle cx="%s" cy="%s" r="3" fill="%s"/>' % (_c(x), _c(y), colour)
               if sparse else "")
        body.append('<g class="stem"><line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" '
                    'stroke-width="%s"/>%s<title>%s</title></g>'
                    % (_c(x), _c(bottom), _c(x), _c(y), colour, 2 if sparse else 1, cap, tip))
        if len(groups) <= 60 and x - last_label > 34:
            body.append('<text class="value" x="%s" y="%s" text-anchor="middle">%s U</text>'
                        % (_c(x), _c(y - 7), _fmt(total, 1)))
            last_label = x
        drawn = True
    if not drawn:
        body.append(_none((top + bottom) / 2, "none: no insulin recorded"))
    return _svg("insulin", height, "Insulin: basal rate (U/h), boluses and insulin on board (U)",
                body)


def _carbs_plot(run, time):
    top, bottom = 30, 120
    height = bottom + time.room
    gmax, gstep = _nice(max((c[1] for c in run.carbs), default=0) * 1.2, 10.0)

    def y(v):
        return bottom - min(v, gmax) * (bottom - top) / gmax

    body = [_legend([("rect", CARB_COLOUR, "carbohydrates (g)" if run.carbs
                      else "carbohydrates: none")], 14)]
    n = int(round(gmax / gstep))
    body.append(_y_axis([i * gstep for i in range(n + 1)], y, X0, "left", "carbs (g)", top,
                        bottom))
    body.append(time.grid(top, bottom))
    body.append(_frame(top, bottom))
    groups = _nearby(run.carbs, time.x, 3)
    bar = max(2.0, min(8.0, 20 * time.scale))
    last_label = -1e9
    for group in groups:
        t = group[0][0]
        grams = max(c[1] for c in group)
        total = sum(c[1] for c in group)
        x = time.x(t)
        tip = ("%s: %s g" % (_clock(run, t), _fmt(grams, 0)) if len(group) == 1 else
               "%s: %d entries, %s g in all" % (_clock(run, t), len(group), _fmt(total, 0)))
        body.append('<rect class="carb" x="%s" y="%s" width="%s" height="%s" rx="1"><title>%s'
                    '</title></rect>' % (_c(x - bar / 2), _c(y(grams)), _c(bar),
                                         _c(max(bottom - y(grams), 1)), tip))
        if len(groups) <= 60 and x - last_label > 30:
            body.append('<text class="value" x="%s" y="%s" text-anchor="middle">%s g</text>'
                        % (_c(x), _c(y(grams) - 4), _fmt(total, 0)))
            last_label = x
    if not run.carbs:
        body.append(_none((top + bottom) / 2, "none: no carbohydrates recorded"))
    return _svg("carbs", height, "Carbohydrates (g)", body)


def _marker(shape, x, y, colour):
    if shape == "diamond":
        return '<path d="M%s %sl6 6-6 6-6-6z" fill="%s"/>' % (_c(x), _c(y - 6), colour)
    if shape == "triangle":
        return '<path d="M%s %sl6 11H%sz" fill="%s"/>' % (_c(x), _c(y - 6), _c(x - 6), colour)
    if shape == "square":
        return '<rect x="%s" y="%s" width="9" height="9" fill="%s"/>' % (_c(x - 4.5), _c(y - 4.5),
                                                                          colour)
    if shape == "bar":
        return '<rect x="%s" y="%s" width="3" height="14" fill="%s"/>' % (_c(x - 1.5), _c(y - 7),
                                                                           colour)
    return '<circle cx="%s" cy="%s" r="5" fill="%s"/>' % (_c(x), _c(y), colour)


def _events_plot(run, time):
    known = {kind for _l, kinds, _c_, _s in LANES for kind in kinds}
    lanes = list(LANES)
    if any(e[1] not in known for e in run.events):
        lanes.append(OTHER_LANE)
    lane_h, top = 26, 12
    bottom = top + lane_h * len(lanes)
    height = bottom + time.room
    body = ['<rect class="lane" x="%d" y="%s" width="%d" height="%d"/>'
            % (X0, _c(top + lane_h * i), X1 - X0, lane_h) for i in range(0, len(lanes), 2)]
    body.append(time.grid(top, bottom))
    body.append(_frame(top, bottom))
    for i, (label, kinds, colour, shape) in enumerate(lanes):
        y = top + lane_h * i + lane_h / 2
        events = [e for e in run.events if (e[1] in kinds if kinds else e[1] not in known)]
        n = len(events)
        body.append('<text class="lanelabel" x="%d" y="%s" text-anchor="end">%s</text>'
                    % (X0 - 10, _c(y + 4), label))
        body.append('<text class="tick" x="%d" y="%s">%s</text>'
                    % (X1 + 8, _c(y + 4), "{:,}".format(n) if n else ""))
        if kinds == ("suspend", "resume"):
            for x0, x1, group in _spans(run.suspends, time.x, run.t_end):
                body.append('<rect class="suspend" x="%s" y="%s" width="%s" height="12" rx="2">'
                            '<title>%s</title></rect>' % (_c(x0), _c(y - 6), _c(x1 - x0),
                                                          _suspend_tip(run, group)))
        for group in _nearby(events, time.x, 6):
            t, kind, eid, text = group[0]
            first = "%s %s %s: %s" % (_clock(run, t, seconds=True), _e(kind, 20),
                                      _e(eid, MAX_TIP), _e(text, MAX_TIP))
            tip = first if len(group) == 1 else "%d events, first %s" % (len(group), first)
            mark_colour = "#2f9e55" if kind == "resume" else colour
            body.append('<g class="mark">%s<title>%s</title></g>'
                        % (_marker(shape, time.x(t), y, mark_colour), tip))
    if not run.events and not run.suspends:
        body.append(_none(top + lane_h * 1.5 + 4, "none: no events"))
    return _svg("events", height, "Events: alarms, alerts, warnings, suspends, refusals, "
                "security events", body)


def _range_plot(run):
    rows = (("true BG", run.glucose["glucose_true"]), ("CGM", run.glucose["glucose_cgm"]))
    bar_h, top = 26, 12
    height = top + len(rows) * (bar_h + 14) + 30
    x0, x1 = X0, X1
    body = []
    for i, (label, metrics) in enumerate(rows):
        y = top + i * (bar_h + 14)
        body.append('<text class="lanelabel" x="%d" y="%s" text-anchor="end">%s</text>'
                    % (x0 - 10, _c(y + bar_h / 2 + 4), label))
        parts = _range_parts(metrics)
        if parts is None:
            body.append('<rect class="lane" x="%d" y="%s" width="%d" height="%d" rx="3"/>'
                        % (x0, _c(y), x1 - x0, bar_h))
            body.append('<text class="none" x="%s" y="%s" text-anchor="middle">none: no %s '
                        'samples</text>' % (_c((x0 + x1) / 2), _c(y + bar_h / 2 + 4), label))
            continue
        total = sum(parts) or 1.0
        x = float(x0)
        for (key, name, span, colour), pct in zip(RANGES, parts):
            w = (x1 - x0) * pct / total
            if w <= 0:
                continue
            body.append('<rect data-range="%s" x="%s" y="%s" width="%s" height="%d" fill="%s">'
                        '<title>%s %s (%s): %s</title></rect>'
                        % (key, _c(x), _c(y), _c(w), bar_h, colour, label, name, span,
                           _fmt(pct, 1, "%")))
            if w >= 38:
                ink = "#ffffff" if key in ("very_low", "low", "in_range") else INK
                body.append('<text class="inbar" x="%s" y="%s" text-anchor="middle" '
                            'style="fill:%s">%s</text>'
                            % (_c(x + w / 2), _c(y + bar_h / 2 + 4), ink, _fmt(pct, 1, "%")))
            x += w
    body.append(_legend([("rect", colour, "%s %s" % (name, span))
                         for _k, name, span, colour in RANGES], height - 14))
    return _svg("range", height, "Time in ranges (percent of samples)", body)


def _range_parts(metrics):
    keys = ("time_below_54_pct", "time_below_70_pct", "time_in_range_70_180_pct",
            "time_above_180_pct", "time_above_250_pct")
    b54, b70, tir, a180, a250 = (metrics.get(k) for k in keys)
    if tir is None or not metrics.get("samples"):
        return None
    b54, b70, a180, a250 = (v or 0.0 for v in (b54, b70, a180, a250))
    return [max(v, 0.0) for v in (b54, b70 - b54, tir, a180 - a250, a250)]


def _channel_plot(run):
    ch = run.channel
    bars = [("messages", ch.get("messages"), "#2f6fb3"),
            ("handshakes", ch.get("handshakes"), "#178a8a"),
            ("refusals", ch["refusals_total"], "#c62828"),
            ("retransmissions", ch.get("retransmissions"), "#c98a1a"),
            ("security events", ch["security_total"], "#7b3fb5")]
    bar_h, gap, top = 18, 8, 10
    bottom = top + len(bars) * (bar_h + gap)
    height = bottom + 34
    vmax = max([v or 0 for _n, v, _c_ in bars] + [1])
    decades = max(1, math.ceil(math.log10(vmax + 1) - 1e-9))

    def x(v):
        return X0 + (X1 - X0) * math.log10(1 + v) / decades

    body = []
    for k in range(decades + 1):
        v = 10 ** k - (1 if k == 0 else 0)
        px = _c(x(v))
        body.append('<line class="grid" x1="%s" y1="%d" x2="%s" y2="%s"/>'
                    % (px, top, px, _c(bottom)))
        body.append('<text class="tick" x="%s" y="%s" text-anchor="middle">%s</text>'
                    % (px, _c(bottom + 15), "{:,}".format(v)))
    body.append('<text class="axistitle" x="%s" y="%s" text-anchor="middle">count '
                '(log scale)</text>' % (_c((X0 + X1) / 2), _c(bottom + 30)))
    nothing = all(not v for _n, v, _c_ in bars)
    for i, (name, value, colour) in enumerate(bars):
        y = top + i * (bar_h + gap)
        body.append('<text class="lanelabel" x="%d" y="%s" text-anchor="end">%s</text>'
                    % (X0 - 10, _c(y + bar_h / 2 + 4), name))
        if value:
            w = x(value) - X0
            body.append('<rect x="%d" y="%s" width="%s" height="%d" rx="2" fill="%s"><title>'
                        '%s: %s</title></rect>' % (X0, _c(y), _c(max(w, 2)), bar_h, colour,
                                                   name, _count(value)))
        body.append('<text class="value" x="%s" y="%s">%s</text>'
                    % (_c(x(value or 0) + 6), _c(y + bar_h / 2 + 4),
                       "none" if value is None else _count(value)))
    body.append('<line class="axis" x1="%d" y1="%d" x2="%d" y2="%s"/>' % (X0, top, X0, _c(bottom)))
    if nothing:
        body.append(_none(top + 2 * (bar_h + gap) + 12, "none: no channel traffic"))
    return _svg("channel", height, "Secure channel: messages, handshakes, refusals, "
                "retransmissions, security events", body)


# --- the page -------------------------------------------------------------------------------

STYLE = """
:root{--ink:%(ink)s;--muted:%(muted)s;--line:#e3e7ec;--bg:#f4f6f8}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;-webkit-text-size-adjust:100%%}
main{max-width:1044px;margin:0 auto;padding:28px 28px 40px}
header h1{font-size:23px;line-height:1.25;margin:0 0 6px;font-weight:650;overflow-wrap:anywhere}
.meta{display:flex;flex-wrap:wrap;gap:4px 18px;color:var(--muted);margin:0;padding:0;
list-style:none}
.meta b{color:var(--ink);font-weight:600}
.cards{display:grid;grid-template-columns:repeat(5,1fr);gap:10px;margin:20px 0 6px}
@media (max-width:760px){.cards{grid-template-columns:repeat(2,1fr)}}
.card{background:#fff;border:1px solid var(--line);border-top:4px solid var(--accent,#a3adb8);
border-radius:7px;padding:9px 12px 10px}
.card .k{font-size:11.5px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:25px;font-weight:650;font-variant-numeric:tabular-nums;line-height:1.2;
margin-top:2px}
.card .v small{font-size:14px;font-weight:500;color:var(--muted)}
.card .s{font-size:12px;color:var(--muted);font-variant-numeric:tabular-nums}
.card .ok{color:#23794a}.card .no{color:#b3261e}
.panel{background:#fff;border:1px solid var(--line);border-radius:7px;padding:14px 18px 12px;
margin:14px 0}
.panel h2{font-size:15.5px;margin:0 0 2px;font-weight:650}
.panel p.note{margin:0 0 8px;color:var(--muted);font-size:12.5px}
h2.section{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);
margin:28px 0 8px}
svg{display:block;max-width:100%%;height:auto;overflow:visible}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,
sans-serif}
.tick,.tick2{font-size:11.5px;fill:var(--muted);font-variant-numeric:tabular-nums}
.tick2{font-weight:600}
.legend{font-size:12px;fill:var(--ink)}
.axistitle{font-size:12px;fill:var(--muted)}
.lanelabel{font-size:12.5px;fill:var(--ink)}
.value{font-size:11px;fill:var(--ink);font-variant-numeric:tabular-nums}
.inbar{font-size:12px;font-weight:600}
.none{font-size:13px;fill:var(--muted);font-style:italic}
.spanlabel{font-size:10.5px;fill:#4a5561}
.grid{stroke:%(grid)s;stroke-width:1}
.axis{stroke:%(axis)s;stroke-width:1}
.band{fill:%(green)s;fill-opacity:.1}
.suspend{fill:%(suspend)s;fill-opacity:.26}
.lane{fill:#f3f5f7}
.line{fill:none;stroke-linejoin:round;stroke-linecap:round}
.dots{fill:none;stroke-width:3.4;stroke-linecap:round;stroke-opacity:.75}
.carb{fill:%(carb)s}
.tables{display:grid;grid-template-columns:repeat(auto-fit,minmax(400px,1fr));gap:14px}
.tables .panel{margin:0}
table{border-collapse:collapse;width:100%%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;
letter-spacing:.03em}
td.n,th.n{text-align:right;white-space:nowrap}
td.t{white-space:nowrap;color:var(--muted)}
td.x{overflow-wrap:anywhere;word-break:break-word}
tr:last-child td{border-bottom:0}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;font-weight:600;
color:#fff;background:var(--b,#8a96a3)}
.muted{color:var(--muted)}
footer{margin-top:26px;color:var(--muted);font-size:12px}
""" % {"ink": INK, "muted": MUTED, "grid": GRID, "axis": AXIS, "green": RANGES[2][3],
       "suspend": SUSPEND_FILL, "carb": CARB_COLOUR}


def _card(label, value, sub, accent, target=None):
    """A headline metric. ``target``: (text, met) or None."""
    extra = ""
    if target is not None:
        text, met = target
        if met is None:
            extra = '<div class="s">target %s</div>' % text
        else:
            extra = ('<div class="s %s">%s target %s</div>'
                     % ("ok" if met else "no", "\u2713" if met else "\u2717", text))
    return ('<div class="card" style="--accent:%s"><div class="k">%s</div><div class="v">%s'
            '</div><div class="s">%s</div>%s</div>' % (accent, label, value, sub, extra))


def _cards(run):
    true, cgm = run.glucose["glucose_true"], run.glucose["glucose_cgm"]

    def pct(key, colour, label, goal, above):
        v = true[key]
        met = None if v is None else (v > goal if above else v < goal)
        return _card(label, _fmt(v, 1, "%"), "CGM " + _fmt(cgm[key], 1, "%"), colour,
                     ("%s %g %%" % (">" if above else "<", goal), met))

    cv = true["cv_pct"]
    ins = run.insulin
    cards = [
        pct("time_in_range_70_180_pct", RANGES[2][3], "in range 70\u2013180", 70, True),
        pct("time_below_70_pct", RANGES[1][3], "below 70", 4, False),
        pct("time_below_54_pct", RANGES[0][3], "below 54", 1, False),
        pct("time_above_180_pct", RANGES[3][3], "above 180", 25, False),
        pct("time_above_250_pct", RANGES[4][3], "above 250", 5, False),
        _card("mean glucose", _fmt(true["mean_mg_dl"], 0, "<small>mg/dL</small>"),
              "CGM " + _fmt(cgm["mean_mg_dl"], 0, "mg/dL"), BG_COLOUR),
        _card("CV", _fmt(cv, 1, "%"), "SD " + _fmt(true["sd_mg_dl"], 0, "mg/dL"), BG_COLOUR,
              ("\u2264 36 %", None if cv is None else cv <= 36)),
        _card("GMI", _fmt(true["gmi_pct"], 1, "%"), "CGM " + _fmt(cgm["gmi_pct"], 1, "%"),
              BG_COLOUR),
        _card("LBGI / HBGI", "%s <small>/</small> %s" % (_fmt(true["lbgi"], 1),
                                                        _fmt(true["hbgi"], 1)),
              "CGM %s / %s" % (_fmt(cgm["lbgi"], 1), _fmt(cgm["hbgi"], 1)), "#5f6b7a"),
        _card("total insulin", _fmt(ins["total_u"], 1, "<small>U</small>"),
              "basal %s<br>bolus %s" % (_fmt(ins["basal_u"], 1, "U"),
                                        _fmt(ins["bolus_u"], 1, "U")), BASAL_COLOUR),
    ]
    return '<section class="cards" aria-label="headline metrics">%s</section>' % "".join(cards)


def _panel(title, note, content):
    return ('<section class="panel"><h2>%s</h2>%s%s</section>'
            % (title, '<p class="note">%s</p>' % note if note else "", content))


def _table(headers, rows, numeric=()):
    head = "".join('<th%s>%s</th>' % (' class="n"' if i in numeric else "", h)
                   for i, h in enumerate(headers))
    body = "".join("<tr>%s</tr>" % "".join(rows_cell for rows_cell in row) for row in rows)
    return "<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (head, body)


def _td(text, cls=""):
    return '<td%s>%s</td>' % (' class="%s"' % cls if cls else "", text)


def _glucose_table(run):
    rows = []
    for key, label, unit, digits in GLUCOSE_ROWS:
        cells = [_td(label + (' <span class="muted">(%s)</span>' % unit if unit else ""))]
        for source in ("glucose_true", "glucose_cgm"):
            v = run.glucose[source][key]
            cells.append(_td(_count(v) if key == "samples" else _fmt(v, digits), "n"))
        rows.append(cells)
    return _table(["metric", "true BG", "CGM"], rows, numeric=(1, 2))


def _insulin_table(run):
    ins = run.insulin
    rows = [[_td(label), _td(_fmt(ins[key], 2, "U"), "n")] for key, label in
            (("total_u", "total"), ("basal_u", "basal"), ("bolus_u", "bolus"),
             ("per_day_u", "per day"))]
    by_kind = {}
    for _t, units, kind in run.boluses:
        n, u = by_kind.get(kind, (0, 0.0))
        by_kind[kind] = (n + 1, u + units)
    for kind in sorted(by_kind):
        n, u = by_kind[kind]
        rows.append([_td("%s boluses (%s)" % (_e(kind, 40), "{:,}".format(n))),
                     _td(_fmt(u, 2, "U"), "n")])
    if not run.boluses:
        rows.append([_td("boluses"), _td("none", "n")])
    grams = sum(c[1] for c in run.carbs)
    rows.append([_td("carbohydrates (%s entries)" % "{:,}".format(len(run.carbs))),
                 _td(_fmt(grams, 0, "g") if run.carbs else "none", "n")])
    rows.append([_td("suspends"), _td("{:,}".format(len(run.suspends)) if run.suspends
                                      else "none", "n")])
    return _table(["quantity", "amount"], rows, numeric=(1,))


def _channel_table(run):
    ch = run.channel
    rows = []
    for key, label in (("handshakes", "handshakes"), ("messages", "messages"),
                       ("bytes_on_wire", "bytes on the wire"),
                       ("retransmissions", "retransmissions")):
        rows.append([_td(label), _td(_count(ch.get(key)), "n")])
    for key, label in (("refusals", "refusal"), ("security_events", "security event")):
        if not ch[key]:
            rows.append([_td(label + "s"), _td("none", "n")])
        for name, n in ch[key]:
            rows.append([_td('%s <code>%s</code>' % (label, _e(name, 80)), "x"),
                         _td(_count(n), "n")])
    return _table(["counter", "count"], rows, numeric=(1,))


def _lane_colour(kind):
    for _label, kinds, colour, _shape in LANES:
        if kind in kinds:
            return "#2f9e55" if kind == "resume" else colour
    return OTHER_LANE[2]


def _badge(kind):
    return '<span class="badge" style="--b:%s">%s</span>' % (_lane_colour(kind), _e(kind, 24))


def _event_tables(run):
    counts = [[_td(_badge(kind)), _td("<code>%s</code>" % _e(eid, 120), "x"),
               _td(_count(n), "n")] for kind, eid, n in run.event_counts]
    summary = (_table(["kind", "id", "count"], counts, numeric=(2,)) if counts
               else '<p class="muted">none</p>')
    rows = [[_td(_clock(run, t, seconds=True), "t"), _td(_badge(kind)),
             _td("<code>%s</code>" % _e(eid, 120), "x"), _td(_e(text), "x")]
            for t, kind, eid, text in run.events[:MAX_ROWS]]
    note = ""
    if len(run.events) > MAX_ROWS:
        note = ("the first %s of %s events" % ("{:,}".format(MAX_ROWS),
                                               "{:,}".format(len(run.events))))
    log = (_table(["time (UTC)", "kind", "id", "text"], rows) if rows
           else '<p class="muted">none</p>')
    return summary, log, note


def _header(run):
    start = _date(_wall(run, 0))
    end = _date(_wall(run, run.t_end))
    items = "".join("<li>%s <b>%s</b></li>" % (label, _e(value, 80)) for label, value in run.info)
    items += "<li>from <b>%s</b> to <b>%s</b> UTC</li>" % (start, end)
    return "<header><h1>%s</h1><ul class=\"meta\">%s</ul></header>" % (_e(run.title, 200), items)


def render(run):
    """The report of ``run`` (the simulator's run dict) as the text of one HTML page."""
    run = _Run(run)
    time = _Time(run)
    summary, log, note = _event_tables(run)
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<meta name=\"generator\" content=\"sim/report.py\">",
        "<title>%s</title>" % _e(run.title, 200),
        "<style>%s</style></head><body><main>" % STYLE,
        _header(run),
        _cards(run),
        _panel("Time in ranges", "percent of samples, true blood glucose and CGM",
               _range_plot(run)),
        '<h2 class="section">Over time</h2>',
        _panel("Glucose", "true blood glucose (line) and CGM readings (dots); shaded: "
               "target range and insulin suspends; times in UTC", _glucose_plot(run, time)),
        _panel("Insulin", "basal rate as delivered (left axis), boluses and insulin on board "
               "(right axis)", _insulin_plot(run, time)),
        _panel("Carbohydrates", "", _carbs_plot(run, time)),
        _panel("Events", "one lane per kind; hover a marker for its id and text; merged "
               "markers say how many events they hold", _events_plot(run, time)),
        _panel("Secure channel", "", _channel_plot(run)),
        '<h2 class="section">Tables</h2><div class="tables">',
        _panel("Glucose metrics", "", _glucose_table(run)),
        _panel("Insulin, meals, suspends", "", _insulin_table(run)),
        _panel("Secure channel", "", _channel_table(run)),
        _panel("Events by id", "", summary),
        "</div>",
        _panel("Event log", note, log),
        "<footer>Simulated run: true BG comes from the virtual patient, CGM from its "
        "simulated sensor. Generated by sim/report.py; the same run gives the same file."
        "</footer></main></body></html>\n",
    ]
    return "".join(parts)


def write(run, path):
    """Write the report of ``run`` to ``path`` as UTF-8 (same run, same bytes)."""
    text = render(run)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
