// pagefit serve's web page: plain JS, no build step. Talks to /api/search, /api/compare, /api/health.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  // The API key travels in the X-API-Key header only, never in a URL (URLs end up in server logs and the
  // browser history). A key given in the page's own address is kept for the session and removed from it.
  const given = new URLSearchParams(location.search);
  let apiKey = given.get("api_key") || sessionStorage.getItem("pagefit-api-key") || "";
  if (given.has("api_key")) {
    sessionStorage.setItem("pagefit-api-key", apiKey);
    given.delete("api_key");
    history.replaceState(null, "", location.pathname + (given.toString() ? "?" + given : "") + location.hash);
  }
  let hasCompare = false;

  async function request(path) {
    const headers = apiKey ? { "X-API-Key": apiKey } : {};
    let response = await fetch(path, { headers });
    if (response.status === 401) {
      apiKey = window.prompt("This server needs an API key:") || "";
      sessionStorage.setItem("pagefit-api-key", apiKey);
      response = await fetch(path, { headers: { "X-API-Key": apiKey } });
    }
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(typeof body.detail === "string" ? body.detail : response.status + " " + response.statusText);
    }
    return response;
  }

  async function api(path) {
    return (await request(path)).json();
  }

  // An image fetched with the key header, shown from a blob: URL (an <img src> cannot send a header).
  const shown = new Map();
  async function showImage(img, path) {
    try {
      const url = URL.createObjectURL(await (await request(path)).blob());
      if (shown.has(img)) URL.revokeObjectURL(shown.get(img));
      shown.set(img, url);
      img.src = url;
    } catch (error) {
      img.alt = img.alt + " (" + error.message + ")";
    }
  }

  function forgetImages(root) {
    for (const img of root.querySelectorAll("img")) {
      if (shown.has(img)) URL.revokeObjectURL(shown.get(img));
      shown.delete(img);
    }
  }

  function card(result, shared) {
    const div = document.createElement("div");
    div.className = "result" + (shared ? " shared" : "");
    div.dataset.pageId = result.page_id;
    const img = document.createElement("img");
    img.alt = result.page_id;
    showImage(img, result.thumbnail);
    div.appendChild(img);
    if (shared) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = "in both";
      div.appendChild(badge);
    }
    const meta = document.createElement("div");
    meta.className = "meta";
    const id = document.createElement("span");
    id.className = "page-id";
    id.textContent = "#" + result.rank + " " + result.page_id;
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = result.score.toFixed(3);
    meta.append(id, score);
    const snippet = document.createElement("p");
    snippet.className = "snippet";
    snippet.textContent = result.snippet;
    div.append(meta, snippet);
    div.addEventListener("click", () => openPage(result));
    return div;
  }

  function column(title, response, sharedIds) {
    const col = document.createElement("section");
    col.className = "column";
    col.dataset.index = response.index;
    const h2 = document.createElement("h2");
    h2.textContent = title + " — " + response.model;
    const grid = document.createElement("div");
    grid.className = "grid";
    for (const result of response.results) grid.appendChild(card(result, sharedIds.has(result.page_id)));
    col.append(h2, grid);
    return col;
  }

  function openPage(result) {
    showImage($("viewer-image"), result.image);
    $("viewer-caption").textContent = result.page_id + " — " + result.source + ", page " + result.page_number;
    $("viewer").showModal();
  }

  async function search(event) {
    if (event) event.preventDefault();
    const q = $("query").value.trim();
    if (!q) return;
    const k = $("k").value;
    const params = "q=" + encodeURIComponent(q) + "&k=" + encodeURIComponent(k);
    const results = $("results");
    $("status").textContent = "searching…";
    try {
      const started = performance.now();
      forgetImages(results);
      results.replaceChildren();
      if (hasCompare && $("compare").checked) {
        const both = await api("/api/compare?" + params);
        const shared = new Set(both.shared);
        results.append(column("index", both.left, shared), column("compare", both.right, shared));
        $("status").textContent = both.shared.length + " of " + both.k + " pages in both · " + Math.round(performance.now() - started) + " ms";
      } else {
        const response = await api("/api/search?" + params);
        results.append(column("index", response, new Set()));
        $("status").textContent = response.results.length + " pages · " + Math.round(performance.now() - started) + " ms";
      }
    } catch (error) {
      $("status").textContent = "error: " + error.message;
    }
  }

  async function start() {
    $("search-form").addEventListener("submit", search);
    try {
      const health = await api("/api/health");
      hasCompare = "compare" in health.indexes;
      $("compare-toggle").hidden = !hasCompare;
    } catch (error) {
      $("status").textContent = "error: " + error.message;
    }
    document.body.dataset.ready = "true";
  }

  start();
})();
