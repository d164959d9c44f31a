// TaskFlow web app: plain JavaScript, no build step, no external requests.
"use strict";

const $ = (id) => document.getElementById(id);
const SESSION_KEY = "taskflow.session";
const UNDO_MS = 5000;

const state = {
  session: null,          // {userId, email}: the session itself is an HttpOnly cookie (shell.js)
  tasks: new Map(),       // id -> task snapshot
  view: "inbox",          // inbox | today | upcoming | all | completed | search | list:<id>
  lists: new Map(),       // id -> list
  tz: null,               // the user's time zone (preferences), detected on first sign-in
  selected: null,         // task id under the keyboard cursor
  reminderTasks: new Set(), // ids of tasks with a pending reminder (the bell)
  search: "",
  ws: null,
  lastEventId: null,
  attempt: 0,
  reconnectTimer: null,
  pendingDeletes: new Map(), // id -> timer
  loading: false,
  buffered: [],
  panelTask: null,
  ticking: new Set(),        // ids of tasks whose tick is on its way: one change per tick, however many clicks
};

// ---------- API ----------

// Errors carry `status` and the problem document (`data`); a request that never reached the server has
// `network: true` and says so in words (never the browser's "Failed to fetch").
async function api(method, path, body, contentType = "application/json", extraHeaders = {}) {
  // The session cookie goes with every request; a change made with it must carry this header (CSRF).
  const headers = { "X-Requested-With": "fetch", ...extraHeaders };
  if (body !== undefined) headers["Content-Type"] = contentType;
  const payload = body === undefined || contentType !== "application/json" ? body : JSON.stringify(body);
  let response;
  try {
    // no-store: an API answer is never kept in the browser's HTTP cache (nor served from it as fresh)
    response = await fetch(path.replace("{me}", state.session ? state.session.userId : ""), {
      method, headers, body: payload, cache: "no-store",
    });
  } catch (_) {
    const error = new Error(navigator.onLine === false ? "You are offline." : "The server cannot be reached right now.");
    error.network = true;
    throw error;
  }
  if (response.status === 401 && state.session) {
    signOut("Your session has expired. Please sign in again.");
    const error = new Error("Your session has expired.");
    error.status = 401;
    throw error;
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data && (data.errors ? Object.entries(data.errors).map(([k, v]) => `${k}: ${v}`).join("; ") : data.detail);
    const error = new Error(detail || `HTTP ${response.status}`);
    error.status = response.status;
    error.data = data;
    throw error;
  }
  return data;
}

// ---------- account ----------

// Who is signed in ({userId, email}, no secret) is kept for every tab and for a start while offline.
function saveSession(session) {
  state.session = session;
  if (session) localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else localStorage.removeItem(SESSION_KEY);
}

async function authenticate(kind) {
  const email = $("email").value.trim();
  const password = $("password").value;
  $("auth-message").textContent = "";
  if (!$("auth-form").reportValidity()) return;
  try {
    const data = await api("POST", `/api/auth/${kind}`, { email, password });
    saveSession({ userId: data.user_id, email });
    broadcast({ type: "signed-in", user: data.user_id, email });  // every other tab of this browser too
    startApp();
  } catch (error) {
    $("auth-message").textContent = error.message;
  }
}

// Sign out (the button): what this browser holds of the account goes — the offline copy, caches and,
// after asking, changes still waiting to be sent — so a shared computer keeps nothing of it.
async function requestSignOut() {
  if (!state.session) return;
  if (pendingCount() && navigator.onLine !== false) {
    await Promise.race([flush(), new Promise((resolve) => { setTimeout(resolve, 5000); })]);
  }
  const waiting = pendingCount();
  if (waiting && !(await confirmDropping(waiting))) return;
  const user = state.session.userId;
  await forgetQueue(user);
  await forgetCaches();
  broadcast({ type: "signed-out", user });  // its other tabs too: none of them writes the copy again
  signOut("Signed out. This browser keeps nothing of your account.");
}

function confirmDropping(waiting) {
  const dialog = $("signout-dialog");
  $("signout-text").textContent = waiting === 1
    ? "1 change has not reached the server yet. Signing out removes it from this browser with the rest of your account's data."
    : `${waiting} changes have not reached the server yet. Signing out removes them from this browser with the rest of your account's data.`;
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "drop"), { once: true });
  });
}

async function forgetCaches() {
  // The app's shell (HTML, scripts, styles) holds nothing of an account; any other cache might.
  if (!("caches" in window)) return;
  try {
    for (const key of await caches.keys()) if (!key.startsWith("taskflow-shell")) await caches.delete(key);
  } catch (_) { /* nothing cached */ }
}

function forgetOfflineCopy() {
  for (let i = localStorage.length - 1; i >= 0; i -= 1) {
    const key = localStorage.key(i);
    if (key && key.startsWith("taskflow.") && key !== MORE_KEY) localStorage.removeItem(key);
  }
}

function signOut(message) {
  if (state.session) forgetSessionCookie();
  saveSession(null);
  if (state.ws) { state.ws.onclose = null; state.ws.close(1000); state.ws = null; }
  clearTimeout(state.reconnectTimer);
  clearTimeout(sync.retryTimer);
  // An expired session keeps its waiting changes (stored; sent when the same person signs in again);
  // the offline copy of the tasks always goes.
  forgetOfflineCopy();
  sync.ops = [];
  sync.conflicts.clear();
  sync.waiters.clear();
  state.tasks.clear();
  state.lists.clear();
  state.reminderTasks.clear();
  forgetSections();  // organise.js
  state.fromOffline = false;
  closePanel();
  $("tasks").replaceChildren();
  $("lists").replaceChildren();
  $("archived").replaceChildren();
  showPending();
  state.lastEventId = null;
  setDot("offline");
  $("app").hidden = true;
  $("auth").hidden = false;
  $("signout").hidden = true;
  $("fab").hidden = true;
  $("who").textContent = "";
  $("auth-message").textContent = message || "";
  $("email").focus();
  leaveAddress();
}

function startApp() {
  $("auth").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  $("who").textContent = state.session.email || "";
  $("settings-open").hidden = false;
  $("fab").hidden = false;
  showOffline();
  loadQueue();
  loadPreferences();
  loadLists();
  loadFilters();
  connect();
  loadFeed();
  // Keyboard first, as in Todoist: nothing has the focus, so j, k, ? and q work at once.
  if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
  applyAddress();
}

// ---------- tasks ----------

async function loadTasks() {
  state.loading = true;
  state.buffered = [];
  const fresh = new Map();
  let cursor = null;
  try {
    do {
      const page = await api("GET", `/api/{me}/tasks?limit=200${cursor ? `&cursor=${cursor}` : ""}`);
      page.items.forEach((t) => fresh.set(t.id, t));
      cursor = page.next_cursor;
    } while (cursor);
    state.tasks = fresh;
    loadCommentCounts();
    reapplyQueue();  // what is still waiting to be sent shows on top of the server's state
    state.fromOffline = false;
  } finally {
    state.loading = false;
    state.buffered.splice(0).forEach(applyEvent);
    render();
    openWantedTask();
  }
}

function upsert(task) {
  const current = state.tasks.get(task.id);
  if (!current || task.version >= current.version) state.tasks.set(task.id, task);
}

function snapshotOf(data) {
  const { changes, deleted, series_id, cascade, ...task } = data;
  return task;
}

function applyEvent(event) {
  if (state.loading) { state.buffered.push(event); return; }
  noteForFilters(event);
  if (organiseEvent(event)) return;  // section.* and comment.* (organise.js)
  switch (event.type) {
    case "task.created":
      adoptCreated(event.data);
      upsert(snapshotOf(event.data));
      break;
    case "recurring.spawned":
      // An occurrence ticked here is spawned and completed in one go; its spawn alone, arriving after
      // the answer, would show it open for a moment beside the series moved on.
      if (sync.ticked.has(event.data.id)) break;
      upsert(snapshotOf(event.data));
      break;
    case "task.completed":
      sync.ticked.delete(event.data.id);
      upsert(snapshotOf(event.data));
      break;
    case "task.updated": case "task.uncompleted":
      upsert(snapshotOf(event.data));
      break;
    case "task.deleted":
      state.tasks.delete(event.data.id);
      break;
    case "list.created": case "list.updated":
      state.lists.set(event.data.id, { ...state.lists.get(event.data.id), ...snapshotOf(event.data) });
      break;
    case "list.deleted":
      state.lists.delete(event.data.id);
      break;
    case "reminder.triggered":
      notify(`Reminder: ${event.data.task_title}`);
      break;
    case "reminder.missed":
      toast(`Missed reminder: ${event.data.task_title}`);
      break;
    default:
      return;
  }
  if (event.type.startsWith("task.") || event.type === "recurring.spawned") reapplyFor(event.data.id);
  render();
  if (!event.type.startsWith("list.")) reloadReminderMarksSoon();
  if (state.panelTask && event.data && (event.data.id === state.panelTask || event.data.task_id === state.panelTask)) {
    openPanel(state.panelTask, true);
  }
}

function tzOf(task) { return state.tz || task.timezone || selectedTz(); }

function formatWhen(iso, tz) {
  if (!iso) return "";
  try {
    return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: tz }).format(new Date(iso));
  } catch (_) { return iso; }
}

// Search looks through every task, open and completed, in every list: title, description, tags, list name.
function matches(task, q) {
  // No badge repeats the view: in a list's own view its rows do not each say the list's name.
  const list = task.list_id && state.view !== `list:${task.list_id}` ? state.lists.get(task.list_id) : null;
  return [task.title, task.description || "", ...(task.tags || []), list ? list.name : ""]
    .some((text) => text.toLowerCase().includes(q));
}

// An open instance at its series' next occurrence (a tick ahead undone) is the same to-do as the series'
// row: one row stands for both, as before the tick.
function standsBehindSeries(task) {
  if (!task.parent_id || task.completed || !task.occurrence_at) return false;
  const series = state.tasks.get(task.parent_id);
  return Boolean(series && isScheduledSeries(series)
    && new Date(series.next_occurrence).getTime() === new Date(task.occurrence_at).getTime());
}

function visibleTasks() {
  const q = state.search.toLowerCase();
  return nestSubtasks([...state.tasks.values()]
    .filter((t) => !state.pendingDeletes.has(t.id) && !(t.list_id && state.pendingDeletes.has(t.list_id)))
    .filter((t) => !standsBehindSeries(t))
    .filter((t) => (state.view === "search" ? searchMatches(t, q) : inView(t, state.view)))
    .sort(viewOrder));  // sub-tasks under their parents (subtasks.js)
}

function render() {
  const list = $("tasks");
  const items = visibleTasks();
  const focused = document.activeElement && document.activeElement.closest("#tasks li.task[data-id]");
  const refocus = focused && { id: focused.dataset.id, cls: document.activeElement.className };
  list.replaceChildren(...groupRows(items));
  if (refocus) {
    // A live update must not take the keyboard cursor away from the row it is on.
    const row = list.querySelector(`li[data-id="${refocus.id}"]`);
    const target = row && (row.querySelector(`[class="${refocus.cls}"]`) || row.querySelector("input.complete"));
    if (target) target.focus();
  }
  $("empty").hidden = items.length > 0;
  $("empty").textContent = state.view === "search"
    ? (state.search ? `No task matches “${state.search}”.` : "Type to search all your tasks, open and completed.")
    : emptyText();
  renderNav();
  renderPanelSubtasks();
}

// The parts of text that match the search, each in a <mark>.
function highlighted(text) {
  const q = state.view === "search" ? state.search.toLowerCase() : "";
  if (!q) return [text];
  const parts = [];
  let at = 0;
  for (let i = text.toLowerCase().indexOf(q); i !== -1; i = text.toLowerCase().indexOf(q, at)) {
    parts.push(text.slice(at, i), el("mark", {}, text.slice(i, i + q.length)));
    at = i + q.length;
  }
  parts.push(text.slice(at));
  return parts.filter((p) => p !== "");
}

function snippet(description) {
  const q = state.search.toLowerCase();
  const i = state.view === "search" && q ? (description || "").toLowerCase().indexOf(q) : -1;
  if (i === -1) return "";
  const start = Math.max(0, i - 40);
  const text = `${start ? "…" : ""}${description.slice(start, i + q.length + 60)}${i + q.length + 60 < description.length ? "…" : ""}`;
  return el("span", { class: "snippet" }, highlighted(text));
}

const TRASH = '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true"><path fill="currentColor" d="M9 3h6l1 2h4v2H4V5h4zm-3 6h12l-1 12H7z"/></svg>';

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v; // through the CSSOM: the page's CSP refuses style attributes
    else if (v === true) node.setAttribute(k, "");
    else if (v !== false && v !== null && v !== undefined) node.setAttribute(k, v);
  }
  children.flat().forEach((c) => node.append(c));
  return node;
}

function renderTask(task) {
  const when = task.due_date ? dueInWords(dueOf(task)) : null;
  const overdue = isOverdue(task);
  const check = el("input", { type: "checkbox", "aria-label": `Done: ${task.title}`, class: "complete" });
  check.checked = task.completed;
  check.addEventListener("click", (event) => onTick(task, check, event));
  // A clean row: the title opens the side panel (click, tap or Enter), where everything is edited.
  const title = el("button", { type: "button", class: "title" }, highlighted(task.title));
  const trash = el("button", { type: "button", class: "row-delete", "aria-label": `Delete ${task.title}`, title: "Delete",
    onclick: () => remove(task) });
  trash.innerHTML = TRASH;
  // No badge repeats the view: in a list's own view its rows do not each say the list's name.
  const list = task.list_id && state.view !== `list:${task.list_id}` ? state.lists.get(task.list_id) : null;
  const rule = task.recurrence_rule || (task.parent_id && state.tasks.get(task.parent_id) || {}).recurrence_rule;
  const waiting = pendingIds().has(task.id);
  const conflict = sync.conflicts.has(task.id);
  return withSubtasks(el("li", { class: `task${task.completed ? " done" : ""}${state.selected === task.id ? " selected" : ""}${waiting ? " pending" : ""}`,
      "data-id": task.id, "data-title": task.title, "data-priority": task.priority, draggable: orderable() ? "true" : false,
      onclick: (e) => { if (!e.target.closest("input, .row-delete")) { state.selected = task.id; openPanel(task.id); } } },
    check,
    el("div", { class: "body" }, title, el("span", { class: "meta" },
      when ? el("span", { class: `due${overdue ? " overdue" : ""}` }, when) : "",
      task.priority !== "none" ? el("span", { class: `badge prio-${task.priority}` }, task.priority) : "",
      (task.tags || []).map((t) => el("button", { type: "button", class: "badge tag-link", title: `Tasks tagged @${t}`,
        onclick: (e) => { e.stopPropagation(); openTagFilter(t); } }, `@${t}`)),
      list ? el("span", { class: "badge list-badge" }, el("span", { class: "swatch", style: `background:${list.color}` }), list.name) : "",
      task.recurrence_rule || task.parent_id ? el("span", { class: "badge recurring", title: task.recurrence_rule || "instance of a series" }, `↻ ${rule ? ruleInWords(rule, task) : "recurring"}`) : "",
      state.reminderTasks.has(task.id) || (task.parent_id && !task.completed && state.reminderTasks.has(task.parent_id)) ? bellIcon() : "",
      waiting ? el("span", { class: "badge waiting", title: "Kept on this device until the server has it" }, "waiting to send") : "",
      conflict ? el("span", { class: "badge conflict", title: "Changed elsewhere too" }, "choose what to keep") : "",
      commentBadge(task),
    ), snippet(task.description)),
    trash,
  ), task);
}

// A series on a fixed schedule with an occurrence still to come: ticking it completes that occurrence.
// One whose rule has run out (COUNT, UNTIL) is ticked as a whole.
function isScheduledSeries(task) {
  return Boolean(task.recurrence_rule && !task.parent_id && task.repeat_from !== "completion" && !task.completed && task.next_occurrence);
}

// A checkbox sends one change however often it is clicked: the second click of a double click, and any
// click while the first change is on its way, does nothing (the box keeps the state that was sent).
function onTick(task, check, event) {
  if (event.detail > 1 || state.ticking.has(task.id)) { event.preventDefault(); return; }
  tick(state.tasks.get(task.id) || task, check.checked);
}

// As in Todoist, ticking a recurring task completes its next occurrence; the series moves on.
function tick(task, completed) {
  if (completed && isScheduledSeries(task)) completeOccurrence(task);
  else complete(task, completed);
}

async function completeOccurrence(series) {
  if (state.ticking.has(series.id)) return;
  state.ticking.add(series.id);
  const at = series.next_occurrence;
  const later = (occurrenceCache.get(`${series.id}:${series.version}`) || []);
  const guess = Array.isArray(later) ? later.find((o) => new Date(o) > new Date(at)) : undefined;
  let outcome;
  try {
    // The occurrence is named: sent again after a lost answer or from the queue, it is the same one.
    outcome = await submit({ kind: "occurrence", id: series.id, occurrence_at: at, next: guess, title: series.title });
  } finally { state.ticking.delete(series.id); }
  render();
  if (outcome.status === "queued") { toast(`Done: “${series.title}”, ${occurrenceInWords(series, at)}. It will be sent when you are back online.`); return; }
  if (outcome.status !== "done") { toast(outcome.message || "Could not complete it."); return; }
  const done = outcome.result;
  const next = done.next_occurrence ? ` Next: ${occurrenceInWords(series, done.next_occurrence)}.` : " That was the last one.";
  toast(`Done: “${series.title}”, ${occurrenceInWords(series, done.occurrence_at)}.${next}`, { label: "Undo", run: () => undoOccurrence(done, series) }, UNDO_MS);
}

// Undo: the occurrence is open again and the series is back at it — one row, as before the tick.
async function undoOccurrence(done, series) {
  let instance = state.tasks.get(done.instance_id);
  if (!instance || !instance.completed) {  // its events may not have come yet: reopened from its version as stored
    try { instance = await api("GET", `/api/{me}/tasks/${done.instance_id}`); upsert(instance); }
    catch (error) { toast(error.message); return; }
  }
  await complete(instance, false, false);
  try { upsert(await api("GET", `/api/{me}/tasks/${series.id}`)); } catch (_) { /* its event brings it */ }
  render();
}

async function complete(task, completed, undoable = true) {
  if (state.ticking.has(task.id)) return;
  state.ticking.add(task.id);
  const cascaded = completed ? openSubtaskCount(task) : 0;  // ticked with it, and back with its Undo
  let outcome;
  try {
    // Through the merge like any edit: ticked from the version shown, kept with what others changed meanwhile.
    outcome = await submit({ kind: "complete", id: task.id, completed, base_version: task.version || 1,
      fromCreate: isLocal(task.id), title: task.title });
  } finally { state.ticking.delete(task.id); }
  render();
  if (outcome.status === "rejected") { toast(outcome.message); return; }
  if (outcome.status === "conflict") return;  // shown with both values (settle)
  // The toast says what the task now is.
  const now = outcome.result && typeof outcome.result.completed === "boolean" ? outcome.result.completed : completed;
  const later = outcome.status === "queued" ? " It will be sent when you are back online." : "";
  // As in Todoist: a task ticked by mistake comes back with one click.
  if (now && undoable) {
    const subs = cascaded ? ` and ${cascaded} sub-task${cascaded > 1 ? "s" : ""}` : "";
    toast(`Completed “${task.title}”${subs}.${later}`, { label: "Undo", run: () => complete(state.tasks.get(task.id) || task, false, false) }, UNDO_MS);
  } else if (!now && undoable) toast(`Reopened “${task.title}”.${later}`);
}

function remove(task) {
  const timer = setTimeout(async () => {
    state.pendingDeletes.delete(task.id);
    const outcome = await submit({ kind: "delete", id: task.id, title: task.title });
    if (outcome.status === "rejected") toast(outcome.message);
    render();
  }, UNDO_MS);
  state.pendingDeletes.set(task.id, timer);
  if (state.panelTask === task.id) closePanel();
  render();
  toast(`Deleted “${task.title}”.`, { label: "Undo", run: () => {
    clearTimeout(state.pendingDeletes.get(task.id));
    state.pendingDeletes.delete(task.id);
    render();
  } }, UNDO_MS);
}

// ---------- new task form ----------

function selectedTz() { return $("tz").value || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; }

function buildRule() {
  const freq = $("freq").value;
  if (!freq) return "";
  if (freq === "CUSTOM") return $("custom-rule").value.trim().replace(/^RRULE:/i, "");
  const parts = [`FREQ=${freq}`];
  const interval = parseInt($("interval").value, 10);
  if (interval > 1) parts.push(`INTERVAL=${interval}`);
  if (freq === "WEEKLY") {
    const days = [...document.querySelectorAll("#weekdays input:checked")].map((c) => c.value);
    if (days.length) parts.push(`BYDAY=${days.join(",")}`);
  }
  if (freq === "MONTHLY") {
    const mode = $("monthly").value;
    if (mode === "day") parts.push(`BYMONTHDAY=${parseInt($("monthday").value, 10) || 1}`);
    if (mode === "nth") parts.push(`BYDAY=${$("nth").value}${$("nthday").value}`);
    if (mode === "last") parts.push("BYDAY=MO,TU,WE,TH,FR", "BYSETPOS=-1");
  }
  const ends = $("ends").value;
  if (ends === "count") parts.push(`COUNT=${parseInt($("count").value, 10) || 1}`);
  if (ends === "until" && $("until").value) parts.push(`UNTIL=${$("until").value.replaceAll("-", "")}T235959Z`);
  return parts.join(";");
}

function updateRecurrenceForm() {
  const freq = $("freq").value;
  document.querySelectorAll(".rec-opt").forEach((n) => { n.hidden = !freq; });
  if (!freq) { $("rrule").textContent = ""; $("preview").replaceChildren(); return; }
  const custom = freq === "CUSTOM";
  $("custom-rule-wrap").hidden = !custom;
  $("weekdays").hidden = freq !== "WEEKLY";
  $("monthly-wrap").hidden = freq !== "MONTHLY";
  $("monthday-wrap").hidden = freq !== "MONTHLY" || $("monthly").value !== "day";
  $("nth-wrap").hidden = freq !== "MONTHLY" || $("monthly").value !== "nth";
  $("count-wrap").hidden = custom || $("ends").value !== "count";
  $("until-wrap").hidden = custom || $("ends").value !== "until";
  $("interval").parentElement.hidden = custom;
  $("ends").parentElement.hidden = custom;
  $("rrule").textContent = buildRule();
  schedulePreview();
}

let previewTimer = null;
function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(preview, 200);
}

async function preview() {
  const rule = buildRule();
  if (!rule || !state.session) return;
  const start = $("due").value || localNow();
  try {
    const data = await api("POST", "/api/{me}/recurrence/preview",
      { recurrence_rule: rule, dtstart: start, timezone: selectedTz(), count: 5 });
    $("preview").replaceChildren(...data.occurrences.map((o) => el("li", { "data-iso": o }, formatWhen(o, selectedTz()))));
  } catch (error) {
    $("preview").replaceChildren(el("li", { class: "message" }, error.message));
  }
}

function localNow() {
  const d = new Date(); d.setSeconds(0, 0);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

// What a task made here looks like until the server has it.
function previewOf(id, body) {
  const now = new Date().toISOString();
  return { id, title: body.title, description: body.description || null, completed: false, completed_at: null,
    priority: body.priority || "none", tags: body.tags || [], due_date: body.due_date || null, timezone: body.timezone || userTz(),
    recurrence_rule: body.recurrence_rule || null, repeat_from: body.repeat_from || "schedule", next_occurrence: null,
    parent_id: null, occurrence_at: null, list_id: body.list_id || null, position: null, version: 1, created_at: now, updated_at: now };
}

// The server's create event can come before its answer: the row made here becomes that task, not a second one.
function adoptCreated(data) {
  const op = sync.ops.find((o) => o.sending && state.tasks.has(o.id)
    && (o.kind === "create" ? o.body.title === data.title : o.kind === "quick" && o.text.includes(data.title)));
  if (op) state.tasks.delete(op.id);
}

const TITLE_MAX = 500;

function titleProblem(title) {
  if (!title) return "Give the task a title.";
  if (title.length > TITLE_MAX) {
    return `The title is ${title.length} characters; at most ${TITLE_MAX} fit. Shorten it and put the rest in the description.`;
  }
  return "";
}

async function createTask(event) {
  event.preventDefault();
  const body = { title: $("title").value.trim(), priority: $("priority").value, timezone: selectedTz() };
  if (!body.title) return;
  const problem = titleProblem(body.title);
  if (problem) { toast(problem); $("title").focus(); return; }
  const tags = $("tags").value.split(",").map((t) => t.trim()).filter(Boolean);
  if (tags.length) body.tags = tags;
  if ($("task-list").value) body.list_id = $("task-list").value;
  if ($("due").value) body.due_date = $("due").value;
  const reminder = $("reminder").value;
  if (reminder === "custom" && $("remind-at").value) body.reminders = [{ remind_at: $("remind-at").value }];
  else if (reminder && reminder !== "custom") body.reminders = [{ minutes_before: parseInt(reminder, 10) }];
  const rule = buildRule();
  if (rule) { body.recurrence_rule = rule; body.repeat_from = $("repeat-from").value; }
  // Clear the form before the request returns, so the next task can be typed at once.
  $("new-task").reset();
  $("tz").value = body.timezone;
  $("task-list").value = body.list_id || "";
  updateRecurrenceForm();
  $("custom-wrap").hidden = true;
  $("title").focus();
  const id = localId();
  const preview = previewOf(id, body);
  announceWhere(preview);
  const outcome = await submit({ kind: "create", id, body, preview, title: body.title });
  if (outcome.status === "rejected") {
    if (!$("title").value) $("title").value = body.title;
    toast(`Could not add the task: ${outcome.message.replace(/^Could not save “[^”]*”: /, "")}`);
  }
}

// ---------- details panel: reminders and history ----------

async function openPanel(taskId, refresh = false) {
  if (!refresh && state.panelTask && state.panelTask !== taskId && !leavePanelOk()) return;
  const task = state.tasks.get(taskId);
  if (!task) { $("panel").hidden = true; state.panelTask = null; return; }
  state.panelTask = taskId;
  $("panel").hidden = false;
  if (!refresh) remember();
  $("panel-title").textContent = task.title;
  fillPanelForm(task, refresh);
  renderPanelSubtasks();
  fillSectionSelect(task);
  if (!refresh) showComments(taskId);
  showConflicts(taskId);
  if (isLocal(taskId)) {
    $("panel-reminders").replaceChildren(el("li", {}, "Not sent yet: reminders and history come when the server has the task."));
    $("panel-history").replaceChildren();
    return;
  }
  try {
    const [reminders, history, ofSeries] = await Promise.all([
      api("GET", `/api/{me}/tasks/${taskId}/reminders`),
      api("GET", `/api/{me}/tasks/${taskId}/events`).catch(() => ({ items: [] })),
      // An instance's series rings its relative reminders before every occurrence: show them here too.
      task.parent_id ? api("GET", `/api/{me}/tasks/${task.parent_id}/reminders`).catch(() => ({ items: [] })) : { items: [] },
    ]);
    const fromSeries = ofSeries.items.filter((r) => r.minutes_before !== null && !r.notified).map((r) => el("li", {},
      `${minutesInWords(r.minutes_before)}, every occurrence (set on the series)`));
    const own = reminders.items.map((r) => el("li", {},
      `${formatWhen(r.remind_at, tzOf(task))}${r.minutes_before !== null ? ` (${minutesInWords(r.minutes_before)})` : ""}${r.notified ? ` — ${r.outcome}` : ""} `,
      r.notified ? "" : el("button", { type: "button", class: "secondary", onclick: async () => {
        await api("DELETE", `/api/{me}/reminders/${r.id}`); openPanel(taskId);
      } }, "Remove")));
    $("panel-reminders").replaceChildren(...(own.length || fromSeries.length ? [...own, ...fromSeries] : [el("li", {}, "No reminders.")]));
    $("panel-history").replaceChildren(...history.items.map((e) => el("li", {},
      `${e.event_type.replace(".", " ")} — ${formatWhen(e.timestamp, tzOf(task))}`)));
  } catch (error) {
    if (error.network) {
      $("panel-reminders").replaceChildren(el("li", {}, "Offline: reminders and history show when you are back online."));
      $("panel-history").replaceChildren();
    } else if (error.status !== 404) toast(error.message);
  }
}

// ---------- live updates ----------

function setDot(status) {
  const dot = $("live");
  dot.className = `dot ${status}`;
  dot.title = status;
  dot.dataset.status = status;
  dot.firstElementChild.textContent = status;
}

function connect() {
  if (!state.session) return;
  clearTimeout(state.reconnectTimer);
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const since = state.lastEventId ? `&since=${encodeURIComponent(state.lastEventId)}` : "";
  // The session cookie goes with the upgrade (the server checks that this page opened it).
  const ws = new WebSocket(`${proto}://${location.host}/ws/user/${state.session.userId}/tasks${since.replace("&", "?")}`);
  state.ws = ws;
  const resuming = Boolean(state.lastEventId);
  ws.onopen = () => {
    state.attempt = 0;
    setDot("live");
    showOffline();
    flush();  // what waited on this device goes first, in order
    if (!resuming) loadTasks().then(saveOffline).then(loadReminderMarks).catch((e) => { if (!e.network) toast(e.message); });
  };
  ws.onmessage = (message) => {
    if (message.data === "pong") return;
    const event = JSON.parse(message.data);
    if (event.type === "ping") return;
    if (event.type === "resync") { state.lastEventId = null; loadTasks().catch((e) => { if (!e.network) toast(e.message); }); return; }
    if (event.event_id) state.lastEventId = event.event_id;
    applyEvent(event);
  };
  ws.onclose = (closed) => {
    if (state.ws !== ws) return;
    state.ws = null;
    if (closed.code === 4001) { renewSocket(); return; }
    if (!state.session) return;
    if (!state.lastEventId) state.lastEventId = null;
    state.attempt += 1;
    // The server cannot be reached: the tasks as last seen, rather than an empty page.
    useOfflineCopy();
    showOffline();
    setDot(navigator.onLine === false || state.attempt > 8 ? "offline" : "reconnecting");
    // Exponential backoff with full jitter, capped at 30 s.
    const delay = Math.min(30000, 500 * 2 ** Math.min(state.attempt - 1, 6)) * (0.5 + Math.random() / 2);
    state.reconnectTimer = setTimeout(connect, delay);
  };
}

// The socket's token ended (4001 at its expiry). While the session holds (an API call answers), reconnect
// at once with `since`, so no event is lost; a refused call signs out (api()). A second 4001 soon after: out.
function renewSocket() {
  if (!state.session) return;
  const now = Date.now();
  if (now - (state.renewedAt || 0) < 10000) { signOut("Your session has expired. Please sign in again."); return; }
  state.renewedAt = now;
  api("GET", "/api/{me}/lists").then(() => connect(), (e) => {
    if (e.network) state.reconnectTimer = setTimeout(connect, 1000);
  });
}

// ---------- toasts and notifications ----------

// One toast at a time: a new message replaces the one showing (a replaced undo is simply not offered any more).
function toast(text, action, ms = 6000) {
  const node = el("div", { class: "toast" }, el("span", {}, text));
  if (action) node.append(el("button", { type: "button", onclick: () => { action.run(); node.remove(); } }, action.label));
  node.append(el("button", { type: "button", class: "toast-close", "aria-label": "Dismiss", onclick: () => node.remove() }, "×"));
  $("toasts").replaceChildren(node);
  setTimeout(() => node.remove(), ms);
}

function notify(text) {
  toast(text);
  if ("Notification" in window && Notification.permission === "granted") new Notification("TaskFlow", { body: text });
}

// ---------- wiring ----------

function fillTimezones() {
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [here, "UTC"];
  if (!zones.includes("UTC")) zones.unshift("UTC");
  $("tz").replaceChildren(...zones.map((z) => el("option", { value: z }, z)));
  $("tz").value = zones.includes(here) ? here : "UTC";
}

// ---------- calendar ----------

async function createFeed() {
  const replacing = Boolean(state.feed);
  if (replacing && !window.confirm("Replace the calendar link? Calendars subscribed with the current link stop "
    + "updating: you will have to subscribe again with the new one.")) return;
  try {
    const feed = await api("POST", "/api/{me}/calendar-feed");
    showFeed({ url: feed.url });
    $("feed-url").select();
    toast(replacing ? "New calendar link: the old one no longer works." : "Calendar link made: subscribe to it in your calendar.");
  } catch (err) { toast(`Could not make a calendar link: ${err.message}`); }
}

async function revokeFeed() {
  try {
    await api("DELETE", "/api/{me}/calendar-feed");
    showFeed(null);
    toast("Calendar link turned off.");
  } catch (err) { toast(`No calendar link to turn off (${err.message}).`); }
}

async function importIcs(dryRun) {
  const file = $("ics-file").files[0];
  if (!file) { $("ics-result").textContent = "Choose an .ics file first."; return; }
  try {
    const result = await api("POST", `/api/{me}/import/ics?dry_run=${dryRun}`, await file.text(), "text/calendar");
    const c = result.created;
    const verb = dryRun ? "Would create" : "Created";
    const notKept = result.unsupported.length ? `; not kept: ${result.unsupported.map((u) => u.property || u.component).join(", ")}` : "";
    const n = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;
    const skips = c.skipped ? `, ${n(c.skipped, "skipped occurrence")}` : "";
    $("ics-result").textContent = `${verb} ${n(c.tasks, "task")}, ${c.series} recurring series${skips}, ${n(c.reminders, "reminder")}${notKept}.`;
    if (!dryRun) loadTasks();
  } catch (err) { $("ics-result").textContent = `Cannot import: ${err.message}`; }
}

// ---------- your data: export, import from Todoist ----------

async function downloadMyData() {
  try {
    const doc = await api("GET", "/api/{me}/export");
    const url = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" }));
    const link = el("a", { href: url, download: `taskflow-export-${new Date().toISOString().slice(0, 10)}.json` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } catch (err) { toast(`Could not download your data: ${err.message}`); }
}

async function importTodoist(dryRun) {
  const out = $("todoist-result");
  const file = $("todoist-file").files[0];
  const name = $("todoist-list").value.trim() || (file ? file.name.replace(/\.csv$/i, "") : "");
  if (!file) { out.textContent = "Choose a Todoist CSV file first."; return; }
  if (!name) { out.textContent = "Name the new list."; return; }
  try {
    const query = `list=${encodeURIComponent(name)}&dry_run=${dryRun}`;
    const result = await api("POST", `/api/{me}/import/todoist?${query}`, await file.text(), "text/csv");
    const c = result.created;
    const n = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;
    const notKept = result.unsupported.length
      ? ` Not kept: ${result.unsupported.map((u) => (u.line ? `line ${u.line} ${u.column}` : u.reason)).join(", ")}.` : "";
    const verb = dryRun ? `Would create the list “${name}” with` : `Created the list “${name}” with`;
    out.textContent = `${verb} ${n(c.tasks, "task")}, ${n(c.subtasks, "sub-task")}, ${n(c.sections, "section")}, ${n(c.comments, "comment")} (${c.series} recurring).${notKept}`;
    if (!dryRun) { await loadLists(); loadTasks(); }
  } catch (err) { out.textContent = `Cannot import: ${err.message}`; }
}

function init() {
  fillTimezones();
  $("auth-form").addEventListener("submit", (e) => { e.preventDefault(); authenticate("login"); });
  $("signup").addEventListener("click", () => authenticate("register"));
  $("signout").addEventListener("click", requestSignOut);
  $("pending").addEventListener("click", onPendingClick);
  $("new-task").addEventListener("submit", createTask);
  $("reminder").addEventListener("change", () => { $("custom-wrap").hidden = $("reminder").value !== "custom"; });
  $("remind-at").step = "1";
  ["freq", "interval", "monthly", "monthday", "nth", "nthday", "ends", "count", "until", "custom-rule", "due", "tz"]
    .forEach((id) => $(id).addEventListener("input", updateRecurrenceForm));
  document.querySelectorAll("#weekdays input").forEach((c) => c.addEventListener("change", updateRecurrenceForm));
  $("search").addEventListener("input", () => { state.search = $("search").value.trim(); render(); });
  // From the search field, Enter or ↓ goes to the results (then j/k, Enter, x as anywhere).
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); state.selected = null; moveSelection(1); });
  // Enter in the search box goes to the results: said here, since the form also holds the "Save as filter"
  // name field, and a form with two text fields and no submit button is not submitted by Enter.
  $("search").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.isComposing) { e.preventDefault(); $("search-form").requestSubmit(); }
  });
  $("search").addEventListener("keydown", (e) => { if (e.key === "ArrowDown") { e.preventDefault(); state.selected = null; moveSelection(1); } });
  $("feed-create").addEventListener("click", createFeed);
  $("feed-revoke").addEventListener("click", revokeFeed);
  $("ics-preview").addEventListener("click", () => importIcs(true));
  $("ics-import").addEventListener("click", () => importIcs(false));
  $("export-download").addEventListener("click", downloadMyData);
  $("todoist-preview").addEventListener("click", () => importTodoist(true));
  $("todoist-import").addEventListener("click", () => importTodoist(false));
  $("panel-close").addEventListener("click", () => closePanel());
  window.addEventListener("offline", () => setDot("offline"));
  // Back online: reconnect now (not at the end of the back-off) and send what waited.
  window.addEventListener("online", () => {
    if (!state.session) return;
    state.attempt = 0;
    if (!state.ws) connect();
    flush();
  });
  updateRecurrenceForm();
  if ("Notification" in window && Notification.permission === "default") {
    document.addEventListener("click", () => Notification.requestPermission().catch(() => {}), { once: true });
  }
  initViews();
  initShell();
  resumeSession();
}
