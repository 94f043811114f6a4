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
  item.querySelector(".role").textContent = role;
  item.querySelector(".content").textContent = text || "";
  item.dataset.role = role;
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

function showSources(item, sources) {
  const list = item.querySelector(".sources");
  list.replaceChildren();
  for (const source of sources) {
    const entry = document.createElement("li");
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open-source";
    open.textContent = source.title || source.filename || "source";
    open.title = source.filename || "";
    open.addEventListener("click", () => openSource(source.url));
    const where = document.createElement("span");
    where.className = "where";
    where.textContent = [source.page ? `page ${source.page}` : "", source.section || ""].filter(Boolean).join(", ");
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = typeof source.score === "number" ? `score ${source.score.toFixed(4)}` : "";
    entry.append(open, where, score);
    list.appendChild(entry);
  }
}

function showMetadata(item, metadata) {
  const details = item.querySelector(".metadata");
  details.querySelector("pre").textContent = JSON.stringify(metadata, null, 2);
  details.hidden = false;
}

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

async function openSource(url) {
  const panel = $("source-panel");
  panel.hidden = false;
  panel.dataset.state = "loading";
  $("source-title").textContent = "Opening…";
  $("source-meta").textContent = "";
  $("source-text").replaceChildren();
  const response = await api(withUser(url));
  if (!response.ok) {
    $("source-title").textContent = await problem(response);
    panel.dataset.state = "failed";
    return;
  }
  const opened = await response.json();
  const text = opened.document.text;
  const { start, end } = opened.highlight;
  const mark = document.createElement("mark");
  mark.textContent = text.slice(start, end);
  $("source-text").append(text.slice(0, start), mark, text.slice(end));
  $("source-title").textContent = opened.title || opened.filename;
  const page = opened.page === null ? "" : `, page ${opened.page}`;
  const section = opened.section ? `, ${opened.section}` : "";
  $("source-meta").textContent = `${opened.filename}${page}${section}, passage ${opened.chunk_index + 1}`;
  panel.dataset.state = "open";
  mark.scrollIntoView({ block: "center" });
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
  const content = item.querySelector(".content");
  if (mode === "openai") {
    if (event.data === "[DONE]") return text;
    if (event.data.error) throw new Error(event.data.error.message);
    if (event.data.citations) showSources(item, event.data.citations.map(fromCitation));
    if (event.data.usage) showMetadata(item, { model: event.data.model, usage: event.data.usage });
    const piece = (event.data.choices || [])[0]?.delta?.content || "";
    if (piece) item.dataset.deltas = String(Number(item.dataset.deltas || 0) + 1);
    content.textContent = text + piece;
    return text + piece;
  }
  if (event.event === "sources") showSources(item, event.data.metadata.map(fromV2));
  if (event.event === "delta") {
    item.dataset.deltas = String(Number(item.dataset.deltas || 0) + 1);
    content.textContent = text + event.data.text;
    return text + event.data.text;
  }
  if (event.event === "final" || event.event === "error") {
    item.dataset.textBeforeFinal = String(text.length);
    content.textContent = event.data.answer;
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
  let text = "";
  try {
    const [path, body] = request(mode, question);
    const response = await api(path, { method: "POST", body });
    if (!response.ok) throw new Error(await problem(response));
    for await (const event of events(response)) text = apply(mode, item, event, text);
    if (mode === "openai") state.openaiMessages.push({ role: "assistant", content: text });
  } catch (error) {
    $("status").textContent = String(error.message || error);
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
    ...(await response.json()).data.map((m) => new Option(`${m.id} (${m.owned_by})`, m.id)),
  );
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
  });
  $("new-session").addEventListener("click", () => startSession(crypto.randomUUID()));
  $("refresh-sessions").addEventListener("click", listSessions);
  $("close-source").addEventListener("click", () => ($("source-panel").hidden = true));
  $("upload").addEventListener("click", uploadDocument);
  $("user-id").addEventListener("change", listDocuments);
  startSession(crypto.randomUUID());
  listSessions();
  listDocuments();
}

init();
