// Tip times and "as of" stamps in the reader's own time zone: the server writes UTC ISO times in
// <time datetime>, this rewrites their text with the browser's locale and zone.
"use strict";
function localTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    const at = new Date(el.getAttribute("datetime"));
    if (!isNaN(at)) {
      el.textContent = at.toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit", month: "short", day: "numeric" });
      el.title = at.toISOString();
    }
  }
}
document.addEventListener("DOMContentLoaded", () => localTimes(document));
