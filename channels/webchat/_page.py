"""The web chat page: one self-contained HTML document (inline CSS and vanilla JS, no CDN, no build).

Flow: work email -> 6-digit code -> chat. Messages are POSTed with a client-generated id
(a retry re-sends the same id, so it is never taken twice); replies arrive as Server-Sent
Events. A bot reply arrives as HTML the server rendered from its Markdown (``bot.rich_text.to_html``: sanitised,
every character of text escaped); the page checks it again against the same short allow-list of tags before it
shows it, and folds an answer longer than about a dozen lines behind a "Show all" button. Everything else (the
person's own messages, button labels, article titles) is inserted as text; links are http(s) only. A file is
uploaded as the body of its own request; the page checks its size first, and says "sent", never "added": whether
the desk kept it, the bot's reply says.
"""

from __future__ import annotations

import html

from channels.webchat._files import megabytes
from channels.webchat._script import SCRIPT

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
.msg .body.rich { white-space:normal; }
.rich p, .rich ul, .rich ol, .rich pre { margin:.3rem 0; }
.rich > :first-child { margin-top:0; }
.rich > :last-child { margin-bottom:0; }
.rich ul, .rich ol { padding-left:1.3rem; }
.rich pre { white-space:pre-wrap; font-size:.9rem; }
.rich code { font-size:.92em; }
.body.folded { max-height:18em; overflow:hidden; }
button.fold { margin-top:.35rem; padding:.1rem .6rem; font-size:.9rem; }
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
__SCRIPT__</script>
</body>
</html>
"""


def render_page(*, base_path: str, nonce: str, code_minutes: int, max_file_bytes: int) -> str:
    return (
        _TEMPLATE.replace("__SCRIPT__", SCRIPT)
        .replace("__NONCE__", nonce)
        .replace("__BASE__", html.escape(base_path, quote=True))
        .replace("__MINUTES__", str(code_minutes))
        .replace("__MAX_FILE_MB__", megabytes(max_file_bytes))
        .replace("__MAX_FILE__", str(max_file_bytes))
    )
