// The live signal feed (Pro): new signals pushed by the server (server-sent events) go on top of the list.
// Each event's data is one table row rendered by the server's autoescaped template, the same row the page
// lists; it is parsed into a <template>, never into the live document, and only a <tr> is taken from it.
// A final "closed" event (the member keeps too many live streams open) ends the feed with its reason as text.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("live-status");
  const rows = document.getElementById("signal-rows");
  if (!status || !rows || !window.EventSource) return;
  const source = new EventSource(status.dataset.live);
  source.addEventListener("open", () => status.classList.remove("offline"));
  source.addEventListener("error", () => status.classList.add("offline"));
  // The server closed this stream for good (the member opened more elsewhere): say why, do not reconnect.
  source.addEventListener("closed", (event) => {
    source.close();
    status.classList.add("offline");
    status.textContent = event.data;
  });
  source.addEventListener("signal", (event) => {
    const holder = document.createElement("template");
    holder.innerHTML = event.data;
    const row = holder.content.querySelector("tr[data-signal]");
    if (!row || rows.querySelector(`tr[data-signal="${CSS.escape(row.dataset.signal)}"]`)) return;
    rows.prepend(row);
    if (typeof localTimes === "function") localTimes(row);
    const empty = document.getElementById("no-signals");
    if (empty) empty.remove();
  });
});
