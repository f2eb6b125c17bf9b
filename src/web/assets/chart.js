// A stacked step-area chart on a canvas: positive channels stacked above the
// axis, negative ones below, hover values, click-a-slot and brush-to-select.
// The stacked areas are drawn once per data change into an offscreen canvas;
// hover and brushing only copy it back and draw the overlay, so they stay
// smooth with 600 points x 21 channels.
"use strict";

class StackedChart {
  constructor(canvas, tooltip, onSelect) {
    this.canvas = canvas;
    this.tooltip = tooltip;
    this.onSelect = onSelect;
    this.base = document.createElement("canvas");
    this.data = null;
    this.selection = null;
    this.hover = null;
    this.brush = null;
    this.frame = 0;
    this.margin = { left: 70, right: 14, top: 12, bottom: 26 };
    canvas.addEventListener("mousemove", (e) => this.mouseMove(e));
    canvas.addEventListener("mouseleave", () => {
      this.hover = null;
      this.tooltip.hidden = true;
      this.schedule();
    });
    canvas.addEventListener("mousedown", (e) => this.mouseDown(e));
    window.addEventListener("mouseup", (e) => this.mouseUp(e));
    new ResizeObserver(() => this.render()).observe(canvas);
  }

  // data: {points, step, end, seconds, unit, series: [{name, colour, sign, values, visible}], total}
  setData(data) {
    this.data = data;
    this.render();
  }

  setSelection(sel) {
    this.selection = sel;
    this.schedule();
  }

  geometry() {
    const d = this.data;
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    const m = this.margin;
    const t0 = d.points.length ? d.points[0] : 0;
    const t1 = d.points.length ? d.points[d.points.length - 1] + d.step : 1;
    return { w, h, m, t0, t1, pw: Math.max(1, w - m.left - m.right), ph: Math.max(1, h - m.top - m.bottom) };
  }

  xOf(g, t) {
    return g.m.left + ((t - g.t0) / (g.t1 - g.t0)) * g.pw;
  }

  tOf(g, x) {
    return g.t0 + ((x - g.m.left) / g.pw) * (g.t1 - g.t0);
  }

  // Stacked tops per visible series: [{series, lower: Float64Array, upper: Float64Array}]
  stack() {
    const d = this.data;
    const n = d.points.length;
    const pos = new Float64Array(n);
    const neg = new Float64Array(n);
    const layers = [];
    for (const s of d.series) {
      if (!s.visible) continue;
      const acc = s.sign < 0 ? neg : pos;
      const lower = Float64Array.from(acc);
      for (let i = 0; i < n; i++) acc[i] += s.sign < 0 ? -s.values[i] : s.values[i];
      layers.push({ series: s, lower, upper: Float64Array.from(acc) });
    }
    let max = 0;
    let min = 0;
    for (let i = 0; i < n; i++) {
      max = Math.max(max, pos[i]);
      min = Math.min(min, neg[i]);
    }
    return { layers, max, min };
  }

  render() {
    if (!this.data) return;
    const dpr = window.devicePixelRatio || 1;
    const g = this.geometry();
    for (const c of [this.canvas, this.base]) {
      c.width = Math.round(g.w * dpr);
      c.height = Math.round(g.h * dpr);
    }
    const ctx = this.base.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, g.w, g.h);
    const { layers, max, min } = this.stack();
    const scale = niceScale(min, max);
    this.scale = scale;
    const yOf = (v) => g.m.top + ((scale.max - v) / (scale.max - scale.min)) * g.ph;
    g.yOf = yOf;

    // Grid and y labels.
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#555";
    ctx.strokeStyle = "#e3e3e3";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const v of scale.ticks) {
      const y = Math.round(yOf(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(g.m.left, y);
      ctx.lineTo(g.m.left + g.pw, y);
      ctx.stroke();
      ctx.fillText(wvnr.si(v), g.m.left - 6, y);
    }
    this.drawTimeAxis(ctx, g);

    // Areas, as steps: point i covers [t_i, t_i + step).
    const d = this.data;
    const n = d.points.length;
    const xs = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) xs[i] = this.xOf(g, d.points[i]);
    xs[n] = this.xOf(g, d.points[n - 1] + d.step);
    let drawn = 0;
    for (const layer of layers) {
      ctx.beginPath();
      for (let i = 0; i < n; i++) {
        const y = yOf(layer.upper[i]);
        if (i === 0) ctx.moveTo(xs[0], y);
        else ctx.lineTo(xs[i], y);
        ctx.lineTo(xs[i + 1], y);
      }
      for (let i = n - 1; i >= 0; i--) {
        const y = yOf(layer.lower[i]);
        ctx.lineTo(xs[i + 1], y);
        ctx.lineTo(xs[i], y);
      }
      ctx.closePath();
      ctx.fillStyle = layer.series.colour;
      ctx.fill();
      drawn++;
    }
    // The last point is still filling up: veil it.
    if (n && d.seconds[n - 1] < d.step) {
      ctx.fillStyle = "rgba(255,255,255,0.45)";
      ctx.fillRect(xs[n - 1], g.m.top, xs[n] - xs[n - 1], g.ph);
    }
    // The zero axis.
    ctx.strokeStyle = "#333";
    ctx.beginPath();
    const y0 = Math.round(yOf(0)) + 0.5;
    ctx.moveTo(g.m.left, y0);
    ctx.lineTo(g.m.left + g.pw, y0);
    ctx.stroke();
    ctx.save();
    ctx.translate(12, g.m.top + g.ph / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillStyle = "#333";
    ctx.fillText(d.unit, 0, 0);
    ctx.restore();
    this.canvas.dataset.layers = String(drawn);
    this.canvas.dataset.points = String(n);
    this.g = g;
    this.paint();
  }

  drawTimeAxis(ctx, g) {
    const span = g.t1 - g.t0;
    const steps = [300, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];
    const want = Math.max(2, Math.floor(g.pw / 90));
    const every = steps.find((s) => span / s <= want) || 604800;
    const off = -new Date(g.t0 * 1000).getTimezoneOffset() * 60;
    let t = Math.ceil((g.t0 + off) / every) * every - off;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    ctx.fillStyle = "#555";
    for (; t < g.t1; t += every) {
      const x = Math.round(this.xOf(g, t)) + 0.5;
      ctx.strokeStyle = "#eee";
      ctx.beginPath();
      ctx.moveTo(x, g.m.top);
      ctx.lineTo(x, g.m.top + g.ph);
      ctx.stroke();
      const local = new Date(t * 1000);
      const midnight = local.getHours() === 0 && local.getMinutes() === 0;
      ctx.fillText(every >= 86400 || midnight ? wvnr.day(t) : wvnr.clock(t), x, g.m.top + g.ph + 6);
    }
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.paint();
    });
  }

  // Copies the stacked areas back and draws selection, brush and hover on top.
  paint() {
    const g = this.g;
    if (!g) return;
    const dpr = window.devicePixelRatio || 1;
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.drawImage(this.base, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const band = (from, to, fill, stroke) => {
      const x0 = Math.max(g.m.left, this.xOf(g, from));
      const x1 = Math.min(g.m.left + g.pw, this.xOf(g, to));
      if (x1 <= x0) return;
      ctx.fillStyle = fill;
      ctx.fillRect(x0, g.m.top, x1 - x0, g.ph);
      ctx.strokeStyle = stroke;
      ctx.strokeRect(x0 + 0.5, g.m.top + 0.5, x1 - x0 - 1, g.ph - 1);
    };
    if (this.selection) band(this.selection.from, this.selection.to, "rgba(30,90,200,0.15)", "#1e5ac8");
    if (this.brush) {
      const [a, b] = this.brushRange();
      band(a, b, "rgba(30,90,200,0.25)", "#1e5ac8");
    }
    if (this.hover !== null && !this.brush) {
      const t = this.data.points[this.hover];
      band(t, t + this.data.step, "rgba(0,0,0,0.07)", "rgba(0,0,0,0.25)");
    }
  }

  slotAt(x) {
    const g = this.g;
    const d = this.data;
    if (!g || !d.points.length || x < g.m.left || x > g.m.left + g.pw) return null;
    const i = Math.floor((this.tOf(g, x) - g.t0) / d.step);
    return Math.min(d.points.length - 1, Math.max(0, i));
  }

  offsetX(e) {
    return e.clientX - this.canvas.getBoundingClientRect().left;
  }

  mouseDown(e) {
    const i = this.slotAt(this.offsetX(e));
    if (i === null || e.button !== 0) return;
    this.brush = { start: i, end: i };
    e.preventDefault();
    this.schedule();
  }

  brushRange() {
    const d = this.data;
    const a = Math.min(this.brush.start, this.brush.end);
    const b = Math.max(this.brush.start, this.brush.end);
    return [d.points[a], d.points[b] + d.step];
  }

  mouseUp() {
    if (!this.brush) return;
    const [from, to] = this.brushRange();
    this.brush = null;
    this.selection = { from, to };
    this.schedule();
    this.onSelect(from, Math.min(to, this.data.end));
  }

  mouseMove(e) {
    const x = this.offsetX(e);
    const i = this.slotAt(x);
    if (this.brush && i !== null) this.brush.end = i;
    if (i !== this.hover) {
      this.hover = i;
      this.showTooltip(i, e);
    } else if (i !== null) {
      this.placeTooltip(e);
    }
    this.schedule();
  }

  showTooltip(i, e) {
    const tip = this.tooltip;
    if (i === null) {
      tip.hidden = true;
      return;
    }
    const d = this.data;
    const t = d.points[i];
    const el = wvnr.el;
    const rows = d.series
      .filter((s) => s.visible && s.values[i] > 0)
      .sort((a, b) => b.values[i] - a.values[i])
      .slice(0, 12)
      .map((s) =>
        el("tr", {},
          el("td", {}, el("span", { class: "swatch", style: { background: s.colour } }), s.name),
          el("td", { class: "num" }, (s.sign < 0 ? "−" : "") + wvnr.si(s.values[i]))));
    const partial = d.seconds[i] < d.step ? " (so far)" : "";
    wvnr.clear(tip).append(
      el("div", { class: "tip-time" }, `${wvnr.when(t)} – ${wvnr.clock(t + d.step)}${partial}`),
      el("table", {}, rows, el("tr", { class: "tip-total" },
        el("td", {}, "total"), el("td", { class: "num" }, wvnr.si(d.total.values[i]) + " " + d.unit))));
    tip.hidden = false;
    this.placeTooltip(e);
  }

  placeTooltip(e) {
    const tip = this.tooltip;
    const box = this.canvas.getBoundingClientRect();
    const x = e.clientX - box.left;
    const left = x + 16 + tip.offsetWidth > box.width ? x - 16 - tip.offsetWidth : x + 16;
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${Math.max(0, e.clientY - box.top - 10)}px`;
  }
}

// Round axis bounds and 4-6 ticks.
function niceScale(min, max) {
  if (max <= min) max = min + 1;
  const rough = (max - min) / 5;
  const mag = Math.pow(10, Math.floor(Math.log10(rough)));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => (max - min) / s <= 6) || 10 * mag;
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(Math.abs(v) < step / 1e6 ? 0 : v);
  return { min: lo, max: hi, ticks };
}

// A small line graph of one channel's values.
function sparkline(canvas, values, colour) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 120;
  const h = canvas.clientHeight || 24;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const max = Math.max(1e-9, ...values);
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = values.length > 1 ? (i / (values.length - 1)) * (w - 2) + 1 : w / 2;
    const y = h - 2 - (v / max) * (h - 4);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.strokeStyle = colour;
  ctx.lineWidth = 1.5;
  ctx.stroke();
}
