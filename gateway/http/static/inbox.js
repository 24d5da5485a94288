// smsgw staff inbox: patients' threads from /v1/conversations, answered with a
// template or free text. The key is kept in sessionStorage as the status page keeps
// its own; every value from the server is written with textContent, never parsed as
// HTML, and the page's Content-Security-Policy forbids inline script.
"use strict";

(() => {
  const KEY_STORAGE = "smsgw.inbox_key";
  const DEFAULT_POLL_MS = 5000;
  const MIN_POLL_MS = 200;
  const MAX_POLL_MS = 60000;
  const REQUEST_TIMEOUT_MS = 10000; // a hung gateway must not pile up polls
  const PAGE_SIZE = 50;
  const THREAD_SIZE = 200;
  const PREVIEW_DELAY_MS = 250; // after the last keystroke
  const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

  const $ = (id) => document.getElementById(id);
  let pollMs = DEFAULT_POLL_MS;
  let pollTimer = null;
  let refreshing = false;
  let selected = null; // the open conversation's id
  let thread = null; // its last answer from the server
  let seenInbound = new Set(); // inbound ids shown in the open thread
  let olderCursor = null;
  let olderItems = [];
  let templates = [];
  let previewTimer = null;
  let previewSeq = 0;

  function pollInterval() {
    const value = Number(new URLSearchParams(window.location.search).get("poll_ms"));
    if (!Number.isFinite(value) || value <= 0) return DEFAULT_POLL_MS;
    return Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, value));
  }

  function staffKey() {
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
    const headers = { Accept: "application/json", Authorization: `Bearer ${staffKey()}` };
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
    if (!value) return null;
    const ms = Date.parse(value);
    return Number.isFinite(ms) ? new Date(ms) : null;
  }

  function when(value) {
    const at = parseTime(value);
    if (!at) return "–";
    const sameDay = at.toDateString() === new Date().toDateString();
    return sameDay ? at.toLocaleTimeString() : at.toLocaleString();
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function timeNode(value) {
    const node = el("time", when(value), "when");
    if (value) node.dateTime = value;
    return node;
  }

  function optedOutText(categories) {
    if (!categories || !categories.length) return "";
    if (categories.includes("*")) return "Opted out of all texts";
    return `Opted out of: ${categories.join(", ")}`;
  }

  function choicesText(replies) {
    return Object.entries(replies || {})
      .map(([answer, meaning]) => `${answer} = ${meaning}`)
      .join(", ");
  }

  // -- the list -----------------------------------------------------------------------

  function conversationButton(c) {
    const button = el("button", null, "conversation");
    button.type = "button";
    button.dataset.id = c.id;
    if (c.id === selected) button.setAttribute("aria-current", "true");
    const top = el("span", null, "line");
    top.append(el("span", c.number, "number"), timeNode(c.last_at));
    const badges = el("span", null, "line badges");
    if (c.unread > 0) {
      const badge = el("span", `${c.unread} unread`, "badge unread");
      badges.append(badge);
    }
    if (c.open_reply) badges.append(el("span", "awaiting reply", "badge waiting"));
    if (c.opted_out && c.opted_out.length) badges.append(el("span", "opted out", "badge out"));
    button.append(top, badges);
    button.addEventListener("click", () => openConversation(c.id, true));
    return button;
  }

  function renderList(items, append) {
    const list = $("conversation-list");
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.id
      : null;
    const rows = items.map((c) => {
      const item = el("li");
      item.append(conversationButton(c));
      return item;
    });
    if (append) list.append(...rows);
    else list.replaceChildren(...rows);
    $("list-empty").hidden = list.children.length > 0;
    if (focused) {
      // A refresh replaces the buttons: keep the keyboard where it was.
      const again = list.querySelector(`button[data-id="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  let listCursor = null;

  async function loadList() {
    const page = await api(`/v1/conversations?limit=${PAGE_SIZE}`);
    renderList(page.items || [], false);
    listCursor = page.next_cursor;
    $("more-conversations").hidden = !listCursor;
  }

  async function moreConversations() {
    if (!listCursor) return;
    try {
      const page = await api(
        `/v1/conversations?limit=${PAGE_SIZE}&cursor=${encodeURIComponent(listCursor)}`,
      );
      renderList(page.items || [], true);
      listCursor = page.next_cursor;
      $("more-conversations").hidden = !listCursor;
    } catch (error) {
      report(error);
    }
  }

  // -- the thread ---------------------------------------------------------------------

  function messageItem(item) {
    const m = item.message;
    const li = el("li", null, "item outbound");
    li.dataset.id = m.id;
    const meta = el("p", null, "meta");
    meta.append(el("span", "Clinic", "who"), timeNode(item.at), el("span", m.state, "state"));
    li.append(meta, el("p", m.body, "text"));
    if (m.reply) {
      li.append(el("p", `Patient answered: ${m.reply.value}`, "reply matched"));
    } else if (m.replies) {
      li.append(el("p", `Asks for a reply: ${choicesText(m.replies)}`, "reply"));
    }
    return li;
  }

  function inboundItem(item) {
    const i = item.inbound;
    const li = el("li", null, "item inbound");
    li.dataset.id = i.id;
    const meta = el("p", null, "meta");
    meta.append(el("span", "Patient", "who"), timeNode(item.at));
    if (item.channel && item.channel !== "sms") meta.append(el("span", `via ${item.channel.replace("_", " ")}`));
    li.append(meta, el("p", i.text, "text"));
    if (i.reply_value) {
      li.append(el("p", `Matched reply: ${i.reply_value}`, "reply matched"));
    }
    return li;
  }

  function renderThread(data) {
    const c = data.conversation;
    $("thread-heading").textContent = `Conversation with ${c.number}`;
    const notes = [];
    const out = optedOutText(c.opted_out);
    if (out) notes.push(el("p", `${out}: a text to this number is refused.`, "note out"));
    if (c.open_reply) {
      notes.push(
        el(
          "p",
          `Awaiting the patient's reply (${choicesText(c.open_reply.replies)}) ` +
            `until ${when(c.open_reply.until)}.`,
          "note waiting",
        ),
      );
    }
    $("thread-notes").replaceChildren(...notes);
    const list = $("thread-items");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const items = olderItems.concat(data.items || []);
    list.replaceChildren(
      ...items.map((item) => (item.direction === "inbound" ? inboundItem(item) : messageItem(item))),
    );
    if (atBottom || list.dataset.fresh === "true") list.scrollTop = list.scrollHeight;
    list.dataset.fresh = "false";
  }

  async function openConversation(id, moveFocus) {
    const changed = id !== selected;
    selected = id;
    if (changed) {
      seenInbound = new Set();
      olderItems = [];
      olderCursor = null;
      $("older-items").hidden = true;
      $("thread-items").dataset.fresh = "true";
      $("reply-status").textContent = "";
    }
    try {
      await loadThread(changed);
      $("reply-form").hidden = false;
      for (const button of $("conversation-list").querySelectorAll("button")) {
        if (button.dataset.id === id) button.setAttribute("aria-current", "true");
        else button.removeAttribute("aria-current");
      }
      if (moveFocus) $("thread-heading").focus();
      schedulePreview();
    } catch (error) {
      report(error);
    }
  }

  async function loadThread(first) {
    if (!selected) return;
    const data = await api(
      `/v1/conversations/${encodeURIComponent(selected)}?limit=${THREAD_SIZE}`,
    );
    if (first) {
      olderCursor = data.next_cursor;
      $("older-items").hidden = !olderCursor;
    }
    const fresh = (data.items || []).filter(
      (item) => item.direction === "inbound" && !seenInbound.has(item.id),
    );
    if (!first && fresh.length) {
      $("announcer").textContent =
        fresh.length === 1
          ? `New text from the patient: ${fresh[0].inbound.text}`
          : `${fresh.length} new texts from the patient.`;
    }
    for (const item of fresh) seenInbound.add(item.id);
    thread = data;
    renderThread(data);
    if (data.conversation.unread > 0) {
      await api(`/v1/conversations/${encodeURIComponent(selected)}/read`, { method: "POST" });
    }
  }

  // -- answering ----------------------------------------------------------------------

  function mode() {
    return $("reply-form").elements.mode.value;
  }

  function chosenTemplate() {
    const name = $("reply-template").value;
    return templates.find((t) => t.name === name) || null;
  }

  function renderTemplates() {
    const select = $("reply-template");
    select.replaceChildren(
      ...templates.map((t) => {
        const option = el("option", t.name);
        option.value = t.name;
        return option;
      }),
    );
    renderVariables();
  }

  function renderVariables() {
    const template = chosenTemplate();
    const names = template ? (template.variables || []).filter((v) => VARIABLE_NAME.test(v)) : [];
    $("template-variables").replaceChildren(
      ...names.map((name) => {
        const field = el("div", null, "field");
        const label = el("label", `Variable ${name}`);
        const input = document.createElement("input");
        input.type = "text";
        input.id = `var-${name}`;
        input.name = `var-${name}`;
        input.dataset.variable = name;
        label.htmlFor = input.id;
        field.append(label, input);
        return field;
      }),
    );
  }

  function variables() {
    const values = {};
    for (const input of $("template-variables").querySelectorAll("input")) {
      // An empty field is no value: the server names the variable still missing.
      if (input.value.trim()) values[input.dataset.variable] = input.value;
    }
    return values;
  }

  function draft() {
    const to = thread ? thread.conversation.number : null;
    if (mode() === "template") {
      const template = chosenTemplate();
      return template ? { to, template: template.name, variables: variables() } : null;
    }
    const body = $("reply-body").value;
    return body.trim() ? { to, body } : null;
  }

  function describeEstimate(e) {
    const name = e.encoding === "ucs2" ? "UCS-2" : "GSM-7";
    const table = e.national_table ? ` (${e.national_table} table)` : "";
    const parts = e.segment_count === 1 ? "1 segment" : `${e.segment_count} segments`;
    let text =
      `${name}${table}: ${parts}, ${e.characters} characters ` +
      `(${e.characters_per_segment} a segment, ${e.characters_left} left in the last).`;
    if (e.ucs2_characters.length) text += ` UCS-2 because of: ${e.ucs2_characters.join(" ")}`;
    return text;
  }

  async function updatePreview() {
    const seq = ++previewSeq;
    const preview = $("reply-preview");
    const request = draft();
    if (!request || !request.to) {
      preview.textContent = "";
      return;
    }
    try {
      const result = await api("/v1/messages/estimate", { method: "POST", body: request });
      if (seq === previewSeq) preview.textContent = describeEstimate(result);
    } catch (error) {
      if (seq !== previewSeq) return;
      preview.textContent =
        error.code === "template_variable_missing"
          ? `Fill in every variable (${error.message}).`
          : `No preview: ${error.message}`;
      handleAuth(error);
    }
  }

  function schedulePreview() {
    window.clearTimeout(previewTimer);
    previewTimer = window.setTimeout(updatePreview, PREVIEW_DELAY_MS);
  }

  function switchMode() {
    const template = mode() === "template";
    $("text-fields").hidden = template;
    $("template-fields").hidden = !template;
    schedulePreview();
  }

  async function sendReply(event) {
    event.preventDefault();
    const request = draft();
    const status = $("reply-status");
    if (!request || !request.to) {
      status.textContent = mode() === "template" ? "Choose a template." : "Write a message.";
      return;
    }
    const button = $("reply-form").querySelector("button[type=submit]");
    button.disabled = true;
    status.textContent = "Sending…";
    try {
      const message = await api("/v1/messages", {
        method: "POST",
        body: { ...request, tags: ["inbox"] },
      });
      status.textContent = `Queued as ${message.id}.`;
      $("reply-body").value = "";
      $("reply-preview").textContent = "";
      await loadThread(false);
    } catch (error) {
      status.textContent = `Not sent: ${error.message}`;
      handleAuth(error);
    } finally {
      button.disabled = false;
    }
  }

  // -- polling and the key --------------------------------------------------------------

  function showAlert(message) {
    $("alert").textContent = message;
    $("alert").hidden = !message;
  }

  function handleAuth(error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      window.sessionStorage.removeItem(KEY_STORAGE);
      showAlert(
        error.status === 401
          ? "The key was not accepted. Enter a staff API key."
          : "This key lacks the read or send scope. Enter a staff API key.",
      );
      showKeyForm();
      return true;
    }
    return false;
  }

  function report(error) {
    if (!handleAuth(error)) showAlert(`Could not reach the gateway: ${error.message}`);
  }

  async function refresh() {
    if (!staffKey() || refreshing) return;
    refreshing = true;
    try {
      if (selected) await loadThread(false); // first: it marks new texts there read
      await loadList();
      showAlert("");
      $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}.`;
      document.body.dataset.loaded = "true";
    } catch (error) {
      report(error);
    } finally {
      refreshing = false;
    }
  }

  async function loadOlder() {
    // Earlier items of a long thread are fetched on demand, never by the poll.
    if (!selected || !olderCursor) return;
    const data = await api(
      `/v1/conversations/${encodeURIComponent(selected)}?limit=${THREAD_SIZE}` +
        `&cursor=${encodeURIComponent(olderCursor)}`,
    );
    olderItems = (data.items || []).concat(olderItems);
    olderCursor = data.next_cursor;
    $("older-items").hidden = !olderCursor;
    if (thread) renderThread(thread);
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
    $("inbox").hidden = true;
    $("forget-key").hidden = true;
    $("key-input").focus();
  }

  async function loadTemplates() {
    try {
      templates = (await api("/v1/templates")).items || [];
    } catch (error) {
      templates = [];
      handleAuth(error);
    }
    renderTemplates();
  }

  function showInbox() {
    $("key-section").hidden = true;
    $("inbox").hidden = false;
    $("forget-key").hidden = false;
    startPolling();
    loadTemplates();
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
      showInbox();
    });
    $("forget-key").addEventListener("click", () => {
      window.sessionStorage.removeItem(KEY_STORAGE);
      selected = null;
      thread = null;
      showKeyForm();
    });
    $("more-conversations").addEventListener("click", moreConversations);
    $("older-items").addEventListener("click", () => loadOlder().catch(report));
    $("reply-form").addEventListener("submit", sendReply);
    $("reply-form").addEventListener("input", schedulePreview);
    $("reply-form").addEventListener("change", (event) => {
      if (event.target.name === "mode") switchMode();
      if (event.target.id === "reply-template") {
        renderVariables();
        schedulePreview();
      }
    });
    if (staffKey()) showInbox();
    else showKeyForm();
  });
})();
