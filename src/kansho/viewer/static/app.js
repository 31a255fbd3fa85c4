// Kansho viewer front end: plain JavaScript, canvas for the map, SVG for the plots; no network
// access beyond the local server. State and the plotted data are exposed on window.kansho so
// that tests (and curious users, in the console) can read exactly what is drawn.
"use strict";

const K = window.kansho = {
  meta: null, state: null, series: null, series2: null, profile: null, lastPng: null, mapLoads: 0, mapUrl: null, mapError: null,
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

// ---------------------------------------------------------------- coordinates
// Longitudes and latitudes are shown with their hemisphere (99.07926°W, 19.41000°N), never signed.
function fmtLon(v, n = 5) { return `${Math.abs(v).toFixed(n)}°${v < 0 ? "W" : "E"}`; }
function fmtLat(v, n = 5) { return `${Math.abs(v).toFixed(n)}°${v < 0 ? "S" : "N"}`; }
K.fmtLon = fmtLon;
K.fmtLat = fmtLat;

// grid (fractional row, col) <-> lon/lat from the geotransform
function lonlatOf(r, c) {
  const [x0, dx, , y0, , dy] = K.meta.transform;
  return [x0 + c * dx, y0 + r * dy];
}
function gridOf(lon, lat) {
  const [x0, dx, , y0, , dy] = K.meta.transform;
  return [(lat - y0) / dy, (lon - x0) / dx];
}

// ---------------------------------------------------------------- map view (zoom and pan)
// K.state.view = {c0, r0, w, h}: the part of the grid (in pixels, fractional) the canvas shows.
function fullView() { return {c0: 0, r0: 0, w: K.meta.width, h: K.meta.height}; }

function clampView(v) {
  const m = K.meta;
  const w = Math.min(m.width, Math.max(Math.min(4, m.width), v.w));
  const h = w * m.height / m.width;
  return {w: w, h: h, c0: Math.min(Math.max(0, v.c0), m.width - w), r0: Math.min(Math.max(0, v.r0), m.height - h)};
}

function zoomAt(factor, fr, fc) {
  // factor > 1 zooms in about the grid point (fr, fc), which stays under the cursor
  const v = K.state.view;
  const nw = v.w / factor;
  const nv = clampView({w: nw, c0: fc - (fc - v.c0) * nw / v.w, r0: fr - (fr - v.r0) * nw / v.w});
  K.state.view = nv;
  K.zoom = K.meta.width / nv.w;
  redrawMap();
  loadMap();
}

function gridAt(ev) {
  // fractional (row, col) of the grid under a mouse event
  const rect = $("map").getBoundingClientRect();
  const v = K.state.view;
  return [v.r0 + (ev.clientY - rect.top) / rect.height * v.h, v.c0 + (ev.clientX - rect.left) / rect.width * v.w];
}

function pixelAt(ev) {
  const [r, c] = gridAt(ev);
  return [Math.min(K.meta.height - 1, Math.max(0, Math.floor(r))), Math.min(K.meta.width - 1, Math.max(0, Math.floor(c)))];
}

function screenOf(r, c) {
  const cv = $("map"), v = K.state.view;
  return [(c - v.c0) / v.w * cv.clientWidth, (r - v.r0) / v.h * cv.clientHeight];
}

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

function mapBox() {
  // the grid window a map request covers: the whole grid, or (zoomed) the view with half a view
  // of margin on every side (so a pan redraws at once), as [r0, r1, c0, c1] pixels
  const m = K.meta, v = K.state.view;
  if (v.w >= m.width && v.h >= m.height) return [0, m.height, 0, m.width];
  return [Math.max(0, Math.floor(v.r0 - v.h / 2)), Math.min(m.height, Math.ceil(v.r0 + 1.5 * v.h)),
    Math.max(0, Math.floor(v.c0 - v.w / 2)), Math.min(m.width, Math.ceil(v.c0 + 1.5 * v.w))];
}

function mapMaxPx(box) {
  // image pixels for the box at the canvas's resolution of the current view
  const c = $("map"), v = K.state.view;
  const b = box || [0, K.meta.height, 0, K.meta.width];
  const need = Math.max((b[3] - b[2]) * c.width / v.w, (b[1] - b[0]) * c.height / v.h);
  return Math.max(16, Math.min(4096, Math.round(need)));
}

function layerParams() {
  // what selects the layer as shown: shared by the map and the profile
  const st = K.state;
  const p = new URLSearchParams({layer: baseLayer(), masked: st.masked ? "1" : "0"});
  if (st.layer === "cum") p.set("epoch", String(st.epoch));
  if (st.ref) p.set("ref", refParam());
  if (st.range) { p.set("d1", String(st.range[0])); p.set("d2", String(st.range[1])); }
  return p;
}

function mapUrl(box) {
  const st = K.state;
  const p = layerParams();
  p.set("max_px", String(mapMaxPx(box)));
  if (box[1] - box[0] < K.meta.height || box[3] - box[2] < K.meta.width) p.set("box", `${box[0]}:${box[1]},${box[2]}:${box[3]}`);
  p.set("cmap", st.cmap);
  if (st.vmin !== null && st.vmin !== "" && !isNaN(st.vmin)) p.set("vmin", String(st.vmin));
  if (st.vmax !== null && st.vmax !== "" && !isNaN(st.vmax)) p.set("vmax", String(st.vmax));
  return "/api/map.png?" + p.toString();
}

let mapSeq = 0;
function loadMap() {
  const box = mapBox();
  const url = mapUrl(box);
  const seq = ++mapSeq;
  const img = new Image();
  img.onload = () => {
    if (seq !== mapSeq) return;
    K.lastMap = img;
    K.lastMapBox = box;
    redrawMap();
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
  if (K.state.line.length >= 2) loadProfile();
}

function drawPart(ctx, im, c, box) {
  // the view's part of an image that covers the grid window box = [r0, r1, c0, c1]
  const v = K.state.view;
  const sx = im.width / (box[3] - box[2]), sy = im.height / (box[1] - box[0]);
  ctx.drawImage(im, (v.c0 - box[2]) * sx, (v.r0 - box[0]) * sy, v.w * sx, v.h * sy, 0, 0, c.width, c.height);
}

function redrawMap() {
  const c = $("map");
  const ctx = c.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, c.width, c.height);
  if (K.state.hillshade && hillReady) {
    ctx.globalAlpha = 1;
    drawPart(ctx, hill, c, [0, K.meta.height, 0, K.meta.width]);
  }
  if (K.lastMap) {
    ctx.globalAlpha = K.state.hillshade && hillReady ? K.state.opacity : 1;
    drawPart(ctx, K.lastMap, c, K.lastMapBox);
  }
  ctx.globalAlpha = 1;
  drawOverlays();
}

function drawOverlays() {
  placeMarker($("marker"), K.state.pixel);
  placeMarker($("marker2"), K.state.pixel2);
  showRef();
  const svg = $("overlay");
  clearSvg(svg);
  const pts = K.state.line.map(([lon, lat]) => screenOf(...gridOf(lon, lat)));
  if (pts.length) {
    el("polyline", {points: pts.map((p) => p.join(",")).join(" "), fill: "none", stroke: "#000", "stroke-width": 3,
      "stroke-opacity": 0.6}, svg);
    el("polyline", {points: pts.map((p) => p.join(",")).join(" "), fill: "none", stroke: "#ff0", "stroke-width": 1.5,
      class: "profileLine"}, svg);
    pts.forEach((p) => el("circle", {cx: p[0], cy: p[1], r: 3, fill: "#ff0", stroke: "#000"}, svg));
  }
}

function placeMarker(m, px) {
  if (!px) { m.hidden = true; return; }
  const [x, y] = screenOf(px[0] + 0.5, px[1] + 0.5);
  const cv = $("map");
  m.hidden = x < 0 || y < 0 || x > cv.clientWidth || y > cv.clientHeight;
  m.style.left = `${x}px`;
  m.style.top = `${y}px`;
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
    (layer.startsWith("cum") ? ` at ${fmtDate(K.meta.dates[st.epoch])}` : "") +
    (layer === "vel_range" && st.range ? ` ${fmtDate(st.range[0])} – ${fmtDate(st.range[1])}` : "");
}

function currentLimits() {
  const st = K.state;
  const d = K.meta.limits[baseLayer() === "vel_range" ? "vel" : baseLayer()];
  const lo = (st.vmin !== null && st.vmin !== "" && !isNaN(st.vmin)) ? Number(st.vmin) : (d ? d[0] : null);
  const hi = (st.vmax !== null && st.vmax !== "" && !isNaN(st.vmax)) ? Number(st.vmax) : (d ? d[1] : null);
  return lo === null || hi === null ? null : [lo, hi];
}

function placeBox(elm, box) {
  if (!box) { elm.hidden = true; return; }
  const [x0, y0] = screenOf(box[0], box[2]);
  const [x1, y1] = screenOf(box[1], box[3]);
  elm.style.left = `${x0}px`;
  elm.style.top = `${y0}px`;
  elm.style.width = `${Math.max(2, x1 - x0)}px`;
  elm.style.height = `${Math.max(2, y1 - y0)}px`;
  elm.hidden = false;
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
  reloadSeries();
}

let drag = null;  // shift + drag: a reference box
let pan = null;   // drag: pan the view

function showHover(ev) {
  const [r, c] = gridAt(ev);
  const [lon, lat] = lonlatOf(r, c);
  const [row, col] = pixelAt(ev);
  $("hover").textContent = `${fmtLat(lat)}, ${fmtLon(lon)} · row ${row}, col ${col}`;
  K.hover = {lon: lon, lat: lat, row: row, col: col};
}

function onMouseMove(ev) {
  showHover(ev);
  if (pan) {
    const rect = $("map").getBoundingClientRect();
    const dx = ev.clientX - pan.x, dy = ev.clientY - pan.y;
    if (!pan.moved && Math.hypot(dx, dy) < 4) return;
    pan.moved = true;
    K.state.view = clampView({w: pan.view.w, c0: pan.view.c0 - dx / rect.width * pan.view.w,
      r0: pan.view.r0 - dy / rect.height * pan.view.h});
    redrawMap();
    return;
  }
  if (!drag) return;
  const p = pixelAt(ev);
  placeBox($("dragBox"), [Math.min(drag[0], p[0]), Math.max(drag[0], p[0]) + 1,
    Math.min(drag[1], p[1]), Math.max(drag[1], p[1]) + 1]);
}

function onMouseUp(ev) {
  if (pan) {
    if (pan.moved) {
      K.dragged = true;
      K.pans = (K.pans || 0) + 1;
      const b = K.lastMapBox, v = K.state.view;  // reload once the view leaves the loaded window
      if (b && (v.c0 < b[2] || v.r0 < b[0] || v.c0 + v.w > b[3] || v.r0 + v.h > b[1])) loadMap();
    }
    pan = null;
    $("map").classList.remove("panning");
    return;
  }
  if (!drag) return;
  const p = pixelAt(ev);
  const box = [Math.max(0, Math.min(drag[0], p[0])), Math.min(K.meta.height, Math.max(drag[0], p[0]) + 1),
    Math.max(0, Math.min(drag[1], p[1])), Math.min(K.meta.width, Math.max(drag[1], p[1]) + 1)];
  drag = null;
  $("dragBox").hidden = true;
  setRef(box);
  ev.stopPropagation();
  K.dragged = true;
}

function onClick(ev) {
  if (K.dragged) { K.dragged = false; return; }
  const [row, col] = pixelAt(ev);
  const mode = K.state.clickMode;
  if (mode === "ref") {
    setClickMode("point");
    setRef([row, row + 1, col, col + 1]);
  } else if (mode === "point2") {
    loadPixel(row, col, 2);
  } else if (mode === "profile") {
    const [r, c] = gridAt(ev);
    K.state.line.push(lonlatOf(r, c));
    drawOverlays();
    if (K.state.line.length >= 2) loadProfile();
  } else {
    loadPixel(row, col, 1);
  }
}

function initMapEvents() {
  const c = $("map");
  c.addEventListener("mousedown", (ev) => {
    if (ev.shiftKey) { drag = pixelAt(ev); ev.preventDefault(); return; }
    if (ev.button === 0) {
      pan = {x: ev.clientX, y: ev.clientY, view: {...K.state.view}, moved: false};
      c.classList.add("panning");
    }
  });
  c.addEventListener("mousemove", onMouseMove);
  c.addEventListener("mouseleave", () => { $("hover").textContent = ""; });
  window.addEventListener("mouseup", onMouseUp);
  c.addEventListener("click", onClick);
  c.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const [r, c2] = gridAt(ev);
    zoomAt(ev.deltaY < 0 ? 1.25 : 0.8, r, c2);
  }, {passive: false});
}

function setClickMode(mode) {
  K.state.clickMode = mode;
  for (const b of document.querySelectorAll("#clickModes button")) b.classList.toggle("on", b.dataset.mode === mode);
  const hints = {point: "click the map: time series of a pixel", point2: "click the map: the second point to compare",
    ref: "click the map: the reference pixel", profile: "click the map: vertices of a profile line"};
  setStatus(hints[mode]);
}

// ---------------------------------------------------------------- time series
function seriesParams(which) {
  const st = K.state;
  const px = which === 2 ? st.pixel2 : st.pixel;
  const p = new URLSearchParams({row: String(px[0]), col: String(px[1])});
  if (st.ref) p.set("ref", refParam());
  if (st.refDate) p.set("ref_date", String(st.refDate));
  if (st.range) { p.set("d1", String(st.range[0])); p.set("d2", String(st.range[1])); }
  return p;
}

function csvUrl() {
  const p = seriesParams(1);
  if (K.state.pixel2 && K.series2) { p.set("row2", String(K.state.pixel2[0])); p.set("col2", String(K.state.pixel2[1])); }
  return "/api/ts.csv?" + p.toString();
}

function reloadSeries() {
  if (K.state.pixel) loadPixel(K.state.pixel[0], K.state.pixel[1], 1);
  if (K.state.pixel2) loadPixel(K.state.pixel2[0], K.state.pixel2[1], 2);
}

async function loadPixel(row, col, which = 1) {
  const key = which === 2 ? "series2" : "series";
  K.state[which === 2 ? "pixel2" : "pixel"] = [row, col];
  drawOverlays();
  try {
    const data = await getJSON("/api/pixel?" + seriesParams(which).toString());
    K[key] = data;
    K.lastError = null;
    setStatus("");
  } catch (e) {
    K[key] = null;
    K.lastError = {message: e.message, code: e.code, row: row, col: col, which: which};
    setStatus(e.message, true);
  }
  showSeries();
  if (which === 2) K.pixel2Loads = (K.pixel2Loads || 0) + 1; else K.pixelLoads += 1;
}

function showSeries() {
  const d = K.series, e = K.lastError;
  if (!d) {
    $("tsTitle").textContent = e ? `Pixel row ${e.row}, col ${e.col}: ${e.message}` : "Click a pixel on the map";
    clearSvg($("ts"));
    $("ts").dataset.series = "";
    $("pixelInfo").innerHTML = "";
    $("tsTools").hidden = true;
    $("rangeText").textContent = "";
    return;
  }
  plotSeries(d, K.series2);
  showPixelInfo(d, K.series2);
  const link = $("csvLink");
  link.href = csvUrl();
  $("tsTools").hidden = false;
  const rt = [d, K.series2].filter((s) => s && s.range).map((s, i) =>
    `point ${i + 1}: ${s.range.vel === null ? "n/a" : s.range.vel.toFixed(2)} mm/yr over ` +
    `${fmtDate(s.range.first)} – ${fmtDate(s.range.last)} (${s.range.n} epochs)`);
  $("rangeText").textContent = rt.length ? "velocity over the range: " + rt.join("; ") : "";
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

const COLOURS = {1: {raw: "#1f77b4", model: "#222", range: "#2ca02c"}, 2: {raw: "#d62728", model: "#7f1d1d", range: "#9467bd"}};

function seriesValues(d) {
  const vals = [];
  const sd = d.cum_std || [];
  d.cum.forEach((v, i) => { if (v !== null) { vals.push(v); if (sd[i]) { vals.push(v + sd[i]); vals.push(v - sd[i]); } } });
  if (d.cum_filt) d.cum_filt.forEach((v) => { if (v !== null) vals.push(v); });
  if (d.model.model) d.model.model.forEach((v, i) => {
    const s = d.model.sigma ? d.model.sigma[i] : 0; vals.push(v + s); vals.push(v - s);
  });
  return vals;
}

function drawOne(svg, d, which, X, Y) {
  const col = COLOURS[which], sfx = which === 2 ? "2" : "";
  const t = d.t, tm = d.model.model ? d.model.t : [], sd = d.cum_std || [];
  if (d.model.model) {
    if (d.model.sigma && which === 1) {
      const up = tm.map((x, i) => `${X(x)},${Y(d.model.model[i] + d.model.sigma[i])}`);
      const dn = tm.map((x, i) => `${X(x)},${Y(d.model.model[i] - d.model.sigma[i])}`).reverse();
      el("polygon", {points: up.concat(dn).join(" "), fill: "#ccc", "fill-opacity": 0.6, class: "band"}, svg);
    }
    el("polyline", {points: tm.map((x, i) => `${X(x)},${Y(d.model.model[i])}`).join(" "), fill: "none",
      stroke: col.model, "stroke-width": 1.5, class: "model" + sfx, "data-kind": d.model.kind}, svg);
  }
  if (d.cum_filt && which === 1) {
    const pts = [];
    d.cum_filt.forEach((v, i) => { if (v !== null) pts.push(`${X(t[i])},${Y(v)}`); });
    el("polyline", {points: pts.join(" "), fill: "none", stroke: "#ff7f0e", "stroke-width": 1.5, class: "filt"}, svg);
  }
  if (d.range && d.range.model) {
    el("line", {x1: X(d.range.t[0]), x2: X(d.range.t[1]), y1: Y(d.range.model[0]), y2: Y(d.range.model[1]),
      stroke: col.range, "stroke-width": 2.5, class: "range" + sfx, "data-vel": d.range.vel}, svg);
  }
  const eb = el("g", {class: "gapsigma" + sfx}, svg);
  d.cum.forEach((v, i) => {
    if (v === null || !sd[i]) return;
    el("line", {x1: X(t[i]), x2: X(t[i]), y1: Y(v + sd[i]), y2: Y(v - sd[i]), stroke: col.raw,
      "stroke-opacity": 0.45, "stroke-width": 1.5}, eb);
  });
  const g = el("g", {class: "raw" + sfx}, svg);
  d.cum.forEach((v, i) => {
    if (v === null) return;
    const c = el("circle", {cx: X(t[i]), cy: Y(v), r: 3, fill: col.raw, "data-date": d.dates[i], "data-value": v}, g);
    el("title", {}, c, `${fmtDate(d.dates[i])}: ${v.toFixed(1)} mm` +
      (sd[i] ? ` ± ${sd[i].toFixed(1)} (offset across a network gap)` : ""));
  });
}

function plotSeries(d, d2) {
  const svg = $("ts");
  clearSvg(svg);
  const W = Number(svg.getAttribute("width")), H = Number(svg.getAttribute("height"));
  const L = 55, R = 10, T = 10, B = 30;
  const t = d.t;
  const vals = seriesValues(d).concat(d2 ? seriesValues(d2) : []);
  let ymin = Math.min(...vals), ymax = Math.max(...vals);
  const pad = (ymax - ymin) * 0.08 || 1;
  ymin -= pad; ymax += pad;
  const t0 = 0, t1 = t[t.length - 1] || 1;
  const X = (x) => L + (x - t0) / (t1 - t0 || 1) * (W - L - R);
  const Y = (y) => T + (ymax - y) / (ymax - ymin) * (H - T - B);
  el("rect", {x: 0, y: 0, width: W, height: H, fill: "#fff"}, svg);
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
  if (d.ref_date) {
    const k = d.dates.indexOf(d.ref_date);
    if (k >= 0) el("line", {x1: X(t[k]), x2: X(t[k]), y1: T, y2: H - B, stroke: "#999", "stroke-dasharray": "4 3",
      class: "refDateLine"}, svg);
  }
  el("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#999"}, svg);
  el("text", {x: 12, y: T + (H - T - B) / 2, transform: `rotate(-90 12 ${T + (H - T - B) / 2})`,
    "text-anchor": "middle"}, svg, "LOS displacement (mm, + toward satellite)" +
    (d.ref_date ? `, 0 at ${fmtDate(d.ref_date)}` : ""));
  drawOne(svg, d, 1, X, Y);
  if (d2) drawOne(svg, d2, 2, X, Y);
  svg.dataset.series = JSON.stringify({row: d.row, col: d.col, dates: d.dates, cum: d.cum, cum_filt: d.cum_filt,
    second: d2 ? {row: d2.row, col: d2.col, cum: d2.cum} : null});
  $("tsTitle").textContent = `Pixel row ${d.row}, col ${d.col} (${fmtLat(d.lat)}, ${fmtLon(d.lon)}): ` +
    velText(d) + (d2 ? ` · second point row ${d2.row}, col ${d2.col}: ${velText(d2)}` : "");
}

function velText(d) {
  const m = d.model;
  if (m.vel_linear === null) return "no velocity";
  let s = `velocity ${m.vel_linear.toFixed(1)} mm/yr` + (d.vstd !== null && d.vstd !== undefined ? ` ± ${d.vstd.toFixed(1)}` : "");
  if (m.kind === "seasonal") s += ` (model linear + annual: rate ${m.vel.toFixed(1)}, amplitude ${m.annual_amp.toFixed(1)} mm)`;
  return s;
}

function modelText(m, run) {
  if (m.kind === "seasonal") return "linear + annual (the run bridged this pixel with the annual model)";
  if (m.annual_declined) return "linear (the run's model here is annual, but the data span < 1 yr: no annual term)";
  return run === "linear" ? "linear (the run's invert.model)" : "linear (the run's model at this pixel)";
}

function showPixelInfo(d, d2) {
  const rows = [["position", `${fmtLat(d.lat, 6)}, ${fmtLon(d.lon, 6)}`], ["row, col", `${d.row}, ${d.col}`],
    ["reference", d.ref ? `rows ${d.ref[0]}:${d.ref[1]}, cols ${d.ref[2]}:${d.ref[3]}` +
      (d.ref_is_run ? " (run)" : "") : "?"],
    ["model drawn", modelText(d.model, d.temporal_model)],
    ["velocity of the map (mm/yr)", d.vel_map === null ? "no data" : d.vel_map.toFixed(2)],
    ["linear fit of the series (mm/yr)", d.model.vel_linear === null ? "n/a" : d.model.vel_linear.toFixed(2)],
    ["annual amplitude (mm)", d.model.kind === "seasonal" ? d.model.annual_amp.toFixed(2) : "none"]];
  if (d2) rows.push(["second point", `row ${d2.row}, col ${d2.col}: ${fmtLat(d2.lat, 6)}, ${fmtLon(d2.lon, 6)}, ` +
    `${d2.model.vel_linear === null ? "n/a" : d2.model.vel_linear.toFixed(2)} mm/yr`]);
  for (const [k, v] of Object.entries(d.quality)) {
    rows.push([`${k}${UNITS[k] ? " (" + UNITS[k] + ")" : ""}`, v === null ? "no data" : String(+v.toPrecision(4))]);
  }
  $("pixelInfo").innerHTML = "<tr><th class='l'>quantity</th><th>value</th></tr>" +
    rows.map(([k, v]) => `<tr><td class='l'>${k}</td><td>${v}</td></tr>`).join("");
}

// ---------------------------------------------------------------- save the plot as PNG
function savePng() {
  const svg = $("ts");
  const clone = svg.cloneNode(true);
  clone.setAttribute("xmlns", SVGNS);
  for (const t of clone.querySelectorAll("text")) { t.setAttribute("font-size", "11"); t.setAttribute("font-family", "sans-serif"); t.setAttribute("fill", "#333"); }
  const W = Number(svg.getAttribute("width")), H = Number(svg.getAttribute("height"));
  const src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(new XMLSerializer().serializeToString(clone));
  const img = new Image();
  return new Promise((resolve) => {
    img.onload = () => {
      const c = document.createElement("canvas");
      c.width = W * 2; c.height = H * 2;
      const ctx = c.getContext("2d");
      ctx.scale(2, 2);
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
      ctx.drawImage(img, 0, 0, W, H);
      const url = c.toDataURL("image/png");
      K.lastPng = url;
      const a = document.createElement("a");
      a.href = url;
      a.download = `kansho_ts_r${K.series.row}_c${K.series.col}` +
        (K.series2 ? `_r${K.series2.row}_c${K.series2.col}` : "") + ".png";
      document.body.appendChild(a); a.click(); a.remove();
      resolve(url);
    };
    img.src = src;
  });
}

// ---------------------------------------------------------------- profile
let profileSeq = 0;
async function loadProfile() {
  const p = layerParams();
  p.set("line", K.state.line.map(([lon, lat]) => `${lon.toFixed(8)},${lat.toFixed(8)}`).join(";"));
  const seq = ++profileSeq;
  try {
    const d = await getJSON("/api/profile?" + p.toString());
    if (seq !== profileSeq) return;
    K.profile = d;
    plotProfile(d);
  } catch (e) {
    K.profile = null;
    setStatus(e.message, true);
  }
  K.profileLoads = (K.profileLoads || 0) + 1;
}

function plotProfile(d) {
  const svg = $("profile");
  clearSvg(svg);
  $("profileWrap").hidden = false;
  const W = Number(svg.getAttribute("width")), H = Number(svg.getAttribute("height"));
  const L = 55, R = 10, T = 10, B = 32;
  const vals = d.value.filter((v) => v !== null);
  let ymin = vals.length ? Math.min(...vals) : -1, ymax = vals.length ? Math.max(...vals) : 1;
  const pad = (ymax - ymin) * 0.08 || 1;
  ymin -= pad; ymax += pad;
  const x1 = d.length_km || 1;
  const X = (x) => L + x / x1 * (W - L - R);
  const Y = (y) => T + (ymax - y) / (ymax - ymin) * (H - T - B);
  for (const v of niceTicks(ymin, ymax, 5)) {
    el("line", {x1: L, x2: W - R, y1: Y(v), y2: Y(v), stroke: v === 0 ? "#999" : "#eee"}, svg);
    el("text", {x: L - 5, y: Y(v) + 4, "text-anchor": "end"}, svg, String(+v.toPrecision(4)));
  }
  for (const v of niceTicks(0, x1, 6)) {
    el("text", {x: X(v), y: H - B + 14, "text-anchor": "middle"}, svg, String(+v.toPrecision(4)));
  }
  el("text", {x: L + (W - L - R) / 2, y: H - 3, "text-anchor": "middle"}, svg, "distance along the line (km)");
  el("text", {x: 12, y: T + (H - T - B) / 2, transform: `rotate(-90 12 ${T + (H - T - B) / 2})`,
    "text-anchor": "middle"}, svg, `${d.layer}${d.units ? " (" + d.units + ")" : ""}`);
  el("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#999"}, svg);
  let seg = [];
  const segs = [];
  d.value.forEach((v, i) => {
    if (v === null) { if (seg.length) segs.push(seg); seg = []; return; }
    seg.push(`${X(d.distance_km[i])},${Y(v)}`);
  });
  if (seg.length) segs.push(seg);
  for (const s of segs) el("polyline", {points: s.join(" "), fill: "none", stroke: "#1f77b4", "stroke-width": 1.5,
    class: "profileValues"}, svg);
  $("profileTitle").textContent = `Profile of ${d.layer}` + (d.epoch ? ` at ${fmtDate(d.epoch)}` : "") +
    `: ${d.length_km.toFixed(2)} km, ${d.vertices.length} vertices (${fmtLat(d.vertices[0][1])}, ` +
    `${fmtLon(d.vertices[0][0])} to ${fmtLat(d.vertices[d.vertices.length - 1][1])}, ` +
    `${fmtLon(d.vertices[d.vertices.length - 1][0])})`;
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
  opts.push(["vel_range", "velocity over the date range"]);
  for (const [v, label] of opts) { const o = document.createElement("option"); o.value = v; o.textContent = label; sel.appendChild(o); }
  initSeriesControls();
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
    const sym = ["vel", "cum", "vel_range"].includes(sel.value) || sel.value === "vintercept";
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
  $("refPick").addEventListener("click", () => setClickMode(K.state.clickMode === "ref" ? "point" : "ref"));
  $("refReset").addEventListener("click", () => setRef(null));
  changed();
}

function dateOptions(select, blank) {
  const o0 = document.createElement("option"); o0.value = ""; o0.textContent = blank; select.appendChild(o0);
  for (const d of K.meta.dates) {
    const o = document.createElement("option"); o.value = String(d); o.textContent = fmtDate(d); select.appendChild(o);
  }
}

function initSeriesControls() {
  for (const b of document.querySelectorAll("#clickModes button")) {
    b.addEventListener("click", () => setClickMode(b.dataset.mode));
  }
  $("clearPoint2").addEventListener("click", () => { K.state.pixel2 = null; K.series2 = null; drawOverlays(); showSeries(); });
  dateOptions($("refDate"), "none (as the run: 0 at the first epoch)");
  $("refDate").addEventListener("change", () => { K.state.refDate = $("refDate").value ? Number($("refDate").value) : null; reloadSeries(); });
  dateOptions($("rangeD1"), "from");
  dateOptions($("rangeD2"), "to");
  const rangeChanged = () => {
    const a = $("rangeD1").value, b = $("rangeD2").value;
    K.state.range = a && b ? [Number(a), Number(b)] : null;
    reloadSeries();
    if (K.state.layer === "vel_range" || K.state.line.length >= 2) loadMap();
  };
  $("rangeD1").addEventListener("change", rangeChanged);
  $("rangeD2").addEventListener("change", rangeChanged);
  $("rangeClear").addEventListener("click", () => { $("rangeD1").value = ""; $("rangeD2").value = ""; rangeChanged(); });
  $("savePng").addEventListener("click", () => savePng());
  $("zoomIn").addEventListener("click", () => { const v = K.state.view; zoomAt(2, v.r0 + v.h / 2, v.c0 + v.w / 2); });
  $("zoomOut").addEventListener("click", () => { const v = K.state.view; zoomAt(0.5, v.r0 + v.h / 2, v.c0 + v.w / 2); });
  $("zoomReset").addEventListener("click", () => { K.state.view = fullView(); K.zoom = 1; redrawMap(); loadMap(); });
  $("profileClear").addEventListener("click", () => {
    K.state.line = []; K.profile = null; drawOverlays(); $("profileWrap").hidden = true;
  });
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
    epoch: m.dates.length - 1, vmin: null, vmax: null, ref: null, pixel: null, pixel2: null, refDate: null,
    range: null, line: [], clickMode: "point", view: null};
  K.state.view = fullView();
  K.zoom = 1;
  $("masked").checked = m.has_mask;
  $("runName").textContent = m.root;
  $("runInfo").textContent = `${m.width} × ${m.height} px · ${m.dates.length} epochs ${fmtDate(m.dates[0])} – ` +
    `${fmtDate(m.dates[m.dates.length - 1])}`;
  $("reportLink").hidden = !m.files["report.html"];
  sizeCanvas();
  hill.onload = () => { hillReady = true; redrawMap(); };
  hill.onerror = () => { hillReady = false; };
  hill.src = `/api/hillshade.png?max_px=${mapMaxPx(null)}`;
  initControls();
  initMapEvents();
  showRef();
  loadNetwork();
  loadQC();
  K.ready = true;
}

window.addEventListener("load", init);
