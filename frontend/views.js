// TaskFlow views: quick add, Inbox/Today/Upcoming/Completed, lists, rows in words, side panel,
// keyboard shortcuts, settings, offline shell. Plain JavaScript, loaded after app.js.
"use strict";

const OFFLINE_KEY = "taskflow.offline";
const MORE_KEY = "taskflow.more";
const DAY_MS = 86400000;
const WEEKDAY_WORDS = { MO: "monday", TU: "tuesday", WE: "wednesday", TH: "thursday", FR: "friday", SA: "saturday", SU: "sunday" };

// ---------- time in the user's zone ----------

function userTz() { return state.tz || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; }

// An all-day due date is a date alone ("2026-12-24"): that calendar day wherever the person is.
function isDateOnly(iso) { return typeof iso === "string" && /^\d{4}-\d{2}-\d{2}$/.test(iso); }

function dayKey(iso) {
  // YYYY-MM-DD of a moment in the user's zone (a date alone is its own day, in any zone)
  if (isDateOnly(iso)) return iso;
  return new Intl.DateTimeFormat("en-CA", { timeZone: userTz(), year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(iso));
}

function todayKey(offsetDays = 0) { return dayKey(new Date(Date.now() + offsetDays * DAY_MS).toISOString()); }

function clock(iso) {
  return new Intl.DateTimeFormat("en-GB", { timeZone: userTz(), hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
}

function dueInWords(iso) {
  const key = dayKey(iso);
  if (isDateOnly(iso)) return dayInWords(key);
  let day;
  if (key === todayKey()) day = "Today";
  else if (key === todayKey(1)) day = "Tomorrow";
  else if (key === todayKey(-1)) day = "Yesterday";
  else if (key > todayKey() && key <= todayKey(6)) day = new Intl.DateTimeFormat("en-GB", { timeZone: userTz(), weekday: "long" }).format(new Date(iso));
  else day = new Intl.DateTimeFormat("en-GB", { timeZone: userTz(), day: "numeric", month: "short", year: key.slice(0, 4) === todayKey().slice(0, 4) ? undefined : "numeric" }).format(new Date(iso));
  return `${day} ${clock(iso)}`;
}

// When a task is due as rows show it: a series at its next occurrence; an all-day one as its date alone.
function dueOf(task) {
  if (task.recurrence_rule && task.next_occurrence) return task.all_day ? task.next_occurrence.slice(0, 10) : task.next_occurrence;
  return task.due_date;
}

// An occurrence of a series in words: an all-day series' as its date alone (its day in the series' zone).
function occurrenceInWords(task, iso) { return task.all_day && iso ? dayInWords(iso.slice(0, 10)) : dueInWords(iso); }

// Overdue: a timed task once its time has passed; an all-day one from the next day, in the person's zone;
// a series by the occurrence its row shows (not its first due date).
function isOverdue(task) {
  const due = dueOf(task);
  if (task.completed || !due) return false;
  if (isDateOnly(due)) return due < todayKey();
  return new Date(due).getTime() < Date.now();
}

// A rule as a person says it: "every 2 weeks on Wednesday at 14:00", "every 3 days after done" (repeat_from
// completion: the next one is counted from when it was done), never "every!" or RRULE jargon.
function ruleInWords(rule, task) {
  const parts = Object.fromEntries(rule.replace(/^RRULE:/, "").split(";").map((p) => p.split("=")));
  const n = parseInt(parts.INTERVAL || "1", 10);
  const unit = { HOURLY: "hour", DAILY: "day", WEEKLY: "week", MONTHLY: "month", YEARLY: "year" }[parts.FREQ] || "time";
  const dayName = (d) => { const w = WEEKDAY_WORDS[d.slice(-2)] || d; return w[0].toUpperCase() + w.slice(1); };
  let words = n > 1 ? `every ${n} ${unit}s` : `every ${unit}`;
  if (parts.BYDAY) {
    const days = parts.BYDAY.split(",");
    if (parts.FREQ === "WEEKLY" && days.join() === "MO,TU,WE,TH,FR" && n === 1) words = "every weekday";
    else if (parts.FREQ === "WEEKLY" || (parts.FREQ === "DAILY" && n === 1)) words = `${n > 1 ? `every ${n} weeks on` : "every"} ${days.map(dayName).join(", ")}`;
    else words = `${words} on the ${days.map((d) => `${ordinal(parseInt(d, 10) || 1)} ${dayName(d)}`).join(", ")}`.replace(/^every month on the/, "every");
  }
  if (parts.BYMONTHDAY) words = `${words} on the ${parts.BYMONTHDAY.split(",").map((d) => (d === "-1" ? "last day" : ordinal(parseInt(d, 10)))).join(", ")}`;
  if (parts.BYMONTH && parts.FREQ === "YEARLY") {
    const month = (m) => new Intl.DateTimeFormat("en-GB", { month: "long", timeZone: "UTC" }).format(new Date(Date.UTC(2000, m - 1, 1)));
    const months = parts.BYMONTH.split(",").map((m) => month(parseInt(m, 10))).join(", ");
    words = /^\d+$/.test(parts.BYMONTHDAY || "") && !parts.BYDAY ? `${words.replace(/ on the .*$/, "")} on ${parts.BYMONTHDAY} ${months}` : `${words} in ${months}`;
  }
  if (task && task.repeat_from === "completion") words += " after done";
  const at = task && (task.next_occurrence || task.due_date);
  if (at && parts.FREQ !== "HOURLY" && !task.all_day && !isDateOnly(at)) words += ` at ${clock(at)}`;
  if (parts.COUNT) words += `, ${parts.COUNT} times`;
  if (parts.UNTIL) words += ` until ${dueInWords(parts.UNTIL.replace(/^(\d{4})(\d\d)(\d\d)(T(\d\d)(\d\d)(\d\d)(Z?))?$/, (_, y, m, d, t, hh, mm, ss, z) => `${y}-${m}-${d}T${t ? `${hh}:${mm}:${ss}${z ? "Z" : ""}` : "23:59:59"}`)).replace(/ \d\d:\d\d$/, "")}`;
  return words;
}

// What the panel's Repeat field shows, read back by quick add: "… after done" is the parser's "every! …".
function repeatWordsForParser(words) {
  const done = /\s+after (done|completion)\b/i;
  return done.test(words) ? words.replace(done, "").replace(/^every\b/i, "every!") : words;
}

function ordinal(n) {
  if (n === -1) return "last";
  const s = ["th", "st", "nd", "rd"]; const v = n % 100;
  return n + (s[(v - 20) % 10] || s[v] || s[0]);
}

function bellIcon() {
  // An inline SVG: emoji fonts are not everywhere (and nothing is fetched from outside).
  const span = el("span", { class: "bell", title: "Has a reminder", role: "img", "aria-label": "Has a reminder" });
  span.innerHTML = '<svg viewBox="0 0 24 24" width="14" height="14" aria-hidden="true"><path fill="currentColor" d="M12 22a2 2 0 0 0 2-2h-4a2 2 0 0 0 2 2zm6-6V11a6 6 0 0 0-5-5.9V4a1 1 0 0 0-2 0v1.1A6 6 0 0 0 6 11v5l-2 2v1h16v-1z"/></svg>';
  return span;
}

// ---------- views ----------

function dueKeyOf(task) {
  const at = dueOf(task);
  return at ? dayKey(at) : null;
}

function inView(task, view) {
  if (view.startsWith("filter:") || view.startsWith("tag:")) return inFilterView(task);
  const key = dueKeyOf(task);
  switch (view) {
    case "inbox": return !task.completed && !task.list_id;
    case "today": return !task.completed && key !== null && key <= todayKey();
    case "upcoming": return !task.completed && key !== null && key >= todayKey() && key <= todayKey(13);
    case "completed": return task.completed;
    case "all": return !task.completed;
    default: return view.startsWith("list:") && task.list_id === view.slice(5) && !task.completed;
  }
}

function viewOrder(a, b) {
  if (state.view === "completed") return (b.completed_at || "").localeCompare(a.completed_at || "");
  if (state.view === "search" && a.completed !== b.completed) return a.completed ? 1 : -1;
  if (state.view.startsWith("list:") || state.view === "inbox") {
    const pa = a.position ?? Infinity; const pb = b.position ?? Infinity;
    if (pa !== pb) return pa - pb;
  }
  const da = dueOf(a);
  const db = dueOf(b);
  return (da || "9999").localeCompare(db || "9999") || b.created_at.localeCompare(a.created_at);
}

function groupRows(items) {
  const rows = [];
  if (state.view === "today") {
    const overdue = items.filter((t) => dueKeyOf(t) < todayKey());
    const today = items.filter((t) => dueKeyOf(t) === todayKey());
    if (overdue.length) rows.push(el("li", { class: "group" }, el("h3", {}, "Overdue")), ...overdue.map(renderTask));
    if (today.length) rows.push(el("li", { class: "group" }, el("h3", {}, "Today")), ...today.map(renderTask));
    return rows;
  }
  if (state.view === "upcoming") {
    let last = null;
    // By day (an all-day task on its date in any zone), its all-day tasks first, then by time.
    const entries = items.map((task) => ({ task, at: dueOf(task) }))
      .concat(laterOccurrences(items))
      .sort((a, b) => dayKey(a.at).localeCompare(dayKey(b.at)) || isDateOnly(b.at) - isDateOnly(a.at) || new Date(a.at) - new Date(b.at));
    for (const { task, at, ghost } of entries) {
      const key = dayKey(at);
      if (key !== last) {
        last = key;
        const label = new Intl.DateTimeFormat("en-GB", { weekday: "long", day: "numeric", month: "long", timeZone: "UTC" }).format(new Date(`${key}T12:00:00Z`));
        rows.push(el("li", { class: "group", "data-day": key }, el("h3", {}, key === todayKey() ? `Today · ${label}` : key === todayKey(1) ? `Tomorrow · ${label}` : label)));
      }
      rows.push(ghost ? renderOccurrence(task, at) : renderTask(task));
    }
    return rows;
  }
  if (state.view.startsWith("list:")) return sectionRows(items, state.view.slice(5));  // organise.js
  return items.map(renderTask);
}

// A series shows in Upcoming on each day it occurs in the next 14 days, not only at its next one.
const occurrenceCache = new Map(); // `${id}:${version}` -> ISO occurrences (or "pending")

function laterOccurrences(items) {
  const ghosts = [];
  const horizon = Date.now() + 14 * DAY_MS;
  const spawned = new Set([...state.tasks.values()].filter((t) => t.parent_id && t.occurrence_at)
    .map((t) => `${t.parent_id}:${new Date(t.occurrence_at).getTime()}`));
  for (const task of items) {
    if (!task.recurrence_rule || !task.next_occurrence) continue;
    const key = `${task.id}:${task.version}`;
    const cached = occurrenceCache.get(key);
    if (!cached) { fetchOccurrences(task, key); continue; }
    if (cached === "pending") continue;
    for (const at of cached.slice(1)) {
      const ms = new Date(at).getTime();
      if (ms > horizon) break;
      if (!spawned.has(`${task.id}:${ms}`)) ghosts.push({ task, at: task.all_day ? at.slice(0, 10) : at, ghost: true });
    }
  }
  return ghosts;
}

async function fetchOccurrences(task, key) {
  occurrenceCache.set(key, "pending");
  try {
    const body = { recurrence_rule: task.recurrence_rule, dtstart: task.next_occurrence, timezone: task.timezone,
      count: 60, after: task.next_occurrence };
    occurrenceCache.set(key, (await api("POST", "/api/{me}/recurrence/preview", body)).occurrences);
    if (state.view === "upcoming") render();
  } catch (_) { occurrenceCache.set(key, []); }
}

function renderOccurrence(task, at) {
  return el("li", { class: "task occurrence", "data-series": task.id },
    el("span", { class: "ghost-mark", "aria-hidden": "true" }, "↻"),
    el("div", { class: "body" },
      el("button", { type: "button", class: "link", onclick: () => openPanel(task.id), "aria-label": `${task.title}, ${dueInWords(at)} (a later occurrence)` }, task.title),
      el("span", { class: "meta" }, el("span", { class: "due" }, dueInWords(at)),
        el("span", { class: "badge recurring" }, `↻ ${ruleInWords(task.recurrence_rule, task)}`))));
}

function emptyText() {
  if (state.view === "today") return "Nothing due today. Enjoy.";
  if (state.view === "upcoming") return "Nothing in the next 14 days.";
  if (state.view === "completed") return "Nothing completed yet.";
  if (state.view.startsWith("filter:") || state.view.startsWith("tag:")) return "No open tasks match this filter.";
  if (state.view === "inbox") return `Your Inbox is empty. ${matchMedia("(max-width: 800px)").matches ? "Tap +" : "Press q"} to add a task.`;
  return "No open tasks in this list.";
}

function viewTitle() {
  if (state.view.startsWith("list:")) return (state.lists.get(state.view.slice(5)) || { name: "List" }).name;
  if (state.view.startsWith("filter:") || state.view.startsWith("tag:")) return filterTitle();
  return { inbox: "Inbox", today: "Today", upcoming: "Upcoming", all: "All tasks", completed: "Completed", search: "Search" }[state.view];
}

function renderNav() {
  const open = [...state.tasks.values()].filter((t) => !state.pendingDeletes.has(t.id) && !standsBehindSeries(t));
  for (const node of document.querySelectorAll("[data-count]")) {
    const count = open.filter((t) => inView(t, node.dataset.count === "all" ? "all" : node.dataset.count)).length;
    node.textContent = count ? String(count) : "";
  }
  const lists = [...state.lists.values()].filter((l) => !l.archived && !state.pendingDeletes.has(l.id))
    .sort((a, b) => a.position - b.position);
  $("lists").replaceChildren(...lists.map((l) => el("li", {},
    el("button", { type: "button", "data-view": `list:${l.id}`, "aria-current": state.view === `list:${l.id}` ? "page" : false,
      onclick: () => setView(`list:${l.id}`) },
      el("span", { class: "swatch", style: `background:${l.color}` }), l.name,
      el("span", { class: "count" }, String(open.filter((t) => !t.completed && t.list_id === l.id).length || ""))))));
  const archived = [...state.lists.values()].filter((l) => l.archived && !state.pendingDeletes.has(l.id));
  $("archived-wrap").hidden = archived.length === 0;
  $("archived").replaceChildren(...archived.map((l) => el("li", { class: "archived-row" },
    el("span", { class: "swatch", style: `background:${l.color}` }), el("span", {}, l.name),
    el("button", { type: "button", class: "secondary", "aria-label": `Restore ${l.name}`, onclick: async () => {
      try { await patchList(l.id, { archived: false }); setView(`list:${l.id}`); }
      catch (error) { toast(error.message); }
    } }, "Restore"))));
  document.querySelectorAll(".views button[data-view]").forEach((b) => {
    if (b.dataset.view === state.view) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  });
  $("view-title").textContent = viewTitle();
  saveOfflineSoon();
  $("list-tools").hidden = !state.view.startsWith("list:");
  const shown = state.lists.get(state.view.slice(5));
  if (shown && document.activeElement !== $("list-recolor")) $("list-recolor").value = shown.color;
  const pList = $("p-list"); const keep = pList.value;
  pList.replaceChildren(el("option", { value: "" }, "Inbox (no list)"), ...lists.map((l) => el("option", { value: l.id }, l.name)));
  pList.value = keep;
  fillListChoice(lists);
  renderFilterNav();
}

// On a phone the views and lists are a drawer behind "Menu" (on a desktop, the side column).
function openMenu() {
  document.body.classList.add("nav-open");
  $("menu-open").setAttribute("aria-expanded", "true");
  ($("sidenav").querySelector("[aria-current='page']") || $("menu-close")).focus();
}

function closeMenu(refocus) {
  if (!document.body.classList.contains("nav-open")) return;
  document.body.classList.remove("nav-open");
  $("menu-open").setAttribute("aria-expanded", "false");
  if (refocus) $("menu-open").focus();
}

function initMenu() {
  $("menu-open").addEventListener("click", openMenu);
  $("menu-close").addEventListener("click", () => closeMenu(true));
  $("nav-scrim").addEventListener("click", () => closeMenu(true));
  // a view or list picked: the drawer has done its job (a new list closes it once the dialog made one)
  $("sidenav").addEventListener("click", (e) => { if (e.target.closest("button[data-view], .archived-row button")) closeMenu(false); });
  let viewAtDialog = null;
  $("list-dialog-open").addEventListener("click", () => { viewAtDialog = state.view; });
  $("list-dialog").addEventListener("close", () => { if (state.view !== viewAtDialog) closeMenu(false); });
  $("sidenav").addEventListener("keydown", (e) => { if (e.key === "Escape") { e.stopPropagation(); closeMenu(true); } });
  matchMedia("(min-width: 801px)").addEventListener("change", () => closeMenu(false));
}

function setView(view) {
  if (!leavePanelOk()) return;
  state.view = view;
  state.selected = null;
  closePanel();
  closeQuick();
  parsed = null;
  $("search-form").hidden = view !== "search";
  document.body.dataset.view = view.split(":")[0];
  if (view.startsWith("list:")) $("task-list").value = view.slice(5);  // the full form adds to the list in view
  render();
  remember();
}

function openSearch() {
  if (state.view !== "search") setView("search");
  $("search").focus();
  $("search").select();
}

// On a phone quick add is a sheet behind the floating "+" (the list comes first); on a desktop it is always there.
function openQuick() {
  document.body.classList.add("quick-open");
  $("quick").focus();
}

function closeQuick() {
  if (!document.body.classList.contains("quick-open")) return;
  document.body.classList.remove("quick-open");
  if (document.activeElement === $("quick")) $("quick").blur();
}

// ---------- lists ----------

async function loadLists() {
  try {
    const data = await api("GET", "/api/{me}/lists");
    state.lists = new Map(data.items.map((l) => [l.id, l]));
    render();
  } catch (error) { if (!error.network) toast(error.message); }
}

async function addList(name, color) {
  const created = await api("POST", "/api/{me}/lists", { name, color });
  state.lists.set(created.id, created);
  setView(`list:${created.id}`);
}

async function createList(event) {
  event.preventDefault();
  const name = $("list-name").value.trim();
  if (!name) return;
  $("list-name").value = "";
  try { await addList(name, $("list-color").value); }
  catch (error) { toast(`Could not add the list: ${error.message}`); }
}

// A list change sends only what the person changed, from the version they saw (PATCH, merged with
// changes made elsewhere). A conflict keeps the list as the other tab left it and says so.
async function patchList(id, fields) {
  const list = state.lists.get(id);
  const changes = Object.fromEntries(Object.entries(fields).filter(([k, v]) => !list || list[k] !== v));
  if (list && !Object.keys(changes).length) return list;
  try {
    const saved = await api("PATCH", `/api/{me}/lists/${id}`, { base_version: list ? list.version : 1, changes });
    state.lists.set(id, saved);
    return saved;
  } catch (error) {
    if (error.status === 409 && error.data && error.data.list) {
      state.lists.set(id, error.data.list);
      render();
      const names = error.data.conflicts.map((c) => `${c.field}: yours "${c.yours}", theirs "${c.theirs}"`).join("; ");
      error.message = `Someone changed this list meanwhile (${names}). It now shows their version; change it again to keep yours.`;
    }
    throw error;
  }
}

async function changeList(fields) {
  const id = state.view.slice(5);
  try { await patchList(id, fields); render(); }
  catch (error) { toast(error.message); }
}

// One dialog names and colours a list: a new one (on a phone, from the Menu drawer, which has no
// room for the field) or the one shown (Rename, on every screen). It stays open until the server agrees.
let listDialogId = null; // the list being renamed; null for a new list

function openListDialog(list) {
  listDialogId = list ? list.id : null;
  $("list-dialog-title").textContent = list ? "Rename list" : "New list";
  $("ld-save").textContent = list ? "Save" : "Create list";
  $("ld-name").value = list ? list.name : "";
  $("ld-color").value = list ? list.color : $("list-color").value;
  $("ld-message").textContent = "";
  $("list-dialog").showModal();
  $("ld-name").focus();
  $("ld-name").select();
}

async function saveListDialog(event) {
  event.preventDefault();
  const name = $("ld-name").value.trim();
  if (!name) { $("ld-message").textContent = "Give the list a name."; $("ld-name").focus(); return; }
  const color = $("ld-color").value;
  const submit = $("ld-save");
  if (submit.disabled) return;  // one list per tap, however fast the second comes
  submit.disabled = true;
  try {
    if (listDialogId) await patchList(listDialogId, { name, color });
    else await addList(name, color);
    $("list-dialog").close();
    render();
  } catch (error) { $("ld-message").textContent = `Could not save the list: ${error.message}`; }
  finally { submit.disabled = false; }
}

function deleteList() {
  const id = state.view.slice(5);
  const list = state.lists.get(id);
  if (!list) return;
  const timer = setTimeout(async () => {
    state.pendingDeletes.delete(id);
    try { await api("DELETE", `/api/{me}/lists/${id}`); state.lists.delete(id); }
    catch (error) { toast(`Could not delete the list: ${error.message}`); }
    render();
  }, UNDO_MS);
  state.pendingDeletes.set(id, timer);
  setView("inbox");
  toast(`Deleted list “${list.name}” and its tasks.`, { label: "Undo", run: () => {
    clearTimeout(state.pendingDeletes.get(id));
    state.pendingDeletes.delete(id);
    render();
  } }, UNDO_MS);
}

// ---------- quick add ----------

let parseTimer = null;
let parsed = null;

function scheduleParse() {
  clearTimeout(parseTimer);
  parsed = null;
  const text = $("quick").value;
  if (!text.trim()) { $("chips").replaceChildren(); $("questions").replaceChildren(); return; }
  // Nothing typed or pasted is cut: a line over the limit is refused in words, kept in the field.
  if (text.length > TITLE_MAX) { showQuickProblem(tooLongLine(text)); return; }
  if (navigator.onLine === false) {
    $("chips").replaceChildren();
    $("questions").replaceChildren(el("li", { class: "offline-note" }, "Offline: the task is added as typed; its date, #list and tags are read when it is sent."));
    return;
  }
  parseTimer = setTimeout(() => parseLine(text), 150);
}

function tooLongLine(text) {
  return `This line is ${text.length} characters; a task's title can have at most ${TITLE_MAX}. Shorten it — put the details in the task's description once it is added.`;
}

function showQuickProblem(message) {
  $("chips").replaceChildren();
  $("questions").replaceChildren(el("li", { class: "problem" }, message));
}

// As in Todoist, a task added in Today without a date of its own is due today.
async function parseForView(text) {
  const result = await api("POST", "/api/{me}/parse", { text, timezone: userTz() });
  if (state.view !== "today" || result.due_date || result.recurrence_rule || result.questions.length) return result;
  return api("POST", "/api/{me}/parse", { text: `${text} today`, timezone: userTz() });
}

async function parseLine(text) {
  try {
    const result = await parseForView(text);
    if ($("quick").value !== text) return;
    parsed = { text, result };
    showParsed(result);
  } catch (error) {
    if ($("quick").value !== text) return;
    $("questions").replaceChildren(el("li", {}, error.network ? "Offline: the task is added as typed; its date, #list and tags are read when it is sent." : error.message));
  }
}

function showParsed(result) {
  // The day and the time of day are one due date: one chip (a question pending: none, the server sends none).
  const hasDate = result.chips.some((c) => c.kind === "date");
  const shown = result.chips.filter((c) => !(c.kind === "time" && hasDate && result.due_date));
  const chips = shown.map((c) => el("li", { class: `chip chip-${c.kind}` }, el("span", { class: "sr" }, `${c.kind}: `), chipText(c, result)));
  if (result.title) chips.unshift(el("li", { class: "chip chip-title" }, el("span", { class: "sr" }, "title: "), result.title));
  $("chips").replaceChildren(...chips);
  $("questions").replaceChildren(...result.questions.map((q) => el("li", {}, q.question,
    ...[...new Set(q.options || [])].map((o) => el("button", { type: "button", class: "secondary", onclick: () => answer(q, o) }, o)))));
}

// A date-only due date ("2026-12-05", an all-day task) in words, read as that calendar day wherever the person
// is: "Today", "Tomorrow", "Yesterday", else "Fri 24 Dec" (with the year when not this one).
function dayInWords(date) {
  if (date === todayKey()) return "Today";
  if (date === todayKey(1)) return "Tomorrow";
  if (date === todayKey(-1)) return "Yesterday";
  const noon = new Date(`${date}T12:00:00Z`);
  const sameYear = date.slice(0, 4) === todayKey().slice(0, 4);
  return new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", weekday: "short", day: "numeric", month: "short", year: sameYear ? undefined : "numeric" }).format(noon);
}

function chipText(chip, result) {
  const note = chip.note ? ` (${chip.note})` : "";
  if (chip.kind === "recurrence" && result.recurrence_rule) {
    if (chip.note) return `↻ ${chip.note}`;  // e.g. "every month on the 31st (last day in shorter months)"
    return `↻ ${ruleInWords(result.recurrence_rule, result.all_day ? null : result)}`;
  }
  if ((chip.kind === "date" || chip.kind === "time") && result.due_date) {
    return `due ${result.all_day ? dayInWords(result.due_date) : dueInWords(result.due_date)}${note}`;
  }
  return chip.text + note;
}

function answer(question, option) {
  const input = $("quick");
  const ambiguous = question.question.match(/^At (\d+)/);
  if (ambiguous) input.value = input.value.replace(new RegExp(`\\bat\\s+${ambiguous[1]}\\b`, "i"), `at ${option}`);
  else if (/^Is \S+/.test(question.question)) input.value = input.value.replace(question.question.match(/Is (\S+)/)[1], option);
  else if (question.options) {
    // "Which day did you mean?": the chosen words stay, the others go.
    for (const other of question.options) if (other !== option) input.value = input.value.replace(other, " ").replace(/\s{2,}/g, " ");
  }
  input.focus();
  scheduleParse();
}

function quickCreateBody(result, viewListId) {
  const body = { title: result.title, priority: result.priority, timezone: result.timezone };
  if (result.tags.length) body.tags = result.tags;
  if (result.due_date) body.due_date = result.due_date;
  const listId = result.list_id || viewListId;
  if (listId) body.list_id = listId;
  if (result.recurrence_rule) { body.recurrence_rule = result.recurrence_rule; body.repeat_from = result.repeat_from; }
  if (result.reminders.length) body.reminders = result.reminders;
  return body;
}

async function quickAdd(event) {
  event.preventDefault();
  const text = $("quick").value;
  if (!text.trim()) return;
  clearTimeout(parseTimer);
  if (text.length > TITLE_MAX) { showQuickProblem(tooLongLine(text)); $("quick").focus(); return; }
  const viewList = state.view.startsWith("list:") ? state.view.slice(5) : null;
  let result = parsed && parsed.text === text ? parsed.result : null;
  if (!result && navigator.onLine !== false) {
    try { result = await parseForView(text); }
    catch (error) { if (!error.network) { showQuickProblem(error.message); return; } }
  }
  if (result && !result.title.trim()) {
    showQuickProblem(`“${text.trim()}” has only ${result.tags.length || result.list ? "tags or a list" : "a date or options"}: say what the task is, e.g. “Buy milk ${text.trim()}”.`);
    $("quick").focus();
    return;
  }
  if (result && result.questions.length) { showParsed(result); $("quick").focus(); return; }
  $("quick").value = ""; parsed = null;
  $("chips").replaceChildren(); $("questions").replaceChildren();
  const id = localId();
  let op;
  if (result) {
    const body = quickCreateBody(result, viewList);
    op = { kind: "create", id, body, preview: previewOf(id, body), title: body.title, reminders: Boolean(body.reminders) };
  } else {
    // Offline: kept as typed and read when it is sent, as of now (the date words mean what they meant now).
    const preview = previewOf(id, { title: text.trim(), list_id: viewList, timezone: userTz() });
    op = { kind: "quick", id, text, timezone: userTz(), listId: viewList, today: state.view === "today", preview, title: text.trim() };
  }
  if (result) announceWhere(op.preview);
  const outcome = await submit(op);
  if (outcome.status === "done" && op.reminders && outcome.result) state.reminderTasks.add(outcome.result.id);
  if (outcome.status === "rejected") {
    if (!$("quick").value) $("quick").value = text;
    toast(`Could not add the task: ${outcome.message.replace(/^Could not save “[^”]*”: /, "")}`);
  }
}

// Several lines pasted into quick add: one task per line, after one confirmation (never joined into one title).
let pastedLines = null;

function quickPaste(event) {
  const text = (event.clipboardData || window.clipboardData)?.getData("text") || "";
  const lines = text.split(/\r\n|\r|\n/).map((l) => l.trim()).filter(Boolean);
  if (lines.length < 2) return;  // one line: pasted as usual
  event.preventDefault();
  clearTimeout(parseTimer); parsed = null;
  pastedLines = lines;
  $("chips").replaceChildren();
  const first = lines.slice(0, 3).map((l) => `“${l.length > 60 ? `${l.slice(0, 60)}…` : l}”`).join(", ");
  $("questions").replaceChildren(el("li", { class: "paste-confirm" },
    `Add ${lines.length} tasks, one per line? (${first}${lines.length > 3 ? ", …" : ""})`,
    el("button", { type: "button", id: "paste-add", onclick: () => addPastedLines() }, `Add ${lines.length} tasks`),
    el("button", { type: "button", class: "secondary", id: "paste-cancel", onclick: () => {
      pastedLines = null; $("questions").replaceChildren(); $("quick").focus();
    } }, "Cancel")));
  $("paste-add").focus();
}

// What is certain in a line's reading when it asks a question: the day, the rule, the list it asks about are left out.
function certainBody(line, result, viewList) {
  const asked = new Set(result.questions.map((q) => q.field));
  const body = { title: (result.title || line).slice(0, TITLE_MAX), priority: result.priority, timezone: result.timezone };
  if (!result.title && line.length > TITLE_MAX) body.description = line;
  if (result.tags.length) body.tags = result.tags;
  if (result.due_date && !asked.has("due_date")) body.due_date = result.due_date;
  const listId = (!asked.has("list") && result.list_id) || viewList;
  if (listId) body.list_id = listId;
  if (result.recurrence_rule && !asked.has("recurrence_rule")) { body.recurrence_rule = result.recurrence_rule; body.repeat_from = result.repeat_from; }
  if (result.reminders.length && body.due_date) body.reminders = result.reminders;
  return body;
}

async function parseWithPatience(text) {
  for (let attempt = 0; ; attempt++) {
    try { return await parseForView(text); }
    catch (error) {
      if (error.status !== 429 || attempt > 30) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5000));  // many lines: wait for the parse limit
    }
  }
}

async function addPastedLines() {
  const lines = pastedLines || [];
  pastedLines = null;
  const viewList = state.view.startsWith("list:") ? state.view.slice(5) : null;
  const asked = [];
  const outcomes = [];
  const progress = el("li", { role: "status" }, `Adding ${lines.length} tasks…`);
  $("questions").replaceChildren(progress);
  for (const [index, line] of lines.entries()) {
    progress.textContent = `Adding task ${index + 1} of ${lines.length}…`;
    const id = localId();
    let op;
    let result = null;
    if (navigator.onLine !== false) {
      try { result = await parseWithPatience(line.slice(0, TITLE_MAX)); }
      catch (error) { if (!error.network) asked.push({ line, question: error.message }); }
    }
    if (result) {
      if (result.questions.length || !result.title) asked.push({ line, question: (result.questions[0] || { question: "What is the task?" }).question });
      const body = result.questions.length || !result.title ? certainBody(line, result, viewList) : quickCreateBody(result, viewList);
      op = { kind: "create", id, body, preview: previewOf(id, body), title: body.title, reminders: Boolean(body.reminders) };
    } else {
      const preview = previewOf(id, { title: line.slice(0, TITLE_MAX), list_id: viewList, timezone: userTz() });
      op = { kind: "quick", id, text: line.slice(0, TITLE_MAX), timezone: userTz(), listId: viewList, today: state.view === "today", preview, title: line.slice(0, TITLE_MAX) };
    }
    outcomes.push(submit(op));
  }
  const done = await Promise.all(outcomes);
  const rejected = done.filter((o) => o.status === "rejected").length;
  const summary = [el("li", { role: "status" }, `Added ${lines.length - rejected} of ${lines.length} tasks.`)];
  if (asked.length) {
    summary.push(el("li", { class: "paste-asked" },
      `${asked.length} ${asked.length === 1 ? "line was" : "lines were"} unclear; added with only what was certain (open each to finish it):`,
      el("ul", {}, ...asked.slice(0, 10).map((a) => el("li", {}, `“${a.line}”: ${a.question}`)),
        ...(asked.length > 10 ? [el("li", {}, `and ${asked.length - 10} more`)] : []))));
  }
  if (rejected) summary.push(el("li", { class: "problem" }, `${rejected} could not be added; see the messages.`));
  $("questions").replaceChildren(...summary);
}

// ---------- side panel ----------

function toLocalInput(iso) {
  if (!iso) return "";
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: userTz(), year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(iso));
  const get = (t) => parts.find((p) => p.type === t).value;
  return `${get("year")}-${get("month")}-${get("day")}T${get("hour")}:${get("minute")}`;
}

// The panel remembers what it showed when the person started (the task's version and each field):
// Save sends only the fields they changed, from that version (PATCH, merged with changes made elsewhere).
const PANEL_INPUTS = { title: "p-title", description: "p-description", due: "p-due", priority: "p-priority", tags: "p-tags", list: "p-list" };
let panelBase = null; // {id, version, values: {field: what the form showed}}
let panelSaving = false; // Save pressed and not answered yet: what the form shows is on its way, not unsaved

function formValuesOf(task) {
  return { title: task.title, description: task.description || "", due: isDateOnly(task.due_date) ? task.due_date : toLocalInput(task.due_date), priority: task.priority,
    tags: (task.tags || []).join(", "), list: task.list_id || "" };
}

// The due field is a date with "All day" ticked (a date alone), else a date and time.
function setPanelInput(field, value) {
  if (field === "due") {
    $("p-allday").checked = isDateOnly(value);
    $("p-due").type = isDateOnly(value) ? "date" : "datetime-local";
  }
  $(PANEL_INPUTS[field]).value = value;
}

function toggleAllDay() {
  const value = $("p-due").value;
  const allDay = $("p-allday").checked;
  $("p-due").type = allDay ? "date" : "datetime-local";
  $("p-due").value = !value ? "" : allDay ? value.slice(0, 10) : `${value.slice(0, 10)}T09:00`;
}

function readPanelForm() {
  return Object.fromEntries(Object.entries(PANEL_INPUTS).map(([field, input]) => [field, $(input).value]));
}

function sameValue(field, a, b) {
  if (field === "tags") {
    const norm = (v) => v.split(",").map((t) => t.trim()).filter(Boolean).join(",");
    return norm(a) === norm(b);
  }
  if (field === "title") return a.trim() === b.trim();
  return a === b;
}

function showLinks(description) {
  $("p-links").replaceChildren(...((description || "").match(/https?:\/\/[^\s<>"]+/g) || []).slice(0, 10)
    .map((url) => el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url)));
}

function fillPanelForm(task, refresh) {
  const values = formValuesOf(task);
  $("p-skip").hidden = !(task.parent_id || isScheduledSeries(task));
  $("p-stop").hidden = !(task.parent_id || task.recurrence_rule);
  const repeatWords = task.recurrence_rule ? ruleInWords(task.recurrence_rule, task) : "";
  if (refresh && panelBase && panelBase.id === task.id) {
    // Changed elsewhere while the panel is open: the fields the person has not touched show it; the
    // ones they changed keep what they typed (and Save sends those from the version they started from).
    const form = readPanelForm();
    let touched = false;
    for (const [field, input] of Object.entries(PANEL_INPUTS)) {
      if (!sameValue(field, form[field], panelBase.values[field])) { touched = true; continue; }
      setPanelInput(field, values[field]);
      panelBase.values[field] = values[field];
    }
    if (!touched) panelBase.version = task.version;
    if ($("p-repeat").value.trim() === $("p-repeat").dataset.initial) {
      $("p-repeat").value = repeatWords;
      $("p-repeat").dataset.initial = repeatWords;
    }
    showLinks($("p-description").value);
    return;
  }
  for (const field of Object.keys(PANEL_INPUTS)) setPanelInput(field, values[field]);
  panelBase = { id: task.id, version: task.version, values };
  $("p-message").textContent = "";
  showLinks(task.description);
  $("p-repeat").value = repeatWords;
  $("p-repeat").dataset.initial = repeatWords;
  $("p-preview").replaceChildren();
  $("p-reminder").value = "";
  repeatParsed = null;
  $("p-due-words").value = "";
  $("p-due-read").textContent = "";
}

// The panel's due date typed in words ("fri 5pm", "tomorrow"), read by quick add's parser into the due field.
// An all-day reading ticks "All day" and sets the date alone.
let dueWordsReading = null;

async function readDueWords() {
  const words = $("p-due-words").value.trim();
  if (!words || dueWordsReading === words) return;  // Enter and then the change event: read once
  dueWordsReading = words;
  try {
    const result = await api("POST", "/api/{me}/parse", { text: `task ${words}`, timezone: userTz() });
    if ($("p-due-words").value.trim() !== words) return;
    if (result.questions.length || !result.due_date) {
      $("p-due-read").textContent = (result.questions[0] || { question: "Say a day, e.g. “fri 5pm” or “tomorrow”." }).question;
      return;
    }
    if (result.all_day) {
      setPanelInput("due", result.due_date);
      $("p-due-read").textContent = `Due ${dayInWords(result.due_date)}, all day.`;
    } else {
      setPanelInput("due", toLocalInput(result.due_date));
      $("p-due-read").textContent = `Due ${dueInWords(result.due_date)}.`;
    }
    $("p-due-words").value = "";
  } catch (error) { $("p-due-read").textContent = error.message; }
  finally { dueWordsReading = null; }
}

// A wall-clock time typed in the user's zone, as an instant with its offset: the task keeps its own zone.
function zoneOffsetMinutes(ms, tz) {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }).formatToParts(new Date(ms));
  const get = (type) => parseInt(parts.find((p) => p.type === type).value, 10);
  return Math.round((Date.UTC(get("year"), get("month") - 1, get("day"), get("hour") % 24, get("minute"), get("second")) - ms) / 60000);
}

function withOffset(local, tz) {
  const [date, time] = local.split("T");
  const [y, mo, d] = date.split("-").map(Number);
  const [h, mi] = time.split(":").map(Number);
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  let offset = zoneOffsetMinutes(wall, tz);
  offset = zoneOffsetMinutes(wall - offset * 60000, tz);
  const pad = (n) => String(n).padStart(2, "0");
  const abs = Math.abs(offset);
  return `${date}T${pad(h)}:${pad(mi)}:00${offset < 0 ? "-" : "+"}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function changedFields(form) {
  const changes = {};
  for (const field of Object.keys(PANEL_INPUTS)) {
    if (sameValue(field, form[field], panelBase.values[field])) continue;
    const value = form[field];
    if (field === "title") changes.title = value.trim();
    if (field === "description") changes.description = value || null;
    if (field === "due") changes.due_date = !value ? null : isDateOnly(value) ? value : withOffset(value, userTz());
    if (field === "priority") changes.priority = value;
    if (field === "tags") changes.tags = value.split(",").map((t) => t.trim()).filter(Boolean);
    if (field === "list") changes.list_id = value || null;
  }
  return changes;
}

const DESCRIPTION_MAX = 10000;

let repeatTimer = null;
let repeatParsed = null;

function scheduleRepeatPreview() {
  clearTimeout(repeatTimer);
  repeatParsed = null;
  const words = $("p-repeat").value.trim();
  if (!words) { $("p-preview").replaceChildren(); return; }
  repeatTimer = setTimeout(async () => {
    try {
      const result = await api("POST", "/api/{me}/parse", { text: `task ${repeatWordsForParser(words)}`, timezone: userTz() });
      if ($("p-repeat").value.trim() !== words) return;
      repeatParsed = result.recurrence_rule ? result : null;
      $("p-preview").replaceChildren(...(repeatParsed
        ? result.occurrences.map((o) => el("li", { "data-iso": o }, result.all_day ? `${dayInWords(o)}, all day` : dueInWords(o)))
        : [el("li", {}, (result.questions[0] || { question: "Say how it repeats, e.g. “every monday at 9am”." }).question)]));
    } catch (error) { $("p-preview").replaceChildren(el("li", {}, error.message)); }
  }, 150);
}

async function saveSchedule(id) {
  const words = $("p-repeat").value.trim();
  if (words !== $("p-repeat").dataset.initial) {
    if (!words) await api("DELETE", `/api/{me}/tasks/${id}/recurrence`);
    else if (repeatParsed) {
      await api("POST", `/api/{me}/tasks/${id}/recurrence`, { recurrence_rule: repeatParsed.recurrence_rule,
        repeat_from: repeatParsed.repeat_from, timezone: userTz(), dtstart: repeatParsed.due_date });
    } else throw new Error("Repeat: say how it repeats, e.g. “every monday at 9am”.");
  }
  if ($("p-reminder").value !== "") {
    await api("POST", `/api/{me}/tasks/${id}/reminders`, { minutes_before: parseInt($("p-reminder").value, 10) });
    state.reminderTasks.add(id);
  }
}

async function savePanel(event) {
  event.preventDefault();
  const id = state.panelTask;
  const task = state.tasks.get(id);
  if (!task || !panelBase || panelBase.id !== id) return;
  const form = readPanelForm();
  const problem = titleProblem(form.title.trim()) || (form.description.length > DESCRIPTION_MAX
    ? `The description is ${form.description.length} characters; at most ${DESCRIPTION_MAX} fit.` : "");
  if (problem) { $("p-message").textContent = problem; return; }
  $("p-message").textContent = "";
  // Only what the person changed: never a zone, a due date or a rule they did not touch.
  const changes = changedFields(form);
  const ruleChanged = $("p-repeat").value.trim() !== $("p-repeat").dataset.initial;
  // A new rule moves the due date to its first occurrence (as Todoist does).
  if (ruleChanged && repeatParsed) changes.due_date = repeatParsed.due_date;
  const scheduled = ruleChanged || $("p-reminder").value !== "";
  if (scheduled && (navigator.onLine === false || isLocal(id))) {
    $("p-message").textContent = "Repeat and reminders need a connection (and the task on the server): set them once it is sent.";
    return;
  }
  let outcome = { status: "done" };
  panelSaving = true;  // Esc or another view right after Save closes the panel without "Discard changes?"
  try {
    if (Object.keys(changes).length) {
      outcome = await submit({ kind: "patch", id, base_version: panelBase.version, changes, title: task.title, fromCreate: isLocal(id) });
    }
    if (outcome.status === "conflict") return;  // the panel, or a toast once it is closed, shows both values (settle)
    // Said in the panel while it shows this task, in a toast once it was closed meanwhile.
    const tell = (message) => { if (state.panelTask) $("p-message").textContent = message; else toast(message); };
    if (outcome.status === "rejected") { tell(outcome.message); return; }
    if (outcome.status === "done" && scheduled) {
      try {
        await saveSchedule(state.panelTask || id);
        upsert(await api("GET", `/api/{me}/tasks/${state.panelTask || id}`));
      } catch (error) { tell(error.message); return; }
    }
  } finally {
    panelSaving = false;
  }
  const now = state.panelTask;  // a task made here has its server id by now
  render();
  announceSave(now, outcome);
}

async function skipInstance() {
  const task = state.tasks.get(state.panelTask);
  if (!task) return;
  // The skip route records the occurrence (never respawned, an EXDATE in calendar feeds) and, for a
  // series repeating from completion, spawns the next one as completing would.
  try {
    const skipped = await api("POST", `/api/{me}/tasks/${task.id}/skip`, {});
    if (task.parent_id) {
      state.tasks.delete(task.id);
      closePanel();
      toast("Skipped this one.");
    } else {  // the series' next occurrence: the series stays, moved on
      state.tasks.set(task.id, { ...task, next_occurrence: skipped.next_occurrence });
      toast(`Skipped ${occurrenceInWords(task, skipped.occurrence_at)}.${skipped.next_occurrence ? ` Next: ${occurrenceInWords(task, skipped.next_occurrence)}.` : ""}`);
    }
    render();
  } catch (error) { toast(error.message); }
}

async function stopSeries() {
  const task = state.tasks.get(state.panelTask);
  if (!task) return;
  const seriesId = task.recurrence_rule ? task.id : task.parent_id;
  try {
    await api("DELETE", `/api/{me}/tasks/${seriesId}/recurrence`);
    const series = state.tasks.get(seriesId);
    if (series) upsert({ ...series, recurrence_rule: null, next_occurrence: null, version: series.version + 1 });
    render(); toast("The series is stopped: no more instances.");
  } catch (error) { toast(error.message); }
}

function closePanel() {
  const id = state.panelTask;
  const hadFocus = $("panel").contains(document.activeElement);
  $("panel").hidden = true;
  state.panelTask = null;
  // Keyboard-first: Esc puts the cursor back on the row the panel was about.
  const row = id && hadFocus && document.querySelector(`#tasks li.task[data-id="${id}"] .title`);
  if (row) row.focus();
  if (id) remember();
}

function minutesInWords(minutes) {
  if (minutes === 0) return "at due time";
  const [n, unit] = minutes % 1440 === 0 ? [minutes / 1440, "day"] : minutes % 60 === 0 ? [minutes / 60, "hour"] : [minutes, "min"];
  return `${n} ${unit}${n > 1 && unit !== "min" ? "s" : ""} before`;
}

// ---------- preferences ----------

async function loadPreferences() {
  try {
    const prefs = await api("GET", "/api/{me}/preferences");
    if (!prefs.configured) {
      // First sign-in: the browser's zone becomes the user's, once.
      const detected = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
      Object.assign(prefs, await api("PUT", "/api/{me}/preferences", { timezone: detected }));
    }
    state.prefs = prefs;
    state.tz = prefs.timezone;
    render();
  } catch (_) { /* offline: the zone of the offline copy, else the browser's */ }
}

function openSettings() {
  const prefs = state.prefs || {};
  $("s-tz").replaceChildren(...[...$("tz").options].map((o) => el("option", { value: o.value }, o.value)));
  $("s-tz").value = userTz();
  $("s-email").checked = Boolean(prefs.email_reminders);
  $("s-email-wrap").hidden = !prefs.email_available;  // only on a server that sends email
  $("s-reminder").value = prefs.default_reminder_minutes === null || prefs.default_reminder_minutes === undefined ? "" : String(prefs.default_reminder_minutes);
  $("s-allday-time").value = prefs.all_day_reminder_time || "09:00";
  $("settings").showModal();
  remember();
}

async function saveSettings(event) {
  event.preventDefault();
  const body = { timezone: $("s-tz").value, email_reminders: $("s-email").checked,
    default_reminder_minutes: $("s-reminder").value === "" ? null : parseInt($("s-reminder").value, 10),
    all_day_reminder_time: $("s-allday-time").value.slice(0, 5) || "09:00" };
  try {
    state.prefs = await api("PUT", "/api/{me}/preferences", body);
    state.tz = state.prefs.timezone;
    $("settings").close();
    render();
    toast("Settings saved.");
  } catch (error) { toast(error.message); }
}

// ---------- keyboard ----------

function typing(target) { return target.closest("input, textarea, select, [contenteditable], dialog"); }

function moveSelection(step) {
  const rows = [...document.querySelectorAll("#tasks li.task[data-id]")];
  if (!rows.length) return;
  const index = rows.findIndex((r) => r.dataset.id === state.selected);
  const next = rows[Math.max(0, Math.min(rows.length - 1, index + step))];
  state.selected = next.dataset.id;
  rows.forEach((r) => r.classList.toggle("selected", r === next));
  next.scrollIntoView({ block: "nearest" });
  next.querySelector("input.complete").focus();
}

function onKey(event) {
  if (event.key === "Escape") { leaveField(event); return; }
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target) && !event.target.matches("input.complete")) return;
  const task = state.selected && state.tasks.get(state.selected);
  switch (event.key) {
    case "q": event.preventDefault(); openQuick(); break;
    case "/": event.preventDefault(); openSearch(); break;
    case "j": moveSelection(1); break;
    case "k": moveSelection(-1); break;
    case "x": case "e": if (task) tick(task, !task.completed); break;
    case "Enter": if (task) { event.preventDefault(); openPanel(task.id); $("p-title").focus(); } break;
    // On the selected row's checkbox only: elsewhere Tab moves the focus as always.
    case "Tab": if (task && event.target.matches("#tasks input.complete") && indentSelected(task, event.shiftKey)) event.preventDefault(); else return; break;
    case "?": $("shortcuts").showModal(); break;
    default: return;
  }
}

// ---------- drag to reorder ----------

// Order means something in the Inbox and in a list (they are sorted by it); elsewhere rows are sorted by
// date and do not move. A drop sends the moved task's new place — and, where rows above it were never
// ordered, theirs once, so it can sort below them.
function orderable() { return state.view === "inbox" || state.view.startsWith("list:"); }

function placesFor(order, movedId) {
  const at = order.indexOf(movedId);
  const place = (id) => { const t = state.tasks.get(id); return t && typeof t.position === "number" ? t.position : null; };
  const writes = [];
  let above = null;
  for (let i = 0; i < at; i += 1) {
    const p = place(order[i]);
    if (p === null || (above !== null && p <= above)) { above = above === null ? 1 : above + 1; writes.push([order[i], above]); }
    else above = p;
  }
  const below = at + 1 < order.length ? place(order[at + 1]) : null;
  let mine;
  if (below !== null && (above === null || below > above)) mine = above === null ? below - 1 : (above + below) / 2;
  else mine = above === null ? 1 : above + 1;
  if (place(movedId) !== mine) writes.push([movedId, mine]);
  return writes;
}

function onDrop(event) {
  event.preventDefault();
  if (!orderable()) return;
  const id = event.dataTransfer.getData("text/plain");
  if (!id || !state.tasks.has(id)) return;
  const header = event.target.closest("li.section-head[data-section]");
  if (header) { dropOnSection(id, header.dataset.section); return; }  // organise.js: first in that section
  const target = event.target.closest("li.task[data-id]");
  if (!target || target.dataset.id === id) return;
  const order = [...document.querySelectorAll("#tasks li.task[data-id]")].map((r) => r.dataset.id).filter((r) => r !== id);
  const box = target.getBoundingClientRect();
  const after = event.clientY > box.top + box.height / 2;  // the lower half of a row: below it
  order.splice(order.indexOf(target.dataset.id) + (after ? 1 : 0), 0, id);
  placeTask(order, id, sectionOfDrop(state.tasks.get(id), target.dataset.id));  // organise.js
}

// Send the moved task's place in `order` with `extra` changes (and, once, the places of the rows above
// it that were never ordered).
function placeTask(order, id, extra) {
  for (const [rowId, position] of placesFor(order, id)) {
    const task = state.tasks.get(rowId);
    const changes = { position, ...(rowId === id ? extra : {}) };
    submit({ kind: "patch", id: rowId, base_version: task.version, changes, title: task.title, fromCreate: isLocal(rowId) })
      .then((outcome) => { if (outcome.status === "rejected") toast(outcome.message); });
  }
}

// ---------- reminders (the bell in the rows) ----------

// Reminders change with tasks made or edited anywhere (another tab, quick add, the API) and when they
// ring: the marks are fetched again shortly after such events, once per burst.
let marksTimer = null;
function reloadReminderMarksSoon() {
  clearTimeout(marksTimer);
  marksTimer = setTimeout(loadReminderMarks, 400);
}

async function loadReminderMarks() {
  try {
    const pending = await api("GET", "/api/{me}/reminders/pending");
    state.reminderTasks = new Set(pending.items.map((r) => r.task_id));
    render();
  } catch (_) { /* the bell is a hint; the panel lists the reminders */ }
}

// ---------- offline ----------

let offlineTimer = null;
let offlineSavedAt = 0;
function saveOfflineSoon() {
  // At most one copy every 300 ms, the latest one always written (leading and trailing).
  if (navigator.onLine === false || !state.session || state.loading || offlineTimer) return;
  const wait = Math.max(0, offlineSavedAt + 300 - Date.now());
  offlineTimer = setTimeout(() => { offlineTimer = null; offlineSavedAt = Date.now(); saveOffline(); }, wait);
}

// The offline copy: everything the views show (tasks, lists and their sections, the user's zone, the
// bells, the later occurrences of series in Upcoming), as the server last sent it. Sign out removes it.
function saveOffline() {
  if (!state.session || state.fromOffline) return;
  const occurrences = Object.fromEntries([...occurrenceCache.entries()].filter(([, v]) => Array.isArray(v) && v.length));
  const copy = { user: state.session.userId, savedAt: new Date().toISOString(), tz: state.tz, prefs: state.prefs || null,
    tasks: [...state.tasks.values()].filter((t) => !isLocal(t.id)), lists: [...state.lists.values()],
    sections: offlineSections(), reminders: [...state.reminderTasks], occurrences };
  try { localStorage.setItem(OFFLINE_KEY, JSON.stringify(copy)); }
  catch (_) { /* storage full or disabled: the offline copy is a convenience */ }
}

function useOfflineCopy() {
  if (!state.session || state.tasks.size) return false;
  let saved = null;
  try { saved = JSON.parse(localStorage.getItem(OFFLINE_KEY) || "null"); } catch (_) { saved = null; }
  if (!saved || saved.user !== state.session.userId) return false;
  state.fromOffline = true;
  state.savedAt = saved.savedAt;
  state.tasks = new Map(saved.tasks.map((t) => [t.id, t]));
  if (!state.lists.size) state.lists = new Map((saved.lists || []).map((l) => [l.id, l]));
  useOfflineSections(saved.sections);  // organise.js
  if (!state.tz && saved.tz) state.tz = saved.tz;
  if (!state.prefs && saved.prefs) state.prefs = saved.prefs;
  state.reminderTasks = new Set(saved.reminders || []);
  for (const [key, value] of Object.entries(saved.occurrences || {})) if (!occurrenceCache.has(key)) occurrenceCache.set(key, value);
  reapplyQueue();
  render();
  return true;
}

function showOffline() {
  const offline = navigator.onLine === false;
  if (offline) useOfflineCopy();
  const stale = offline || (state.fromOffline && !(state.ws && state.ws.readyState === WebSocket.OPEN));
  const since = state.fromOffline && state.savedAt ? ` as of ${dueInWords(state.savedAt).replace(/^(Today|Yesterday)/, (d) => d.toLowerCase())}` : "";
  $("offline-banner").textContent = offline
    ? `Offline: showing your tasks${since}. What you change is kept on this device and sent when you are back online.`
    : `The server cannot be reached: showing your tasks${since}. What you change is kept on this device and sent when it answers.`;
  $("offline-banner").hidden = !stale;
  document.body.classList.toggle("offline", offline);
  ["p-repeat", "p-reminder"].forEach((id) => { $(id).disabled = offline; });
  showPending();
}

// ---------- wiring ----------

function initViews() {
  document.querySelectorAll(".views button[data-view]").forEach((b) => b.addEventListener("click", () => setView(b.dataset.view)));
  $("fab").addEventListener("click", openQuick);
  initMenu();
  $("quick-close").addEventListener("click", closeQuick);
  $("p-delete").addEventListener("click", () => { const task = state.tasks.get(state.panelTask); if (task) remove(task); });
  $("quick-form").addEventListener("submit", quickAdd);
  $("quick").addEventListener("input", scheduleParse);
  $("quick").addEventListener("paste", quickPaste);
  $("p-due-words").addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); readDueWords(); } });
  $("p-due-words").addEventListener("change", readDueWords);
  $("new-list").addEventListener("submit", createList);
  $("list-dialog-open").addEventListener("click", () => openListDialog(null));
  $("list-rename").addEventListener("click", () => { const list = state.lists.get(state.view.slice(5)); if (list) openListDialog(list); });
  $("list-dialog-form").addEventListener("submit", saveListDialog);
  $("ld-cancel").addEventListener("click", () => $("list-dialog").close());
  // In the phone's Menu drawer the archived lists open below the fold: bring them into sight.
  $("archived-wrap").addEventListener("toggle", () => { if ($("archived-wrap").open) $("archived").scrollIntoView({ block: "nearest", inline: "nearest" }); });
  $("list-recolor").addEventListener("change", () => changeList({ color: $("list-recolor").value }));
  $("list-archive").addEventListener("click", () => { changeList({ archived: true }); setView("inbox"); });
  $("list-delete").addEventListener("click", deleteList);
  $("panel-form").addEventListener("submit", savePanel);
  $("p-description").addEventListener("input", () => showLinks($("p-description").value));
  $("p-allday").addEventListener("change", toggleAllDay);
  $("p-skip").addEventListener("click", skipInstance);
  $("p-repeat").addEventListener("input", scheduleRepeatPreview);
  $("p-stop").addEventListener("click", stopSeries);
  $("settings-open").addEventListener("click", openSettings);
  $("settings-form").addEventListener("submit", saveSettings);
  $("settings-cancel").addEventListener("click", () => $("settings").close());
  document.addEventListener("keydown", onKey);
  $("tasks").addEventListener("dragstart", (e) => {
    const row = e.target.closest("li.task[data-id]");
    if (!row || !orderable()) { e.preventDefault(); return; }
    e.dataTransfer.setData("text/plain", row.dataset.id);
  });
  $("tasks").addEventListener("dragover", (e) => { if (orderable()) e.preventDefault(); });
  // The row with the keyboard focus is the selected one (Enter, x and e act on it).
  $("tasks").addEventListener("focusin", (e) => {
    const row = e.target.closest("li.task[data-id]");
    if (!row || state.selected === row.dataset.id) return;
    state.selected = row.dataset.id;
    document.querySelectorAll("#tasks li.task").forEach((r) => r.classList.toggle("selected", r === row));
  });
  $("tasks").addEventListener("drop", onDrop);
  $("more").open = localStorage.getItem(MORE_KEY) === "open";
  $("more").addEventListener("toggle", () => localStorage.setItem(MORE_KEY, $("more").open ? "open" : "closed"));
  window.addEventListener("online", showOffline);
  // The last state this page saw live is the offline copy (not a copy it was itself showing offline).
  window.addEventListener("pagehide", () => { if (!state.fromOffline) saveOffline(); });
  window.addEventListener("offline", showOffline);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
  showOffline();
}

