// TaskFlow views: quick add, Inbox/Today/Upcoming/Completed, lists, rows in words, side panel,
// keyboard shortcuts, settings, offline shell. Plain JavaScript, loaded after app.js.
"use strict";

const OFFLINE_KEY = "taskflow.offline";
const MORE_KEY = "taskflow.more";
const DAY_MS = 86400000;
const WEEKDAY_WORDS = { MO: "monday", TU: "tuesday", WE: "wednesday", TH: "thursday", FR: "friday", SA: "saturday", SU: "sunday" };

// ---------- time in the user's zone ----------

function userTz() { return state.tz || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; }

function dayKey(iso) {
  // YYYY-MM-DD of a moment in the user's zone
  return new Intl.DateTimeFormat("en-CA", { timeZone: userTz(), year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(iso));
}

function todayKey(offsetDays = 0) { return dayKey(new Date(Date.now() + offsetDays * DAY_MS).toISOString()); }

function clock(iso) {
  return new Intl.DateTimeFormat("en-GB", { timeZone: userTz(), hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
}

function dueInWords(iso) {
  const key = dayKey(iso);
  let day;
  if (key === todayKey()) day = "Today";
  else if (key === todayKey(1)) day = "Tomorrow";
  else if (key === todayKey(-1)) day = "Yesterday";
  else if (key > todayKey() && key <= todayKey(6)) day = new Intl.DateTimeFormat("en-GB", { timeZone: userTz(), weekday: "long" }).format(new Date(iso));
  else day = new Intl.DateTimeFormat("en-GB", { timeZone: userTz(), day: "numeric", month: "short", year: key.slice(0, 4) === todayKey().slice(0, 4) ? undefined : "numeric" }).format(new Date(iso));
  return `${day} ${clock(iso)}`;
}

function ruleInWords(rule, task) {
  const parts = Object.fromEntries(rule.replace(/^RRULE:/, "").split(";").map((p) => p.split("=")));
  const n = parseInt(parts.INTERVAL || "1", 10);
  const unit = { HOURLY: "hour", DAILY: "day", WEEKLY: "week", MONTHLY: "month", YEARLY: "year" }[parts.FREQ] || "time";
  let words = n > 1 ? `every ${n} ${unit}s` : `every ${unit}`;
  if (parts.BYDAY) {
    const days = parts.BYDAY.split(",");
    if (parts.FREQ === "WEEKLY" && days.join() === "MO,TU,WE,TH,FR" && n === 1) words = "every weekday";
    else if (parts.FREQ === "WEEKLY") words = `${n > 1 ? `every ${n} weeks on` : "every"} ${days.map((d) => WEEKDAY_WORDS[d.slice(-2)]).join(", ")}`;
    else words = `every ${days.map((d) => `${ordinal(parseInt(d, 10) || 1)} ${WEEKDAY_WORDS[d.slice(-2)]}`).join(", ")}`;
  }
  if (parts.BYMONTHDAY) words = `${words} on the ${parts.BYMONTHDAY === "-1" ? "last day" : ordinal(parseInt(parts.BYMONTHDAY, 10))}`;
  const at = task && (task.next_occurrence || task.due_date);
  if (at && parts.FREQ !== "HOURLY") words += ` at ${clock(at)}`;
  if (parts.COUNT) words += `, ${parts.COUNT} times`;
  if (task && task.repeat_from === "completion") words = words.replace("every", "every!");
  return words;
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
  const at = task.recurrence_rule && task.next_occurrence ? task.next_occurrence : task.due_date;
  return at ? dayKey(at) : null;
}

function inView(task, view) {
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
  const da = a.recurrence_rule && a.next_occurrence ? a.next_occurrence : a.due_date;
  const db = b.recurrence_rule && b.next_occurrence ? b.next_occurrence : b.due_date;
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
    const entries = items.map((task) => ({ task, at: task.recurrence_rule && task.next_occurrence ? task.next_occurrence : task.due_date }))
      .concat(laterOccurrences(items))
      .sort((a, b) => new Date(a.at) - new Date(b.at));
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
      if (!spawned.has(`${task.id}:${ms}`)) ghosts.push({ task, at, ghost: true });
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
  if (state.view === "inbox") return `Your Inbox is empty. ${matchMedia("(max-width: 800px)").matches ? "Tap +" : "Press q"} to add a task.`;
  return "No open tasks in this list.";
}

function viewTitle() {
  if (state.view.startsWith("list:")) return (state.lists.get(state.view.slice(5)) || { name: "List" }).name;
  return { inbox: "Inbox", today: "Today", upcoming: "Upcoming", all: "All tasks", completed: "Completed", search: "Search" }[state.view];
}

function renderNav() {
  const open = [...state.tasks.values()].filter((t) => !state.pendingDeletes.has(t.id));
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
      try { state.lists.set(l.id, await api("PUT", `/api/{me}/lists/${l.id}`, { archived: false })); setView(`list:${l.id}`); }
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
}

function setView(view) {
  state.view = view;
  state.selected = null;
  closePanel();
  closeQuick();
  parsed = null;
  $("search-form").hidden = view !== "search";
  document.body.dataset.view = view.split(":")[0];
  render();
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
  } catch (error) { toast(error.message); }
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

async function changeList(fields) {
  const id = state.view.slice(5);
  try { state.lists.set(id, await api("PUT", `/api/{me}/lists/${id}`, fields)); render(); }
  catch (error) { toast(error.message); }
}

// One dialog names and colours a list: a new one (on a phone, where the navigation is a strip with no
// room for a field) or the one shown (Rename, on every screen). It stays open until the server agrees.
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
    if (listDialogId) state.lists.set(listDialogId, await api("PUT", `/api/{me}/lists/${listDialogId}`, { name, color }));
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
  parseTimer = setTimeout(() => parseLine(text), 150);
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
  } catch (error) { $("questions").replaceChildren(el("li", {}, error.message)); }
}

function showParsed(result) {
  const chips = result.chips.map((c) => el("li", { class: `chip chip-${c.kind}` }, el("span", { class: "sr" }, `${c.kind}: `), chipText(c, result)));
  if (result.title) chips.unshift(el("li", { class: "chip chip-title" }, el("span", { class: "sr" }, "title: "), result.title));
  $("chips").replaceChildren(...chips);
  $("questions").replaceChildren(...result.questions.map((q) => el("li", {}, q.question,
    ...(q.options || []).map((o) => el("button", { type: "button", class: "secondary", onclick: () => answer(q, o) }, o)))));
}

function chipText(chip, result) {
  if (chip.kind === "recurrence" && result.recurrence_rule) return `↻ ${ruleInWords(result.recurrence_rule, result)}`;
  if ((chip.kind === "date" || chip.kind === "time") && result.due_date) return `due ${dueInWords(result.due_date)}`;
  return chip.text;
}

function answer(question, option) {
  const input = $("quick");
  const ambiguous = question.question.match(/^At (\d+)/);
  if (ambiguous) input.value = input.value.replace(new RegExp(`\\bat\\s+${ambiguous[1]}\\b`, "i"), `at ${option}`);
  else if (question.options) input.value = input.value.replace(question.question.match(/Is (\S+)/)?.[1] || "", option);
  input.focus();
  scheduleParse();
}

async function quickAdd(event) {
  event.preventDefault();
  const text = $("quick").value;
  if (!text.trim()) return;
  clearTimeout(parseTimer);
  const result = parsed && parsed.text === text ? parsed.result : await parseForView(text).catch((e) => { toast(e.message); return null; });
  if (!result) return;
  if (result.questions.length) { showParsed(result); $("quick").focus(); return; }
  const body = { title: result.title, priority: result.priority, timezone: result.timezone };
  if (result.tags.length) body.tags = result.tags;
  if (result.due_date) body.due_date = result.due_date;
  const listId = result.list_id || (state.view.startsWith("list:") ? state.view.slice(5) : null);
  if (listId) body.list_id = listId;
  if (result.recurrence_rule) { body.recurrence_rule = result.recurrence_rule; body.repeat_from = result.repeat_from; }
  if (result.reminders.length) body.reminders = result.reminders;
  $("quick").value = ""; parsed = null;
  $("chips").replaceChildren(); $("questions").replaceChildren();
  try {
    const task = await api("POST", "/api/{me}/tasks", body);
    if (body.reminders) state.reminderTasks.add(task.id);
    upsert(task);
    render();
  } catch (error) {
    if (!$("quick").value) $("quick").value = text;
    toast(`Could not add the task: ${error.message}`);
  }
}

// ---------- side panel ----------

function toLocalInput(iso) {
  if (!iso) return "";
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: userTz(), year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(iso));
  const get = (t) => parts.find((p) => p.type === t).value;
  return `${get("year")}-${get("month")}-${get("day")}T${get("hour")}:${get("minute")}`;
}

function fillPanelForm(task, refresh) {
  if (refresh && $("panel-form").contains(document.activeElement)) return;
  $("p-title").value = task.title;
  $("p-description").value = task.description || "";
  $("p-links").replaceChildren(...((task.description || "").match(/https?:\/\/[^\s<>"]+/g) || []).slice(0, 10)
    .map((url) => el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url)));
  $("p-due").value = toLocalInput(task.due_date);
  $("p-priority").value = task.priority;
  $("p-tags").value = (task.tags || []).join(", ");
  $("p-list").value = task.list_id || "";
  $("p-repeat").value = task.recurrence_rule ? ruleInWords(task.recurrence_rule, task) : "";
  $("p-repeat").dataset.initial = $("p-repeat").value;
  $("p-preview").replaceChildren();
  $("p-reminder").value = "";
  repeatParsed = null;
  $("p-skip").hidden = !(task.parent_id || isScheduledSeries(task));
  $("p-stop").hidden = !(task.parent_id || task.recurrence_rule);
}

let repeatTimer = null;
let repeatParsed = null;

function scheduleRepeatPreview() {
  clearTimeout(repeatTimer);
  repeatParsed = null;
  const words = $("p-repeat").value.trim();
  if (!words) { $("p-preview").replaceChildren(); return; }
  repeatTimer = setTimeout(async () => {
    try {
      const result = await api("POST", "/api/{me}/parse", { text: `task ${words}`, timezone: userTz() });
      if ($("p-repeat").value.trim() !== words) return;
      repeatParsed = result.recurrence_rule ? result : null;
      $("p-preview").replaceChildren(...(repeatParsed
        ? result.occurrences.map((o) => el("li", { "data-iso": o }, dueInWords(o)))
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
  const body = {
    title: $("p-title").value.trim(),
    description: $("p-description").value || null,
    due_date: $("p-due").value || null,
    timezone: userTz(),
    priority: $("p-priority").value,
    tags: $("p-tags").value.split(",").map((t) => t.trim()).filter(Boolean),
    list_id: $("p-list").value || null,
  };
  // A new rule moves the due date to its first occurrence (as Todoist does).
  if (repeatParsed && $("p-repeat").value.trim() !== $("p-repeat").dataset.initial) body.due_date = repeatParsed.due_date;
  try {
    upsert(await api("PUT", `/api/{me}/tasks/${id}`, body));
    await saveSchedule(id);
    upsert(await api("GET", `/api/{me}/tasks/${id}`));
    render();
    openPanel(id);
    toast("Saved.");
  } catch (error) { toast(error.message); }
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
      toast(`Skipped ${dueInWords(skipped.occurrence_at)}.${skipped.next_occurrence ? ` Next: ${dueInWords(skipped.next_occurrence)}.` : ""}`);
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
  } catch (_) { state.tz = null; }
}

function openSettings() {
  const prefs = state.prefs || {};
  $("s-tz").replaceChildren(...[...$("tz").options].map((o) => el("option", { value: o.value }, o.value)));
  $("s-tz").value = userTz();
  $("s-email").checked = Boolean(prefs.email_reminders);
  $("s-reminder").value = prefs.default_reminder_minutes === null || prefs.default_reminder_minutes === undefined ? "" : String(prefs.default_reminder_minutes);
  $("settings").showModal();
}

async function saveSettings(event) {
  event.preventDefault();
  const body = { timezone: $("s-tz").value, email_reminders: $("s-email").checked,
    default_reminder_minutes: $("s-reminder").value === "" ? null : parseInt($("s-reminder").value, 10) };
  try {
    state.prefs = await api("PUT", "/api/{me}/preferences", body);
    state.tz = state.prefs.timezone;
    $("settings").close();
    render();
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
  if (event.key === "Escape") { closePanel(); closeQuick(); if ($("shortcuts").open) $("shortcuts").close(); return; }
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target) && !event.target.matches("input.complete")) return;
  const task = state.selected && state.tasks.get(state.selected);
  switch (event.key) {
    case "q": event.preventDefault(); openQuick(); break;
    case "/": event.preventDefault(); openSearch(); break;
    case "j": moveSelection(1); break;
    case "k": moveSelection(-1); break;
    case "x": case "e": if (task) complete(task, !task.completed); break;
    case "Enter": if (task) { event.preventDefault(); openPanel(task.id); $("p-title").focus(); } break;
    case "?": $("shortcuts").showModal(); break;
    default: return;
  }
}

// ---------- drag to reorder ----------

function onDrop(event) {
  event.preventDefault();
  const id = event.dataTransfer.getData("text/plain");
  const target = event.target.closest("li.task");
  if (!id || !target || target.dataset.id === id) return;
  const rows = [...document.querySelectorAll("#tasks li.task[data-id]")].map((r) => r.dataset.id).filter((r) => r !== id);
  const at = rows.indexOf(target.dataset.id);
  rows.splice(at, 0, id);
  rows.forEach((rowId, index) => {
    const task = state.tasks.get(rowId);
    if (task && task.position !== index + 1) {
      api("PUT", `/api/{me}/tasks/${rowId}`, { position: index + 1 }).then((t) => { upsert(t); render(); }).catch((e) => toast(e.message));
      state.tasks.set(rowId, { ...task, position: index + 1 });
    }
  });
  render();
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

function saveOffline() {
  if (!state.session) return;
  try { localStorage.setItem(OFFLINE_KEY, JSON.stringify({ user: state.session.userId, tasks: [...state.tasks.values()], lists: [...state.lists.values()] })); }
  catch (_) { /* storage full or disabled: the offline copy is a convenience */ }
}

function showOffline() {
  $("offline-banner").hidden = navigator.onLine !== false;
  document.body.classList.toggle("readonly", navigator.onLine === false);
  if (navigator.onLine === false && state.session && !state.tasks.size) {
    const saved = JSON.parse(localStorage.getItem(OFFLINE_KEY) || "null");
    if (saved && saved.user === state.session.userId) {
      state.fromOffline = true;
      state.tasks = new Map(saved.tasks.map((t) => [t.id, t]));
      state.lists = new Map(saved.lists.map((l) => [l.id, l]));
      render();
    }
  }
}

// ---------- wiring ----------

function initViews() {
  document.querySelectorAll(".views button[data-view]").forEach((b) => b.addEventListener("click", () => setView(b.dataset.view)));
  $("fab").addEventListener("click", openQuick);
  $("quick-close").addEventListener("click", closeQuick);
  $("p-delete").addEventListener("click", () => { const task = state.tasks.get(state.panelTask); if (task) remove(task); });
  $("quick-form").addEventListener("submit", quickAdd);
  $("quick").addEventListener("input", scheduleParse);
  $("new-list").addEventListener("submit", createList);
  $("list-dialog-open").addEventListener("click", () => openListDialog(null));
  $("list-rename").addEventListener("click", () => { const list = state.lists.get(state.view.slice(5)); if (list) openListDialog(list); });
  $("list-dialog-form").addEventListener("submit", saveListDialog);
  $("ld-cancel").addEventListener("click", () => $("list-dialog").close());
  // In a phone's strip the archived lists open to the right of their summary: bring them into sight.
  $("archived-wrap").addEventListener("toggle", () => { if ($("archived-wrap").open) $("archived").scrollIntoView({ block: "nearest", inline: "nearest" }); });
  $("list-recolor").addEventListener("change", () => changeList({ color: $("list-recolor").value }));
  $("list-archive").addEventListener("click", () => { changeList({ archived: true }); setView("inbox"); });
  $("list-delete").addEventListener("click", deleteList);
  $("panel-form").addEventListener("submit", savePanel);
  $("p-skip").addEventListener("click", skipInstance);
  $("p-repeat").addEventListener("input", scheduleRepeatPreview);
  $("p-stop").addEventListener("click", stopSeries);
  $("settings-open").addEventListener("click", openSettings);
  $("settings-form").addEventListener("submit", saveSettings);
  $("settings-cancel").addEventListener("click", () => $("settings").close());
  document.addEventListener("keydown", onKey);
  $("tasks").addEventListener("dragstart", (e) => { const row = e.target.closest("li.task"); if (row) e.dataTransfer.setData("text/plain", row.dataset.id); });
  $("tasks").addEventListener("dragover", (e) => e.preventDefault());
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

init();
