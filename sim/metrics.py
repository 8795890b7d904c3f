"""Glycaemic and therapy metrics of a simulated run, as stable JSON.

Why: a run is judged by the numbers clinicians use for CGM data, and two identical runs must
give byte-identical reports, so reports can be diffed and hashed. Stdlib only, no NaN
(NaN is not JSON): a metric that cannot be computed is None.

Definitions, over the non-missing samples of a regularly sampled series (mg/dL):

- Time in ranges (Battelino et al., "Clinical Targets for Continuous Glucose Monitoring Data
  Interpretation: Recommendations From the International Consensus on Time in Range",
  Diabetes Care 2019;42:1593-1603): in range 70 <= g <= 180, below g < 70 (which includes
  g < 54), above g > 180 (which includes g > 250); percent of samples.
- Mean, and SD as the *population* SD (divide by n, numpy's default ``ddof=0``);
  CV = SD / mean * 100. simglucose reports no per-series SD; the only SD it computes is
  the ensemble envelope of its plots (pandas, ``ddof=1``), which is a different quantity.
- GMI (%) = 3.31 + 0.02392 * mean (Bergenstal et al., "Glucose Management Indicator (GMI)",
  Diabetes Care 2018;41:2275-2280).
- LBGI, HBGI (Kovatchev et al., Diabetes Care 1997;20:1655-1658 for the scale, 1998;21:
  1870-1875 for LBGI): f(g) = 1.509 * (ln(g)**1.084 - 5.381), r = 10 * f**2,
  rl = r where f < 0 else 0, rh = r where f > 0 else 0; LBGI = mean(rl), HBGI = mean(rh),
  both over *all* samples. f crosses zero at about 112.5 mg/dL; r is about 100 at 20 and
  at 600 mg/dL. simglucose's ``report.risk_index_trace`` uses this definition (per hour);
  its ``risk.risk_index`` instead averages rl over the low samples only and rh over the
  high samples only, so LBGI here = its LBGI * n_low / n (and likewise for HBGI).

A sample is a real number (int or float, not bool) of at least 1 mg/dL, or None for a
missing CGM reading. Below 1 mg/dL ln(g) is negative and the risk function is undefined, so
0, negative, NaN and infinite values are refused with ValueError naming the index.
"""

import math
import numbers

DIGITS = 3              # decimals kept by run_metrics
MIN_GLUCOSE_MG_DL = 1   # below this the risk function ln(g)**1.084 is undefined

GLUCOSE_KEYS = (
    "samples", "time_in_range_70_180_pct", "time_below_70_pct", "time_below_54_pct",
    "time_above_180_pct", "time_above_250_pct", "mean_mg_dl", "sd_mg_dl", "cv_pct",
    "gmi_pct", "lbgi", "hbgi")

INSULIN_KEYS = ("basal_u", "bolus_u")


def _is_real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _samples(values, name):
    """The non-missing samples of ``values`` as floats, each checked."""
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise TypeError("%s: expected a sequence of glucose samples, got %s"
                        % (name, type(values).__name__))
    out = []
    for i, g in enumerate(values):
        if g is None:
            continue
        if not _is_real(g):
            raise ValueError("%s[%d]: glucose must be a number or None, got %s"
                             % (name, i, type(g).__name__))
        g = float(g)
        if not math.isfinite(g) or g < MIN_GLUCOSE_MG_DL:
            raise ValueError("%s[%d]: glucose must be a finite number >= %d mg/dL, got %r"
                             % (name, i, MIN_GLUCOSE_MG_DL, g))
        out.append(g)
    return out


def _percent(count, n):
    return 100.0 * count / n


def _mean(xs):
    return math.fsum(xs) / len(xs)


def _population_sd(xs, mean):
    return math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / len(xs))


def risk_f(g):
    """Kovatchev's symmetrised glucose scale f(g), g in mg/dL (>= 1)."""
    return 1.509 * (math.log(g) ** 1.084 - 5.381)


def _risk_indices(xs):
    """(LBGI, HBGI): means over all samples of the low and high risk."""
    low, high = [], []
    for g in xs:
        f = risk_f(g)
        r = 10.0 * f * f
        low.append(r if f < 0 else 0.0)
        high.append(r if f > 0 else 0.0)
    return _mean(low), _mean(high)


def gmi_pct(mean_mg_dl):
    """Glucose management indicator (%), Bergenstal 2018."""
    return 3.31 + 0.02392 * mean_mg_dl


def _glucose(values, name):
    xs = _samples(values, name)
    n = len(xs)
    if n == 0:
        out = dict.fromkeys(GLUCOSE_KEYS)
        out["samples"] = 0
        return out
    mean = _mean(xs)
    sd = _population_sd(xs, mean)
    lbgi, hbgi = _risk_indices(xs)
    return {
        "samples": n,
        "time_in_range_70_180_pct": _percent(sum(1 for g in xs if 70 <= g <= 180), n),
        "time_below_70_pct": _percent(sum(1 for g in xs if g < 70), n),
        "time_below_54_pct": _percent(sum(1 for g in xs if g < 54), n),
        "time_above_180_pct": _percent(sum(1 for g in xs if g > 180), n),
        "time_above_250_pct": _percent(sum(1 for g in xs if g > 250), n),
        "mean_mg_dl": mean,
        "sd_mg_dl": sd,
        "cv_pct": sd / mean * 100.0,
        "gmi_pct": gmi_pct(mean),
        "lbgi": lbgi,
        "hbgi": hbgi,
    }


def glucose_metrics(values_mg_dl):
    """Metrics of one glucose series (regular interval, mg/dL; None = missing sample).

    Returns a dict with the keys of GLUCOSE_KEYS in that order, floats unrounded. SD is the
    population SD. With no non-missing sample, ``samples`` is 0 and every other value None.
    Raises ValueError naming the index of a bad sample, TypeError if not a sequence.
    """
    return _glucose(values_mg_dl, "values_mg_dl")


def _insulin(insulin, days):
    if not isinstance(insulin, dict):
        raise TypeError("insulin: expected a dict, got %s" % type(insulin).__name__)
    if set(insulin) != set(INSULIN_KEYS):
        raise ValueError("insulin: expected exactly the keys %s, got %s"
                         % (", ".join(INSULIN_KEYS), ", ".join(sorted(map(str, insulin)))))
    for key in INSULIN_KEYS:
        u = insulin[key]
        if not _is_real(u) or not math.isfinite(u) or u < 0:
            raise ValueError("insulin[%r]: must be a finite number >= 0, got %r" % (key, u))
    basal, bolus = float(insulin["basal_u"]), float(insulin["bolus_u"])
    total = basal + bolus
    return {"total_u": total, "basal_u": basal, "bolus_u": bolus, "per_day_u": total / days}


def _events(events):
    """Counts by kind, then by id, both sorted."""
    if isinstance(events, (str, bytes, dict)) or not hasattr(events, "__iter__"):
        raise TypeError("events: expected a list of dicts, got %s" % type(events).__name__)
    counts = {}
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise ValueError("events[%d]: expected a dict, got %s" % (i, type(event).__name__))
        for key in ("kind", "id"):
            if not isinstance(event.get(key), str) or not event[key]:
                raise ValueError("events[%d]: %r must be a non-empty string" % (i, key))
        by_id = counts.setdefault(event["kind"], {})
        by_id[event["id"]] = by_id.get(event["id"], 0) + 1
    return {kind: {eid: counts[kind][eid] for eid in sorted(counts[kind])}
            for kind in sorted(counts)}


def run_metrics(true_bg, cgm, insulin, events, days):
    """Everything a run reports, rounded to DIGITS decimals (ready for json.dumps).

    true_bg, cgm: glucose series as for glucose_metrics; insulin: {"basal_u", "bolus_u"}
    delivered, units >= 0; events: list of dicts with non-empty str "kind" and "id" (other
    keys ignored); days: run length in days, > 0. Returns, in this order:
    {"glucose_true", "glucose_cgm", "insulin": {"total_u", "basal_u", "bolus_u",
    "per_day_u"}, "events": {kind: {id: count}}, "days"} with kinds and ids sorted.
    """
    if not _is_real(days) or not math.isfinite(days) or days <= 0:
        raise ValueError("days: must be a finite number > 0, got %r" % (days,))
    return rounded({
        "glucose_true": _glucose(true_bg, "true_bg"),
        "glucose_cgm": _glucose(cgm, "cgm"),
        "insulin": _insulin(insulin, days),
        "events": _events(events),
        "days": days,
    }, DIGITS)


def rounded(obj, digits=3):
    """A copy of obj with every float rounded to ``digits`` decimals, for stable JSON.

    Dicts keep their key order; tuples become lists; -0.0 becomes 0.0; numpy scalars become
    plain int/float. NaN or infinity raises ValueError (not valid JSON); an object JSON cannot
    hold raises TypeError.
    """
    if type(digits) is not int or digits < 0:
        raise ValueError("digits: must be an int >= 0, got %r" % (digits,))
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        x = float(obj)
        if not math.isfinite(x):
            raise ValueError("rounded: %r is not valid JSON" % x)
        return round(x, digits) + 0.0   # + 0.0 turns -0.0 into 0.0
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [rounded(v, digits) for v in obj]
    raise TypeError("rounded: cannot serialise %s" % type(obj).__name__)
