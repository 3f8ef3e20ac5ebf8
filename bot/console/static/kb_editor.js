// The knowledge-base editor's live preview: while the editor types, the form's fields go to the console's preview
// route (the /kb pages' own renderer, which escapes raw HTML), at most every PAUSE_MS after the last keystroke.
"use strict";

const PAUSE_MS = 400;

function startPreview(form) {
  const shown = document.getElementById("kb-preview");
  const problem = document.getElementById("kb-preview-error");
  const state = document.getElementById("kb-preview-state");
  let timer = null;
  let asked = 0;  // the newest request: an older answer arriving late must not overwrite a newer one

  async function refresh() {
    if (!form.checkValidity()) {  // the server would only say which field is empty: the form shows it already
      if (state) state.textContent = "fill in the id, title, section and body to see it";
      return;
    }
    const mine = ++asked;
    if (state) state.textContent = "updating…";
    try {
      const answer = await fetch(form.dataset.preview, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html" },
        body: new URLSearchParams(new FormData(form)),
      });
      if (mine !== asked) return;
      const text = await answer.text();  // server-rendered and escaped by the server
      if (answer.ok) {
        shown.innerHTML = text;
        problem.hidden = true;
        if (state) state.textContent = "as the /kb page will show it";
      } else if (answer.status === 401 || answer.status === 403) {
        problem.textContent = "Your session has ended: save your text elsewhere and reload the page to sign in again.";
        problem.hidden = false;
      } else {
        problem.innerHTML = text;  // what is wrong with the article, e.g. no "## Steps" section
        problem.hidden = false;
        if (state) state.textContent = "the last good preview";
      }
    } catch (err) {
      problem.textContent = "The preview cannot be reached right now.";
      problem.hidden = false;
    }
  }

  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, PAUSE_MS);
  });
  if (!shown.innerHTML.trim()) refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("kb-form");
  if (form && form.dataset.preview) startPreview(form);
});
