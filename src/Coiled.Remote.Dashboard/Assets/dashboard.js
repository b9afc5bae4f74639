"use strict";
// The Coiled.Remote dashboard: polls /api/snapshot once a second and draws it. No library, nothing from the internet.
(function () {
  const PERIOD_MS = 1000;
  const bars = new Map();          // task-stream bars by id; the server resends a bar while it grows
  let lastNowMs = 0;
  let windowMs = 180000;
  let workers = [];
  let serverNow = 0;

  const $ = (id) => document.getElementById(id);
  const palette = ["#2f6fdf", "#2e9d5b", "#9b59b6", "#e67e22", "#16a2b8", "#c2185b", "#7f8c2d", "#5d6d7e", "#8e44ad", "#d4ac0d"];
  const methodColours = new Map();
  function colourOf(method) {
    if (!methodColours.has(method)) methodColours.set(method, palette[methodColours.size % palette.length]);
    return methodColours.get(method);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k === "style") node.style.cssText = v; else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child == null ? "" : String(child)));
    return node;
  }

  const bytes = (n) => n == null ? "–" : n >= 1 << 30 ? (n / (1 << 30)).toFixed(1) + " GiB" : n >= 1 << 20 ? (n / (1 << 20)).toFixed(0) + " MiB" : (n / 1024).toFixed(0) + " KiB";
  const count = (n) => n < 0 ? "?" : n.toLocaleString("en-US");
  const rate = (r) => r >= 1000 ? (r / 1000).toFixed(1) + "k/s" : r.toFixed(r < 10 ? 1 : 0) + "/s";
  function duration(s) {
    if (s == null) return "–";
    if (s < 60) return s.toFixed(0) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
  }
  const dollars = (d) => d == null ? "–" : "$" + (d < 1 ? d.toFixed(4) : d.toFixed(2));

  function renderCalls(calls) {
    const body = $("calls").tBodies[0];
    body.replaceChildren();
    if (calls.length === 0) {
      body.append(el("tr", {}, el("td", { colspan: "9", class: "empty" }, "No calls yet.")));
      return;
    }
    for (const c of calls) {
      const total = c.total > 0 ? c.total : Math.max(1, c.done + c.failed);
      const bar = el("div", { class: "bar" },
        el("div", { class: "done", style: "width:" + (100 * c.done / total) + "%" }),
        el("div", { class: "failed", style: "width:" + (100 * c.failed / total) + "%" + (c.failed > 0 ? ";min-width:3px" : "") }));
      const state = c.outcome == null ? "running" : c.outcome;
      body.append(el("tr", { "data-call": c.id, class: c.outcome == null ? "" : "ended" },
        el("td", {}, c.id), el("td", {}, el("span", { class: "swatch", style: "background:" + colourOf(c.method) }), " ", c.method),
        el("td", {}, bar), el("td", { class: "num done" }, count(c.done)), el("td", { class: "num failed" }, count(c.failed)),
        el("td", { class: "num total" }, count(c.total)), el("td", { class: "num" }, rate(c.rate)),
        el("td", { class: "num" }, duration(c.remainingSeconds)), el("td", {}, state)));
    }
  }

  function renderWorkers(list) {
    const body = $("workers").tBodies[0];
    body.replaceChildren();
    for (const w of list) {
      body.append(el("tr", { class: w.ended == null ? "" : "ended", "data-worker": w.id },
        el("td", {}, w.id), el("td", {}, w.state), el("td", {}, w.address), el("td", { class: "num" }, w.cores),
        el("td", { class: "num" }, w.cpuPercent == null ? "–" : w.cpuPercent.toFixed(0) + " %"),
        el("td", { class: "num" }, bytes(w.workingSetBytes)), el("td", { class: "num" }, bytes(w.gcHeapBytes)),
        el("td", { class: "num" }, w.running), el("td", { class: "num" }, count(w.done)), el("td", { class: "reason" }, w.ended || "")));
    }
  }

  function renderErrors(errors) {
    const box = $("errors");
    box.replaceChildren();
    if (errors.length === 0) { box.append(el("p", { class: "empty" }, "None.")); return; }
    for (const e of errors.slice().reverse()) {
      box.append(el("div", { class: "error" },
        el("div", { class: "head" }, e.type + ": " + e.message),
        el("div", { class: "where" }, e.method + ", item " + e.item + ", on worker " + e.worker),
        el("pre", {}, e.stack.join("\n"))));
    }
  }

  function renderCost(cost) {
    $("cost").textContent = dollars(cost.dollars);
    $("cost-rate").textContent = cost.dollarsPerHour == null ? "–" : dollars(cost.dollarsPerHour) + "/h";
    $("worker-time").textContent = duration(cost.workerSeconds);
    $("idle-share").textContent = cost.idleShare == null ? "–" : (100 * cost.idleShare).toFixed(0) + " %";
  }

  function drawStream() {
    const canvas = $("stream");
    const lanes = [];
    const laneOf = new Map();
    for (const w of workers) {
      const slots = Math.max(1, Math.min(w.slots, 64));
      for (let i = 0; i < slots; i++) { laneOf.set(w.id + "/" + i, lanes.length); lanes.push(w); }
    }
    for (const b of bars.values()) {
      const key = b.worker + "/" + b.lane;
      if (!laneOf.has(key)) { laneOf.set(key, lanes.length); lanes.push({ id: b.worker }); }
    }
    const laneHeight = Math.max(2, Math.min(14, Math.floor(480 / Math.max(1, lanes.length))));
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = Math.max(40, lanes.length * laneHeight + 18);
    canvas.style.height = height + "px";
    canvas.width = width * ratio; canvas.height = height * ratio;
    const g = canvas.getContext("2d");
    g.scale(ratio, ratio);
    g.clearRect(0, 0, width, height);
    // The stream spans the last minutes, or less while the cluster is younger: from a little before its first bar.
    let first = serverNow;
    for (const b of bars.values()) first = Math.min(first, b.startMs);
    const start = Math.max(serverNow - windowMs, Math.min(first - 1000, serverNow - 10000), 0);
    const span = Math.max(1, serverNow - start);
    const label = 70, plot = width - label - 8;
    const x = (ms) => label + Math.max(0, (ms - start) / span) * plot;
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#6b7385";
    let previous = null;
    lanes.forEach((w, i) => {
      if (w.id !== previous) { g.fillText(w.id, 2, i * laneHeight + Math.min(11, laneHeight + 9)); previous = w.id; }
      if (i % 2 === 1) { g.fillStyle = "#f3f5f8"; g.fillRect(label, i * laneHeight, plot, laneHeight); g.fillStyle = "#6b7385"; }
    });
    for (const b of bars.values()) {
      if (b.endMs < serverNow - windowMs) { bars.delete(b.id); continue; }
      const lane = laneOf.get(b.worker + "/" + b.lane);
      g.fillStyle = b.failed ? "#d23c3c" : colourOf(b.method);
      const x0 = x(b.startMs), x1 = Math.max(x0 + 1, x(b.endMs));
      g.fillRect(x0, lane * laneHeight + 1, x1 - x0, Math.max(1, laneHeight - 2));
    }
    g.fillStyle = "#6b7385";
    const axis = lanes.length * laneHeight + 13;
    const step = [1, 2, 5, 10, 15, 30, 60].map((s) => s * 1000).find((s) => span / s <= 8) || 60000;
    for (let back = 0; back <= span; back += step) {
      const text = back === 0 ? "now" : "-" + Math.round(back / 1000) + " s";
      g.fillText(text, Math.max(label, x(serverNow - back) - g.measureText(text).width), axis);
    }
    const legend = $("stream-legend");
    legend.replaceChildren(...[...methodColours.entries()].map(([m, c]) => el("span", { class: "legend-item" }, el("span", { class: "swatch", style: "background:" + c }), m)),
      el("span", { class: "legend-item" }, el("span", { class: "swatch", style: "background:#d23c3c" }), "failed"));
  }

  async function poll() {
    try {
      const since = lastNowMs > 0 ? Math.max(0, lastNowMs - 2000) : 0;
      const response = await fetch("api/snapshot?since=" + since, { cache: "no-store", credentials: "same-origin" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const s = await response.json();
      lastNowMs = serverNow = s.nowMs;
      windowMs = s.streamWindowMs;
      workers = s.workers;
      for (const b of s.bars) bars.set(b.id, b);
      $("state").textContent = s.state; $("state").className = "pill " + s.state;
      $("backend").textContent = s.backend;
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      for (const c of s.calls) colourOf(c.method);
      renderCost(s.cost); renderCalls(s.calls); renderWorkers(s.workers); renderErrors(s.errors); drawStream();
    } catch (e) {
      $("state").textContent = "offline"; $("state").className = "pill offline";
    }
    setTimeout(poll, PERIOD_MS);
  }
  poll();
})();
