// The playground's answers and sources: [n] in an answer opens source n, the sources grouped by
// document with a relevance label, an opened source rendered (Markdown safely) with its passage
// marked. Shares the page's globals with playground.js, which loads after it and calls these.
"use strict";

// The answer's text, each [n] that names one of its sources a button opening source n.
function setAnswer(item, text) {
  item.answer = text;
  const content = item.querySelector(".content");
  content.replaceChildren();
  text.split(/(\[\d+\])/).forEach((piece) => {
    const source = /^\[\d+\]$/.test(piece) ? item.sources[Number(piece.slice(1, -1)) - 1] : undefined;
    if (!source) {
      content.append(piece);
      return;
    }
    const cite = document.createElement("button");
    cite.type = "button";
    cite.className = "cite";
    cite.textContent = piece;
    cite.setAttribute("aria-label", `Source ${piece.slice(1, -1)}: ${source.title || source.filename}`);
    cite.addEventListener("click", () => openSource(source.url, cite));
    content.append(cite);
  });
}

async function copyText(button, text) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (_) {
    button.textContent = "Copy failed";
  }
}

// A plain label for a score, relative to the best of the answer's sources.
function relevance(score, best) {
  if (typeof score !== "number" || !(best > 0)) return null;
  const ratio = score / best;
  return ratio >= 0.85 ? "high" : ratio >= 0.5 ? "medium" : "low";
}

// The sources grouped by document (title once), each passage by its number, section and page.
function showSources(item, sources) {
  item.sources = sources;
  const best = Math.max(0, ...sources.map((s) => (typeof s.score === "number" ? s.score : 0)));
  const groups = new Map();
  sources.forEach((source, index) => {
    const key = source.filename || source.title || source.url;
    if (!groups.has(key)) groups.set(key, { title: source.title || source.filename || "source", passages: [] });
    groups.get(key).passages.push({ ...source, n: index + 1 });
  });
  const list = item.querySelector(".sources");
  list.replaceChildren();
  for (const group of groups.values()) {
    const entry = document.createElement("li");
    const title = document.createElement("span");
    title.className = "doc-title";
    title.textContent = group.title;
    const passages = document.createElement("ul");
    passages.className = "passages";
    for (const source of group.passages) {
      const line = document.createElement("li");
      const open = document.createElement("button");
      open.type = "button";
      open.className = "open-source";
      open.dataset.n = String(source.n);
      const where = [source.section || "", source.page ? `page ${source.page}` : ""].filter(Boolean).join(", ");
      open.textContent = `[${source.n}] ${where || "passage"}`;
      open.title = source.filename || "";
      open.addEventListener("click", () => openSource(source.url, open));
      line.append(open);
      const level = relevance(source.score, best);
      if (level) {
        const label = document.createElement("span");
        label.className = "relevance";
        label.dataset.level = level;
        label.textContent = `${level} relevance`;
        line.append(label);
      }
      passages.append(line);
    }
    entry.append(title, passages);
    list.appendChild(entry);
  }
  setAnswer(item, item.answer);
  if (item.metadata) showMetadata(item, item.metadata);
}

// The response's metadata with the sources' raw scores: the one place they are shown.
function showMetadata(item, metadata) {
  item.metadata = metadata;
  const scores = item.sources.map((s, index) => ({ n: index + 1, title: s.title, score: s.score }));
  const details = item.querySelector(".metadata");
  details.querySelector("pre").textContent = JSON.stringify({ ...metadata, source_scores: scores }, null, 2);
  details.hidden = false;
}

async function openSource(url, opener) {
  const panel = $("source-panel");
  state.opener = opener || null;
  panel.hidden = false;
  panel.dataset.state = "loading";
  $("source-title").textContent = "Opening…";
  $("source-meta").textContent = "";
  $("source-text").replaceChildren();
  $("close-source").focus();
  const response = await api(withUser(url));
  if (!response.ok) {
    $("source-title").textContent = await problem(response);
    panel.dataset.state = "failed";
    return;
  }
  const opened = await response.json();
  const { start, end } = opened.highlight;
  const asMarkdown = /\.(md|markdown)$/i.test(opened.filename);
  const marks = window.renderDocument($("source-text"), opened.document.text, start, end, asMarkdown);
  state.passage = opened.text;
  $("source-title").textContent = opened.title || opened.filename;
  const page = opened.page === null ? "" : `, page ${opened.page}`;
  const section = opened.section ? `, ${opened.section}` : "";
  $("source-meta").textContent = `${opened.filename}${page}${section}, passage ${opened.chunk_index + 1}`;
  $("copy-source").textContent = "Copy passage";
  panel.dataset.state = "open";
  if (marks.length) marks[0].scrollIntoView({ block: "center" });
}

function closeSource() {
  $("source-panel").hidden = true;
  if (state.opener && state.opener.isConnected) state.opener.focus();
}
