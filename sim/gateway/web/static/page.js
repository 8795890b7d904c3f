// The caregiver's page: polls the JSON endpoints and places what they say. Data never
// becomes markup: every value goes in through textContent or an SVG attribute, and the
// Content-Security-Policy runs no script but this file.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const W = 960, H = 300;
  const LEFT = 44, RIGHT = 12, TOP = 10, BOTTOM = 26;
  const GRID = [70, 180, 250, 300];
  const TICK_H = 3;
  const pollMs = Math.max(1000, parseInt(document.body.dataset.pollMs, 10) || 5000);
  let updates = 0;

  class SignedOut extends Error {}

  const byId = (id) => document.getElementById(id);

  function setText(id, text) {
    const el = byId(id);
    if (el.textContent !== text) el.textContent = text;
  }

  function mark(id, name, on) {
    byId(id).classList.toggle(name, Boolean(on));
  }

  function showGlucose(g) {
    const card = byId("glucose");
    if (!g) {
      setText("glucose-value", "\u2013");
      setText("glucose-arrow", "");
      setText("glucose-trend", "no reading yet");
      setText("glucose-age", "");
      card.dataset.range = "none";
      return;
    }
    setText("glucose-value", String(g.mg_dl));
    setText("glucose-arrow", g.arrow);
    byId("glucose-arrow").title = g.trend_text;
    setText("glucose-trend", g.trend_text);
    setText("glucose-age", g.age_text);
    mark("glucose-age", "stale", g.stale);
    card.dataset.range = g.range;
  }

  function showPump(p) {
    const fields = ["state", "alarm", "iob", "reservoir", "battery", "basal", "age"];
    if (!p) {
      for (const f of fields) setText("pump-" + f, f === "state" ? "no status yet" : "\u2013");
      return;
    }
    setText("pump-state", p.state);
    setText("pump-alarm", p.alarm === null ? "none" : p.alarm);
    setText("pump-iob", p.iob);
    setText("pump-reservoir", p.reservoir);
    setText("pump-battery", p.battery);
    setText("pump-basal", p.basal);
    setText("pump-age", p.age_text);
    mark("pump-reservoir", "low", p.low_reservoir);
    mark("pump-battery", "low", p.low_battery);
    mark("pump-age", "stale", p.stale);
  }

  function fillRows(id, rows, cells) {
    const fresh = rows.map((row) => {
      const tr = document.createElement("tr");
      for (const text of cells(row)) {
        const td = document.createElement("td");
        td.textContent = String(text);
        tr.appendChild(td);
      }
      return tr;
    });
    if (fresh.length === 0) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      tr.className = "empty";
      td.colSpan = 4;
      td.textContent = "none";
      tr.appendChild(td);
      fresh.push(tr);
    }
    byId(id).replaceChildren(...fresh);
  }

  function add(parent, name, attributes, text) {
    const el = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) el.setAttribute(key, String(value));
    if (text !== undefined) el.textContent = text;
    parent.appendChild(el);
    return el;
  }

  function drawPlot(day) {
    const plot = byId("plot");
    plot.replaceChildren(plot.querySelector("title"));
    const x0 = LEFT, x1 = W - RIGHT, yBottom = H - BOTTOM, yTop = TOP;
    const span = day.to_s - day.from_s;
    const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
    const x = (t) => x0 + (clamp(t, day.from_s, day.to_s) - day.from_s) / span * (x1 - x0);
    const y = (v) => yBottom - (clamp(v, day.y_min, day.y_max) - day.y_min) /
      (day.y_max - day.y_min) * (yBottom - yTop);

    add(plot, "rect", {class: "frame", x: x0, y: yTop, width: x1 - x0, height: yBottom - yTop});
    add(plot, "rect", {class: "band", x: x0, y: y(day.high), width: x1 - x0,
                       height: y(day.low) - y(day.high)});
    for (const v of GRID) {
      add(plot, "line", {class: "grid", x1: x0, x2: x1, y1: y(v), y2: y(v)});
      add(plot, "text", {class: "label", x: x0 - 6, y: y(v) + 4, "text-anchor": "end"}, String(v));
    }
    const tick = new Date(day.from_s * 1000);           // local hours, every TICK_H
    tick.setMinutes(0, 0, 0);
    do tick.setHours(tick.getHours() + 1); while (tick.getHours() % TICK_H !== 0);
    for (; tick.getTime() / 1000 <= day.to_s; tick.setHours(tick.getHours() + TICK_H)) {
      const tx = x(tick.getTime() / 1000);
      add(plot, "line", {class: "grid", x1: tx, x2: tx, y1: yTop, y2: yBottom});
      add(plot, "text", {class: "label", x: tx, y: H - 8, "text-anchor": "middle"},
          String(tick.getHours()).padStart(2, "0") + ":00");
    }

    const parts = [];
    let last = null;
    for (const [t, v] of day.points) {
      parts.push((last === null || t - last > day.gap_s ? "M" : "L") +
                 x(t).toFixed(1) + " " + y(v).toFixed(1));
      last = t;
    }
    if (parts.length) {
      add(plot, "path", {class: "glucose", "data-series": "glucose", d: parts.join(" ")});
      const [t, v] = day.points[day.points.length - 1];
      add(plot, "circle", {class: "latest", cx: x(t), cy: y(v), r: 4});
      plot.dataset.last = String(v);
    } else {
      add(plot, "text", {class: "empty", x: (x0 + x1) / 2, y: H / 2, "text-anchor": "middle"},
          "no readings in the last 24 h");
    }
    plot.dataset.points = String(day.points.length);
  }

  function connection(text, link) {
    const el = byId("connection");
    el.hidden = text === null;
    const parts = [];
    if (text !== null) parts.push(document.createTextNode(text + " "));
    if (link) {
      const a = document.createElement("a");
      a.href = "/login";
      a.textContent = "Log in";
      parts.push(a);
    }
    el.replaceChildren(...parts);
  }

  async function getJson(url) {
    const answer = await fetch(url, {credentials: "same-origin", cache: "no-store",
                                     headers: {"Accept": "application/json"}});
    if (answer.status === 401) throw new SignedOut("signed out");
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    return answer.json();
  }

  async function poll() {
    try {
      const [now, day] = await Promise.all([getJson("/api/current"), getJson("/api/glucose")]);
      showGlucose(now.glucose);
      showPump(now.pump);
      fillRows("alarms", now.alarms,
               (a) => [a.time, a.id, a.kind, a.active ? "raised" : "cleared"]);
      fillRows("events", now.events, (e) => [e.time, e.source, e.kind, e.detail]);
      fillRows("logins", now.logins, (e) => [e.time, e.kind, e.detail]);
      const problem = document.getElementById("store-problem");
      problem.textContent = now.store_problem || "";
      problem.hidden = !now.store_problem;
      drawPlot(day);
      setText("updated", "updated " + now.time);
      connection(null, false);
      document.body.dataset.updates = String(++updates);
    } catch (error) {
      if (error instanceof SignedOut) {
        connection("Signed out: the session ended.", true);
        return;                                 // no more polling without a session
      }
      connection("No answer from the gateway: the values shown may be old.", false);
    }
    setTimeout(poll, pollMs);
  }

  poll();
})();
