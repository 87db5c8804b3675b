// The dashboard's only script: confirmed actions, live updates (server-sent events), the time slider.
"use strict";

function flash(text, ok) {
  const box = document.getElementById("flash");
  box.textContent = text;
  box.className = "banner " + (ok ? "ok" : "refused");
  box.hidden = false;
}

function showButtons(row) {
  const status = row.dataset.status;
  const retry = row.querySelector(".retry"), cancel = row.querySelector(".cancel");
  if (retry) retry.hidden = status === "PENDING" || status === "PROCESSING";
  if (cancel) cancel.hidden = status !== "PENDING";
}

async function act(button) {
  if (!window.confirm(button.dataset.confirm)) return;
  const row = button.closest("tr[data-status]");
  const body = {};
  if (button.classList.contains("retry")) {
    body.override = row.dataset.status !== "FAILED";  // a final state leaves only by an override
    body.reason = "retried from the dashboard";
  }
  const response = await fetch(button.dataset.url, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  });
  const reply = await response.json();
  if (reply.ok) flash("done: " + JSON.stringify(reply.result), true);
  else flash("refused: " + reply.error.code + ": " + reply.error.reason, false);
}

function setStatus(cell, status) {
  cell.textContent = status;
  cell.className = "status s-" + status;
}

function applyStatus(change) {
  // Only the jobs that changed come: rows not on the page (a long batch shows its first ones) are skipped.
  setStatus(document.getElementById("batch-status"), change.status);
  for (const job of change.jobs) {
    const row = document.getElementById("job-" + job.job_uuid);
    if (!row) continue;
    row.dataset.status = job.status;
    setStatus(row.querySelector(".status"), job.status);
    row.querySelector(".attempts").textContent = job.attempts;
    row.querySelector(".progress").value = job.progress || 0;
    const code = row.querySelector(".error .code");
    if (job.error && code) {
      code.textContent = job.error.code;
      row.querySelector(".error .reason").textContent = job.error.reason;
      row.querySelector(".error .traceback").textContent = job.error.traceback || "";
    }
    showButtons(row);
  }
  document.getElementById("batch-progress").value = change.settled;
  document.getElementById("batch-settled").textContent = change.settled;
}

function appendTimeline(entries) {
  const list = document.getElementById("timeline"), input = document.getElementById("time-slider");
  const times = JSON.parse(input.dataset.times);
  const atEnd = Number(input.value) === times.length - 1;
  for (const e of entries) {
    const item = document.createElement("li");
    item.dataset.position = e.position;
    item.textContent = e.occurred_at + " " + e.type + " " + e.aggregate_type + " " + e.aggregate_id + (e.code ? " " + e.code : "");
    list.appendChild(item);
    if (times[times.length - 1] !== e.occurred_at) times.push(e.occurred_at);  // one step per moment
  }
  input.dataset.times = JSON.stringify(times);
  input.max = times.length - 1;
  if (atEnd) input.value = times.length - 1;  // a slider at "now" stays at now
}

function follow(batch) {
  const source = new EventSource("/batches/" + batch.dataset.batch + "/live?after=" + batch.dataset.after);
  source.addEventListener("status", (event) => applyStatus(JSON.parse(event.data)));
  source.addEventListener("timeline", (event) => appendTimeline(JSON.parse(event.data)));
}

function slider(input) {
  const label = document.getElementById("time-label");
  const times = () => JSON.parse(input.dataset.times);  // grows with the live timeline
  input.addEventListener("input", () => {
    const t = times();
    label.textContent = Number(input.value) === t.length - 1 ? "now (live)" : "as it stood at " + t[input.value];
  });
  input.addEventListener("change", () => {
    const t = times(), path = window.location.pathname;
    window.location = Number(input.value) === t.length - 1 ? path : path + "?at=" + encodeURIComponent(t[input.value]);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button.action").forEach((b) => b.addEventListener("click", () => act(b)));
  document.querySelectorAll("tr[data-status]").forEach(showButtons);
  const batch = document.getElementById("batch");
  if (batch && batch.dataset.live === "yes") follow(batch);
  const input = document.getElementById("time-slider");
  if (input) slider(input);
});
