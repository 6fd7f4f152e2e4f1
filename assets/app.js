// Small progressive enhancements; every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Select a freshly created secret so it can be copied at once.
  const token = document.getElementById("new-token");
  if (token) {
    token.focus();
    token.select();
  }
});
