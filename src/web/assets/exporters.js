// The exporters page: every exporter's rate, protocol, templates, sampling
// (flagged when never announced), sequence losses and last contact; kernel
// drops per worker; storage and retention. Refreshed every 10 s.
"use strict";

(() => {
  const { $, el, clear, si, count, bytes, when, ago } = wvnr;

  function render(d) {
    const now = d.updated_ms || Date.now();
    const body = clear($("exporters").tBodies[0]);
    for (const e of d.exporters) {
      const sampling = e.sampling_unknown
        ? el("span", { class: "flag", title: "never announced: counts may be sampled and not corrected" }, "none known")
        : `1:${e.sampling}`;
      body.append(el("tr", { class: e.stale ? "stale" : "" },
        el("td", {}, e.address || "?"),
        el("td", {}, e.source),
        el("td", {}, e.protocol),
        el("td", { class: "num" }, si(e.flow_rate)),
        el("td", { class: "num" }, count(e.datagrams)),
        el("td", { class: "num" }, count(e.flows)),
        el("td", { class: "num" }, bytes(e.bytes)),
        el("td", { class: "num" }, count(e.templates)),
        el("td", {}, sampling),
        el("td", { class: e.missing_flows ? "num warn" : "num" }, count(e.missing_flows)),
        el("td", { class: e.missing_datagrams ? "num warn" : "num" }, count(e.missing_datagrams)),
        el("td", { class: e.decode_errors ? "num warn" : "num" }, count(e.decode_errors)),
        el("td", { title: e.last_seen_ms ? when(e.last_seen_ms / 1000) : "" }, e.last_seen_ms ? ago(e.last_seen_ms, now) : "never")));
    }
    $("no-exporters").hidden = d.exporters.length > 0;
    const workers = clear($("workers").tBodies[0]);
    for (const w of d.workers) {
      workers.append(el("tr", {},
        el("td", {}, w.id),
        el("td", { class: "num" }, count(w.datagrams)),
        el("td", { class: "num" }, count(w.flows)),
        el("td", { class: w.kernel_drops ? "num warn" : "num" }, count(w.kernel_drops)),
        el("td", { class: w.dropped ? "num warn" : "num" }, count(w.dropped)),
        el("td", { class: w.store_errors ? "num warn" : "num" }, count(w.store_errors)),
        el("td", { class: "num" }, bytes(w.rcvbuf))));
    }
    const s = d.storage;
    const r = d.retention;
    const rows = [
      ["used", bytes(s.bytes)],
      ["segments", count(s.segments)],
      ["buckets", count(s.buckets)],
      ["oldest bucket", s.oldest_bucket ? when(s.oldest_bucket) : "–"],
      ["newest bucket", s.newest_bucket ? when(s.newest_bucket) : "–"],
      ["keep for", r.max_age_secs ? `${(r.max_age_secs / 86400).toFixed(1)} days` : "no age limit"],
      ["size cap", r.max_bytes ? bytes(r.max_bytes) : "no size limit"],
    ];
    const storage = clear($("storage").tBodies[0]);
    for (const [k, v] of rows) storage.append(el("tr", {}, el("th", {}, k), el("td", { class: "num" }, v)));
    $("live-state").textContent = d.updated_ms ? `collector status from ${when(d.updated_ms / 1000)}` : "no live collector status";
  }

  async function refresh() {
    try {
      render(await wvnr.getJSON("/api/exporters"));
      $("error").hidden = true;
    } catch (err) {
      $("error").textContent = err.message;
      $("error").hidden = false;
    }
    setTimeout(refresh, 10000);
  }

  refresh();
})();
