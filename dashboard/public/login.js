// Sign-in page: shows the server's "login=failed" flag (it answers a refused key
// with a 303 back to /admin/dashboard?login=failed) and focuses the key field.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const params = new URLSearchParams(location.search);
  const error = document.getElementById("login-error");
  const key = document.getElementById("key");
  if (params.get("login") === "failed" && error) {
    error.hidden = false;
    if (key) key.setAttribute("aria-describedby", "login-error");
  }
  const ended = document.getElementById("session-ended");
  if (params.get("session") === "expired" && ended && error && error.hidden) ended.hidden = false;
  if (key) key.focus();
});
