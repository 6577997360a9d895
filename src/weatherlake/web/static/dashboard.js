// weatherlake dashboard: fetches the JSON API and renders it. Every piece of text from the
// data goes into the page through textContent (never innerHTML), so a city name cannot
// inject markup or script. Plotly draws the figures the API builds.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const state = {
    city: "",
    defaultCities: config.defaultCities || [],
    hours: 48,
    refreshSeconds: config.refreshSeconds,
    paused: config.refreshSeconds === 0,
    timer: null,
    running: false,
  };
  // Plotly's script is async (see dashboard.html): charts wait for it, nothing else does.
  const plotlyReady = new Promise((resolve, reject) => {
    if (window.Plotly) return resolve(window.Plotly);
    const script = document.getElementById("plotly-js");
    script.addEventListener("load", () => resolve(window.Plotly));
    script.addEventListener("error", () => reject(new Error("Plotly's JavaScript did not load")));
  });
  plotlyReady.catch(() => {}); // reported by each chart panel, not as an unhandled rejection

  // --- small helpers ------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fmt(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    return typeof value === "number" ? value.toFixed(digits === undefined ? 1 : digits) : String(value);
  }

  function when(iso) {
    if (!iso) return "–";
    return String(iso).replace("T", " ").replace(/(\.\d+)?Z$/, "");
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    if (seconds < 172800) return Math.round(seconds / 3600) + " h";
    return Math.round(seconds / 86400) + " d";
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== "" && value !== null && value !== undefined) search.set(key, value);
    }
    const text = search.toString();
    return text ? "?" + text : "";
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) {
      const message = body && body.error ? body.error.message : response.statusText;
      throw new Error(message);
    }
    return body;
  }

  function panel(id) {
    const root = document.getElementById(id);
    return {
      root,
      badge: root.querySelector(".badge"),
      updated: root.querySelector(".updated"),
      state: root.querySelector(".state"),
    };
  }

  function showMeta(p, body) {
    performance.mark("rendered:" + p.root.id); // how long each panel takes (see docs/serving.md, benchmark)
    const source = body.source;
    p.badge.textContent = source === "speed" ? "live" : source || "";
    p.badge.className = "badge " + (source === "speed" ? "live" : source || "");
    const parts = ["updated " + new Date().toLocaleTimeString()];
    const fresh = body.freshness || {};
    if (fresh.batch && fresh.batch.cutoff) parts.push("batch to " + when(fresh.batch.cutoff));
    if (fresh.speed && fresh.speed.state === "live") parts.push("live " + age(fresh.speed.age_seconds) + " ago");
    else if (fresh.speed) parts.push("live: " + fresh.speed.state);
    p.updated.textContent = parts.join(" · ");
    p.state.className = "state muted";
    p.state.textContent = body.state === "ready" ? "" : body.message || "No data.";
    p.root.dataset.state = body.state;
  }

  function showError(p, error) {
    p.state.className = "state error";
    p.state.textContent = "Could not load: " + error.message;
    p.root.dataset.state = "error";
  }

  function cityParams() {
    return state.city ? { cities: state.city } : {};
  }

  // --- loaders ------------------------------------------------------------------------------

  async function loadCities() {
    const body = await getJSON("/api/cities");
    const select = document.getElementById("city-select");
    const wanted = state.city;
    const options = [el("option", { value: "" }, "Default cities")];
    const withData = body.data.filter((row) => row.batch || row.live);
    const configured = withData.filter((row) => row.configured);
    state.defaultCities = (configured.length ? configured : withData).slice(0, 10).map((row) => row.city_id);
    for (const row of withData) {
      const where = row.station ? " (station)" : row.country ? ", " + row.country : "";
      options.push(el("option", { value: row.city_id }, (row.city || row.city_id) + where));
    }
    select.replaceChildren(...options);
    select.value = wanted;
    await drawMap(body); // the same rows, on the map
  }

  function healthCard(label, value, detail, level) {
    return el("div", { class: "card " + (level || "") }, el("div", { class: "label" }, label),
      el("div", { class: "value" }, value), el("div", { class: "muted" }, detail));
  }

  async function loadHealth() {
    const strip = document.getElementById("health");
    try {
      const p = await getJSON("/api/pipeline");
      const cards = [];
      cards.push(healthCard("Lake", p.lake.state === "ok" ? "readable" : "error", p.lake.error || (p.lake.kind === "hdfs" ? "HDFS" : "local directory"),
        p.lake.state === "ok" ? "ok" : "bad"));
      const ingest = p.ingest;
      cards.push(healthCard("Ingest", ingest.lake_committed_total === null ? "–" : ingest.lake_committed_total + " committed",
        "sink lag " + fmt(ingest.sink_lag_total, 0) + " (approx.)"
          + (ingest.lag_last_24h.sink_max === null ? "" : ", at most " + fmt(ingest.lag_last_24h.sink_max, 0) + " in 24 h"),
        ingest.sink_lag_total === null ? "warn" : ingest.sink_lag_total > 10000 ? "warn" : "ok"));
      cards.push(healthCard("Dead letters", fmt(ingest.dead_lettered, 0), ingest.dead_letter_topic || "topic unknown",
        ingest.dead_lettered ? "warn" : "ok"));
      const speed = p.speed;
      cards.push(healthCard("Speed layer", speed.state, speed.state === "missing" ? speed.message
        : "snapshot " + age(speed.age_seconds) + " ago, lag " + fmt(ingest.speed_lag_total, 0),
        speed.state === "live" ? "ok" : speed.state === "stale" ? "warn" : "bad"));
      const run = p.batch.last_run;
      cards.push(healthCard("Last batch run", run ? run.run_id : "none yet",
        run ? "published " + age(run.age_seconds) + " ago, cutoff " + when(run.cutoff) : "run `weatherlake analytics`",
        run ? (run.age_seconds > 86400 ? "warn" : "ok") : "warn"));
      for (const [name, view] of Object.entries(p.batch.views)) {
        cards.push(healthCard(name.replace("_", " "), view.state === "ready" ? age(view.age_seconds) + " old" : "not published",
          view.state === "ready" ? fmt(view.rows, 0) + " rows" : "", view.state === "ready" ? "ok" : "warn"));
      }
      strip.replaceChildren(...cards);
      strip.dataset.state = "ready";
    } catch (error) {
      strip.replaceChildren(el("p", { class: "state error" }, "Pipeline status unavailable: " + error.message));
      strip.dataset.state = "error";
    }
  }

  async function loadCurrent() {
    const p = panel("panel-current");
    try {
      // Cards for the chosen city, or the default (configured) cities, not for every city in the lake.
      const body = await getJSON("/api/current" + query({ cities: state.city || state.defaultCities.join(",") }));
      const cards = body.data.map((row) => el("div", { class: "card " + (row.layer === "speed" ? "ok" : "") },
        el("div", { class: "label" }, (row.city || row.city_id) + (row.country ? ", " + row.country : "")),
        el("div", { class: "value" }, fmt(row.temperature) + " °C"),
        el("div", { class: "muted" }, "humidity " + fmt(row.humidity, 0) + " % · wind " + fmt(row.wind_speed) + " m/s"),
        el("div", { class: "muted" }, (row.weather_description ? row.weather_description + " · " : "") +
          when(row.timestamp) + (row.layer === "speed" ? " (live)" : " (batch hour)"))));
      document.getElementById("current-cards").replaceChildren(...cards);
      showMeta(p, body);
    } catch (error) {
      showError(p, error);
    }
  }

  // --- the map of every location ---------------------------------------------------------------

  let landLines = null;

  function land() {
    // Natural Earth's land (1:110m) as TopoJSON, served by the app itself: the map works offline.
    landLines = landLines || getJSON("/static/dashboard/vendor/land-110m.json").then(decodeLand);
    return landLines;
  }

  function decodeLand(topology) {
    // TopoJSON: quantized, delta-encoded arcs; rings are arc indexes (~i: arc i reversed).
    const [sx, sy] = topology.transform.scale;
    const [tx, ty] = topology.transform.translate;
    const arcs = topology.arcs.map((arc) => {
      let x = 0;
      let y = 0;
      return arc.map(([dx, dy]) => [(x += dx) * sx + tx, (y += dy) * sy + ty]);
    });
    const lon = [];
    const lat = [];
    // A ring's stretches along the map's edge (the South Pole) and its jumps across the
    // antimeridian are where the data was cut, not coasts: the line is broken there.
    const edge = (x, y) => y <= -89.99;
    const ring = (indexes) => {
      let previous = null;
      for (const i of indexes) {
        for (const [x, y] of i < 0 ? arcs[~i].slice().reverse() : arcs[i]) {
          if (previous && ((edge(x, y) && edge(...previous)) || Math.abs(x - previous[0]) > 180)) {
            lon.push(null);
            lat.push(null);
          }
          lon.push(x);
          lat.push(y);
          previous = [x, y];
        }
      }
      lon.push(null);
      lat.push(null);
    };
    for (const geometry of topology.objects.land.geometries) {
      const polygons = geometry.type === "Polygon" ? [geometry.arcs] : geometry.arcs;
      polygons.forEach((polygon) => polygon.forEach(ring));
    }
    return { lon, lat };
  }

  async function drawMap(body) {
    const p = panel("panel-map");
    try {
      const located = body.data.filter((row) => row.latitude != null && row.longitude != null);
      const [coast, Plotly] = await Promise.all([land(), plotlyReady]);
      const markers = (rows, name, color, symbol) => ({
        type: "scatter", mode: "markers", name, x: rows.map((r) => r.longitude), y: rows.map((r) => r.latitude),
        text: rows.map((r) => r.city || r.city_id), hovertemplate: "%{text}<br>%{y:.2f}, %{x:.2f}<extra></extra>",
        marker: { color, symbol, size: 8, line: { color: "#fff", width: 1 } },
      });
      const data = [
        { type: "scatter", mode: "lines", x: coast.lon, y: coast.lat, name: "land", hoverinfo: "skip",
          showlegend: false, line: { color: "#b8c2cc", width: 1 } },
        markers(located.filter((r) => !r.station), "Cities", "#1f77b4", "circle"),
        markers(located.filter((r) => r.station), "Stations", "#ff7f0e", "diamond"),
      ];
      const layout = {
        height: 380, margin: { l: 10, r: 10, t: 10, b: 10 }, legend: { orientation: "h" },
        xaxis: { range: [-180, 180], visible: false }, yaxis: { range: [-60, 85], visible: false, scaleanchor: "x" },
      };
      await Plotly.react(document.getElementById("location-map"), data, layout,
        { responsive: true, displaylogo: false });
      p.state.className = "state muted";
      p.state.textContent = located.length ? located.length + " locations" : "No locations yet.";
      p.root.dataset.state = located.length ? "ready" : "no_data";
    } catch (error) {
      showError(p, error);
    }
  }

  async function loadChart(name, divId, panelId) {
    const p = panel(panelId);
    try {
      const figure = await getJSON("/api/" + name + query({ ...cityParams(), hours: state.hours }));
      const Plotly = await plotlyReady;
      const div = document.getElementById(divId);
      if (figure.state === "ready") {
        div.hidden = false;
        await Plotly.react(div, figure.data, figure.layout, { responsive: true, displaylogo: false });
      } else {
        Plotly.purge(div);
        div.hidden = true; // an empty chart says nothing: the panel's message says why
      }
      showMeta(p, figure);
    } catch (error) {
      showError(p, error);
    }
  }

  function cell(value, numeric) {
    return el("td", numeric ? { class: "num" } : {}, value);
  }

  async function loadStats() {
    const p = panel("panel-stats");
    try {
      const body = await getJSON("/api/city-statistics" + query(cityParams()));
      const rows = body.data.map((r) => el("tr", {}, cell(r.city || r.city_id), cell(fmt(r.record_count, 0), true),
        cell(fmt(r.avg_temperature), true), cell(fmt(r.min_temperature), true), cell(fmt(r.max_temperature), true),
        cell(fmt(r.stddev_temperature, 2), true), cell(fmt(r.avg_humidity, 0), true), cell(fmt(r.avg_wind_speed), true),
        cell(fmt(r.total_rainfall), true), cell(fmt(r.avg_pressure, 1), true), cell(when(r.last_timestamp))));
      document.querySelector("#stats-table tbody").replaceChildren(...rows);
      showMeta(p, body);
    } catch (error) {
      showError(p, error);
    }
  }

  async function loadAnomalies() {
    const p = panel("panel-anomalies");
    try {
      const body = await getJSON("/api/anomalies" + query({ ...cityParams(), hours: state.hours, limit: 50 }));
      const rows = body.data.map((a) => el("tr", { class: "severity-" + a.severity }, cell(when(a.timestamp)),
        cell(a.city || a.city_id), cell(a.metric), cell(fmt(a.value, 2), true), cell(fmt(a.baseline, 2), true),
        cell(fmt(a.score, 1), true), cell(a.severity),
        el("td", {}, a.layer === "speed" ? "live (provisional)" : "batch",
          a.injected ? el("span", { class: "tag", title: "put there by the demo's synthetic source" }, "injected") : null)));
      document.querySelector("#anomalies-table tbody").replaceChildren(...rows);
      showMeta(p, body);
    } catch (error) {
      showError(p, error);
    }
  }

  // --- alerts -------------------------------------------------------------------------------

  function alertCounts(counts) {
    const link = document.getElementById("alert-counts");
    const firing = Object.values((counts || {}).firing || {}).reduce((a, b) => a + b, 0);
    const acknowledged = Object.values((counts || {}).acknowledged || {}).reduce((a, b) => a + b, 0);
    const critical = ((counts || {}).firing || {}).critical || 0;
    link.hidden = !counts;
    link.textContent = firing + " firing · " + acknowledged + " acknowledged";
    link.className = "alert-counts " + (critical ? "critical" : firing ? "warning" : "ok");
  }

  async function changeAlert(id, action, button) {
    const p = panel("panel-alerts");
    const token = document.getElementById("alert-token").value.trim();
    const by = document.getElementById("alert-by").value.trim() || "dashboard";
    if (!token) {
      p.state.className = "state error";
      p.state.textContent = "Enter the API token (WEATHERLAKE_API_TOKEN) to " + action + " alerts.";
      document.getElementById("alert-token").focus();
      return;
    }
    button.disabled = true;
    try {
      const response = await fetch("/api/alerts/" + encodeURIComponent(id) + "/" + action, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", Authorization: "Bearer " + token },
        body: JSON.stringify({ by }),
      });
      const body = await response.json();
      if (!response.ok) throw new Error(body && body.error ? body.error.message : response.statusText);
      p.state.className = "state muted";
      p.state.textContent = "Alert " + body.data.state + " by " + by + "; the list shows it within seconds.";
      const row = button.closest("tr");
      row.dataset.state = body.data.state;
      row.querySelector(".alert-state").textContent = body.data.state;
      row.querySelector(".alert-actions").replaceChildren();
    } catch (error) {
      button.disabled = false;
      showError(p, error);
    }
  }

  function alertActions(a, writable) {
    const cellNode = el("td", { class: "alert-actions" });
    if (!writable || a.state === "resolved") return cellNode;
    if (a.state === "firing") {
      const ack = el("button", { type: "button", class: "ack" }, "Acknowledge");
      ack.addEventListener("click", () => changeAlert(a.id, "acknowledge", ack));
      cellNode.append(ack);
    }
    const resolve = el("button", { type: "button", class: "resolve" }, "Resolve");
    resolve.addEventListener("click", () => changeAlert(a.id, "resolve", resolve));
    cellNode.append(resolve);
    return cellNode;
  }

  async function loadAlerts() {
    const p = panel("panel-alerts");
    try {
      const body = await getJSON("/api/alerts" + query({ city: state.city, limit: 50 }));
      alertCounts(body.counts);
      document.getElementById("alert-auth").hidden = !body.writable;
      const rows = body.data.map((a) => el("tr", { class: "alert-" + a.severity, "data-state": a.state, "data-id": a.id },
        cell(a.severity), el("td", { class: "alert-state" }, a.state), cell(a.city || a.city_id || "pipeline"),
        cell(a.rule), cell(a.message), cell(when(a.opened_at)),
        cell(a.resolved_at ? "resolved " + when(a.resolved_at) + " by " + a.resolved_by
          : a.acknowledged_at ? "acknowledged by " + a.acknowledged_by : "–"),
        alertActions(a, body.writable)));
      document.querySelector("#alerts-table tbody").replaceChildren(...rows);
      showMeta(p, body);
      p.badge.textContent = "";
    } catch (error) {
      showError(p, error);
    }
  }

  // --- refreshing -----------------------------------------------------------------------------

  async function refreshAll() {
    if (state.running) {
      state.again = true; // a control changed mid-refresh: run once more when this one ends
      return;
    }
    state.running = true;
    try {
      await Promise.all([
        loadCities().catch(() => {}),
        loadHealth(),
        loadCurrent(),
        loadChart("temperature-chart", "chart-temperature", "panel-temperature"),
        loadChart("humidity-chart", "chart-humidity", "panel-humidity"),
        loadChart("pressure-wind-chart", "chart-pressure-wind", "panel-pressure-wind"),
        loadStats(),
        loadAnomalies(),
        loadAlerts(),
      ]);
      document.getElementById("last-refresh").textContent = "Updated " + new Date().toLocaleTimeString() +
        (state.paused ? " · paused" : " · next in " + state.refreshSeconds + " s");
      document.body.dataset.refreshCount = String(Number(document.body.dataset.refreshCount) + 1);
    } finally {
      state.running = false;
      if (state.again) {
        state.again = false;
        refreshAll();
      } else {
        schedule();
      }
    }
  }

  function schedule() {
    clearTimeout(state.timer);
    if (!state.paused && state.refreshSeconds > 0) {
      state.timer = setTimeout(refreshAll, state.refreshSeconds * 1000);
    }
  }

  function setUpControls() {
    const refreshSelect = document.getElementById("refresh-select");
    if (state.refreshSeconds > 0 && ![...refreshSelect.options].some((o) => Number(o.value) === state.refreshSeconds)) {
      refreshSelect.append(el("option", { value: String(state.refreshSeconds) }, state.refreshSeconds + " s"));
    }
    refreshSelect.value = String(state.refreshSeconds || 60);
    refreshSelect.addEventListener("change", () => {
      state.refreshSeconds = Number(refreshSelect.value);
      schedule();
    });
    const pause = document.getElementById("pause-button");
    const showPause = () => {
      pause.textContent = state.paused ? "Resume" : "Pause";
      pause.setAttribute("aria-pressed", String(state.paused));
    };
    pause.addEventListener("click", () => {
      state.paused = !state.paused;
      if (!state.paused && !state.refreshSeconds) state.refreshSeconds = Number(refreshSelect.value);
      showPause();
      schedule();
    });
    showPause();
    document.getElementById("refresh-button").addEventListener("click", refreshAll);
    // The controls act at once; nothing is ever submitted (and no inline handler: see the CSP).
    document.getElementById("controls").addEventListener("submit", (event) => event.preventDefault());
    document.getElementById("alert-auth").addEventListener("submit", (event) => event.preventDefault());
    document.getElementById("city-select").addEventListener("change", (event) => {
      state.city = event.target.value;
      refreshAll();
    });
    document.getElementById("range-select").addEventListener("change", (event) => {
      state.hours = Number(event.target.value);
      refreshAll();
    });
  }

  setUpControls();
  refreshAll();
})();
