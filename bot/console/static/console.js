// The console's one script (no inline script anywhere: the Content-Security-Policy forbids it).
// It counts SLA clocks down, polls the queue's rows, and inserts a suggested article into the reply box.
"use strict";

const POLL_MS = 5000;

function countdown(span, now) {
  const due = Date.parse(span.dataset.due);
  const warn = span.dataset.warn ? Date.parse(span.dataset.warn) : null;
  const left = due - now;
  const minutes = Math.floor(Math.abs(left) / 60000);
  const days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
  const text = (days ? days + "d " : "") + (days || hours ? hours + "h " : "") + mins + "m";
  const out = span.querySelector(".countdown");
  if (out) out.textContent = span.classList.contains("paused") ? "paused" : (left < 0 ? "overdue " + text : text + " left");
  // The desk's scan records the state; the clock moves on between scans, so the colour follows the clock too.
  if (left <= 0) { span.classList.remove("sla-ok", "sla-warning"); span.classList.add("sla-breached"); }
  else if (warn !== null && now >= warn && span.classList.contains("sla-ok")) {
    span.classList.remove("sla-ok"); span.classList.add("sla-warning");
  }
}

function tick() {
  const now = Date.now();
  document.querySelectorAll(".sla[data-due]").forEach((span) => countdown(span, now));
}

async function poll(body) {
  const known = new Set(Array.from(body.querySelectorAll("tr[data-number]")).map((tr) => tr.dataset.number));
  const live = document.getElementById("live");
  try {
    const answer = await fetch(body.dataset.src, { credentials: "same-origin", headers: { "Accept": "text/html" } });
    if (answer.status === 401) {
      if (live) { live.textContent = "Your session has ended: reload the page to sign in again."; live.classList.add("stale"); }
      return false;
    }
    if (!answer.ok) return true;
    body.innerHTML = await answer.text();  // server-rendered and escaped by the server, like the page
    body.querySelectorAll("tr[data-number]").forEach((tr) => { if (!known.has(tr.dataset.number)) tr.classList.add("fresh"); });
    tick();
    if (live) live.classList.remove("stale");
  } catch (err) {
    if (live) live.classList.add("stale");
  }
  return true;
}

function startPolling() {
  const body = document.getElementById("rows");
  if (!body || !body.dataset.src) return;
  const again = async () => { if (await poll(body)) setTimeout(again, POLL_MS); };
  setTimeout(again, POLL_MS);
}

function insertArticles() {
  const box = document.getElementById("reply-text");
  document.querySelectorAll("button.insert[data-insert]").forEach((button) => {
    button.addEventListener("click", () => {
      if (!box) return;
      const before = box.value.trim();
      box.value = (before ? before + "\n\n" : "") + button.dataset.insert;
      box.focus();
      box.setSelectionRange(box.value.length, box.value.length);
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  tick();
  setInterval(tick, 1000);
  startPolling();
  insertArticles();
});
