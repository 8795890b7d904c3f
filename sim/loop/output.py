"""A run's files: ``report.html`` (sim.report), ``metrics.json`` and ``trajectory.csv``.

Numbers are written with fixed decimals and keys in a fixed order, so the same seed gives
byte-identical files on every machine (a test checks it).
"""

import csv
import io
import json
import os

from sim import metrics, report

CSV_COLUMNS = ("t_min", "bg_mg_dl", "cgm_mg_dl", "basal_u_h", "iob_u", "bolus_u", "carbs_g",
               "state", "reservoir_u", "battery_pct")


def trajectory_csv(run):
    """The 5-minute trajectory, with the boluses and carbs of each 5 minutes beside it."""
    step = 5
    boluses, carbs = {}, {}
    for item in run["boluses"]:
        key = int(item["t_min"]) // step * step
        boluses[key] = boluses.get(key, 0.0) + item["units"]
    for item in run["carbs"]:
        key = int(item["t_min"]) // step * step
        carbs[key] = carbs.get(key, 0) + item["grams"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in run["samples"]:
        t = s["t_min"]
        writer.writerow([t, "%.2f" % s["bg"], "" if s["cgm"] is None else s["cgm"],
                         "%.3f" % s["basal_u_h"], "%.3f" % s["iob_u"],
                         "%.3f" % boluses.get(t, 0.0), carbs.get(t, 0), s["state"],
                         "%.3f" % s["reservoir_u"], s["battery_pct"]])
    return out.getvalue()


def metrics_json(run):
    document = {"patient": run["patient"], "seed": run["seed"], "days": run["days"],
                "profile": run["profile"], "controller": run["controller"],
                "scenario": run["scenario"], "sensor": run["sensor"],
                "cgm_transport": run["cgm_transport"], "firmware": run["firmware"],
                "ended": run["ended"],
                "metrics": run["metrics"], "channel": run["channel"]}
    if "gateway" in run:                      # rows the gateway service filed
        document["gateway_store"] = run["gateway"]
    return json.dumps(metrics.rounded(document), indent=2) + "\n"


def write(run, directory):
    """Write the three files into ``directory`` (created); returns their paths."""
    os.makedirs(directory, exist_ok=True)
    paths = {name: os.path.join(directory, name)
             for name in ("report.html", "metrics.json", "trajectory.csv")}
    report.write(run, paths["report.html"])
    with open(paths["metrics.json"], "w", encoding="utf-8", newline="\n") as f:
        f.write(metrics_json(run))
    with open(paths["trajectory.csv"], "w", encoding="utf-8", newline="\n") as f:
        f.write(trajectory_csv(run))
    return paths


SUMMARY_COLUMNS = ("patient", "seed", "days", "controller", "time_in_range_70_180_pct",
                   "time_below_70_pct", "time_below_54_pct", "time_above_180_pct",
                   "time_above_250_pct", "mean_mg_dl", "cv_pct", "gmi_pct", "lbgi", "hbgi",
                   "insulin_u_per_day", "ended", "report")


def write_summary(results, directory):
    """One row per run (true glucose), in the order the runs were asked for:
    ``summary.csv`` in ``directory``; returns its path."""
    path = os.path.join(directory, "summary.csv")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(SUMMARY_COLUMNS)
        for (patient, seed, days, controller), run_metrics, paths, ended in results:
            g = run_metrics["glucose_true"]
            row = [patient, seed, days, controller]
            for key in SUMMARY_COLUMNS[4:14]:
                row.append("" if g[key] is None else "%.3f" % g[key])
            row += ["%.3f" % run_metrics["insulin"]["per_day_u"], ended or "",
                    os.path.relpath(paths["report.html"], directory)]
            writer.writerow(row)
    return path
