// The playground's error panel (status, message, what to do), its settings drawer on a phone
// and its keys. Shares the page's globals with playground.js, which loads after it.
"use strict";

// What to do about a failed request, by its status (null: no response at all).
const ADVICE = {
  400: "Change the request as the message says.",
  401: "Give a bearer token in Settings (or a fresh one: it may have expired).",
  403: "Give a user id or token with access, or a function key, in Settings.",
  404: "The session, document or model is gone: start a new session or pick another.",
  413: "Send less: a shorter question or history, or a smaller file.",
  422: "Correct the field the message names.",
  429: "Too many requests: wait a moment and ask again.",
};

function showError(status, message) {
  const advice =
    status === null
      ? "The server did not answer: check that it is running and reachable, then ask again."
      : ADVICE[status] || (status >= 500 ? "The server failed: ask again, and if it persists see its log." : "");
  $("error-title").textContent = status === null ? "The request failed" : `The request failed with status ${status}`;
  $("error-message").textContent = message;
  $("error-advice").textContent = advice;
  $("error-panel").dataset.status = String(status);
  $("error-panel").hidden = false;
}

function toggleSettings(open) {
  document.body.classList.toggle("drawer-open", open);
  $("toggle-settings").setAttribute("aria-expanded", String(open));
  if (open) $("mode").focus();
}

function bindKeys() {
  $("question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("ask").requestSubmit();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    if (!$("source-panel").hidden) closeSource();
    else if (document.body.classList.contains("drawer-open")) {
      toggleSettings(false);
      $("toggle-settings").focus();
    }
  });
  $("toggle-settings").addEventListener("click", () =>
    toggleSettings(!document.body.classList.contains("drawer-open")),
  );
}
