// The chat playground: asks the API this page is served by, streams the answer (Server-Sent
// Events), lists its sources, opens a cited passage beside the answer, and keeps feedback and
// sessions through the v2 endpoints. Plain browser APIs, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const KNOWN_SESSIONS = "rag-playground.sessions"; // the sessions this browser started (id, title)
const state = { sessionId: null, openaiMessages: [] };

function userId() {
  return $("user-id").value.trim();
}

function withUser(path) {
  const user = userId();
  return user ? `${path}${path.includes("?") ? "&" : "?"}user_id=${encodeURIComponent(user)}` : path;
}

function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  if ($("token").value.trim()) headers.authorization = `Bearer ${$("token").value.trim()}`;
  if ($("function-key").value.trim()) headers["x-functions-key"] = $("function-key").value.trim();
  // A FormData body (an upload) goes as it is: the browser sets its multipart content type.
  const body = options.form || (options.body === undefined ? undefined : JSON.stringify(options.body));
  // Paths are relative to this page (/api/playground): "v2/sessions" is /api/v2/sessions.
  return fetch(path.replace(/^\/api\//, ""), { method: options.method || "GET", headers, body });
}

async function problem(response) {
  let detail = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    detail += ": " + (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || body.error));
  } catch (_) {
    /* not JSON: the status says enough */
  }
  return detail;
}

// Server-Sent Events from a fetch response: {event, data} with data parsed as JSON when it is.
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (!data.length) continue;
      const text = data.join("\n");
      let parsed = text;
      try {
        parsed = JSON.parse(text);
      } catch (_) {
        /* [DONE] and other plain text */
      }
      yield { event, data: parsed };
    }
  }
}

function addMessage(role, text) {
  const item = $("message-template").content.firstElementChild.cloneNode(true);
  item.querySelector(".who").textContent = role;
  item.querySelector(".copy-answer").hidden = role !== "assistant";
  item.dataset.role = role;
  item.sources = [];
  setAnswer(item, text || "");
  $("conversation").appendChild(item);
  return item;
}

// Sources as the page shows them, from a v2 source or an OpenAI-compatible citation.
const fromV2 = (s) => ({
  title: s.title, filename: s.filename, page: s.page, section: s.section, score: s["@search.score"], url: s.source_url,
});
const fromCitation = (c) => ({
  title: c.title, filename: c.filename, page: c.page, section: c.section, score: c.score, url: c.url,
});

function allowFeedback(item, index, given) {
  const box = item.querySelector(".feedback");
  box.hidden = false;
  box.dataset.index = String(index);
  if (given) {
    box.querySelector(`.thumb[data-rating="${given.rating}"]`).setAttribute("aria-pressed", "true");
    box.querySelector(".comment").value = given.comment || "";
    box.querySelector(".feedback-state").textContent = "saved";
  }
}

async function giveFeedback(box, rating) {
  const path = `v2/sessions/${encodeURIComponent(state.sessionId)}/messages/${box.dataset.index}/feedback`;
  const comment = box.querySelector(".comment").value;
  const response = await api(withUser(path), { method: "POST", body: { rating, comment: comment || null } });
  const label = box.querySelector(".feedback-state");
  if (!response.ok) {
    label.textContent = await problem(response);
    return;
  }
  for (const thumb of box.querySelectorAll(".thumb")) {
    thumb.setAttribute("aria-pressed", String(thumb.dataset.rating === rating));
  }
  label.textContent = "saved";
}

function knownSessions() {
  try {
    return JSON.parse(localStorage.getItem(KNOWN_SESSIONS)) || [];
  } catch (_) {
    return [];
  }
}

function remember(sessionId, title) {
  const others = knownSessions().filter((s) => s.session_id !== sessionId);
  localStorage.setItem(KNOWN_SESSIONS, JSON.stringify([{ session_id: sessionId, title }, ...others].slice(0, 50)));
}

function forget(sessionId) {
  localStorage.setItem(KNOWN_SESSIONS, JSON.stringify(knownSessions().filter((s) => s.session_id !== sessionId)));
}

async function listSessions() {
  const response = await api(withUser("v2/sessions?page_size=50"));
  let sessions = knownSessions();
  if (response.ok) {
    sessions = (await response.json()).sessions;
    $("sessions-note").textContent = "";
  } else {
    // Without an identity the API lists nothing: these are the ones this browser started.
    $("sessions-note").textContent =
      response.status === 403 ? "Sessions this browser started (listing needs an identity)." : await problem(response);
  }
  const list = $("sessions");
  list.replaceChildren();
  for (const session of sessions) {
    const entry = document.createElement("li");
    entry.dataset.sessionId = session.session_id;
    entry.classList.toggle("current", session.session_id === state.sessionId);
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    open.textContent = session.title || session.session_id;
    open.addEventListener("click", () => openSession(session.session_id));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "delete";
    remove.textContent = "Delete";
    remove.addEventListener("click", () => deleteSession(session.session_id));
    entry.append(open, remove);
    list.appendChild(entry);
  }
}

function startSession(sessionId) {
  state.sessionId = sessionId;
  state.openaiMessages = [];
  $("conversation").replaceChildren();
  $("session-label").textContent = `Session ${sessionId}`;
}

async function openSession(sessionId) {
  const response = await api(withUser(`v2/sessions/${encodeURIComponent(sessionId)}`));
  if (!response.ok) {
    $("status").textContent = await problem(response);
    return;
  }
  $("mode").value = "chat";
  modeChanged();
  startSession(sessionId);
  (await response.json()).messages.forEach((message, index) => {
    const item = addMessage(message.role, message.content);
    item.dataset.state = "done";
    if (message.sources) showSources(item, message.sources.map(fromV2));
    if (message.role === "assistant") allowFeedback(item, index, message.feedback);
  });
  $("conversation").dataset.sessionId = sessionId;
  await listSessions();
}

async function deleteSession(sessionId) {
  const response = await api(withUser(`v2/sessions/${encodeURIComponent(sessionId)}`), { method: "DELETE" });
  if (!response.ok && response.status !== 404) {
    $("status").textContent = await problem(response);
    return;
  }
  forget(sessionId);
  if (sessionId === state.sessionId) startSession(crypto.randomUUID());
  await listSessions();
}

function request(mode, question) {
  if (mode === "openai") {
    state.openaiMessages.push({ role: "user", content: question });
    const body = { model: $("model").value, messages: state.openaiMessages, stream: true };
    if (userId()) body.user = userId();
    return ["v1/chat/completions", body];
  }
  const abTesting = { user_id: userId() || "playground" };
  if (mode === "chat") abTesting.session_id = state.sessionId;
  return [mode === "chat" ? "v2/flexible-chat" : "v2/flexible-rag", { question, stream: true, ab_testing: abTesting }];
}

// Applies one streamed event to the answer; returns the text so far.
function apply(mode, item, event, text) {
  if (mode === "openai") {
    if (event.data === "[DONE]") return text;
    if (event.data.error) throw new Error(event.data.error.message);
    if (event.data.citations) showSources(item, event.data.citations.map(fromCitation));
    if (event.data.usage) showMetadata(item, { model: event.data.model, usage: event.data.usage });
    const piece = (event.data.choices || [])[0]?.delta?.content || "";
    if (piece) item.dataset.deltas = String(Number(item.dataset.deltas || 0) + 1);
    setAnswer(item, text + piece);
    return text + piece;
  }
  if (event.event === "sources") showSources(item, event.data.metadata.map(fromV2));
  if (event.event === "delta") {
    item.dataset.deltas = String(Number(item.dataset.deltas || 0) + 1);
    setAnswer(item, text + event.data.text);
    return text + event.data.text;
  }
  if (event.event === "final" || event.event === "error") {
    item.dataset.textBeforeFinal = String(text.length);
    item.answer = event.data.answer;
    showSources(item, event.data.metadata.map(fromV2));
    const { response_metadata, timings, tokens_used, errors } = event.data;
    showMetadata(item, { response_metadata, timings, tokens_used, errors });
    if (mode === "chat" && event.event === "final") {
      allowFeedback(item, event.data.history.length - 1, null);
      remember(state.sessionId, event.data.history[0].content.slice(0, 80));
    }
    return event.data.answer;
  }
  return text;
}

async function ask(question) {
  const mode = $("mode").value;
  addMessage("user", question);
  const item = addMessage("assistant", "");
  item.dataset.state = "streaming";
  $("send").disabled = true;
  $("status").textContent = "";
  $("error-panel").hidden = true;
  let text = "";
  try {
    const [path, body] = request(mode, question);
    const response = await api(path, { method: "POST", body });
    if (!response.ok) {
      item.dataset.failed = "true";
      showError(response.status, await problem(response));
      return;
    }
    for await (const event of events(response)) text = apply(mode, item, event, text);
    if (mode === "openai") state.openaiMessages.push({ role: "assistant", content: text });
  } catch (error) {
    showError(null, String(error.message || error));
    item.dataset.failed = "true";
  } finally {
    item.dataset.state = "done";
    $("send").disabled = false;
    if (mode === "chat") await listSessions();
  }
}

async function loadModels() {
  const response = await api("v1/models");
  if (!response.ok) return;
  $("model").replaceChildren(
    ...(await response.json()).data.map((m) => {
      const option = new Option(`${m.name} (${m.owned_by})`, m.id);
      option.title = m.id; // the id only in a tooltip: the name is what a reader knows it by
      return option;
    }),
  );
  describeModel();
}

function describeModel() {
  const option = $("model").selectedOptions[0];
  $("model-description").textContent = option ? `id ${option.value}` : "";
}

function modeChanged() {
  const mode = $("mode").value;
  $("model-field").hidden = mode !== "openai";
  if (mode === "openai" && !$("model").options.length) loadModels();
}

async function uploadDocument() {
  const file = $("upload-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  $("documents-note").textContent = `Uploading ${file.name}…`;
  const response = await api(withUser("v2/documents"), { method: "POST", form });
  if (!response.ok) {
    $("documents-note").textContent = await problem(response);
    return;
  }
  const uploaded = await response.json();
  $("documents-note").textContent = `${uploaded.filename}: ${uploaded.status}, ${uploaded.chunks} chunks`;
  $("upload-file").value = "";
  listDocuments();
}

async function listDocuments() {
  const list = $("documents");
  const response = await api(withUser("v2/documents"));
  list.replaceChildren();
  if (!response.ok) return; // 403 without an identity: no documents of one's own
  for (const doc of (await response.json()).documents) {
    const entry = document.createElement("li");
    const chunks = doc.chunks === null ? "" : `, ${doc.chunks} chunks`;
    entry.textContent = `${doc.filename} · ${doc.status}${chunks}${doc.reason ? `: ${doc.reason}` : ""} `;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", `Delete ${doc.filename}`);
    remove.addEventListener("click", async () => {
      const deleted = await api(withUser(`v2/documents/${doc.id}`), { method: "DELETE" });
      $("documents-note").textContent = deleted.ok ? `${doc.filename} deleted` : await problem(deleted);
      listDocuments();
    });
    entry.append(remove);
    list.append(entry);
  }
}

// The function key given as ?code=<key>, dropped from the address bar and the history once read.
function takeKeyFromAddress() {
  const address = new URL(window.location.href);
  const key = address.searchParams.get("code");
  if (key !== null) {
    address.searchParams.delete("code");
    window.history.replaceState(window.history.state, "", address);
  }
  return key;
}

function init() {
  const key = takeKeyFromAddress();
  if (key) $("function-key").value = key;
  $("mode").addEventListener("change", modeChanged);
  $("ask").addEventListener("submit", (event) => {
    event.preventDefault();
    const question = $("question").value.trim();
    if (question) ask(question);
    $("question").value = "";
  });
  $("conversation").addEventListener("click", (event) => {
    const thumb = event.target.closest(".thumb");
    if (thumb) giveFeedback(thumb.closest(".feedback"), thumb.dataset.rating);
    const copy = event.target.closest(".copy-answer");
    if (copy) copyText(copy, copy.closest(".message").answer || "");
  });
  $("new-session").addEventListener("click", () => startSession(crypto.randomUUID()));
  $("refresh-sessions").addEventListener("click", listSessions);
  $("close-source").addEventListener("click", closeSource);
  $("copy-source").addEventListener("click", () => copyText($("copy-source"), state.passage || ""));
  $("model").addEventListener("change", describeModel);
  bindKeys();
  $("upload").addEventListener("click", uploadDocument);
  $("user-id").addEventListener("change", listDocuments);
  startSession(crypto.randomUUID());
  listSessions();
  listDocuments();
}

init();
