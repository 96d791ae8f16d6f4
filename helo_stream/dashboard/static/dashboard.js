// helo-stream dashboard: one WebSocket, one panel per (publisher, pipeline, subject).
// The server throttles updates (at most a few per second per subject) and sends a full
// snapshot whenever the page (re)connects, so reconnecting needs no bookkeeping here.
"use strict";

const subjects = new Map(); // key -> {info, labels, history: {t, d}, el}
const settings = { offline_after_s: 5, history_s: 300 };
const stats = { updates: 0, snapshots: 0, connects: 0 };
let serverNow = 0;
let retryMs = 500;

function color(i) {
  // golden-angle hues: neighbouring labels get clearly different colours
  const hue = (i * 137.508) % 360;
  return `hsl(${hue.toFixed(1)}, 62%, ${i % 2 ? 58 : 48}%)`;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(x, digits = 1) {
  return typeof x === "number" && isFinite(x) ? x.toFixed(digits) : "–";
}

function buildPanel(s) {
  const panel = el("section", "subject");
  panel.dataset.key = s.key;
  panel.dataset.subject = s.subject;
  panel.dataset.pipeline = s.pipeline;
  const head = el("div", "subject-head");
  head.append(el("span", "subject-name", s.subject || "(no subject)"));
  head.append(el("span", "dim", `${s.pipeline} · ${s.address}`));
  const status = el("span", "status");
  head.append(status);
  panel.append(head);
  const top = el("div", "top");
  panel.append(top);
  const statsRow = el("div", "stats");
  panel.append(statsRow);
  const mods = el("div", "modalities");
  panel.append(mods);
  const bars = el("div", "bars");
  const barEls = s.labels.map((label, i) => {
    const bar = el("div", "bar");
    bar.dataset.label = label;
    const track = el("div", "bar-track");
    const fill = el("div", "bar-fill");
    fill.style.background = color(i);
    track.append(fill);
    const value = el("span", "bar-value", "–");
    bar.append(el("span", "bar-label", label), track, value);
    bars.append(bar);
    return { bar, fill, value, track };
  });
  panel.append(bars);
  const scale = el("div", "scale dim");
  panel.append(scale);
  const canvas = el("canvas", "history");
  panel.append(canvas);
  const caption = el("div", "history-caption dim");
  caption.append(el("span", "", `−${Math.round(settings.history_s / 60)} min`), el("span", "", "now"));
  panel.append(caption);
  // panels stay in a stable order (subject, then pipeline), whatever publishes first
  const order = (node) => `${node.dataset.subject}\u0000${node.dataset.pipeline}\u0000${node.dataset.key}`;
  const main = document.getElementById("subjects");
  const after = [...main.querySelectorAll(".subject")].find((other) => order(other) > order(panel));
  main.insertBefore(panel, after || null);
  return { panel, status, top, statsRow, mods, barEls, scale, canvas };
}

function upsert(s, full) {
  let entry = subjects.get(s.key);
  if (s.labels && (!entry || entry.labels.join("\u0000") !== s.labels.join("\u0000"))) {
    if (entry) entry.el.panel.remove();
    entry = { labels: s.labels, history: { t: [], d: [] }, info: s, latest: null };
    entry.el = buildPanel(s);
    subjects.set(s.key, entry);
  }
  if (!entry) return; // a status for a subject whose labels we have not seen yet
  entry.info = { ...entry.info, ...s };
  if (s.latest) entry.latest = s.latest;
  if (full && s.history) entry.history = { t: s.history.t.slice(), d: s.history.d.slice() };
  if (s.points) {
    for (let i = 0; i < s.points.t.length; i++) {
      entry.history.t.push(s.points.t[i]);
      entry.history.d.push(s.points.d[i]);
    }
  }
  const cutoff = serverNow - settings.history_s;
  while (entry.history.t.length && entry.history.t[0] < cutoff) {
    entry.history.t.shift();
    entry.history.d.shift();
  }
  render(entry);
}

function render(entry) {
  const { info, latest, el: e } = entry;
  e.panel.dataset.status = info.status;
  e.status.dataset.status = info.status;
  e.status.textContent = info.status === "offline"
    ? `offline — no message for ${fmt(info.age_s, 0)} s` : "live";
  e.panel.dataset.multilabel = latest && latest.scores ? "true" : "false";
  if (latest && latest.scores) {
    // a multi-label model (TAILOR): each bar is that label's presence probability on a fixed
    // 0-100 % scale; labels at or over the threshold are marked present
    const present = new Set(latest.present || []);
    const thr = typeof latest.threshold === "number" ? latest.threshold : 0.5;
    e.top.textContent = present.size
      ? `present: ${[...present].join(", ")}` : "present: none over the threshold";
    e.top.style.color = present.size ? color(entry.labels.indexOf(latest.present[0])) : "";
    e.scale.textContent = `presence scores 0–100 % · present at ≥ ${Math.round(thr * 100)} %`;
    latest.scores.forEach((p, i) => {
      const b = e.barEls[i];
      if (!b) return;
      b.fill.style.width = `${Math.min(100, 100 * p).toFixed(2)}%`;
      b.value.textContent = `${(100 * p).toFixed(1)}%`;
      b.bar.dataset.p = p.toFixed(5);
      b.bar.dataset.score = p.toFixed(5);
      b.bar.classList.toggle("is-present", present.has(entry.labels[i]));
      b.bar.classList.toggle("is-top", false);
      b.track.style.setProperty("--threshold", `${(100 * thr).toFixed(1)}%`);
      b.track.classList.add("has-threshold");
    });
  } else if (latest) {
    e.top.textContent = latest.top;
    e.top.style.color = color(entry.labels.indexOf(latest.top));
    // bars fill their track at the next 10 % above the largest probability (shown below)
    const scale = Math.min(1, Math.max(0.1, Math.ceil(Math.max(...latest.distribution) * 10) / 10));
    e.scale.textContent = `bar scale 0–${Math.round(scale * 100)} %`;
    latest.distribution.forEach((p, i) => {
      const b = e.barEls[i];
      if (!b) return;
      b.fill.style.width = `${Math.min(100, (100 * p) / scale).toFixed(2)}%`;
      b.value.textContent = `${(100 * p).toFixed(1)}%`;
      b.bar.dataset.p = p.toFixed(5);
      b.bar.classList.toggle("is-top", entry.labels[i] === latest.top);
    });
  }
  const lat = (latest && latest.latency_ms) || {};
  const items = [
    ["rate", `${fmt(info.rate_hz)} msg/s`],
    ["latency", `${fmt(lat.window_to_publish)} ms`],
    ["features", `${fmt(lat.features)} ms`],
    ["model", `${fmt(lat.model)} ms`],
    ["transport", `${fmt(info.transport_ms)} ms`],
    ["seq", latest ? String(latest.seq) : "–"],
    ["missed", String(info.n_missed)],
  ];
  e.statsRow.replaceChildren(...items.map(([name, value]) => {
    const span = el("span", `stat stat-${name}`);
    span.dataset.stat = name;
    span.append(`${name} `, el("b", "", value));
    return span;
  }));
  const health = info.health || {};
  e.mods.replaceChildren(...Object.keys(health).sort().map((name) => {
    const chip = el("span", "chip modality", `${name}: ${health[name]}`);
    chip.dataset.modality = name;
    chip.dataset.state = health[name];
    if (info.reported && info.reported[name] !== health[name]) {
      chip.title = `no message for ${fmt(info.age_s, 0)} s; last reported ${info.reported[name]}`;
    }
    return chip;
  }));
  drawHistory(entry);
}

function drawHistory(entry) {
  const canvas = entry.el.canvas;
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (!w || !h) return;
  if (canvas.width !== Math.round(w * ratio)) canvas.width = Math.round(w * ratio);
  if (canvas.height !== Math.round(h * ratio)) canvas.height = Math.round(h * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#2a3340";
  for (const frac of [0, 0.25, 0.5, 0.75, 1]) {
    ctx.beginPath();
    ctx.moveTo(0, h - frac * h + 0.5);
    ctx.lineTo(w, h - frac * h + 0.5);
    ctx.stroke();
  }
  const { t, d } = entry.history;
  if (t.length < 2) return;
  const t1 = serverNow, t0 = t1 - settings.history_s;
  const x = (ti) => ((ti - t0) / (t1 - t0)) * w;
  const n = entry.labels.length;
  const lower = new Array(t.length).fill(0);
  for (let j = 0; j < n; j++) {
    const upper = d.map((row, k) => lower[k] + (row[j] || 0));
    ctx.beginPath();
    for (let k = 0; k < t.length; k++) ctx.lineTo(x(t[k]), h - upper[k] * h);
    for (let k = t.length - 1; k >= 0; k--) ctx.lineTo(x(t[k]), h - lower[k] * h);
    ctx.closePath();
    ctx.fillStyle = color(j);
    ctx.fill();
    for (let k = 0; k < t.length; k++) lower[k] = upper[k];
  }
}

function handle(msg) {
  serverNow = msg.now;
  if (msg.type === "snapshot") {
    stats.snapshots++;
    Object.assign(settings, { offline_after_s: msg.offline_after_s, history_s: msg.history_s });
    if (msg.addresses) {
      document.getElementById("sources").textContent =
        `${msg.addresses.join(", ")} · topic ${msg.topic}`;
    }
    const seen = new Set(msg.subjects.map((s) => s.key));
    for (const [key, entry] of subjects) {
      if (!seen.has(key)) { entry.el.panel.remove(); subjects.delete(key); }
    }
    msg.subjects.forEach((s) => upsert(s, true));
  } else if (msg.type === "update") {
    stats.updates++;
    msg.subjects.forEach((s) => upsert(s, false));
  }
  document.getElementById("empty").hidden = subjects.size > 0;
}

function setConnection(state, text) {
  const node = document.getElementById("connection");
  node.dataset.state = state;
  node.textContent = text;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  ws.onopen = () => {
    stats.connects++;
    retryMs = 500;
    setConnection("open", "connected");
  };
  ws.onmessage = (event) => handle(JSON.parse(event.data));
  ws.onclose = () => {
    // the server went away (restart, laptop sleep): try again, backing off up to 5 s
    setConnection("closed", `disconnected — retrying in ${(retryMs / 1000).toFixed(1)} s`);
    setTimeout(connect, retryMs);
    retryMs = Math.min(5000, retryMs * 2);
  };
  ws.onerror = () => ws.close();
}

window.heloDashboard = { subjects, settings, stats };
window.addEventListener("resize", () => subjects.forEach((entry) => drawHistory(entry)));
connect();
