// Kansho viewer front end: plain JavaScript, canvas for the map, SVG for the plots; no network
// access beyond the local server. State and the plotted data are exposed on window.kansho so
// that tests (and curious users, in the console) can read exactly what is drawn.
"use strict";

const K = window.kansho = {
  meta: null, state: null, series: null, mapLoads: 0, mapUrl: null, mapError: null,
  pixelLoads: 0, lastError: null, ready: false,
};

const UNITS = {vel: "mm/yr", "vel.filt": "mm/yr", "vel.mskd": "mm/yr", "vel.filt.mskd": "mm/yr", vstd: "mm/yr",
  cum: "mm", cum_filt: "mm", vintercept: "mm", resid_rms: "mm", stc: "mm", hgt: "m", maxTlen: "yr",
  loop_ph_rms: "rad", coh_avg: "", mask: "", n_unw: "count", n_gap: "count", n_loop_err: "count",
  n_ifg_noloop: "count", n_corrected: "count"};
const $ = (id) => document.getElementById(id);
const SVGNS = "http://www.w3.org/2000/svg";

function setStatus(text, isError) {
  const s = $("status");
  s.textContent = text || "";
  s.className = isError ? "err" : "";
}

async function getJSON(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) { const e = new Error(body.error || r.statusText); e.code = body.code; throw e; }
  return body;
}

function fmtDate(d) { const s = String(d); return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}`; }

// ---------------------------------------------------------------- map
const hill = new Image();
let hillReady = false;
let cmapColors = null;

function baseLayer() {
  const st = K.state;
  if (st.layer === "vel") return st.filtered && K.meta.layers.includes("vel.filt") ? "vel.filt" : "vel";
  if (st.layer === "cum") return st.filtered && K.meta.has_filt ? "cum_filt" : "cum";
  return st.layer;
}

function refParam() {
  const r = K.state.ref;
  return r ? `${r[0]}:${r[1]},${r[2]}:${r[3]}` : "";
}

function mapMaxPx() {
  const c = $("map");
  return Math.max(16, Math.min(4096, Math.round(Math.max(c.width, c.height))));
}

function mapUrl() {
  const st = K.state;
  const p = new URLSearchParams({layer: baseLayer(), masked: st.masked ? "1" : "0", max_px: String(mapMaxPx()),
    cmap: st.cmap});
  if (st.layer === "cum") p.set("epoch", String(st.epoch));
  if (st.vmin !== null && st.vmin !== "" && !isNaN(st.vmin)) p.set("vmin", String(st.vmin));
  if (st.vmax !== null && st.vmax !== "" && !isNaN(st.vmax)) p.set("vmax", String(st.vmax));
  if (st.ref) p.set("ref", refParam());
  return "/api/map.png?" + p.toString();
}

let mapSeq = 0;
function loadMap() {
  const url = mapUrl();
  const seq = ++mapSeq;
  const img = new Image();
  img.onload = () => {
    if (seq !== mapSeq) return;
    drawMap(img);
    K.mapUrl = url;
    K.mapError = null;
    K.mapLoads += 1;
    setStatus("");
  };
  img.onerror = async () => {
    if (seq !== mapSeq) return;
    let msg = "map request failed";
    try { await getJSON(url); } catch (e) { msg = e.message; }
    K.mapError = msg;
    setStatus(msg, true);
  };
  img.src = url;
  drawColorbar();
}

function drawMap(img) {
  const c = $("map");
  const ctx = c.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, c.width, c.height);
  if (K.state.hillshade && hillReady) {
    ctx.globalAlpha = 1;
    ctx.drawImage(hill, 0, 0, c.width, c.height);
  }
  ctx.globalAlpha = K.state.hillshade && hillReady ? K.state.opacity : 1;
  ctx.drawImage(img, 0, 0, c.width, c.height);
  ctx.globalAlpha = 1;
  K.lastMap = img;
}

async function drawColorbar() {
  const st = K.state;
  const layer = baseLayer();
  if (!cmapColors || cmapColors.name !== st.cmap) {
    cmapColors = await getJSON("/api/colormap?name=" + encodeURIComponent(st.cmap));
  }
  const c = $("colorbar");
  const ctx = c.getContext("2d");
  const n = cmapColors.colors.length;
  for (let i = 0; i < c.width; i++) {
    ctx.fillStyle = cmapColors.colors[Math.min(n - 1, Math.floor(i / c.width * n))];
    ctx.fillRect(i, 0, 1, c.height);
  }
  const lim = currentLimits();
  $("cbMin").textContent = lim ? lim[0].toPrecision(3) : "";
  $("cbMax").textContent = lim ? lim[1].toPrecision(3) : "";
  $("cbUnits").textContent = `${layer} ${UNITS[layer] !== undefined ? "(" + UNITS[layer] + ")" : ""}` +
    (layer.startsWith("cum") ? ` at ${fmtDate(K.meta.dates[st.epoch])}` : "");
}

function currentLimits() {
  const st = K.state;
  const d = K.meta.limits[baseLayer()];
  const lo = (st.vmin !== null && st.vmin !== "" && !isNaN(st.vmin)) ? Number(st.vmin) : (d ? d[0] : null);
  const hi = (st.vmax !== null && st.vmax !== "" && !isNaN(st.vmax)) ? Number(st.vmax) : (d ? d[1] : null);
  return lo === null || hi === null ? null : [lo, hi];
}

function pixelAt(ev) {
  const c = $("map");
  const rect = c.getBoundingClientRect();
  const x = (ev.clientX - rect.left) / rect.width;
  const y = (ev.clientY - rect.top) / rect.height;
  return [Math.floor(y * K.meta.height), Math.floor(x * K.meta.width)];
}

function placeBox(el, box) {
  const c = $("map");
  if (!box) { el.hidden = true; return; }
  const sx = c.clientWidth / K.meta.width, sy = c.clientHeight / K.meta.height;
  el.style.left = `${box[2] * sx}px`;
  el.style.top = `${box[0] * sy}px`;
  el.style.width = `${Math.max(2, (box[3] - box[2]) * sx)}px`;
  el.style.height = `${Math.max(2, (box[1] - box[0]) * sy)}px`;
  el.hidden = false;
}

function showRef() {
  const r = K.state.ref || K.meta.refarea;
  placeBox($("refBox"), r);
  $("refText").textContent = r ? `reference: rows ${r[0]}:${r[1]}, cols ${r[2]}:${r[3]}` +
    (K.state.ref ? "" : " (the run's)") : "reference: unknown";
}

function setRef(box) {
  K.state.ref = box;
  showRef();
  loadMap();
  if (K.state.pixel) loadPixel(K.state.pixel[0], K.state.pixel[1]);
}

let drag = null;
let refPicking = false;

function initMapEvents() {
  const c = $("map");
  c.addEventListener("mousedown", (ev) => {
    if (ev.shiftKey) { drag = pixelAt(ev); ev.preventDefault(); }
  });
  c.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const p = pixelAt(ev);
    placeBox($("dragBox"), [Math.min(drag[0], p[0]), Math.max(drag[0], p[0]) + 1,
      Math.min(drag[1], p[1]), Math.max(drag[1], p[1]) + 1]);
  });
  c.addEventListener("mouseup", (ev) => {
    if (!drag) return;
    const p = pixelAt(ev);
    const box = [Math.max(0, Math.min(drag[0], p[0])), Math.min(K.meta.height, Math.max(drag[0], p[0]) + 1),
      Math.max(0, Math.min(drag[1], p[1])), Math.min(K.meta.width, Math.max(drag[1], p[1]) + 1)];
    drag = null;
    $("dragBox").hidden = true;
    setRef(box);
    ev.stopPropagation();
    K.dragged = true;
  });
  c.addEventListener("click", (ev) => {
    if (K.dragged) { K.dragged = false; return; }
    const [row, col] = pixelAt(ev);
    if (refPicking) {
      refPicking = false;
      $("refPick").classList.remove("on");
      setRef([row, row + 1, col, col + 1]);
      return;
    }
    loadPixel(row, col);
  });
}

// ---------------------------------------------------------------- time series
async function loadPixel(row, col) {
  K.state.pixel = [row, col];
  const c = $("map");
  const m = $("marker");
  m.style.left = `${(col + 0.5) * c.clientWidth / K.meta.width}px`;
  m.style.top = `${(row + 0.5) * c.clientHeight / K.meta.height}px`;
  m.hidden = false;
  const p = new URLSearchParams({row: String(row), col: String(col)});
  if (K.state.ref) p.set("ref", refParam());
  try {
    const data = await getJSON("/api/pixel?" + p.toString());
    K.series = data;
    K.lastError = null;
    plotSeries(data);
    showPixelInfo(data);
    const link = $("csvLink");
    link.href = "/api/ts.csv?" + p.toString();
    link.hidden = false;
    setStatus("");
  } catch (e) {
    K.series = null;
    K.lastError = {message: e.message, code: e.code, row: row, col: col};
    $("tsTitle").textContent = `Pixel row ${row}, col ${col}: ${e.message}`;
    clearSvg($("ts"));
    $("ts").dataset.series = "";
    $("pixelInfo").innerHTML = "";
    $("csvLink").hidden = true;
    setStatus(e.message, true);
  }
  K.pixelLoads += 1;
}

function clearSvg(svg) { while (svg.firstChild) svg.removeChild(svg.firstChild); }

function el(name, attrs, parent, text) {
  const e = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function niceTicks(lo, hi, n) {
  const span = hi - lo || 1;
  const raw = span / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Math.abs(v) < 1e-9 ? 0 : v);
  return out;
}

function plotSeries(d) {
  const svg = $("ts");
  clearSvg(svg);
  const W = Number(svg.getAttribute("width")), H = Number(svg.getAttribute("height"));
  const L = 55, R = 10, T = 10, B = 30;
  const t = d.t, tm = d.model && d.model.model ? d.model.t : [];
  const vals = [];
  const sd = d.cum_std || [];  // σ of each epoch's offset across network gaps (0 before the first gap)
  d.cum.forEach((v, i) => { if (v !== null) { vals.push(v); if (sd[i]) { vals.push(v + sd[i]); vals.push(v - sd[i]); } } });
  if (d.cum_filt) d.cum_filt.forEach((v) => { if (v !== null) vals.push(v); });
  if (d.model.model) d.model.model.forEach((v, i) => {
    const s = d.model.sigma ? d.model.sigma[i] : 0; vals.push(v + s); vals.push(v - s);
  });
  let ymin = Math.min(...vals), ymax = Math.max(...vals);
  const pad = (ymax - ymin) * 0.08 || 1;
  ymin -= pad; ymax += pad;
  const t0 = 0, t1 = t[t.length - 1] || 1;
  const X = (x) => L + (x - t0) / (t1 - t0 || 1) * (W - L - R);
  const Y = (y) => T + (ymax - y) / (ymax - ymin) * (H - T - B);
  // axes and grid
  for (const v of niceTicks(ymin, ymax, 6)) {
    el("line", {x1: L, x2: W - R, y1: Y(v), y2: Y(v), stroke: v === 0 ? "#999" : "#eee"}, svg);
    el("text", {x: L - 5, y: Y(v) + 4, "text-anchor": "end"}, svg, String(+v.toPrecision(4)));
  }
  const first = new Date(fmtDate(d.dates[0]));
  const y0 = first.getUTCFullYear(), yEnd = y0 + Math.ceil(t1) + 1;
  for (let yr = y0; yr <= yEnd; yr++) {
    for (const mo of [0, 6]) {
      const tt = (Date.UTC(yr, mo, 1) - first.getTime()) / (86400000 * 365.25);
      if (tt < t0 || tt > t1) continue;
      el("line", {x1: X(tt), x2: X(tt), y1: T, y2: H - B, stroke: "#eee"}, svg);
      el("text", {x: X(tt), y: H - B + 14, "text-anchor": "middle"}, svg, mo === 0 ? String(yr) : `${yr}-07`);
    }
  }
  el("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#999"}, svg);
  el("text", {x: 12, y: T + (H - T - B) / 2, transform: `rotate(-90 12 ${T + (H - T - B) / 2})`,
    "text-anchor": "middle"}, svg, "LOS displacement (mm, + toward satellite)");
  // model band and curve
  if (d.model.model) {
    if (d.model.sigma) {
      const up = tm.map((x, i) => `${X(x)},${Y(d.model.model[i] + d.model.sigma[i])}`);
      const dn = tm.map((x, i) => `${X(x)},${Y(d.model.model[i] - d.model.sigma[i])}`).reverse();
      el("polygon", {points: up.concat(dn).join(" "), fill: "#ccc", "fill-opacity": 0.6, class: "band"}, svg);
    }
    el("polyline", {points: tm.map((x, i) => `${X(x)},${Y(d.model.model[i])}`).join(" "), fill: "none",
      stroke: "#222", "stroke-width": 1.5, class: "model"}, svg);
  }
  if (d.cum_filt) {
    const pts = [];
    d.cum_filt.forEach((v, i) => { if (v !== null) pts.push(`${X(t[i])},${Y(v)}`); });
    el("polyline", {points: pts.join(" "), fill: "none", stroke: "#ff7f0e", "stroke-width": 1.5, class: "filt"}, svg);
  }
  const eb = el("g", {class: "gapsigma"}, svg);
  d.cum.forEach((v, i) => {
    if (v === null || !sd[i]) return;
    el("line", {x1: X(t[i]), x2: X(t[i]), y1: Y(v + sd[i]), y2: Y(v - sd[i]), stroke: "#1f77b4",
      "stroke-opacity": 0.45, "stroke-width": 1.5}, eb);
  });
  const g = el("g", {class: "raw"}, svg);
  d.cum.forEach((v, i) => {
    if (v === null) return;
    const c = el("circle", {cx: X(t[i]), cy: Y(v), r: 3, fill: "#1f77b4", "data-date": d.dates[i],
      "data-value": v}, g);
    el("title", {}, c, `${fmtDate(d.dates[i])}: ${v.toFixed(1)} mm` +
      (sd[i] ? ` ± ${sd[i].toFixed(1)} (offset across a network gap)` : ""));
  });
  svg.dataset.series = JSON.stringify({row: d.row, col: d.col, dates: d.dates, cum: d.cum, cum_filt: d.cum_filt});
  const vel = d.model.vel === null ? "n/a" : d.model.vel.toFixed(1);
  $("tsTitle").textContent = `Pixel row ${d.row}, col ${d.col} (${d.lon.toFixed(5)}°E, ${d.lat.toFixed(5)}°N): ` +
    `fitted ${vel} mm/yr` + (d.vstd !== null ? ` ± ${d.vstd.toFixed(1)}` : "");
}

function showPixelInfo(d) {
  const rows = [["longitude", d.lon.toFixed(6)], ["latitude", d.lat.toFixed(6)], ["row, col", `${d.row}, ${d.col}`],
    ["reference", d.ref ? `rows ${d.ref[0]}:${d.ref[1]}, cols ${d.ref[2]}:${d.ref[3]}` +
      (d.ref_is_run ? " (run)" : "") : "?"],
    ["velocity of the map (mm/yr)", d.vel_map === null ? "no data" : d.vel_map.toFixed(2)],
    ["model velocity (mm/yr)", d.model.vel === null ? "n/a" : d.model.vel.toFixed(2)],
    ["annual amplitude (mm)", d.model.annual_amp === null ? "n/a" : d.model.annual_amp.toFixed(2)]];
  for (const [k, v] of Object.entries(d.quality)) {
    rows.push([`${k}${UNITS[k] ? " (" + UNITS[k] + ")" : ""}`, v === null ? "no data" : String(+v.toPrecision(4))]);
  }
  $("pixelInfo").innerHTML = "<tr><th class='l'>quantity</th><th>value</th></tr>" +
    rows.map(([k, v]) => `<tr><td class='l'>${k}</td><td>${v}</td></tr>`).join("");
}

// ---------------------------------------------------------------- network and QC
async function loadNetwork() {
  const svg = $("network");
  let net;
  try { net = await getJSON("/api/network"); } catch (e) {
    el("text", {x: 20, y: 30}, svg, `network unavailable: ${e.message}`); return;
  }
  K.network = net;
  const W = Number(svg.getAttribute("width")), H = Number(svg.getAttribute("height"));
  const L = 55, R = 10, T = 10, B = 30;
  const ms = (d) => new Date(fmtDate(d)).getTime();
  const bp = {};
  net.epochs.forEach((e, i) => { bp[e] = net.bperp[i] === null ? 0 : net.bperp[i]; });
  const xs = net.epochs.map(ms), ys = Object.values(bp);
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y1 - y0 < 1) { y0 -= 1; y1 += 1; }
  const X = (d) => L + (ms(d) - x0) / (x1 - x0 || 1) * (W - L - R);
  const Y = (b) => T + (y1 - b) / (y1 - y0) * (H - T - B);
  el("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#999"}, svg);
  for (const v of niceTicks(y0, y1, 5)) el("text", {x: L - 5, y: Y(v) + 4, "text-anchor": "end"}, svg, String(v));
  el("text", {x: 12, y: H / 2, transform: `rotate(-90 12 ${H / 2})`, "text-anchor": "middle"}, svg, "B⊥ (m)");
  const colours = {used: "#1f77b4", "1-1": "#ff7f0e", "1-2": "#d62728"};
  const order = net.pairs.slice().sort((a, b) => (a.status === "used" ? 0 : 1) - (b.status === "used" ? 0 : 1));
  for (const p of order) {
    if (!(p.date1 in bp) || !(p.date2 in bp)) continue;
    const ln = el("line", {x1: X(p.date1), x2: X(p.date2), y1: Y(bp[p.date1]), y2: Y(bp[p.date2]),
      stroke: colours[p.status] || "#888", "stroke-width": p.status === "used" ? 1 : 2, class: "pair",
      "data-status": p.status}, svg);
    el("title", {}, ln, `${p.pair}: ${p.status === "used" ? "used" : "dropped by " + p.status + ": " + p.reason}`);
  }
  const years = new Set(net.epochs.map((e) => String(e).slice(0, 4)));
  for (const yr of years) {
    const d = Number(`${yr}0101`);
    if (ms(d) >= x0 && ms(d) <= x1) el("text", {x: X(d), y: H - B + 14, "text-anchor": "middle"}, svg, yr);
  }
  for (const e of net.epochs) el("circle", {cx: X(e), cy: Y(bp[e]), r: 2.5, fill: "#000"}, svg);
}

async function loadQC() {
  let qc;
  try { qc = await getJSON("/api/qc"); } catch (e) { $("qc").textContent = e.message; return; }
  K.qc = qc;
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
  let h = `<h3>Dropped interferograms (${qc.dropped.length})</h3>`;
  h += "<table id='droppedTable'><tr><th class='l'>pair</th><th>step</th><th class='l'>reason</th></tr>" +
    qc.dropped.map((d) => `<tr><td class='l'>${esc(d.pair)}</td><td>${esc(d.step)}</td>` +
      `<td class='l'>${esc(d.reason)}</td></tr>`).join("") + "</table>";
  if (qc.ifg_stats.length) {
    h += `<details><summary>Per-interferogram statistics (${qc.ifg_stats.length} pairs)</summary><table>` +
      "<tr><th class='l'>pair</th><th>B⊥ (m)</th><th>Δt (d)</th><th>coverage</th><th>mean coh</th><th>used</th>" +
      "<th class='l'>note</th></tr>" + qc.ifg_stats.map((s) => `<tr><td class='l'>${esc(s.pair)}</td>` +
      `<td>${s.bperp_m ?? ""}</td><td>${s.dt_day ?? ""}</td><td>${s.coverage ?? ""}</td><td>${s.mean_coh ?? ""}</td>` +
      `<td>${s.used ? "yes" : "no"}</td><td class='l'>${esc(s.note)}</td></tr>`).join("") + "</table></details>";
  }
  if (qc.mask_stats) h += `<h3>Mask</h3><pre>${esc(qc.mask_stats)}</pre>`;
  if (qc.ref) h += `<h3>Reference area</h3><pre>${esc(qc.ref)}</pre>`;
  if (qc.timings) h += `<details><summary>Timings</summary><pre>${esc(qc.timings)}</pre></details>`;
  $("qc").innerHTML = h;
}

// ---------------------------------------------------------------- controls
function initControls() {
  const m = K.meta;
  const sel = $("layer");
  const opts = [["vel", "velocity"], ["cum", "cumulative displacement"]];
  for (const l of m.layers) {
    if (!["vel", "vel.filt", "vel.mskd", "vel.filt.mskd"].includes(l)) opts.push([l, l]);
  }
  for (const [v, label] of opts) { const o = document.createElement("option"); o.value = v; o.textContent = label; sel.appendChild(o); }
  const ep = $("epoch");
  ep.max = String(m.dates.length - 1);
  ep.value = String(m.dates.length - 1);
  const changed = () => {
    const st = K.state;
    st.layer = sel.value;
    st.filtered = $("filtered").checked;
    st.masked = $("masked").checked;
    st.hillshade = $("hillshade").checked;
    st.opacity = Number($("opacity").value);
    st.cmap = $("cmap").value;
    st.epoch = Number(ep.value);
    $("dateRow").style.visibility = st.layer === "cum" ? "visible" : "hidden";
    $("epochLabel").textContent = `${fmtDate(m.dates[st.epoch])} (${st.epoch + 1} of ${m.dates.length})`;
    loadMap();
  };
  sel.addEventListener("change", () => {
    $("vmin").value = ""; $("vmax").value = ""; K.state.vmin = null; K.state.vmax = null;
    const sym = ["vel", "cum"].includes(sel.value) || sel.value === "vintercept";
    $("cmap").value = sym ? "RdBu_r" : "viridis";
    changed();
  });
  for (const id of ["filtered", "masked", "hillshade", "cmap"]) $(id).addEventListener("change", changed);
  $("opacity").addEventListener("input", changed);
  ep.addEventListener("input", changed);
  for (const id of ["vmin", "vmax"]) {
    $(id).addEventListener("change", () => { K.state[id] = $(id).value === "" ? null : Number($(id).value); loadMap(); });
  }
  $("autoLimits").addEventListener("click", () => {
    $("vmin").value = ""; $("vmax").value = ""; K.state.vmin = null; K.state.vmax = null; loadMap();
  });
  $("refPick").addEventListener("click", () => { refPicking = !refPicking; $("refPick").classList.toggle("on", refPicking);
    setStatus(refPicking ? "click the map to set the reference point" : ""); });
  $("refReset").addEventListener("click", () => setRef(null));
  changed();
}

function sizeCanvas() {
  const m = K.meta;
  const maxW = Math.min(640, Math.max(320, window.innerWidth - 700));
  const maxH = 600;
  const s = Math.min(maxW / m.width, maxH / m.height);
  const w = Math.max(1, Math.round(m.width * s)), h = Math.max(1, Math.round(m.height * s));
  const c = $("map");
  const dpr = window.devicePixelRatio || 1;
  c.style.width = `${w}px`;
  c.style.height = `${h}px`;
  c.width = Math.round(w * dpr);
  c.height = Math.round(h * dpr);
}

async function init() {
  try {
    K.meta = await getJSON("/api/meta");
  } catch (e) { setStatus(e.message, true); return; }
  const m = K.meta;
  K.state = {layer: "vel", filtered: false, masked: m.has_mask, hillshade: true, opacity: 0.85, cmap: "RdBu_r",
    epoch: m.dates.length - 1, vmin: null, vmax: null, ref: null, pixel: null};
  $("masked").checked = m.has_mask;
  $("runName").textContent = m.root;
  $("runInfo").textContent = `${m.width} × ${m.height} px · ${m.dates.length} epochs ${fmtDate(m.dates[0])} – ` +
    `${fmtDate(m.dates[m.dates.length - 1])}`;
  $("reportLink").hidden = !m.files["report.html"];
  sizeCanvas();
  hill.onload = () => { hillReady = true; if (K.lastMap) drawMap(K.lastMap); };
  hill.onerror = () => { hillReady = false; };
  hill.src = `/api/hillshade.png?max_px=${mapMaxPx()}`;
  initControls();
  initMapEvents();
  showRef();
  loadNetwork();
  loadQC();
  K.ready = true;
}

window.addEventListener("load", init);
