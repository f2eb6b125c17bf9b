// Helpers shared by the pages: fetching the API, formatting numbers and
// times (in the viewer's time zone), building DOM without innerHTML.
"use strict";

const wvnr = (() => {
  async function getJSON(url) {
    const res = await fetch(url, { headers: { Accept: "application/json" } });
    let body = null;
    try {
      body = await res.json();
    } catch (_) {
      body = null;
    }
    if (!res.ok) {
      const err = new Error((body && body.error) || `${res.status} ${res.statusText}`);
      err.status = res.status;
      err.column = body && body.column;
      throw err;
    }
    return body;
  }

  async function sendJSON(method, url, token, payload) {
    const headers = { "X-Wvnr-Token": token || "" };
    const init = { method, headers };
    if (payload !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    const res = await fetch(url, init);
    if (res.status === 204) return null;
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      const err = new Error((body && body.error) || `${res.status} ${res.statusText}`);
      err.column = body && body.column;
      throw err;
    }
    return body;
  }

  const SI = ["", "k", "M", "G", "T", "P", "E"];

  // 1234567 -> "1.23 M"
  function si(v, digits = 3) {
    if (!isFinite(v)) return "–";
    const neg = v < 0;
    let x = Math.abs(v);
    let i = 0;
    while (x >= 1000 && i < SI.length - 1) {
      x /= 1000;
      i++;
    }
    let s = x === 0 ? "0" : x.toPrecision(digits);
    if (s.includes("e")) s = String(Math.round(x));
    if (s.includes(".")) s = s.replace(/\.?0+$/, "");
    return (neg ? "−" : "") + s + (SI[i] ? " " + SI[i] : "");
  }

  function count(v) {
    return Number(v).toLocaleString();
  }

  function bytes(v) {
    const s = si(v);
    return /[a-zA-Z]$/.test(s) ? `${s}B` : `${s} B`;
  }

  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const fmtFull = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  const fmtTime = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const fmtDay = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

  // Unix seconds -> local date and time.
  function when(s) {
    return fmtFull.format(new Date(s * 1000));
  }

  function clock(s) {
    return fmtTime.format(new Date(s * 1000));
  }

  function day(s) {
    return fmtDay.format(new Date(s * 1000));
  }

  function ago(ms, nowMs) {
    const s = Math.max(0, Math.round((nowMs - ms) / 1000));
    if (s < 90) return `${s} s ago`;
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    if (s < 129600) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} d ago`;
  }

  // el("td", {class: "num"}, "text", child...) — text is always set as text, never parsed as HTML.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      // Through the CSSOM: the page's CSP forbids style attributes.
      else if (k === "style") Object.assign(node.style, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function $(id) {
    return document.getElementById(id);
  }

  return { getJSON, sendJSON, si, count, bytes, when, clock, day, ago, zone, el, clear, $ };
})();
