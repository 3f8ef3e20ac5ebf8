"""The web chat page: one self-contained HTML document (inline CSS and vanilla JS, no CDN, no build).

Flow: work email -> 6-digit code -> chat. Messages are POSTed with a client-generated id
(a retry re-sends the same id, so it is never taken twice); replies arrive as Server-Sent
Events. All bot text is inserted as text (never as HTML); links are http(s) only. A file is uploaded as
the body of its own request; the page checks its size first, and says "sent", never "added": whether the
desk kept it, the bot's reply says.
"""

from __future__ import annotations

import html

from channels.webchat._files import megabytes

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>IT service desk chat</title>
<style nonce="__NONCE__">
:root { color-scheme: light dark; --bg:#f5f6f8; --fg:#1b1f24; --muted:#505a66; --card:#fff; --accent:#0b5cad;
  --accent-fg:#fff; --bot:#e9eef5; --me:#d6e8fb; --err:#b00020; --border:#b9c3cf; }
@media (prefers-color-scheme: dark) { :root { --bg:#15181c; --fg:#e8eaed; --muted:#aeb7c2; --card:#1e2228;
  --accent:#6aaefc; --accent-fg:#0b1320; --bot:#262c35; --me:#1c3553; --err:#ff8a80; --border:#46505c; } }
* { box-sizing: border-box; }
body { margin:0; font:16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:var(--bg); color:var(--fg); }
main { max-width:46rem; margin:0 auto; padding:1rem; min-height:100vh; display:flex; flex-direction:column; }
h1 { font-size:1.4rem; margin:.25rem 0 1rem; }
h2 { font-size:1.15rem; margin:0 0 .75rem; }
.card { background:var(--card); border:1px solid var(--border); border-radius:.5rem; padding:1rem 1.25rem; }
label { display:block; font-weight:600; margin-bottom:.25rem; }
input, textarea { font:inherit; width:100%; padding:.5rem .6rem; border:1px solid var(--border); border-radius:.375rem;
  background:var(--card); color:var(--fg); }
input[aria-invalid="true"] { border-color:var(--err); }
button { font:inherit; cursor:pointer; border:1px solid var(--accent); background:var(--accent); color:var(--accent-fg);
  border-radius:.375rem; padding:.4rem .9rem; }
button.secondary { background:transparent; color:var(--accent); }
button:disabled { opacity:.55; cursor:not-allowed; }
:focus-visible { outline:3px solid var(--accent); outline-offset:2px; }
a { color:var(--accent); }
.row { display:flex; gap:.5rem; margin-top:.6rem; flex-wrap:wrap; }
.hint, .status { color:var(--muted); font-size:.92rem; margin:.35rem 0; }
.error { color:var(--err); margin:.35rem 0 0; }
.error:empty { display:none; }
[hidden] { display:none !important; }
.sr-only { position:absolute; width:1px; height:1px; padding:0; margin:-1px; overflow:hidden; clip:rect(0,0,0,0);
  white-space:nowrap; border:0; }
#chat { display:flex; flex-direction:column; flex:1; }
#log { list-style:none; margin:0; padding:.5rem; flex:1; overflow-y:auto; display:flex; flex-direction:column; gap:.6rem;
  min-height:45vh; max-height:68vh; background:var(--card); border:1px solid var(--border); border-radius:.5rem; }
.msg { max-width:85%; padding:.5rem .75rem; border-radius:.75rem; }
.msg .body { white-space:pre-wrap; overflow-wrap:anywhere; }
.msg.bot { background:var(--bot); align-self:flex-start; }
.msg.me { background:var(--me); align-self:flex-end; }
.msg.me.failed { outline:2px dashed var(--err); }
.ticket { display:inline-block; margin-top:.35rem; font-weight:600; font-size:.85rem; border:1px solid var(--border);
  border-radius:999px; padding:0 .55rem; }
.articles { margin:.35rem 0 0; padding-left:1.2rem; }
.note { font-size:.85rem; color:var(--muted); margin-top:.25rem; }
#composer { display:flex; gap:.5rem; margin-top:.75rem; align-items:flex-end; }
#composer textarea { resize:vertical; min-height:2.75rem; }
</style>
</head>
<body data-base="__BASE__" data-max-file="__MAX_FILE__">
<main>
<h1>IT service desk chat</h1>
<noscript><p class="card">This chat needs JavaScript. You can also write to the service desk by email.</p></noscript>

<section id="step-email" class="card" aria-labelledby="email-title" hidden>
  <h2 id="email-title">Sign in with your work email</h2>
  <form id="email-form" novalidate>
    <label for="email">Work email</label>
    <input id="email" name="email" type="email" autocomplete="email" spellcheck="false" required
           aria-describedby="email-hint email-error">
    <p id="email-hint" class="hint">We will email you a 6-digit code to confirm it is you.</p>
    <p id="email-error" class="error" role="alert"></p>
    <div class="row"><button type="submit" id="email-submit">Send code</button></div>
  </form>
</section>

<section id="step-code" class="card" aria-labelledby="code-title" hidden>
  <h2 id="code-title">Enter your code</h2>
  <form id="code-form" novalidate>
    <label for="code">6-digit code</label>
    <p id="code-hint" class="hint">We sent it to <strong id="code-email"></strong>. It is valid for __MINUTES__ minutes.</p>
    <input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6"
           required aria-describedby="code-hint code-error">
    <p id="code-error" class="error" role="alert"></p>
    <div class="row">
      <button type="submit" id="code-submit">Verify</button>
      <button type="button" class="secondary" id="code-back">Use another email or get a new code</button>
    </div>
  </form>
</section>

<section id="step-chat" aria-labelledby="chat-title" hidden>
  <div id="chat">
    <h2 id="chat-title" class="sr-only">Conversation with the IT service desk</h2>
    <p class="status" id="chat-who"></p>
    <ol id="log" role="log" aria-live="polite" aria-label="Conversation" tabindex="0"></ol>
    <p class="status" id="conn" role="status"></p>
    <form id="composer" novalidate>
      <label for="text" class="sr-only">Your message</label>
      <textarea id="text" rows="2" maxlength="4000" placeholder="Describe your problem (Enter sends, Shift+Enter adds a line)"
                aria-describedby="chat-error"></textarea>
      <input type="file" id="file" hidden>
      <button type="button" class="secondary" id="attach" aria-describedby="file-hint">Attach a file</button>
      <button type="submit">Send</button>
    </form>
    <p id="file-hint" class="hint">Files up to __MAX_FILE_MB__; programs and scripts are not accepted.</p>
    <p id="chat-error" class="error" role="alert"></p>
  </div>
</section>
</main>
<script nonce="__NONCE__">
(() => {
  "use strict";
  const BASE = document.body.dataset.base;
  const MAX_TEXT = 4000;
  const MAX_FILE = parseInt(document.body.dataset.maxFile, 10);
  const files = new Map();  // item key -> the File being sent (kept in memory only, for "Send again")
  const $ = (id) => document.getElementById(id);
  const PREFIX = "deskbot-chat:";
  let stream = null;  // the open EventSource
  let retryDelay = 1000;
  const store = {
    get(key, fallback) {
      try { const v = sessionStorage.getItem(PREFIX + key); return v === null ? fallback : JSON.parse(v); }
      catch (e) { return fallback; }
    },
    set(key, value) { try { sessionStorage.setItem(PREFIX + key, JSON.stringify(value)); } catch (e) { /* private mode */ } },
    clear() {
      try { Object.keys(sessionStorage).filter((k) => k.startsWith(PREFIX)).forEach((k) => sessionStorage.removeItem(k)); }
      catch (e) { /* ignore */ }
    },
  };

  async function api(method, path, body) {
    const init = { method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    let res;
    try { res = await fetch(BASE + path, init); }
    catch (e) { return { status: 0, data: { error: "The network is unreachable. Check your connection and try again." } }; }
    let data = {};
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    return { status: res.status, data };
  }

  function sentence(text) {
    if (!text) return "Something went wrong. Please try again.";
    return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");
  }

  function show(step) {
    for (const s of ["email", "code", "chat"]) $("step-" + s).hidden = s !== step;
    $({ email: "email", code: "code", chat: "text" }[step]).focus();
  }

  function fail(field, message) {
    $(field + "-error").textContent = message ? sentence(message) : "";
    if (field !== "chat") $(field).setAttribute("aria-invalid", message ? "true" : "false");
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  let lastId = 0;  // the last reply shown (its event id), kept in sessionStorage across reloads

  async function newSession() {
    store.clear();
    lastId = 0;
    const r = await api("POST", "/api/session");
    return r.status === 200;
  }

  async function restart(message) {
    closeStream();
    await newSession();
    $("code").value = "";
    show("email");
    fail("email", message);
  }

  // --- sign in ------------------------------------------------------------------------------
  $("email-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const email = $("email").value.trim();
    if (!email) { fail("email", "Enter your work email address."); $("email").focus(); return; }
    fail("email", "");
    $("email-submit").disabled = true;
    let r = await api("POST", "/api/verify/start", { email });
    if (r.status === 401 && await newSession()) r = await api("POST", "/api/verify/start", { email });
    $("email-submit").disabled = false;
    if (r.status === 200) {
      $("code-email").textContent = r.data.email;
      $("code").value = "";
      fail("code", "");
      show("code");
    } else if (r.status === 409 && r.data.verified) {
      startChat(r.data.email);
    } else {
      fail("email", r.data.error);
      $("email").focus();
    }
  });

  $("code-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const code = $("code").value.replace(/\\s+/g, "");
    if (!/^[0-9]{6}$/.test(code)) { fail("code", "Enter the 6 digits from the email."); $("code").focus(); return; }
    $("code-submit").disabled = true;
    const r = await api("POST", "/api/verify/confirm", { code });
    $("code-submit").disabled = false;
    if (r.status === 200) { startChat(r.data.email); return; }
    if (r.status === 401) { await restart("Your session expired. Please start again."); return; }
    if (r.data.restart) { show("email"); fail("email", r.data.error); return; }
    fail("code", r.data.error);
    $("code").select();
  });

  $("code-back").addEventListener("click", () => { fail("email", ""); show("email"); });

  // --- chat ---------------------------------------------------------------------------------

  function setConn(text) { if ($("conn").textContent !== text) $("conn").textContent = text; }

  function closeStream() { if (stream) { stream.close(); stream = null; } }

  function startChat(email) {
    $("chat-who").textContent = "Signed in as " + email;
    $("log").replaceChildren();
    for (const item of store.get("transcript", [])) {
      if (item.state === "sending") { item.state = "failed"; saveItem(item); }  // the page was left mid-send
      render(item);
    }
    show("chat");
    connect();
  }

  function connect() {
    closeStream();
    const url = BASE + "/api/events" + (lastId ? "?last_event_id=" + encodeURIComponent(lastId) : "");
    const es = new EventSource(url);
    stream = es;
    es.onopen = () => { retryDelay = 1000; setConn(""); };
    es.onmessage = (ev) => {
      const n = parseInt(ev.lastEventId, 10);
      if (n && n <= lastId) return;  // already shown
      let data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (n) { lastId = n; store.set("last", lastId); }
      add({ key: uuid(), who: "bot", text: data.text || "", buttons: data.buttons || [], ticket_ref: data.ticket_ref || null,
            articles: data.articles || [] });
    };
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        if (stream === es) stream = null;
        setConn("Disconnected. Reconnecting…");
        setTimeout(recover, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 30000);
      } else {
        setConn("Connection lost. Reconnecting…");
      }
    };
  }

  async function recover() {
    if (stream) return;
    const r = await api("GET", "/api/session");
    if (r.status === 401 || (r.status === 200 && !r.data.verified)) {
      await restart("Your chat session has ended. Please sign in again.");
      return;
    }
    connect();
  }

  function saveItem(item) {
    const items = store.get("transcript", []);
    const i = items.findIndex((x) => x.key === item.key);
    if (i >= 0) items[i] = item; else items.push(item);
    if (items.length > 300) items.splice(0, items.length - 300);
    store.set("transcript", items);
  }

  function add(item) { saveItem(item); render(item); }

  function safeUrl(url) {
    try { const u = new URL(url, location.href); return u.protocol === "https:" || u.protocol === "http:" ? u.href : null; }
    catch (e) { return null; }
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function render(item) {
    const old = document.querySelector('[data-key="' + item.key + '"]');
    const li = el("li", "msg " + (item.who === "me" ? "me" : "bot"));
    li.dataset.key = item.key;
    li.append(el("span", "sr-only", item.who === "me" ? "You said: " : "IT desk said: "));
    li.append(el("div", "body", item.text));
    if (item.ticket_ref) li.append(el("span", "ticket", "Ticket " + item.ticket_ref));
    if (item.articles && item.articles.length) {
      const list = el("ul", "articles");
      list.setAttribute("aria-label", "Suggested articles");
      for (const a of item.articles) {
        const entry = el("li");
        const href = safeUrl(a.url);
        const label = (a.article_id ? a.article_id + " " : "") + (a.title || a.url);
        if (href) {
          const link = el("a", "", label);
          link.href = href; link.target = "_blank"; link.rel = "noopener noreferrer";
          entry.append(link);
        } else {
          entry.textContent = label;
        }
        list.append(entry);
      }
      li.append(list);
    }
    if (item.buttons && item.buttons.length) {
      const row = el("div", "row");
      row.setAttribute("role", "group");
      row.setAttribute("aria-label", "Answers");
      for (const b of item.buttons) {
        const button = el("button", "", b.label);
        button.type = "button";
        button.disabled = !!item.answered;
        button.addEventListener("click", () => {
          item.answered = b.value;
          saveItem(item);
          row.querySelectorAll("button").forEach((x) => { x.disabled = true; });
          post({ action: b.value }, b.label);
        });
        row.append(button);
      }
      li.append(row);
    }
    if (item.who === "me" && item.state === "sending") li.append(el("div", "note", "Sending…"));
    if (item.who === "me" && item.state === "failed") {
      li.classList.add("failed");
      const note = el("div", "note", "Not delivered.");
      if (item.payload || files.has(item.key)) {
        const retry = el("button", "secondary", "Send again");
        retry.type = "button";
        retry.addEventListener("click", () => deliver(item));
        note.append(" ", retry);
      }
      li.append(note);
    }
    if (old) old.replaceWith(li); else $("log").append(li);
    $("log").scrollTop = $("log").scrollHeight;
  }

  function post(payload, shown) {
    const item = { key: uuid(), who: "me", text: shown, payload, state: "sending" };
    add(item);
    return deliver(item);
  }

  async function upload(item, file) {
    const path = "/api/files?id=" + encodeURIComponent(item.key) + "&name=" + encodeURIComponent(file.name);
    const init = { method: "POST", credentials: "same-origin", body: file,
                   headers: { "Accept": "application/json", "Content-Type": file.type || "application/octet-stream" } };
    let res;
    try { res = await fetch(BASE + path, init); }
    catch (e) { return { status: 0, data: { error: "The network is unreachable. Check your connection and try again." } }; }
    let data = {};
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    return { status: res.status, data };
  }

  async function deliver(item) {
    item.state = "sending"; saveItem(item); render(item);
    const file = files.get(item.key);
    const r = file ? await upload(item, file) : await api("POST", "/api/messages", Object.assign({ id: item.key }, item.payload));
    if (r.status === 202) files.delete(item.key);
    if (r.status === 202) { item.state = "sent"; saveItem(item); render(item); fail("chat", ""); return; }
    if (r.status === 401 || r.status === 403) { await restart("Please sign in again to go on chatting."); return; }
    item.state = "failed";
    if (r.status === 422 || r.status === 413) { delete item.payload; files.delete(item.key); }  // not as it is: no retry
    saveItem(item); render(item);
    fail("chat", r.data.error || "Your message was not delivered.");
  }

  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("text").value.trim();
    if (!text) { fail("chat", "Type a message first."); return; }
    if (text.length > MAX_TEXT) { fail("chat", "The message is too long (at most " + MAX_TEXT + " characters)."); return; }
    fail("chat", "");
    $("text").value = "";
    post({ text }, text);
  });

  $("attach").addEventListener("click", () => $("file").click());

  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    $("file").value = "";
    if (!file) return;
    if (file.size > MAX_FILE) {
      fail("chat", "The file " + file.name + " is too large: at most " + (MAX_FILE / 1048576).toFixed(1).replace(/\\.0$/, "") + " MB.");
      return;
    }
    if (file.size === 0) { fail("chat", "The file " + file.name + " is empty."); return; }
    fail("chat", "");
    const item = { key: uuid(), who: "me", text: "File: " + file.name, state: "sending" };
    files.set(item.key, file);
    add(item);
    deliver(item);
  });

  $("text").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); $("composer").requestSubmit(); }
  });

  // --- boot ---------------------------------------------------------------------------------
  (async () => {
    lastId = store.get("last", 0);
    let r = await api("GET", "/api/session");
    if (r.status === 401 && await newSession()) r = await api("GET", "/api/session");
    if (r.status === 200 && r.data.verified) { startChat(r.data.email); return; }
    show("email");
    if (r.status !== 200) fail("email", r.data.error || "The chat is not available right now.");
  })();
})();
</script>
</body>
</html>
"""


def render_page(*, base_path: str, nonce: str, code_minutes: int, max_file_bytes: int) -> str:
    return (
        _TEMPLATE.replace("__NONCE__", nonce)
        .replace("__BASE__", html.escape(base_path, quote=True))
        .replace("__MINUTES__", str(code_minutes))
        .replace("__MAX_FILE_MB__", megabytes(max_file_bytes))
        .replace("__MAX_FILE__", str(max_file_bytes))
    )
