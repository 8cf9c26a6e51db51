// canary-lab dashboard: polls /api/state twice a second and draws it. No framework, no network
// beyond the lab's own server; every text from the lab goes in as text (never as HTML).
"use strict";

const POLL_MS = 500;
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function percent(value) { return `${Math.round(value)}%`; }

function trafficOf(state) {
  const byName = {};
  for (const t of state.traffic) byName[t.destination] = t;
  return byName;
}

function describeTraffic(t) {
  if (!t) return "no requests";
  const p95 = t.p95 === null ? "" : ` · p95 ${Math.round(t.p95)} ms`;
  return `${percent(t.share)} · ${percent(t.error_rate)} err${p95}`;
}

// gateway → routes (in the order Envoy tries them) → destinations. An edge into a destination is as
// wide as that destination's share of the window's requests (split by weight between the routes
// that send to it: the gateway counts requests per destination, not per route).
function graph(host, traffic) {
  const destinations = [...new Set(host.routes.flatMap((r) => r.destinations.map((d) => d.name)))];
  const row = 52, top = 10, height = Math.max(host.routes.length, destinations.length, 1) * row + top;
  const svg = el("svg:svg", { width: "100%", viewBox: `0 0 900 ${height}`, role: "img",
                              "aria-label": `routes of ${host.host}` });
  const gatewayY = height / 2 - 18, y = (i) => top + i * row;
  const weightTo = {};   // destination → the sum of the weights (as fractions) of the routes sending to it
  for (const route of host.routes) {
    const total = route.destinations.reduce((sum, d) => sum + d.weight, 0) || 1;
    for (const d of route.destinations) weightTo[d.name] = (weightTo[d.name] || 0) + d.weight / total;
  }
  const edge = (x1, y1, x2, y2, width, idle) => svg.append(el("svg:path", {
    d: `M${x1},${y1} C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2},${y2}`,
    class: idle ? "edge idle" : "edge", "stroke-width": String(width) }));
  const labels = [];
  host.routes.forEach((route, i) => {
    edge(150, gatewayY + 18, 230, y(i) + 18, 2, false);
    const total = route.destinations.reduce((sum, d) => sum + d.weight, 0) || 1;
    for (const d of route.destinations) {
      const t = traffic[d.name], j = destinations.indexOf(d.name), fraction = d.weight / total;
      const share = t && weightTo[d.name] ? t.share * fraction / weightTo[d.name] : 0;
      edge(490, y(i) + 18, 640, y(j) + 18, 1.5 + 16 * share / 100, !t || d.weight === 0);
      labels.push(el("svg:text", { x: 555, y: (y(i) + y(j)) / 2 + 22, class: "weight label",
                                   text: `${Math.round(100 * fraction)}%` }));
    }
  });
  svg.append(...labels);   // over the edges
  svg.append(el("svg:rect", { x: 10, y: gatewayY, width: 140, height: 36, rx: 6, class: "node gateway" }));
  svg.append(el("svg:text", { x: 20, y: gatewayY + 22, text: `gateway (${host.scheme})` }));
  host.routes.forEach((route, i) => {
    svg.append(el("svg:rect", { x: 230, y: y(i), width: 260, height: 36, rx: 6, class: "node" }));
    svg.append(el("svg:text", { x: 240, y: y(i) + 15, text: `#${i + 1} ${route.name || ""}` }));
    const what = route.destinations.length ? route.match : `${route.match} → answers ${route.status} itself`;
    svg.append(el("svg:text", { x: 240, y: y(i) + 30, class: "weight", text: what }));
  });
  destinations.forEach((name, j) => {
    const t = traffic[name];
    svg.append(el("svg:rect", { x: 640, y: y(j), width: 250, height: 36, rx: 6,
                                class: t && t.error_rate > 0 ? "node failing" : "node" }));
    svg.append(el("svg:text", { x: 650, y: y(j) + 15, text: name }));
    svg.append(el("svg:text", { x: 650, y: y(j) + 30, class: "weight", text: describeTraffic(t) }));
  });
  return svg;
}

function routesTable(host) {
  const body = el("tbody");
  host.routes.forEach((route, i) => {
    const weights = route.destinations.map((d) => `${d.name}: ${d.weight}`).join(", ")
      || `answers ${route.status} itself`;
    body.append(el("tr", { class: "route", "data-host": host.host, "data-index": String(i) },
      el("td", { text: String(i + 1) }), el("td", { text: route.name || "" }), el("td", { text: route.match }),
      el("td", { class: "weights", text: weights })));
  });
  return el("table", { class: "routes" },
    el("thead", {}, el("tr", {}, ...["#", "name", "match", "destinations: weight"].map((h) => el("th", { text: h })))),
    body);
}

function drawHosts(state) {
  const traffic = trafficOf(state);
  const hosts = $("hosts");
  hosts.replaceChildren();
  if (!state.hosts.length) {
    hosts.append(el("p", { class: "dim", text: "No routes yet: apply a Gateway and a VirtualService (or an HTTPRoute)." }));
  }
  for (const host of state.hosts) {
    const title = host.scheme === "https" ? `${host.host} (https)` : host.host;
    hosts.append(el("div", { class: "host", "data-host": host.host },
      el("h3", { text: title }), graph(host, traffic), routesTable(host)));
  }
}

function bar(share) {
  const shown = el("span", { class: "bar" });
  shown.style.width = `${Math.round(share)}px`;   // CSSOM, which the page's CSP allows (a style attribute it would not)
  return shown;
}

function drawTraffic(state) {
  const body = $("traffic").querySelector("tbody");
  body.replaceChildren(...state.traffic.map((t) => el("tr", { "data-destination": t.destination },
    el("td", { text: t.destination }), el("td", { text: String(t.requests) }),
    el("td", {}, bar(t.share), percent(t.share)),
    el("td", { class: t.error_rate > 0 ? "bad" : "ok", text: percent(t.error_rate) }),
    el("td", { text: t.p95 === null ? "-" : `${Math.round(t.p95)} ms` }))));
  $("no-traffic").hidden = state.traffic.length > 0;
}

function drawPods(state) {
  $("pods").querySelector("tbody").replaceChildren(...state.pods.map((p) => el("tr", {},
    el("td", { text: p.name }), el("td", { class: p.state === "running" ? "ok" : "bad", text: p.state }),
    el("td", { text: p.detail }))));
  $("notes").replaceChildren(...state.notes.map((n) => el("li", { class: "dim", text: n })));
}

function drawExercise(state) {
  const exercise = state.exercise;
  $("exercise").hidden = !exercise;
  if (!exercise) return;
  $("exercise-step").textContent = exercise.complete
    ? `${exercise.name}: complete`
    : `${exercise.name}: next step ${exercise.number}/${exercise.total}, ${exercise.step}`;
  const check = exercise.last_check;
  const shown = $("exercise-check");
  shown.className = check ? (check.passed ? "ok" : "bad") : "dim";
  shown.textContent = check
    ? `last check (${check.step}, ${new Date(check.at * 1000).toLocaleTimeString()}): `
      + `${check.passed ? "✓ passed" : "✗ not yet"}: ${check.message}${check.diagnosis ? ` (${check.diagnosis})` : ""}`
    : "no check yet: `invoke check`, or choose check in `invoke exercise`";
}

function showDown(title, reason) {
  $("live").hidden = true;
  $("down").hidden = false;
  $("down-title").textContent = title;
  $("down-reason").textContent = reason;
  $("state").textContent = "down";
  $("state").className = "pill down";
  document.body.dataset.state = "down";
}

function draw(state) {
  $("taken").textContent = new Date(state.taken * 1000).toLocaleTimeString();
  if (!state.up) {
    $("lab").textContent = "";
    showDown("The lab is down", state.reason);
    return;
  }
  $("down").hidden = true;
  $("live").hidden = false;
  $("lab").textContent = `${state.provider} · gateway ${state.gateway}`;
  $("state").textContent = "live";
  $("state").className = "pill live";
  $("window").textContent = $("window-2").textContent = String(state.window);
  drawExercise(state);
  drawHosts(state);
  drawTraffic(state);
  drawPods(state);
  document.body.dataset.state = "live";
}

async function poll() {
  try {
    const answer = await fetch("/api/state", { cache: "no-store" });
    draw(await answer.json());
  } catch (error) {
    showDown("The dashboard stopped", "`invoke dashboard` is not running any more: start it again to see the lab.");
  }
  setTimeout(poll, POLL_MS);
}

poll();
