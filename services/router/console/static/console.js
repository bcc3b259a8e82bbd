// Plan B console: a little vanilla JavaScript on top of server-rendered pages.
// - live counters that ask the server to count (the same rule it enforces),
// - "next update" countdowns, - delivery states polled every 2 s until final,
// - the incidents list refreshed while nobody is typing.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function showCount(channel, body) {
  const counter = document.querySelector(`[data-counter="${CSS.escape(channel)}"]`);
  const area = document.querySelector(`[data-count="${CSS.escape(channel)}"]`);
  if (!counter) return;
  counter.textContent = "";
  if (body.over > 0) {
    const over = document.createElement("strong");
    over.textContent = `${body.over} over`;
    counter.append(over, " · ");
  }
  counter.append(`${body.length} / ${body.limit} ${body.unit}`);
  counter.classList.toggle("over", body.over > 0);
  area?.classList.toggle("over", body.over > 0);
  area?.setAttribute("aria-invalid", body.over > 0 ? "true" : "false");
  const preview = document.querySelector(`[data-preview="${CSS.escape(channel)}"]`);
  if (preview) {
    const link = (body.links || [])[0] || "";
    let host = "No link in this text";
    try { if (link) host = new URL(link).host; } catch (_) { host = link; }
    preview.querySelector("[data-preview-host]").textContent = host;
    preview.querySelector("[data-preview-url]").textContent = link;
  }
}

function watchCounters() {
  document.querySelectorAll("textarea[data-count]").forEach((area) => {
    const key = area.dataset.count;  // channel:language, one counter each
    const channel = area.dataset.channel || key;
    let asked = 0;
    const ask = debounce(async () => {
      const mine = ++asked;
      try {
        const response = await fetch("/console/count", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
          body: JSON.stringify({ channel_id: channel, text: area.value.replace(/\r\n/g, "\n") }),
        });
        if (response.ok && mine === asked) showCount(key, await response.json());
      } catch (_) { /* offline for a moment: the server still checks on approve */ }
    }, 200);
    area.addEventListener("input", ask);
  });
}

function clockText(seconds) {
  const s = Math.abs(Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h} h ${pad(m)} min` : `${m}:${pad(r)} min`;
}

function tickCountdowns() {
  document.querySelectorAll("[data-deadline]").forEach((el) => {
    const left = (Date.parse(el.dataset.deadline) - Date.now()) / 1000;
    el.textContent = left >= 0 ? `in ${clockText(left)}` : `${clockText(left)} overdue`;
    el.classList.toggle("late", left < 0);
  });
}

function pollDeliveries() {
  const panel = document.querySelector("[data-poll]");
  if (!panel || panel.dataset.done === "true") return;
  setTimeout(async () => {
    try {
      const response = await fetch(panel.dataset.poll, { credentials: "same-origin" });
      if (response.ok) {
        const holder = document.createElement("div");
        holder.innerHTML = await response.text();
        const fresh = holder.querySelector("[data-poll]");
        if (fresh) panel.replaceWith(fresh);
      }
    } catch (_) { /* try again on the next round */ }
    pollDeliveries();
  }, 2000);
}

function refreshList() {
  const first = document.querySelector("[data-refresh]");
  if (!first) return;
  const every = Number(first.dataset.refreshEvery || 15) * 1000;
  setInterval(async () => {
    const list = document.querySelector("[data-refresh]");
    if (!list || document.hidden || list.contains(document.activeElement)) return;
    try {
      const response = await fetch(list.dataset.refresh, { credentials: "same-origin" });
      if (!response.ok || response.redirected) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.querySelector("[data-refresh]");
      const side = page.querySelector(".side-col");
      if (fresh) { list.replaceWith(fresh); }
      if (side) document.querySelector(".side-col")?.replaceWith(side);
      tickCountdowns();
    } catch (_) { /* keep what is shown */ }
  }, every);
}

document.addEventListener("DOMContentLoaded", () => {
  watchCounters();
  tickCountdowns();
  setInterval(tickCountdowns, 1000);
  pollDeliveries();
  refreshList();
});
