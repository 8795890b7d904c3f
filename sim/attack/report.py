"""Attack runs and campaigns as one self-contained HTML page.

``render(results, title=..., worst=4)`` turns a list of attack-run results (the schema
``sim.attack.tables.validate`` checks; failed campaign jobs included) into the text of one
HTML page; ``write_report(results, path)`` stores it, atomically, as UTF-8.

What the page shows, top to bottom: the headline counts (runs, verdicts as expected, unsafe
outcomes per profile); a matrix of the outcome per scenario and profile, with the controls
that stopped each attack; the lowest glucose per scenario and profile as bars against the
54 and 70 mg/dL lines; the glucose traces of the worst cases, with and without the attack;
every run in a table (a failed job as a row saying why); each scenario's attacker actions.

Built like the main run report (``sim/report.py``, whose escaping, SVG pieces and style it
reuses), for the same reasons:

- Hostile text. Scenario titles, details and errors are untrusted: every string is made
  visible (control and bidi characters written out), shortened and escaped, and the page's
  Content-Security-Policy allows no script at all, so a missed escape could not run one.
- Offline. Nothing is loaded from anywhere: plots are inline SVG, tooltips SVG ``<title>``,
  the actions log plain ``<details>``.
- Deterministic. Runs are shown in canonical order (scenario, profile, patient, seed), with
  fixed number formats and no clock: the same results give the same bytes.
- Honest. Legacy-profile runs are labelled, wherever they appear, as the deliberately
  insecure teaching profile; every plot has labelled axes and its values written out.
"""

import math

from sim.attack.tables import PROFILES, atomic_write, validate, visible
from sim.report import (BG_COLOUR, INK, MAX_ROWS, MAX_TEXT, MAX_TIP, RANGES, STYLE, WIDTH, X0,
                        X1, _c, _card, _e, _fmt, _frame, _label, _legend, _line_path, _nearby,
                        _nice, _none, _panel, _reduce, _svg, _table, _td, _y_axis)

__all__ = ["render", "write_report"]

TITLE = "Attack lab: results"
LEGACY_LABEL = "deliberately insecure teaching profile"
PROFILE_COLOURS = {"secure": "#2f6fb3", "legacy": "#c75a12"}
BLOCKED, SUCCEEDED, UNSAFE, FAILED = "#23794a", "#c62828", "#b3261e", "#55606e"
BASELINE, ACTION = "#8a96a3", "#7b3fb5"
VERY_LOW, LOW, IN_RANGE = RANGES[0][3], RANGES[1][3], RANGES[2][3]
MAX_WORST = 50                          # traces drawn at most
DASH = "\u2013"


# --- formatting -----------------------------------------------------------------------------

def _h(text, limit=MAX_TEXT):
    """Result text as HTML: control and bidi characters written out, shortened, escaped."""
    return _e(visible(text), limit)


def _badge(text, colour, tip=""):
    return '<span class="badge" style="--b:%s"%s>%s</span>' % (
        colour, ' title="%s"' % tip if tip else "", text)


def _profile(profile):
    if profile == "legacy":
        return _badge("legacy \u00b7 insecure", PROFILE_COLOURS["legacy"], LEGACY_LABEL)
    if profile == "secure":
        return _badge("secure", PROFILE_COLOURS["secure"])
    return '<span class="muted">%s</span>' % DASH


def _verdict(verdict):
    return _badge(verdict, BLOCKED if verdict == "blocked" else SUCCEEDED)


def _glucose(value, unit="mg/dL"):
    """A glucose value, in the colour of its range when it is low."""
    text = _fmt(value, 0, unit)
    if value is not None and value < 70:
        return '<b style="color:%s">%s</b>' % (VERY_LOW if value < 54 else LOW, text)
    return text


def _count(n, what):
    return "%d %s%s" % (n, what, "" if n == 1 else "s")


def _who(run):
    seed = DASH if run.seed is None else run.seed
    return "%s \u00b7 seed %s" % (_h(run.patient or DASH, 60), seed)


def _lowest(runs, key="min_glucose_mg_dl"):
    values = [r.outcome[key] for r in runs if r.outcome.get(key) is not None]
    return min(values) if values else None


def _groups(runs):
    """{scenario: {profile: [runs]}} and the scenarios in order (failed jobs without a
    scenario are left out: they appear in the table of runs)."""
    cells = {}
    for run in runs:
        if run.scenario:
            cells.setdefault(run.scenario, {}).setdefault(run.profile, []).append(run)
    return cells, sorted(cells)


def _titles(runs):
    """Each scenario's title and reference; where its runs disagree, each one they give."""
    seen = {}
    for run in runs:
        if not run.failed:
            titles, references = seen.setdefault(run.scenario, ([], []))
            for value, values in ((run.title, titles), (run.reference, references)):
                if value and value not in values:
                    values.append(value)
    return {s: (" / ".join(t), " / ".join(r)) for s, (t, r) in seen.items()}


# --- head, banner, cards --------------------------------------------------------------------

def _header(runs, title):
    done = [r for r in runs if not r.failed]
    scenarios = {r.scenario for r in runs if r.scenario}
    items = [("runs", len(runs)), ("scenarios", len(scenarios)),
             ("patients", len({r.patient for r in done})),
             ("seeds", len({r.seed for r in done})),
             ("profiles", ", ".join(p for p in PROFILES if any(r.profile == p for r in runs))
              or DASH)]
    meta = "".join("<li>%s <b>%s</b></li>" % (label, value) for label, value in items)
    return '<header><h1>%s</h1><ul class="meta">%s</ul></header>' % (_h(title, 200), meta)


def _banner(runs):
    if not any(r.profile == "legacy" for r in runs):
        return ""
    return ('<aside class="warn" role="note"><b>Legacy profile: the %s.</b> Runs marked '
            '%s use a link with no authentication, no replay protection, no confirmation on '
            'the pump and unsigned updates, as the published attacks on older pumps '
            'exploited. They are here to show what the secure profile\'s controls stop. '
            'Never a configuration for a real pump.</aside>'
            % (LEGACY_LABEL, _profile("legacy")))


def _cards(runs):
    done = [r for r in runs if not r.failed]
    failed = len(runs) - len(done)
    matching = sum(r.matches for r in done)
    cards = [
        _card("runs", str(len(runs)), _count(len({r.scenario for r in runs if r.scenario}),
                                             "scenario"), INK),
        _card("as expected", "%d <small>of %d</small>" % (matching, len(done)),
              "verdict = expected verdict", BLOCKED, ("all", matching == len(done))),
        _card("failed jobs", str(failed), "shown as rows in the tables", FAILED,
              ("0", failed == 0)),
    ]
    for profile in PROFILES:
        these = [r for r in done if r.profile == profile]
        unsafe = sum(r.unsafe for r in these)
        value = "%d <small>of %d</small>" % (unsafe, len(these)) if these else DASH
        if profile == "secure":
            cards.append(_card("unsafe \u00b7 secure", value, "patient harmed by the attack",
                               UNSAFE, ("0", unsafe == 0) if these else None))
        else:
            cards.append(_card("unsafe \u00b7 legacy", value, LEGACY_LABEL,
                               PROFILE_COLOURS["legacy"]))
    return '<section class="cards" aria-label="headline counts">%s</section>' % "".join(cards)


# --- the matrix -----------------------------------------------------------------------------

def _cell(scenario, profile, runs):
    """One matrix cell: what the runs of one scenario on one profile came to."""
    attrs = 'data-scenario="%s" data-profile="%s"' % (_h(scenario, 80), profile)
    if not runs:
        return '<td class="cell" %s><span class="muted">not run</span></td>' % attrs
    done = [r for r in runs if not r.failed]
    lines = []
    verdicts = [v for v in ("blocked", "succeeded") if any(r.verdict == v for r in done)]
    if verdicts:
        lines.append(" ".join(
            _verdict(v) + ("" if len(done) == 1 else " \u00d7%d" % sum(r.verdict == v
                                                                        for r in done))
            for v in verdicts))
        off = [r for r in done if not r.matches]
        expected = sorted({r.expected for r in done})
        if off:
            lines.append('<span class="no">\u2717 %d of %d not as expected (expected %s)</span>'
                         % (len(off), len(done), " or ".join(expected)))
        else:
            lines.append('<span class="ok">\u2713 as expected</span>')
        unsafe = sum(r.unsafe for r in done)
        lines.append(_badge("unsafe %d of %d" % (unsafe, len(done)), UNSAFE) if unsafe
                     else '<span class="muted">patient safe</span>')
        lines.append("lowest glucose %s (%s without the attack)" % (
            _glucose(_lowest(done)), _glucose(_lowest(done, "baseline_min_glucose_mg_dl"))))
        controls = sorted({c for r in done for c in r.controls})
        if controls:                    # a control can act and the attack still succeed
            lines.append(("stopped by " if verdicts == ["blocked"] else "controls that acted ")
                         + " ".join("<code>%s</code>" % _h(c, 64) for c in controls))
        elif any(r.verdict == "succeeded" for r in done):
            lines.append('<span class="muted">no control stopped it</span>')
    if len(done) < len(runs):
        lines.append('<span class="no">%s failed</span>' % _count(len(runs) - len(done), "job"))
    unsafe = any(r.unsafe for r in done)
    mismatch = any(not r.matches for r in done)
    cls = ("bad" if unsafe else "odd" if mismatch or len(done) < len(runs)
           else "good" if all(r.verdict == "blocked" for r in done) else "open")
    return '<td class="cell %s" %s>%s</td>' % (cls, attrs, "<br>".join(lines))


def _matrix(runs):
    cells, scenarios = _groups(runs)
    if not scenarios:
        return '<p class="muted">none: no runs</p>'
    titles = _titles(runs)
    head = ("<th>scenario</th><th>%s</th><th>%s <span class=\"muted\">%s</span></th>"
            % (_profile("secure"), _profile("legacy"), LEGACY_LABEL))
    rows = []
    for scenario in scenarios:
        title, reference = titles.get(scenario, ("", ""))
        name = "<code>%s</code>" % _h(scenario, 80)
        if title and title != scenario:
            name += "<br>%s" % _h(title, 200)
        if reference:
            name += '<br><span class="muted">%s</span>' % _h(reference, 200)
        rows.append('<tr><td class="x">%s</td>%s</tr>' % (name, "".join(
            _cell(scenario, p, cells[scenario].get(p, [])) for p in PROFILES)))
    return ('<div class="scroll"><table class="matrix"><thead><tr>%s</tr></thead><tbody>%s'
            '</tbody></table></div>' % (head, "".join(rows)))


# --- the plots ------------------------------------------------------------------------------

def _min_glucose_plot(runs):
    """Horizontal bars: per scenario, per profile, the lowest glucose of its runs, with the
    lowest glucose of the same runs without the attack as a tick, against 54 and 70."""
    cells, scenarios = _groups(runs)
    titles = _titles(runs)
    x0, x1 = 236, X1
    bar_h, bar_gap, group_gap, top = 13, 3, 14, 44
    pitch = len(PROFILES) * bar_h + (len(PROFILES) - 1) * bar_gap + group_gap
    bottom = top + max(len(scenarios), 1) * pitch - group_gap + 6
    height = bottom + 46
    values = []
    for scenario in scenarios:
        for profile in PROFILES:
            done = [r for r in cells[scenario].get(profile, []) if not r.failed]
            values += [_lowest(done, "min_glucose_mg_dl"),
                       _lowest(done, "baseline_min_glucose_mg_dl")]
    values = [v for v in values if v is not None]
    vtop, step = _nice(max(values + [180.0]) * 1.05, 10.0)

    def x(v):
        return x0 + (x1 - x0) * min(max(v, 0.0), vtop) / vtop

    body = [_legend([("rect", PROFILE_COLOURS["secure"], "secure"),
                     ("rect", PROFILE_COLOURS["legacy"], "legacy (%s)" % LEGACY_LABEL),
                     ("dash", VERY_LOW, "54"), ("dash", LOW, "70")], 14, x=8)]
    body.append('<line x1="%d" y1="8" x2="%d" y2="20" stroke="%s" stroke-width="2"/>'
                '<text class="legend" x="%d" y="18">without the attack</text>'
                % (X1 - 130, X1 - 130, INK, X1 - 124))
    for i in range(int(round(vtop / step)) + 1):
        px = _c(x(i * step))
        body.append('<line class="grid" x1="%s" y1="%d" x2="%s" y2="%s"/>'
                    '<text class="tick" x="%s" y="%s" text-anchor="middle">%s</text>'
                    % (px, top - 6, px, _c(bottom), px, _c(bottom + 15), _label(i * step)))
    body.append('<text class="axistitle" x="%s" y="%s" text-anchor="middle">lowest glucose '
                'during the run (mg/dL)</text>' % (_c((x0 + x1) / 2), _c(bottom + 34)))
    body.append('<line class="axis" x1="%d" y1="%d" x2="%d" y2="%s"/>'
                % (x0, top - 6, x0, _c(bottom)))
    for value, colour in ((54, VERY_LOW), (70, LOW)):
        px = _c(x(value))
        body.append('<line data-ref="%d" x1="%s" y1="%d" x2="%s" y2="%s" stroke="%s" '
                    'stroke-width="1.3" stroke-dasharray="5 4"/><text class="tick" x="%s" '
                    'y="%d" text-anchor="middle" style="fill:%s">%d</text>'
                    % (value, px, top - 6, px, _c(bottom), colour, px, top - 10, colour, value))
    if not scenarios:
        body.append(_none((top + bottom) / 2 + 4, "none: no runs"))
    for i, scenario in enumerate(scenarios):
        y0 = top + i * pitch
        full = scenario + (" \u2013 " + titles[scenario][0] if scenario in titles
                           and titles[scenario][0] != scenario else "")
        body.append('<g><title>%s</title><text class="lanelabel" x="8" y="%s">%s</text></g>'
                    % (_h(full, MAX_TIP), _c(y0 + bar_h + 2), _h(scenario, 26)))
        for j, profile in enumerate(PROFILES):
            y = y0 + j * (bar_h + bar_gap)
            body.append('<text class="tick" x="%d" y="%s" text-anchor="end">%s</text>'
                        % (x0 - 8, _c(y + bar_h - 3), profile))
            body.append(_bar(scenario, profile, cells[scenario].get(profile, []), x, x0, y,
                             bar_h))
    return _svg("minglucose", height, "Lowest glucose per scenario and profile (mg/dL), "
                "with the 54 and 70 mg/dL lines", body)


def _bar(scenario, profile, runs, x, x0, y, bar_h):
    done = [r for r in runs if not r.failed]
    low = _lowest(done)
    mid = _c(y + bar_h - 3)
    if low is None:
        why = "not run" if not runs else "failed" if not done else "no glucose recorded"
        return '<text class="none" x="%d" y="%s">%s</text>' % (x0 + 6, mid, why)
    base = _lowest(done, "baseline_min_glucose_mg_dl")
    unsafe = sum(r.unsafe for r in done)
    tip = "%s \u00b7 %s: lowest glucose %s mg/dL in %s (without the attack %s); %d unsafe" % (
        _h(scenario, MAX_TIP), profile, _fmt(low, 1), _count(len(done), "run"),
        _fmt(base, 1), unsafe)
    end = x(low)
    parts = ['<rect data-bar="%s" data-scenario="%s" data-profile="%s" x="%d" y="%s" '
             'width="%s" height="%d" rx="2" fill="%s"><title>%s</title></rect>'
             % (_c(low), _h(scenario, 80), profile, x0, _c(y), _c(max(end - x0, 1)), bar_h,
                PROFILE_COLOURS[profile], tip)]
    if base is not None:
        parts.append('<line data-baseline="%s" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" '
                     'stroke-width="2"/>' % (_c(base), _c(x(base)), _c(y - 2), _c(x(base)),
                                             _c(y + bar_h + 2), INK))
    label = _fmt(low, 0)
    if unsafe:
        label += ' <tspan style="fill:%s;font-weight:600">\u00b7 unsafe %d of %d</tspan>' % (
            UNSAFE, unsafe, len(done))
    width = 6.4 * (len(_fmt(low, 0)) + (16 if unsafe else 0))
    label_x = end + 6
    if base is not None and end - 3 <= x(base) <= label_x + width + 3:   # past the tick
        label_x = max(label_x, x(base) + 6)
    if label_x + width > WIDTH - 4:                 # no room on the right: inside the bar
        return "".join(parts) + ('<text class="value" x="%s" y="%s" text-anchor="end" '
                                 'style="fill:#fff">%s</text>' % (_c(end - 6), mid, label))
    return "".join(parts) + '<text class="value" x="%s" y="%s">%s</text>' % (
        _c(label_x), mid, label)


STEPS_MIN = (30, 60, 120, 180, 240, 360, 720, 1440, 2880, 10080, 20160, 40320,
             131040, 262080, 524160, 1048320, 2620800)
MAX_TICKS = 12


def _time_ticks(t_end):
    """([(minute, label)], axis title): ticks in hours up to a few days, then in days."""
    step = next((s for s in STEPS_MIN if t_end / s <= MAX_TICKS), STEPS_MIN[-1])
    per, unit = (60, "hours") if step < 1440 else (1440, "days")
    ticks = [(k * step, _label(k * step / per)) for k in range(int(t_end // step) + 1)]
    return ticks, "%s since the run started" % unit


def _trace_plot(rank, run):
    """Glucose with the attack (line) and without it (dashed), the 70-180 band, the 54 line
    and the attacker's actions (purple), over the attacked run's minutes: a run that ended
    early is compared with its baseline as far as it went."""
    top, bottom = 34, 214
    height = bottom + 44
    points = list(zip(run.minutes, run.glucose))
    base = list(zip(run.minutes, run.baseline))
    t_end = max([60.0] + list(run.minutes[-1:]) + [a[0] for a in run.actions[-1:]])
    values = [v for _t, v in points + base if v is not None]
    ymax = max(300.0, math.ceil(max(values, default=0) / 100.0) * 100)

    def x(t):
        return X0 + (X1 - X0) * min(max(t, 0.0), t_end) / t_end

    def y(v):
        return bottom - min(max(v, 0.0), ymax) * (bottom - top) / ymax

    body = [_legend([("line", BG_COLOUR, "with the attack"),
                     ("dash", BASELINE, "without the attack" if base else "without: none"),
                     ("band", IN_RANGE, "target 70\u2013180"), ("dash", VERY_LOW, "54"),
                     ("line", ACTION, "attacker action")], 14)]
    body.append('<rect class="band" x="%d" y="%s" width="%d" height="%s"/>'
                % (X0, _c(y(180)), X1 - X0, _c(y(70) - y(180))))
    step = 50 if ymax <= 300 else 100
    body.append(_y_axis([k * step for k in range(int(ymax // step) + 1)], y, X0, "left",
                        "glucose (mg/dL)", top, bottom))
    ticks, axis = _time_ticks(t_end)
    for t, label in ticks:
        px = _c(x(t))
        body.append('<line class="grid" x1="%s" y1="%d" x2="%s" y2="%d"/><text class="tick" '
                    'x="%s" y="%d" text-anchor="middle">%s</text>'
                    % (px, top, px, bottom, px, bottom + 15, label))
    body.append('<text class="axistitle" x="%s" y="%d" text-anchor="middle">%s</text>'
                % (_c((X0 + X1) / 2), bottom + 34, axis))
    body.append('<line data-ref="54" x1="%d" y1="%s" x2="%d" y2="%s" stroke="%s" '
                'stroke-width="1.2" stroke-dasharray="5 4"/>'
                % (X0, _c(y(54)), X1, _c(y(54)), VERY_LOW))
    for value, colour, dy in ((54, VERY_LOW, 9), (70, IN_RANGE, 0), (180, IN_RANGE, 4)):
        body.append('<text class="tick" x="%d" y="%s" style="fill:%s">%d</text>'
                    % (X1 + 6, _c(y(value) + dy), colour, value))
    body.append(_frame(top, bottom))
    for group in _nearby(run.actions, x, 4):
        t, kind, effect, detail = group[0]
        tip = "%s: %s %s%s" % (_clock(t), _h(kind, 40), _h(effect, 40),
                               ": " + _h(detail, MAX_TIP) if detail else "")
        if len(group) > 1:
            tip = "%d actions, first %s" % (len(group), tip)
        body.append('<g class="action"><line x1="%s" y1="%d" x2="%s" y2="%d" stroke="%s" '
                    'stroke-width="1.4" stroke-opacity=".6"/><title>%s</title></g>'
                    % (_c(x(t)), top, _c(x(t)), bottom, ACTION, tip))
    if not values:
        body.append(_none((top + bottom) / 2, "none: no trace recorded"))
    for series, data, style in (
            ("baseline", base, 'stroke="%s" stroke-width="1.6" stroke-dasharray="5 4"'
             % BASELINE),
            ("attack", points, 'stroke="%s" stroke-width="1.8"' % BG_COLOUR)):
        segments = _reduce(data, t_end)
        if segments:
            body.append('<path data-series="%s" class="line" d="%s" %s/>'
                        % (series, _line_path(segments, x, y), style))
    title = "Glucose of worst case %d, %s on %s (mg/dL), with and without the attack" % (
        rank, _h(run.scenario, 80), run.profile)
    return _svg("trace-%d" % rank, height, title, body)


def _clock(t_min):
    """Minutes since the run started as h:mm."""
    h, m = divmod(int(round(t_min)), 60)
    return "%d:%02d" % (h, m)


def _worst(runs, n):
    done = [r for r in runs if not r.failed and r.outcome["min_glucose_mg_dl"] is not None]
    # sorted() is stable: runs with the same low stay in canonical order.
    worst = sorted(done, key=lambda r: r.outcome["min_glucose_mg_dl"])[:n]
    if not worst:
        return '<p class="muted">none: no run recorded a glucose value</p>'
    parts = []
    for rank, run in enumerate(worst, 1):
        facts = ["lowest %s" % _glucose(run.outcome["min_glucose_mg_dl"]),
                 "without the attack %s" % _glucose(run.outcome["baseline_min_glucose_mg_dl"]),
                 "attack insulin %s" % _fmt(run.outcome["attack_insulin_u"], 2, "U")]
        facts.append(_badge("unsafe", UNSAFE) if run.unsafe else "patient safe")
        if run.ended is not None:
            facts.append('<span class="no">ended early: %s</span>' % _h(run.ended, 200))
        parts.append('<h3>%d. <code>%s</code> %s %s %s</h3><p class="note">%s</p>%s'
                     % (rank, _h(run.scenario, 80), _profile(run.profile), _who(run),
                        _verdict(run.verdict), " \u00b7 ".join(facts),
                        _trace_plot(rank, run)))
    return "".join(parts)


# --- the tables -----------------------------------------------------------------------------

RUN_HEADERS = ("scenario", "profile", "patient, seed", "verdict", "unsafe",
               "lowest<br>(no attack)", "minutes<br>&lt;54/&lt;70/&gt;250",
               "insulin U<br>(by attack)", "controls, security events")


def _runs_table(runs):
    rows = []
    for run in runs:
        cells = [_td("<code>%s</code>" % _h(run.scenario or DASH, 80)),
                 _td(_profile(run.profile)),
                 _td('%s<br><span class="muted">seed %s</span>' % (
                     _h(run.patient or DASH, 60), DASH if run.seed is None else run.seed),
                     "nw")]
        if run.failed:
            cells.append('<td colspan="%d" class="x"><span class="no">job failed:</span> %s'
                         '</td>' % (len(RUN_HEADERS) - len(cells), _h(run.error)))
            rows.append(cells)
            continue
        o = run.outcome
        verdict = _verdict(run.verdict) + (
            ' <span class="ok">\u2713</span>' if run.matches
            else ' <span class="no">\u2717 expected %s</span>' % run.expected)
        if run.ended is not None:
            verdict += '<br><span class="no">ended early: %s</span>' % _h(run.ended)
        events = ", ".join("<code>%s</code>\u00a0\u00d7%d" % (_h(name, 80), n)
                           for name, n in run.security_events)
        cells += [
            _td(verdict, "v"),
            _td(_badge("unsafe", UNSAFE) if run.unsafe else '<span class="muted">no</span>'),
            _td("%s (%s)" % (_glucose(o["min_glucose_mg_dl"], ""),
                             _fmt(o["baseline_min_glucose_mg_dl"], 0)), "n"),
            _td("/".join(_fmt(o[k], 0) for k in ("below_54_min", "below_70_min",
                                                 "above_250_min")), "n"),
            _td("%s (%s)" % (_fmt(o["insulin_u"], 2), _fmt(o["attack_insulin_u"], 2)), "n"),
            _td((" ".join("<code>%s</code>" % _h(c, 64) for c in run.controls)
                 or '<span class="muted">no control</span>')
                + ('<br><span class="muted">events</span> ' + events if events else ""),
                "x")]
        rows.append(cells)
    if not rows:
        return '<p class="muted">none: no runs</p>'
    return '<div class="scroll runs">%s</div>' % _table(RUN_HEADERS, rows, numeric=(5, 6, 7))


def _actions_log(runs):
    """One collapsible block per scenario: every run's attacker actions, in time order."""
    cells, scenarios = _groups(runs)
    titles = _titles(runs)
    blocks = []
    for scenario in scenarios:
        these = [r for p in PROFILES for r in cells[scenario].get(p, []) if not r.failed]
        actions = [(run, a) for run in these for a in run.actions]
        rows = [[_td("%s %s" % (_profile(run.profile), _who(run)), "x"),
                 _td(_clock(t), "t"), _td(_h(kind, 60)), _td(_effect(effect)),
                 _td(_h(detail), "x")]
                for run, (t, kind, effect, detail) in actions[:MAX_ROWS]]
        note = ""
        if len(actions) > MAX_ROWS:
            note = '<p class="note">the first {:,} of {:,} actions</p>'.format(
                MAX_ROWS, len(actions))
        table = (_table(("run", "at (h:mm)", "kind", "effect", "detail"), rows) if rows
                 else '<p class="muted">none: no actions recorded</p>')
        title = titles.get(scenario, ("", ""))[0]
        blocks.append('<details data-scenario="%s"><summary><code>%s</code> %s <span '
                      'class="muted">%s in %s</span></summary>%s%s</details>'
                      % (_h(scenario, 80), _h(scenario, 80),
                         _h(title, 200) if title != scenario else "",
                         _count(len(actions), "action"), _count(len(these), "run"), note,
                         table))
    return "".join(blocks) or '<p class="muted">none: no runs</p>'


def _effect(effect):
    if effect in ("refused", "held", "blocked", "dropped", "rejected"):
        return _badge(_h(effect, 40), BLOCKED)
    if effect in ("applied", "accepted", "delivered", "executed", "succeeded"):
        return _badge(_h(effect, 40), SUCCEEDED)
    return _h(effect, 40)


# --- the page -------------------------------------------------------------------------------

EXTRA_STYLE = """
.warn{background:#fff4e5;border:1px solid #f3c07a;border-left:6px solid %(legacy)s;
border-radius:7px;padding:10px 14px;margin:16px 0 4px}
.warn b{color:#8a3b08}
.ok{color:#23794a}.no{color:#b3261e}
.scroll{overflow-x:auto}
td.nw,.badge{white-space:nowrap}
td.v{min-width:130px;overflow-wrap:anywhere}
.runs th,.runs td{padding:5px 6px}
.runs th{letter-spacing:0}
table.matrix td{min-width:200px}
td.cell{border-left:4px solid var(--c,#d5dbe1)}
td.bad{background:#fdecea;--c:%(unsafe)s}
td.odd{background:#fff8e1;--c:#c9a100}
td.good{--c:%(blocked)s}
td.open{--c:%(legacy)s}
code{font-size:12.5px;overflow-wrap:anywhere}
h3{font-size:14px;margin:16px 0 2px;font-weight:600;overflow-wrap:anywhere}
details{border-top:1px solid var(--line);padding:7px 0}
details:first-child{border-top:0}
summary{cursor:pointer;overflow-wrap:anywhere}
details table{margin-top:6px}
""" % {"legacy": PROFILE_COLOURS["legacy"], "unsafe": UNSAFE, "blocked": BLOCKED}


def render(results, title=TITLE, worst=4):
    """The report of ``results`` (attack-run results, failed jobs included) as the text of
    one HTML page; ``worst``: how many of the lowest-glucose runs get a trace plot.
    Raises ``ResultsError`` on a bad result."""
    if type(worst) is not int or not 0 <= worst <= MAX_WORST:
        raise ValueError("worst: expected an integer from 0 to %d" % MAX_WORST)
    runs = validate(results)
    title = visible(title)
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<meta name=\"generator\" content=\"sim/attack/report.py\">",
        "<title>%s</title>" % _e(title, 200),
        "<style>%s%s</style></head><body><main>" % (STYLE, EXTRA_STYLE),
        _header(runs, title),
        _banner(runs),
        _cards(runs),
        _panel("Outcome per scenario and profile", "verdict: did the attack reach its aim; "
               "unsafe: was the patient harmed (the simulator's outcome); controls: the checks "
               "that stopped it, or that acted without stopping it", _matrix(runs)),
        _panel("Lowest glucose per scenario and profile", "the lowest true glucose of the "
               "runs of each scenario on each profile; the black tick: the same runs without "
               "the attack; below 70 mg/dL is low, below 54 very low",
               _min_glucose_plot(runs)),
        _panel("Worst cases", "the %s with the lowest glucose: true glucose with the attack "
               "(line) and without it (dashed); shaded: the 70\u2013180 mg/dL target range; "
               "purple: the attacker's actions" % _count(
                   min(worst, sum(1 for r in runs if not r.failed and
                                  r.outcome["min_glucose_mg_dl"] is not None)), "run"),
               _worst(runs, worst)
               if worst else '<p class="muted">none asked for</p>'),
        _panel("All runs", "glucose in mg/dL, the lowest of the run and, in brackets, of the same "
               "run without the attack; a failed job is a row saying why",
               _runs_table(runs)),
        _panel("Attacker actions per scenario", "open a scenario to see its runs' actions, "
               "in time order from the start of each run", _actions_log(runs)),
        "<footer>Simulated attacks on a simulated patient: the legacy profile is the %s. "
        "Generated by sim/attack/report.py; the same results give the same file.</footer>"
        "</main></body></html>\n" % LEGACY_LABEL,
    ]
    return "".join(parts)


def write_report(results, path, title=TITLE, worst=4):
    """Write the report of ``results`` to ``path`` as UTF-8, atomically (same results, same
    bytes)."""
    atomic_write(path, render(results, title=title, worst=worst).encode("utf-8"))
