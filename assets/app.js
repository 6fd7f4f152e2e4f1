// Small progressive enhancements. Pages work without this file, except the custom sidebar
// sections, which load after the page so that no endpoint can slow the ticket down.
"use strict";

const collapsedKey = (id) => `therethere.section.${id}.collapsed`;

// Numbers and dates from endpoints arrive raw; show them in the agent's locale and zone. A
// calendar day (data-date-only) is the same day everywhere, so it is formatted in UTC.
function formatValues(root) {
  root.querySelectorAll("data.js-number").forEach((el) => {
    const n = Number(el.value);
    if (Number.isFinite(n)) {
      el.textContent = new Intl.NumberFormat(undefined, { maximumFractionDigits: 20 }).format(n);
    }
  });
  root.querySelectorAll("time.js-date").forEach((el) => {
    const dateOnly = el.dataset.dateOnly === "true";
    const when = new Date(dateOnly ? `${el.dateTime}T00:00:00Z` : el.dateTime);
    if (!Number.isNaN(when.getTime())) {
      const shown = dateOnly ? { dateStyle: "medium", timeZone: "UTC" } : { dateStyle: "medium" };
      const full = dateOnly
        ? { dateStyle: "full", timeZone: "UTC" }
        : { dateStyle: "full", timeStyle: "long" };
      el.textContent = new Intl.DateTimeFormat(undefined, shown).format(when);
      el.title = new Intl.DateTimeFormat(undefined, full).format(when);
    }
  });
}

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

async function loadSection(details, refresh = false) {
  const body = details.querySelector(".section-body");
  try {
    const response = refresh
      ? await fetch(`${details.dataset.src}/refresh`, {
          method: "POST",
          credentials: "same-origin",
          headers: { Accept: "text/html", "X-CSRF-Token": csrfToken() },
        })
      : await fetch(details.dataset.src, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (response.status === 429) {
      // Refreshed moments ago by someone: keep what is shown and say when to retry.
      const note = document.createElement("p");
      note.className = "section-note muted";
      note.textContent = await response.text();
      body.querySelector(".section-note")?.remove();
      body.prepend(note);
      return;
    }
    if (!response.ok) {
      throw new Error(response.status === 404 ? "not found" : `HTTP ${response.status}`);
    }
    // The server renders this fragment with every endpoint value escaped or sanitised.
    body.innerHTML = await response.text();
    details.dataset.status = response.headers.get("x-section-status") || "ok";
    if (details.dataset.status === "empty" && details.open) {
      // Nothing to show: collapsed, without remembering it as the agent's choice.
      details.dataset.autoCollapsed = "true";
      details.open = false;
    }
    formatValues(body);
  } catch (error) {
    details.dataset.status = "error";
    body.textContent = "";
    const p = document.createElement("p");
    p.className = "section-error";
    p.textContent = `Couldn\u2019t load: ${error.message || "network error"}`;
    body.appendChild(p);
  }
}

function setUpSections() {
  document.querySelectorAll("details.custom-section").forEach((details) => {
    const id = details.dataset.sectionId;
    try {
      if (localStorage.getItem(collapsedKey(id)) === "true") {
        details.open = false;
      }
    } catch (_) {
      // Storage may be unavailable (private mode); sections then start open.
    }
    const refresh = details.parentElement.querySelector(".section-refresh");
    if (refresh) {
      refresh.addEventListener("click", () => {
        refresh.disabled = true;
        loadSection(details, true).finally(() => {
          refresh.disabled = false;
        });
      });
    }
    details.addEventListener("toggle", () => {
      if (details.dataset.autoCollapsed === "true") {
        delete details.dataset.autoCollapsed;
        return;
      }
      try {
        localStorage.setItem(collapsedKey(id), String(!details.open));
      } catch (_) {}
    });
    loadSection(details);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpSections();
  formatValues(document);
  // Select a freshly created secret so it can be copied at once.
  const token = document.getElementById("new-token");
  if (token) {
    token.focus();
    token.select();
  }
});
