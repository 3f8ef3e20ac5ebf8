// The model page's script: follows the running retraining job by polling its server-rendered fragment, and
// reloads the page once the job has ended so that the new version shows in the list with the verdict.
"use strict";

const JOB_POLL_MS = 1000;

async function followJob(box) {
  try {
    const answer = await fetch(box.dataset.src, { credentials: "same-origin", headers: { "Accept": "text/html" } });
    if (answer.status === 401 || answer.status === 403) {
      const live = document.getElementById("job-live");
      if (live) live.textContent = "Your session has ended: reload the page to sign in again.";
      return;
    }
    if (answer.ok) {
      box.innerHTML = await answer.text();  // server-rendered and escaped by the server, like the page
      const job = box.querySelector(".job");
      if (job && job.dataset.status !== "running") {
        window.location.replace(box.dataset.page);
        return;
      }
    }
  } catch (err) {
    // The server may be restarting: try again on the next beat.
  }
  setTimeout(() => followJob(box), JOB_POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("retraining");
  const job = box ? box.querySelector(".job") : null;
  if (box && job && job.dataset.status === "running") setTimeout(() => followJob(box), JOB_POLL_MS);
});
