// smsgw status page: polls the gateway's own API with an admin key kept in
// sessionStorage. Every value from the server is written with textContent, never
// parsed as HTML, and the page's Content-Security-Policy forbids inline script.
"use strict";

(() => {
  const KEY_STORAGE = "smsgw.admin_key";
  const DEFAULT_POLL_MS = 3000;
  const MIN_POLL_MS = 200;
  const MAX_POLL_MS = 60000;
  const EVENT_LIMIT = 20;
  const REQUEST_TIMEOUT_MS = 10000; // a hung gateway must not pile up polls
  const UP_STATES = new Set(["ready", "degraded"]);
  // dBm thresholds for 5, 4, 3, 2 and 1 bars (AT+CSQ steps are 2 dB wide).
  const BAR_THRESHOLDS_DBM = [-73, -83, -93, -103, -109];

  // Why a modem takes no work, or why queued messages wait (GET /v1/modems and
  // /v1/status); a reason not listed here is shown by its name.
  const WAIT_WORDS = {
    scheduled: "scheduled",
    rate_window: "rate window full",
    daily_cap: "daily cap reached",
    modem_held: "held out",
    not_registered: "not registered",
    modem_down: "down",
    no_eligible_modem: "no eligible modem",
    in_line: "in line",
    quiet_hours: "quiet hours",
  };
  const QUEUE_WORDS = {
    scheduled: "for their send time",
    rate_window: "for a rate window",
    daily_cap: "for a daily cap",
    modem_held: "for a modem held out",
    not_registered: "for a modem to register",
    modem_down: "for a modem that is down",
    no_eligible_modem: "with no eligible modem",
    in_line: "in line",
    quiet_hours: "for quiet hours",
  };

  const $ = (id) => document.getElementById(id);
  const rows = new Map(); // modem name -> its <tr>, kept so focus survives a refresh
  const lastStates = new Map(); // modem name -> state, to announce changes
  let pollTimer = null;
  let refreshing = false;
  let pollMs = DEFAULT_POLL_MS;

  function pollInterval() {
    const value = Number(new URLSearchParams(window.location.search).get("poll_ms"));
    if (!Number.isFinite(value) || value <= 0) return DEFAULT_POLL_MS;
    return Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, value));
  }

  function adminKey() {
    return window.sessionStorage.getItem(KEY_STORAGE);
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, options = {}) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${adminKey()}` };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method: options.method || "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      cache: "no-store",
      credentials: "omit",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(
        response.status,
        error.code || "http_" + response.status,
        error.message || response.statusText,
      );
    }
    return data;
  }

  // -- formatting -----------------------------------------------------------------

  function parseTime(value) {
    if (value === null || value === undefined) return null;
    const ms = typeof value === "number" ? value * 1000 : Date.parse(value);
    return Number.isFinite(ms) ? new Date(ms) : null;
  }

  function ago(date) {
    if (!date) return "never";
    const seconds = Math.max(0, Math.round((Date.now() - date.getTime()) / 1000));
    return duration(seconds) + " ago";
  }

  function duration(seconds) {
    if (seconds < 90) return `${Math.round(seconds)} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
    return `${Math.round(seconds / 86400)} days`;
  }

  function reasonWords(words, reason) {
    return Object.hasOwn(words, reason) ? words[reason] : String(reason).replace(/_/g, " ");
  }

  function waitingText(waiting) {
    const words = reasonWords(WAIT_WORDS, waiting.reason);
    const until = parseTime(waiting.until);
    if (!until) return words;
    const sameDay = until.toDateString() === new Date().toDateString();
    const when = sameDay ? until.toLocaleTimeString() : until.toLocaleString();
    return `${words} until ${when}`;
  }

  function queueWaitingText(waiting) {
    const parts = Object.entries(waiting || {})
      .filter(([, count]) => count > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([reason, count]) => `${count} ${reasonWords(QUEUE_WORDS, reason)}`);
    return parts.length ? `Queued messages wait: ${parts.join(", ")}.` : "";
  }

  function bars(dbm) {
    if (dbm === null || dbm === undefined) return 0;
    const index = BAR_THRESHOLDS_DBM.findIndex((threshold) => dbm >= threshold);
    return index === -1 ? 0 : 5 - index;
  }

  function text(tag, value, className) {
    const node = document.createElement(tag);
    const missing = value === null || value === undefined || value === "";
    node.textContent = missing ? "–" : String(value);
    if (className) node.className = className;
    return node;
  }

  function setCell(cell, ...children) {
    cell.replaceChildren(...children);
  }

  // -- modems -----------------------------------------------------------------------

  function newRow(name) {
    const row = document.createElement("tr");
    row.dataset.modem = name;
    const header = document.createElement("th");
    header.scope = "row";
    header.textContent = name;
    row.append(header);
    for (let i = 0; i < 10; i += 1) row.append(document.createElement("td"));
    const actions = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "reset";
    button.textContent = "Reset";
    button.setAttribute("aria-label", `Reset modem ${name}`);
    button.addEventListener("click", () => resetModem(name, button));
    actions.append(button);
    row.append(actions);
    return row;
  }

  function renderModems(modems, today) {
    const body = $("modem-rows");
    const seen = new Set();
    modems.forEach((modem, position) => {
      seen.add(modem.name);
      let row = rows.get(modem.name);
      if (!row) {
        row = newRow(modem.name);
        rows.set(modem.name, row);
      }
      if (body.children[position] !== row) body.insertBefore(row, body.children[position] || null);
      fillRow(row, modem, today.get(modem.name));
    });
    for (const [name, row] of rows) {
      if (!seen.has(name)) {
        row.remove();
        rows.delete(name);
      }
    }
  }

  function fillRow(row, modem, counts) {
    const cells = row.cells; // 0 is the name header
    const identity = modem.identity || {};
    const health = modem.health || {};
    const hardware = [identity.manufacturer, identity.model].filter(Boolean).join(" ");
    const idChildren = [text("span", hardware || modem.profile)];
    if (identity.revision) idChildren.push(text("span", `firmware ${identity.revision}`, "reason"));
    setCell(cells[1], ...idChildren);

    const state = modem.state || "unknown";
    row.dataset.state = state;
    const badge = text("span", state, `badge state-${/^[a-z]+$/.test(state) ? state : "other"}`);
    badge.dataset.role = "state";
    const stateChildren = [badge];
    if (modem.reason) stateChildren.push(text("span", modem.reason, "reason"));
    if (modem.waiting) {
      const waiting = text("span", waitingText(modem.waiting), "reason");
      waiting.dataset.role = "waiting";
      stateChildren.push(waiting);
    }
    setCell(cells[2], ...stateChildren);

    // A modem that is not up cannot measure: its last reading is shown as such, greyed.
    const dbm = health.signal_dbm;
    const stale = !UP_STATES.has(state);
    const count = bars(dbm);
    const meter = document.createElement("span");
    meter.className = stale ? "bars stale" : "bars";
    meter.setAttribute("role", "img");
    meter.setAttribute("aria-label", `${count} of 5 bars${stale ? ", last known" : ""}`);
    for (let i = 1; i <= 5; i += 1) {
      const bar = document.createElement("span");
      bar.className = i <= count ? "bar on" : "bar";
      meter.append(bar);
    }
    let dbmText = dbm === null || dbm === undefined ? "no signal" : `${dbm} dBm`;
    if (stale && dbm !== null && dbm !== undefined) dbmText += " (last known)";
    setCell(cells[3], meter, text("span", dbmText));

    if (modem.balance === null || modem.balance === undefined) {
      setCell(cells[4], text("span", health.operator));
    } else {
      // The prepaid credit from the last USSD balance check, under the operator's name.
      const credit = text("span", `credit ${modem.balance}`, "reason");
      if (modem.balance_text) credit.title = modem.balance_text;
      setCell(cells[4], text("span", health.operator), credit);
    }
    setCell(cells[5], text("span", health.registration));
    const iccid = identity.iccid ? `…${String(identity.iccid).slice(-4)}` : null;
    setCell(cells[6], text("span", iccid));
    const sentToday = counts ? counts.segments_sent_today : null;
    setCell(cells[7], text("span", sentToday));
    const failures = counts
      ? `${counts.segments_failed_today} today, ${modem.failed_total} in all`
      : modem.failed_total;
    setCell(cells[8], text("span", failures));
    setCell(cells[9], text("span", modem.last_error));
    const seen = parseTime(modem.last_seen);
    const seenNode = text("span", ago(seen));
    if (seen) seenNode.title = seen.toISOString();
    setCell(cells[10], seenNode);
  }

  function announceChanges(modems) {
    const changes = [];
    for (const modem of modems) {
      const before = lastStates.get(modem.name);
      if (before !== undefined && before !== modem.state) {
        changes.push(`Modem ${modem.name} is now ${modem.state}.`);
      }
      lastStates.set(modem.name, modem.state);
    }
    if (changes.length) $("announcer").textContent = changes.join(" ");
  }

  async function resetModem(name, button) {
    button.disabled = true;
    $("reset-status").textContent = `Resetting ${name}…`;
    try {
      await api(`/v1/modems/${encodeURIComponent(name)}/reset`, { method: "POST", body: {} });
      $("reset-status").textContent = `Reset of ${name} started.`;
    } catch (error) {
      $("reset-status").textContent = `Reset of ${name} failed: ${error.message}`;
      handleAuth(error);
    } finally {
      button.disabled = false;
      refresh();
    }
  }

  // -- summary and events -------------------------------------------------------------

  function renderSummary(status, modems) {
    const up = modems.filter((m) => UP_STATES.has(m.state)).length;
    $("modems-up").textContent = `${up} of ${modems.length}`;
    if (!status) return;
    const depth = status.queue.depth || {};
    $("queue-queued").textContent = String(depth.queued ?? 0);
    $("queue-sending").textContent = String(depth.sending ?? 0);
    $("queue-unknown").textContent = String(depth.unknown ?? 0);
    const byState = status.messages_by_state || {};
    $("messages-suppressed").textContent = String(byState.suppressed ?? 0);
    const oldest = status.queue.oldest_queued_age_seconds || 0;
    $("queue-oldest").textContent = oldest > 0 ? duration(oldest) : "none waiting";
    $("queue-waiting").textContent = queueWaitingText(status.queue.waiting);
  }

  function renderEvents(events) {
    const body = $("event-rows");
    const fresh = events.map((event) => {
      const row = document.createElement("tr");
      const at = parseTime(event.at);
      const time = document.createElement("th");
      time.scope = "row";
      time.textContent = at ? at.toLocaleString() : "–";
      if (at) time.title = at.toISOString();
      const detail = Object.entries(event.detail || {})
        .map(([key, value]) => [key, typeof value === "object" ? JSON.stringify(value) : value])
        .map(([key, value]) => `${key}: ${value}`)
        .join(", ");
      row.append(time, text("td", event.kind), text("td", event.modem), text("td", detail));
      return row;
    });
    body.replaceChildren(...fresh);
  }

  // -- polling ------------------------------------------------------------------------

  function showAlert(message) {
    const alert = $("alert");
    alert.textContent = message;
    alert.hidden = !message;
  }

  function handleAuth(error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      window.sessionStorage.removeItem(KEY_STORAGE);
      showAlert(
        error.status === 401
          ? "The key was not accepted. Enter an admin API key."
          : "This key lacks the admin scope. Enter an admin API key.",
      );
      showKeyForm();
      return true;
    }
    return false;
  }

  async function refresh() {
    if (!adminKey() || refreshing) return;
    refreshing = true;
    try {
      const [modemPage, status, eventPage] = await Promise.all([
        api("/v1/modems"),
        api("/v1/status").catch((error) => {
          if (error instanceof ApiError && error.status === 404) return null;
          throw error;
        }),
        api(`/v1/events?limit=${EVENT_LIMIT}`),
      ]);
      const modems = modemPage.modems || [];
      const today = new Map(((status && status.modems.items) || []).map((m) => [m.name, m]));
      renderModems(modems, today);
      announceChanges(modems);
      renderSummary(status, modems);
      renderEvents(eventPage.items || []);
      showAlert("");
      $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}.`;
      document.body.dataset.loaded = "true";
    } catch (error) {
      if (!handleAuth(error)) showAlert(`Could not reach the gateway: ${error.message}`);
    } finally {
      refreshing = false;
    }
  }

  function startPolling() {
    stopPolling();
    refresh();
    pollTimer = window.setInterval(refresh, pollMs);
  }

  function stopPolling() {
    if (pollTimer !== null) window.clearInterval(pollTimer);
    pollTimer = null;
  }

  function showKeyForm() {
    stopPolling();
    $("key-section").hidden = false;
    $("dashboard").hidden = true;
    $("key-input").focus();
  }

  function showDashboard() {
    $("key-section").hidden = true;
    $("dashboard").hidden = false;
    startPolling();
    loadSimulated();
    updatePreview();
  }

  // The patient form: only when the gateway serves /v1/simulated-modems, which it does
  // only for simulated modems (a 404 everywhere else keeps the form hidden).
  async function loadSimulated() {
    let modems = [];
    try {
      modems = (await api("/v1/simulated-modems")).modems || [];
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) handleAuth(error);
    }
    const select = $("patient-modem");
    select.replaceChildren(
      ...modems.map((name) => {
        const option = document.createElement("option");
        option.value = name;
        option.textContent = name;
        return option;
      }),
    );
    $("patient-section").hidden = modems.length === 0;
  }

  async function textIn(event) {
    event.preventDefault();
    const form = event.target;
    const result = $("patient-status");
    const button = form.querySelector("button");
    const modem = form.elements.modem.value;
    button.disabled = true;
    result.textContent = "Texting…";
    try {
      await api(`/v1/simulated-modems/${encodeURIComponent(modem)}/inbound`, {
        method: "POST",
        body: { from: form.elements.from.value, text: form.elements.text.value },
      });
      result.textContent = `Texted ${modem}; the text shows in GET /v1/inbound.`;
    } catch (error) {
      result.textContent = `Not texted: ${error.message}`;
      handleAuth(error);
    } finally {
      button.disabled = false;
    }
  }

  // -- the test form's cost preview: the server's own estimate, so it matches the send --

  const PREVIEW_DELAY_MS = 250; // after the last keystroke
  let previewTimer = null;
  let previewSeq = 0;

  function describeEstimate(e) {
    const name = e.encoding === "ucs2" ? "UCS-2" : "GSM-7";
    const table = e.national_table ? ` (${e.national_table} table)` : "";
    const parts = e.segment_count === 1 ? "1 segment" : `${e.segment_count} segments`;
    let text =
      `${name}${table}: ${parts}, ${e.characters} characters ` +
      `(${e.characters_per_segment} a segment, ${e.characters_left} left in the last).`;
    if (e.ucs2_characters.length) {
      text += ` UCS-2 because of: ${e.ucs2_characters.join(" ")}`;
    }
    return text;
  }

  async function estimate(body, to) {
    try {
      return await api("/v1/messages/estimate", {
        method: "POST",
        body: to ? { body, to } : { body },
      });
    } catch (error) {
      // A number still being typed: preview without its route's table.
      if (to && error instanceof ApiError && error.status === 400) return estimate(body, "");
      throw error;
    }
  }

  async function updatePreview() {
    const form = $("test-form");
    const body = form.elements.body.value;
    const seq = ++previewSeq;
    const preview = $("test-preview");
    if (!body.trim()) {
      preview.textContent = "";
      return;
    }
    try {
      const result = await estimate(body, form.elements.to.value.trim());
      if (seq === previewSeq) preview.textContent = describeEstimate(result);
    } catch (error) {
      if (seq === previewSeq) preview.textContent = `No preview: ${error.message}`;
      handleAuth(error);
    }
  }

  function schedulePreview() {
    window.clearTimeout(previewTimer);
    previewTimer = window.setTimeout(updatePreview, PREVIEW_DELAY_MS);
  }

  async function sendTest(event) {
    event.preventDefault();
    const form = event.target;
    const result = $("test-status");
    const button = form.querySelector("button");
    button.disabled = true;
    result.textContent = "Sending…";
    try {
      const message = await api("/v1/messages", {
        method: "POST",
        body: { to: form.elements.to.value, body: form.elements.body.value, tags: ["test"] },
      });
      result.textContent = `Queued as ${message.id} (${message.state}).`;
    } catch (error) {
      result.textContent = `Not sent: ${error.message}`;
      handleAuth(error);
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    pollMs = pollInterval();
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("key-input").value.trim();
      if (!value) return;
      window.sessionStorage.setItem(KEY_STORAGE, value);
      $("key-input").value = "";
      showAlert("");
      showDashboard();
    });
    $("forget-key").addEventListener("click", () => {
      window.sessionStorage.removeItem(KEY_STORAGE);
      showKeyForm();
    });
    $("test-form").addEventListener("submit", sendTest);
    $("test-form").addEventListener("input", schedulePreview);
    $("patient-form").addEventListener("submit", textIn);
    if (adminKey()) showDashboard();
    else showKeyForm();
  });
})();
