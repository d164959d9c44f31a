// Saved filters (Todoist's filter views) and the filter language in the search box.
// The server evaluates every query (GET /tasks?filter=…): this file only keeps which of the tasks the page
// already has match the current filter view, the saved filters with their counts, and their dialog.
// Hooks elsewhere: inView (views.js) asks inFilterView, applyEvent (app.js) calls noteForFilters,
// renderNav calls renderFilterNav, a row's @tag opens openTagFilter, the search box calls searchAsFilter
// (and, when the server accepted its query, offers "Save as filter").
"use strict";

const filterState = {
  saved: [],               // [{id, name, query, color, position, count}], as GET /filters answers
  view: null,              // {query, name, ids: Set, error} for the "filter:<id>" / "tag:<name>" view or a search
  refreshTimer: null,
  searchTimer: null,
  searchSeq: 0,
};

function filterQueryOfView(view) {
  if (view.startsWith("filter:")) {
    const saved = filterState.saved.find((f) => f.id === view.slice(7));
    return saved ? saved.query : null;
  }
  if (view.startsWith("tag:")) return `@${view.slice(4)}`;
  return null;
}

function inFilterView(task) {
  return Boolean(filterState.view && filterState.view.ids.has(task.id)) && !task.completed;
}

function filterTitle() {
  if (state.view.startsWith("tag:")) return `@${state.view.slice(4)}`;
  const saved = filterState.saved.find((f) => f.id === state.view.slice(7));
  return saved ? saved.name : "Filter";
}

// Every open task matching a query (pages followed, at most 1,000), or the server's 422 as an error.
async function matchingIds(query, completed = "false") {
  const ids = new Set();
  let cursor = null;
  for (let page = 0; page < 5; page += 1) {
    const params = new URLSearchParams({ filter: query, limit: "200" });
    if (completed !== null) params.set("completed", completed);
    if (cursor) params.set("cursor", cursor);
    const data = await api("GET", `/api/{me}/tasks?${params}`);
    data.items.forEach((t) => { upsert(t); ids.add(t.id); });
    cursor = data.next_cursor;
    if (!cursor) break;
  }
  return ids;
}

async function loadFilterView() {
  const query = filterQueryOfView(state.view);
  if (query === null) return;
  const view = state.view;
  try {
    const ids = await matchingIds(query);
    if (state.view !== view) return;
    filterState.view = { query, ids, error: null };
  } catch (error) {
    if (state.view !== view) return;
    filterState.view = { query, ids: new Set(), error: error.message };
    toast(`This filter does not read: ${error.message}`);
  }
  render();
}

function openFilterView(view) {
  filterState.view = { query: filterQueryOfView(view), ids: new Set(), error: null };
  setView(view);
  loadFilterView();
}

function openTagFilter(tag) { openFilterView(`tag:${tag}`); }

async function loadFilters() {
  try {
    const data = await api("GET", "/api/{me}/filters");
    filterState.saved = data.items;
    renderNav();
    // a saved filter's view opened from its address before the filters were known: now it has its query
    if (state.view.startsWith("filter:") && filterState.view && filterState.view.query === null) {
      filterState.view.query = filterQueryOfView(state.view);
      loadFilterView();
    }
  } catch (error) { if (!error.network) toast(error.message); }
}

// Live: a task or filter changed somewhere (this tab or another): counts and the open filter view follow.
function noteForFilters(event) {
  const type = event.type || "";
  if (!(type.startsWith("task.") || type.startsWith("filter.") || type === "recurring.spawned")) return;
  clearTimeout(filterState.refreshTimer);
  filterState.refreshTimer = setTimeout(() => {
    loadFilters();
    if (filterQueryOfView(state.view) !== null) loadFilterView();
    else if (state.view === "search" && filterState.view) searchAsFilter(state.search);
  }, 250);
}

function renderFilterNav() {
  const ul = document.getElementById("filters");
  if (!ul) return;
  ul.replaceChildren(...filterState.saved.map((f) => el("li", { class: "filter-row" },
    el("button", { type: "button", "data-view": `filter:${f.id}`, "aria-current": state.view === `filter:${f.id}` ? "page" : false,
      title: f.query, onclick: () => openFilterView(`filter:${f.id}`) },
      el("span", { class: "swatch", style: `background:${f.color}` }), f.name,
      el("span", { class: "count" }, f.count ? String(f.count) : "")),
    el("button", { type: "button", class: "secondary filter-edit", "aria-label": `Edit filter ${f.name}`, title: "Edit",
      onclick: () => openFilterDialog(f) }, "✎"))));
}

function openFilterDialog(saved) {
  const dialog = $("filter-dialog");
  dialog.dataset.id = saved ? saved.id : "";
  $("filter-dialog-title").textContent = saved ? "Edit filter" : "New filter";
  $("fd-name").value = saved ? saved.name : "";
  $("fd-query").value = saved ? saved.query : (state.view === "search" && filterState.view ? state.search : "");
  $("fd-color").value = saved ? saved.color : "#3b82f6";
  $("fd-message").textContent = "";
  $("fd-delete").hidden = !saved;
  $("fd-save").textContent = saved ? "Save" : "Add filter";
  dialog.showModal();
  $("fd-name").focus();
}

async function saveFilterDialog(event) {
  event.preventDefault();
  const id = $("filter-dialog").dataset.id;
  const body = { name: $("fd-name").value.trim(), query: $("fd-query").value.trim(), color: $("fd-color").value };
  try {
    const saved = id ? await api("PUT", `/api/{me}/filters/${id}`, body) : await api("POST", "/api/{me}/filters", body);
    $("filter-dialog").close();
    await loadFilters();
    openFilterView(`filter:${saved.id}`);
  } catch (error) {
    const errors = error.data && error.data.errors;
    $("fd-message").textContent = errors && errors.query ? `The query does not read: ${errors.query}` : error.message;
  }
}

async function deleteFilterDialog() {
  const id = $("filter-dialog").dataset.id;
  try {
    await api("DELETE", `/api/{me}/filters/${id}`);
    $("filter-dialog").close();
    filterState.saved = filterState.saved.filter((f) => f.id !== id);
    if (state.view === `filter:${id}`) setView("inbox"); else renderNav();
  } catch (error) { $("fd-message").textContent = error.message; }
}

// The search box understands the language: text that reads as a query runs on the server as a filter;
// anything else is searched as plain text (as before). Text that looks like a query (an operator, a # or
// an @) but does not read says why, inline.
const LOOKS_LIKE_FILTER = /[&|!()#@]|^\s*(search:|p[1-4]\b|today\b|tomorrow\b|overdue\b|no date\b|next \d+ days\b|\d+ days\b|recurring\b|subtasks?\b|all-day\b)/i;

function searchAsFilter(text) {
  clearTimeout(filterState.searchTimer);
  const hint = $("search-hint");
  const seq = (filterState.searchSeq += 1);
  if (!text || !LOOKS_LIKE_FILTER.test(text)) {
    filterState.view = null;
    if (hint) hint.textContent = "";
    offerToSaveSearch(null);
    return;
  }
  filterState.searchTimer = setTimeout(async () => {
    try {
      const ids = await matchingIds(text, null);
      if (seq !== filterState.searchSeq) return;
      filterState.view = { query: text, ids, error: null };
      if (hint) hint.textContent = `Filter: ${ids.size} ${ids.size === 1 ? "task" : "tasks"} match.`;
      offerToSaveSearch(text);
    } catch (error) {
      if (seq !== filterState.searchSeq) return;
      filterState.view = null;
      offerToSaveSearch(null);
      const errors = error.data && error.data.errors;
      if (hint) hint.textContent = errors && errors.filter ? `Not a filter (${errors.filter}): searching the text.` : "";
    }
    render();
  }, 200);
}

// "Save as filter": offered while the search box holds a query the server accepted (`query`, else null);
// the name is asked inline, the query itself unless changed.
function offerToSaveSearch(query) {
  const changed = $("save-search").dataset.query !== (query || "");
  $("save-search").dataset.query = query || "";
  $("save-search").hidden = !query;
  if (!changed) return;
  closeSaveSearch(false);
  $("save-search-message").textContent = "";
}

function openSaveSearch() {
  $("save-search-open").hidden = true;
  $("save-search-form").hidden = false;
  $("save-search-message").textContent = "";
  $("save-search-name").value = $("save-search").dataset.query.slice(0, 100);
  $("save-search-name").focus();
  $("save-search-name").select();
}

function closeSaveSearch(refocus) {
  $("save-search-form").hidden = true;
  $("save-search-open").hidden = false;
  if (refocus) $("search").focus();
}

async function saveSearchAsFilter() {
  const query = $("save-search").dataset.query;
  const name = $("save-search-name").value.trim() || query.slice(0, 100);
  if (!query) return;
  try {
    const saved = await api("POST", "/api/{me}/filters", { name, query });
    closeSaveSearch(true);
    $("save-search-message").textContent = `Saved as the filter “${saved.name}”.`;
    await loadFilters();  // it shows in the navigation, with its count
  } catch (error) {
    const errors = (error.data && error.data.errors) || {};
    $("save-search-message").textContent = `Not saved: ${errors.name || errors.query || error.message}`;
  }
}

// Search results: a query that read shows what the server matched (open and completed), else plain text.
function searchMatches(task, q) {
  if (filterState.view && filterState.view.query === state.search) return filterState.view.ids.has(task.id);
  return Boolean(q) && matches(task, q);
}

function initFilters() {
  $("filter-dialog-open").addEventListener("click", () => openFilterDialog(null));
  $("filter-dialog-form").addEventListener("submit", saveFilterDialog);
  $("fd-cancel").addEventListener("click", () => $("filter-dialog").close());
  $("fd-delete").addEventListener("click", deleteFilterDialog);
  $("search").addEventListener("input", () => searchAsFilter($("search").value.trim()));
  $("save-search-open").addEventListener("click", openSaveSearch);
  $("save-search-save").addEventListener("click", saveSearchAsFilter);
  $("save-search-cancel").addEventListener("click", () => closeSaveSearch(true));
  // Inside the search form: Enter saves (not a search), Esc puts the name away and goes back to the search.
  $("save-search-name").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); saveSearchAsFilter(); }
    else if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); closeSaveSearch(true); }
  });
}

initFilters();
