"""The web chat page's script (vanilla JS, run under the page's CSP nonce): sign-in, the event stream, the log.

A bot reply's HTML (rendered by the server from its Markdown) is checked against an allow-list of tags before it is
shown, and a long answer is folded behind a "Show all" button.
"""

SCRIPT = """(() => {
  "use strict";
  const BASE = document.body.dataset.base;
  const MAX_TEXT = 4000;
  const MAX_FILE = parseInt(document.body.dataset.maxFile, 10);
  const files = new Map();  // item key -> the File being sent (kept in memory only, for "Send again")
  const $ = (id) => document.getElementById(id);
  const PREFIX = "deskbot-chat:";
  const FOLD_LINES = 12;  // a longer answer shows its start and a "Show all" button
  // What a reply's HTML may hold (the server's bot.rich_text.to_html writes nothing else): anything other is text.
  const RICH_TAGS = new Set(["P", "BR", "STRONG", "EM", "CODE", "PRE", "UL", "OL", "LI", "A"]);
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
    show("chat");  // first: a folded answer is measured on the page
    for (const item of store.get("transcript", [])) {
      if (item.state === "sending") { item.state = "failed"; saveItem(item); }  // the page was left mid-send
      render(item);
    }
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
      add({ key: uuid(), who: "bot", text: data.text || "", html: data.html || "", buttons: data.buttons || [], ticket_ref: data.ticket_ref || null,
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

  // The reply's HTML as nodes, keeping only RICH_TAGS (links: http(s) and mailto, opening in a new tab).
  function rich(html) {
    const template = document.createElement("template");
    template.innerHTML = html;  // a template's content is inert: nothing in it loads or runs
    const clean = (node) => {
      for (const child of Array.from(node.childNodes)) {
        if (child.nodeType === Node.TEXT_NODE) continue;
        if (child.nodeType !== Node.ELEMENT_NODE || !RICH_TAGS.has(child.tagName)) {
          child.replaceWith(document.createTextNode(child.textContent || ""));
          continue;
        }
        const href = child.tagName === "A" ? child.getAttribute("href") || "" : "";
        const start = child.tagName === "OL" ? child.getAttribute("start") : null;
        for (const name of child.getAttributeNames()) child.removeAttribute(name);
        if (child.tagName === "A") {
          const safe = /^mailto:/i.test(href) ? href : safeUrl(href);
          if (!safe) { child.replaceWith(document.createTextNode(child.textContent || "")); continue; }
          child.href = safe; child.target = "_blank"; child.rel = "noopener noreferrer";
        }
        if (start && /^[0-9]{1,9}$/.test(start)) child.setAttribute("start", start);
        clean(child);
      }
    };
    clean(template.content);
    return template.content;
  }

  // Once the reply is on the page: an answer taller than FOLD_LINES lines is folded behind "Show all".
  function fold(body) {
    const line = parseFloat(getComputedStyle(body).lineHeight) || 24;
    if (body.scrollHeight <= line * (FOLD_LINES + 1)) return;
    body.id = body.id || "body-" + uuid();
    body.classList.add("folded");
    const toggle = el("button", "secondary fold", "Show all");
    toggle.type = "button";
    toggle.setAttribute("aria-expanded", "false");
    toggle.setAttribute("aria-controls", body.id);
    toggle.addEventListener("click", () => {
      const folded = body.classList.toggle("folded");
      toggle.textContent = folded ? "Show all" : "Show less";
      toggle.setAttribute("aria-expanded", folded ? "false" : "true");
    });
    body.after(toggle);
  }

  function render(item) {
    const old = document.querySelector('[data-key="' + item.key + '"]');
    const li = el("li", "msg " + (item.who === "me" ? "me" : "bot"));
    li.dataset.key = item.key;
    li.append(el("span", "sr-only", item.who === "me" ? "You said: " : "IT desk said: "));
    const body = item.who === "bot" && item.html ? el("div", "body rich") : el("div", "body", item.text);
    if (item.who === "bot" && item.html) body.append(rich(item.html));
    li.append(body);
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
    if (item.who === "bot") fold(body);
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
"""
