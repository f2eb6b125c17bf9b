// The overview page: profile graph, legend, channel table with sparklines,
// drill-down tables, flow listing and channel editing. The URL holds the
// whole view (profile, range, unit, selection, filter, order, hidden
// channels), so a copied link shows the same thing.
"use strict";

(() => {
  const { $, el, clear, si, count, bytes, when, clock } = wvnr;
  const DIMENSIONS = [
    ["src_addr", "Source address"], ["dst_addr", "Destination address"],
    ["src_port", "Source port"], ["dst_port", "Destination port"],
    ["protocol", "Protocol"], ["exporter", "Exporter"],
    ["in_if", "Input interface"], ["out_if", "Output interface"],
    ["src_as", "Source AS"], ["dst_as", "Destination AS"],
  ];
  const UNIT_LABEL = { bits: "bits/s", packets: "packets/s", flows: "flows/s" };
  const POLL_MS = 10000;

  const state = readURL();
  let profiles = null;
  let overview = null;
  let pollTimer = 0;
  let drillGeneration = 0;
  const chart = new StackedChart($("chart"), $("tooltip"), (from, to) => select(from, to));

  function readURL() {
    const q = new URLSearchParams(location.search);
    const num = (v) => (v && /^\d+$/.test(v) ? Number(v) : null);
    const sel = (q.get("sel") || "").split("-").map(num);
    return {
      profile: q.get("profile") || "",
      range: q.get("from") ? null : q.get("range") || "24h",
      from: num(q.get("from")),
      to: num(q.get("to")),
      unit: UNIT_LABEL[q.get("unit")] ? q.get("unit") : "bits",
      sel: sel.length === 2 && sel[0] !== null && sel[1] > sel[0] ? { from: sel[0], to: sel[1] } : null,
      filter: q.get("filter") || "",
      order: ["bytes", "packets", "flows"].includes(q.get("order")) ? q.get("order") : "bytes",
      hidden: new Set((q.get("hide") || "").split(",").filter(Boolean)),
    };
  }

  function writeURL() {
    const q = new URLSearchParams();
    if (state.profile) q.set("profile", state.profile);
    if (state.range) q.set("range", state.range);
    else {
      q.set("from", state.from);
      q.set("to", state.to);
    }
    q.set("unit", state.unit);
    if (state.sel) q.set("sel", `${state.sel.from}-${state.sel.to}`);
    if (state.filter) q.set("filter", state.filter);
    if (state.order !== "bytes") q.set("order", state.order);
    if (state.hidden.size) q.set("hide", [...state.hidden].join(","));
    history.replaceState(null, "", `?${q}`);
  }

  function windowParams() {
    return state.range ? `range=${encodeURIComponent(state.range)}` : `from=${state.from}&to=${state.to}`;
  }

  function toLocalInput(s) {
    const d = new Date(s * 1000);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function showError(node, err) {
    node.textContent = err ? String(err.message || err) : "";
    node.hidden = !err;
  }

  async function loadProfiles() {
    profiles = await wvnr.getJSON("/api/profiles");
    const select = clear($("profile"));
    for (const p of profiles.profiles) select.append(el("option", { value: p.name }, p.name));
    if (!profiles.profiles.some((p) => p.name === state.profile) && profiles.profiles.length) {
      state.profile = profiles.profiles[0].name;
    }
    select.value = state.profile;
    $("editor").hidden = !profiles.editable;
    document.querySelectorAll(".edit-col").forEach((n) => (n.hidden = !profiles.editable));
  }

  async function loadOverview() {
    clearTimeout(pollTimer);
    if (!state.profile) {
      showError($("overview-error"), new Error("There is no profile to show."));
      return;
    }
    const url = `/api/overview?profile=${encodeURIComponent(state.profile)}&unit=${state.unit}&${windowParams()}`;
    $("overview-csv").href = `${url}&format=csv`;
    try {
      overview = await wvnr.getJSON(url);
      showError($("overview-error"), null);
      draw();
    } catch (err) {
      showError($("overview-error"), err);
    }
    // Only a window that ends now changes: keep it current, the open bucket included.
    if (state.range) pollTimer = setTimeout(loadOverview, POLL_MS);
  }

  function draw() {
    const o = overview;
    const series = o.channels.map((c) => ({ ...c, visible: !state.hidden.has(c.name) }));
    chart.setData({ points: o.points, step: o.step, end: o.end, seconds: o.seconds, unit: UNIT_LABEL[o.unit], series, total: o.total });
    chart.setSelection(state.sel);
    drawLegend(series);
    drawChannelTable(series);
    $("live-state").textContent = o.live ? `live · ${clock(o.end)}` : `data until ${when(o.end)}`;
    $("from").value = toLocalInput(o.from);
    $("to").value = toLocalInput(o.to);
    document.querySelectorAll("#ranges button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.range === state.range)));
  }

  function drawLegend(series) {
    const legend = clear($("legend"));
    for (const s of series) {
      legend.append(el("li", {
        class: "legend-item" + (s.visible ? "" : " off"),
        dataset: { channel: s.name },
        title: s.filter,
        onclick: () => {
          if (state.hidden.has(s.name)) state.hidden.delete(s.name);
          else state.hidden.add(s.name);
          writeURL();
          draw();
        },
      }, el("span", { class: "swatch", style: { background: s.colour } }), (s.sign < 0 ? "− " : "") + s.name));
    }
  }

  function drawChannelTable(series) {
    const body = clear($("channels").tBodies[0]);
    const secs = overview.seconds.reduce((a, b) => a + b, 0) || 1;
    const avg = (sum) => (state.unit === "bits" ? sum.bytes * 8 : state.unit === "packets" ? sum.packets : sum.flows) / secs;
    const rows = series.concat([{ name: "total", filter: "all flows", colour: "#444", sign: 1, values: overview.total.values, sum: overview.total.sum, total: true }]);
    for (const s of rows) {
      const spark = el("canvas", { class: "spark" });
      const tr = el("tr", { class: s.total ? "total" : "" },
        el("td", {}, el("span", { class: "swatch", style: { background: s.colour } }), s.name),
        el("td", {}, el("code", {}, s.filter)),
        el("td", {}, spark),
        el("td", { class: "num" }, `${si(avg(s.sum))} ${UNIT_LABEL[state.unit]}`),
        el("td", { class: "num" }, count(s.sum.flows)),
        el("td", { class: "num" }, count(s.sum.packets)),
        el("td", { class: "num" }, bytes(s.sum.bytes)),
        profiles.editable && !s.total ? editCell(s) : el("td", { class: "edit-col", hidden: !profiles.editable }));
      body.append(tr);
      sparkline(spark, s.values, s.colour);
    }
  }

  function editCell(s) {
    const path = `/api/profiles/${encodeURIComponent(state.profile)}/channels/${encodeURIComponent(s.name)}`;
    const colour = el("input", { type: "color", value: s.colour, title: "colour", "aria-label": `colour of ${s.name}` });
    colour.addEventListener("change", () => edit("PATCH", path, { colour: colour.value }));
    const del = el("button", { class: "danger", title: `delete ${s.name}`, onclick: () => {
      if (confirm(`Delete channel ${s.name}? Its history stays in the store.`)) edit("DELETE", path);
    } }, "delete");
    return el("td", { class: "edit-col" }, colour, " ", del);
  }

  async function edit(method, path, payload) {
    try {
      await wvnr.sendJSON(method, path, sessionStorage.getItem("wvnr-token"), payload);
      showError($("edit-error"), null);
      await loadProfiles();
      await loadOverview();
      return true;
    } catch (err) {
      showError($("edit-error"), err);
      return false;
    }
  }

  function select(from, to) {
    state.sel = { from, to };
    writeURL();
    loadDrill();
  }

  function drillParams() {
    const f = state.filter ? `&filter=${encodeURIComponent(state.filter)}` : "";
    return `from=${state.sel.from}&to=${state.sel.to}${f}`;
  }

  function showFilterError(err) {
    const box = $("filter-error");
    if (!err) {
      box.hidden = true;
      return;
    }
    box.textContent = err.column
      ? `${state.filter}\n${" ".repeat(Math.max(0, err.column - 1))}^ ${err.message}`
      : err.message;
    box.hidden = false;
  }

  async function loadDrill() {
    const gen = ++drillGeneration;
    chart.setSelection(state.sel);
    if (!state.sel) return;
    $("drill-hint").hidden = true;
    $("sel-label").textContent = `${when(state.sel.from)} – ${when(state.sel.to)}`;
    const base = drillParams();
    // Every table from one scan of the window; the listing runs beside it.
    const dims = DIMENSIONS.map(([dim]) => dim).join(",");
    const tops = wvnr.getJSON(`/api/drilldown?${base}&dimensions=${dims}&order=${state.order}&limit=10`);
    const flowsUrl = `/api/flows?${base}&limit=50`;
    const flows = wvnr.getJSON(flowsUrl);
    let results;
    try {
      results = await Promise.all([tops, flows]);
    } catch (err) {
      if (gen !== drillGeneration) return;
      showFilterError(err);
      clear($("tops"));
      clear($("flows").tBodies[0]);
      $("flows-note").textContent = "";
      $("flows-csv").hidden = true;
      return;
    }
    if (gen !== drillGeneration) return;
    showFilterError(null);
    const [multi, list] = results;
    const box = clear($("tops"));
    multi.tables.forEach((t, i) => box.append(topTable(DIMENSIONS[i], { total: multi.total, rows: t.rows })));
    drawFlows(list);
    $("flows-csv").href = `${flowsUrl}&format=csv`;
    $("flows-csv").hidden = false;
  }

  function topTable([dim, title], t) {
    const csv = `/api/drilldown?${drillParams()}&dimension=${dim}&order=${state.order}&limit=100&format=csv`;
    const total = t.total[state.order] || 0;
    const body = el("tbody", {}, t.rows.map((r) =>
      el("tr", {},
        el("td", {}, r.key),
        el("td", { class: "num" }, count(r.flows)),
        el("td", { class: "num" }, count(r.packets)),
        el("td", { class: "num" }, bytes(r.bytes)),
        el("td", { class: "num" }, si(r.bps)),
        el("td", { class: "num" }, total ? `${((100 * r[state.order]) / total).toFixed(1)}%` : "–"))));
    if (!t.rows.length) body.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "no flows")));
    return el("table", { class: "data top small", dataset: { dimension: dim } },
      el("caption", {}, title, " ", el("a", { class: "csv", href: csv }, "CSV")),
      el("thead", {}, el("tr", {}, el("th", {}, "key"), el("th", { class: "num" }, "flows"),
        el("th", { class: "num" }, "packets"), el("th", { class: "num" }, "bytes"),
        el("th", { class: "num" }, "bits/s"), el("th", { class: "num" }, `% ${state.order}`))),
      body);
  }

  function drawFlows(list) {
    const body = clear($("flows").tBodies[0]);
    const endpoint = (a, p) => (a.includes(":") ? `[${a}]:${p}` : `${a}:${p}`);
    for (const f of list.flows) {
      body.append(el("tr", {},
        el("td", {}, when(f.first_ms / 1000)),
        el("td", { class: "num" }, `${(f.duration_ms / 1000).toFixed(1)} s`),
        el("td", {}, f.protocol),
        el("td", {}, endpoint(f.src_addr, f.src_port)),
        el("td", {}, endpoint(f.dst_addr, f.dst_port)),
        el("td", {}, el("code", {}, f.tcp_flags)),
        el("td", { class: "num" }, count(f.packets)),
        el("td", { class: "num" }, bytes(f.bytes)),
        el("td", {}, f.exporter)));
    }
    $("flows-note").textContent = `${list.flows.length} of ${count(list.total.flows)} matching flows shown.`;
  }

  function wire() {
    $("zone").textContent = wvnr.zone;
    $("profile").addEventListener("change", (e) => {
      state.profile = e.target.value;
      state.hidden.clear();
      writeURL();
      loadOverview();
    });
    $("unit").value = state.unit;
    $("unit").addEventListener("change", (e) => {
      state.unit = e.target.value;
      writeURL();
      loadOverview();
    });
    document.querySelectorAll("#ranges button").forEach((b) =>
      b.addEventListener("click", () => {
        state.range = b.dataset.range;
        state.from = state.to = null;
        writeURL();
        loadOverview();
      }));
    $("custom").addEventListener("click", () => {
      const from = Math.floor(new Date($("from").value).getTime() / 1000);
      const to = Math.floor(new Date($("to").value).getTime() / 1000);
      if (!(from < to)) {
        showError($("overview-error"), new Error("Pick a start before the end."));
        return;
      }
      Object.assign(state, { range: null, from, to });
      writeURL();
      loadOverview();
    });
    $("filter").value = state.filter;
    $("order").value = state.order;
    $("filter-form").addEventListener("submit", (e) => {
      e.preventDefault();
      state.filter = $("filter").value.trim();
      state.order = $("order").value;
      writeURL();
      if (state.sel) loadDrill();
    });
    $("token").value = sessionStorage.getItem("wvnr-token") || "";
    $("token").addEventListener("input", (e) => sessionStorage.setItem("wvnr-token", e.target.value));
    $("add-channel").addEventListener("submit", (e) => {
      e.preventDefault();
      const f = new FormData(e.target);
      const payload = { name: f.get("name"), filter: f.get("filter") || "any", colour: f.get("colour"), sign: f.get("sign") };
      edit("POST", `/api/profiles/${encodeURIComponent(state.profile)}/channels`, payload).then((ok) => ok && e.target.reset());
    });
  }

  async function start() {
    wire();
    try {
      await loadProfiles();
    } catch (err) {
      showError($("overview-error"), err);
      return;
    }
    writeURL();
    await loadOverview();
    if (state.sel) loadDrill();
  }

  start();
})();
