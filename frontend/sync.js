// TaskFlow's outbox in the browser. Every task write (add, edit, tick, delete, drag) is an operation kept
// in IndexedDB until the server has it, and sent in order. Offline, or while the server cannot be
// reached, operations wait on this device (shown as "3 changes waiting") and go when the connection
// returns. An edit carries the version the person started from and only the fields they changed
// (PATCH …/tasks/{id}); a conflict comes back to the person with both values, never dropped silently.
// Plain JavaScript, loaded after app.js and before views.js.
"use strict";

const DB_NAME = "taskflow";
const QUEUE_STORE = "queue";
const RETRY_MAX_MS = 30000;

const sync = {
  db: null,              // Promise<IDBDatabase | null>
  ops: [],               // this user's operations not yet answered by the server, in order
  memorySeq: 0,          // keys when IndexedDB is unavailable (the queue then lives as long as the page)
  flushing: null,        // the running flush (one at a time)
  storing: 0,            // changes being written to IndexedDB, not yet in ops (settled means none)
  retryTimer: null,
  retries: 0,
  waiters: new Map(),    // seq -> resolve(outcome), for the page that made the change
  created: new Map(),    // temporary id -> {id, version} once its create was answered
  conflicts: new Map(),  // task id -> {changes, conflicts, task, title}
  ticked: new Set(),     // instances of occurrences ticked here whose completion event has not come yet
  sent: 0,               // changes the server took since it could last not be reached (one summary toast)
  again: false,          // a change came while a flush was ending: flush once more
  surfaced: false,       // a conflict or a refusal was reported during this flush (no "all sent" toast over it)
  stalled: false,        // the last attempt could not reach the server: what is queued is waiting
  pendingTimer: null,
  tab: (window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2)),
  channel: "BroadcastChannel" in window ? new BroadcastChannel("taskflow") : null,
};

// Tabs of one browser share the queue: one sends at a time (a Web Lock), each hears what the other sent
// (a BroadcastChannel), and a change made in a tab is reported in that tab while it is open.
if (navigator.locks && navigator.locks.request) {
  navigator.locks.request(`taskflow-tab-${sync.tab}`, () => new Promise(() => {})).catch(() => {});
}

async function tabAlive(tab) {
  if (tab === sync.tab) return true;
  if (!tab || !navigator.locks || !navigator.locks.query) return false;
  try { return (await navigator.locks.query()).held.some((lock) => lock.name === `taskflow-tab-${tab}`); }
  catch (_) { return false; }
}

function broadcast(message) {
  if (sync.channel) try { sync.channel.postMessage(message); } catch (_) { /* a closed channel */ }
}

if (sync.channel) {
  sync.channel.onmessage = ({ data }) => {
    if (!state.session || data.user !== state.session.userId) return;
    if (data.type === "changed") { loadQueue(); return; }
    if (data.type === "signed-out") { signOut("Signed out in another tab."); return; }
    if (data.type === "settled") {
      sync.ops = sync.ops.filter((o) => o.seq !== data.seq);
      if (data.created) sync.created.set(data.created.temp, { id: data.created.id, version: data.created.version });
      if (data.op.tab === sync.tab) settle(data.op, data.outcome);
      else {
        if (data.created) state.tasks.delete(data.created.temp);
        if (data.outcome.status === "done" && data.outcome.result && data.outcome.result.id) upsert(data.outcome.result);
        render();
      }
      showPending();
    }
  };
}

// ---------- IndexedDB ----------

function openQueueDb() {
  if (!sync.db) {
    sync.db = new Promise((resolve) => {
      if (!("indexedDB" in window)) { resolve(null); return; }
      let request;
      try { request = indexedDB.open(DB_NAME, 1); } catch (_) { resolve(null); return; }
      request.onupgradeneeded = () => request.result.createObjectStore(QUEUE_STORE, { keyPath: "seq", autoIncrement: true });
      request.onsuccess = () => {
        const db = request.result;
        db.onversionchange = () => { db.close(); sync.db = null; };  // another tab deletes it (sign out)
        resolve(db);
      };
      request.onerror = () => resolve(null);
      request.onblocked = () => resolve(null);
    });
  }
  return sync.db;
}

async function queueTx(mode, work) {
  const db = await openQueueDb();
  if (!db) return undefined;
  return new Promise((resolve, reject) => {
    const tx = db.transaction(QUEUE_STORE, mode);
    const request = work(tx.objectStore(QUEUE_STORE));
    tx.oncomplete = () => resolve(request ? request.result : undefined);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

// This user's stored operations, in order (plus any kept in memory when storage refused them).
async function storedOps() {
  const user = state.session.userId;
  let stored;
  try { stored = await queueTx("readonly", (s) => s.getAll()); } catch (_) { stored = undefined; }
  if (stored === undefined) return sync.ops.slice();
  return stored.filter((o) => o.user === user).concat(sync.ops.filter((o) => o.seq < 0)).sort((a, b) => a.at - b.at || a.seq - b.seq);
}

// The queue as stored (another tab may have added to it or sent from it), shown on top of the tasks.
async function loadQueue() {
  if (!state.session) return;
  const sending = new Set(sync.ops.filter((o) => o.sending).map((o) => o.seq));
  sync.ops = (await storedOps()).map((o) => (sending.has(o.seq) ? { ...o, sending: true } : o));
  reapplyQueue();
  render();
  showPending();
}

async function storeOp(op) {
  try {
    const seq = await queueTx("readwrite", (s) => s.add(op));
    if (seq !== undefined) { op.seq = seq; return op; }
  } catch (_) { /* storage refused: keep it in memory */ }
  sync.memorySeq -= 1;  // negative keys: never stored, never confused with stored ones
  op.seq = sync.memorySeq;
  return op;
}

async function rewriteOp(op) {
  if (op.seq < 0) return;
  try { await queueTx("readwrite", (s) => s.put(op)); } catch (_) { /* in memory still */ }
}

async function dropOp(op) {
  sync.ops = sync.ops.filter((o) => o.seq !== op.seq);
  if (op.seq < 0) return;
  try { await queueTx("readwrite", (s) => s.delete(op.seq)); } catch (_) { /* gone with the page */ }
}

// Sign out: this user's queued operations, then the database itself when nothing else is in it.
async function forgetQueue(user) {
  sync.ops = [];
  sync.conflicts.clear();
  sync.created.clear();
  try {
    const stored = (await queueTx("readonly", (s) => s.getAll())) || [];
    const mine = stored.filter((o) => o.user === user).map((o) => o.seq);
    if (mine.length) await queueTx("readwrite", (s) => { mine.forEach((seq) => s.delete(seq)); return null; });
    if (stored.length === mine.length) {
      const db = await openQueueDb();
      if (db) db.close();
      sync.db = null;
      await new Promise((resolve) => {
        const request = indexedDB.deleteDatabase(DB_NAME);
        request.onsuccess = request.onerror = request.onblocked = () => resolve();
      });
    }
  } catch (_) { /* nothing stored */ }
  showPending();
}

function pendingCount() { return sync.ops.length; }

// ---------- making changes ----------

function localId() {
  const random = window.crypto && crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  return `local-${random}`;
}

function isLocal(id) { return typeof id === "string" && id.startsWith("local-"); }

// Queue one change and send what is queued. Resolves with the outcome for this change:
// {status: "done", result} | {status: "queued"} (kept on this device) | {status: "conflict", …} | {status: "rejected", message}.
async function submit(op) {
  op.user = state.session.userId;
  op.at = Date.now();
  // A change to a task whose create is still waiting here is folded into it where it can be.
  if (op.kind === "delete" && isLocal(op.id) && !sync.created.has(op.id)) {
    const mine = sync.ops.filter((o) => o.id === op.id);
    if (mine.some((o) => o.kind === "create" || o.kind === "quick") && !mine.some((o) => o.sending)) {
      await Promise.all(mine.map(dropOp));
      state.tasks.delete(op.id);
      render(); showPending();
      return { status: "done", result: null };
    }
  }
  if (op.kind === "complete") {  // ticked and unticked before it was sent: nothing to send
    const earlier = sync.ops.find((o) => o.kind === "complete" && o.id === op.id && !o.sending);
    if (earlier && earlier.completed !== op.completed) {
      await dropOp(earlier);
      applyOp(op, state.tasks);
      render(); showPending();
      return { status: "done", result: state.tasks.get(op.id) || null };
    }
  }
  op.tab = sync.tab;
  sync.storing += 1;
  try {
    await storeOp(op);
    sync.ops.push(op);
  } finally {
    sync.storing -= 1;
  }
  broadcast({ type: "changed", user: op.user });
  applyOp(op, state.tasks);
  render();
  showPending();
  const outcome = new Promise((resolve) => sync.waiters.set(op.seq, resolve));
  flush();
  return outcome;
}

// What a queued change looks like here before the server has it.
function applyOp(op, tasks) {
  const id = (sync.created.get(op.id) || {}).id || op.id;
  const task = tasks.get(id);
  switch (op.kind) {
    case "create": case "quick":
      if (!tasks.has(id)) tasks.set(id, op.preview);
      break;
    case "patch":
      // A date alone is all day, a date and time is not (one field to the server).
      if (task) tasks.set(id, { ...task, ...op.changes, ...("due_date" in op.changes ? { all_day: isDateOnly(op.changes.due_date) } : {}) });
      break;
    case "complete":
      if (task) tasks.set(id, { ...task, completed: op.completed, completed_at: op.completed ? new Date(op.at).toISOString() : null });
      if (task) cascadeCompletion(op.completed ? tasks.get(id) : task, op.completed, tasks);  // its sub-tasks (subtasks.js)
      break;
    case "occurrence":
      if (task && op.next !== undefined) tasks.set(id, { ...task, next_occurrence: op.next });
      break;
    case "delete":
      tasks.delete(id);
      break;
    default:
  }
}

// After a fresh load from the server: what is still waiting here is shown on top of it.
function reapplyQueue() {
  sync.ops.forEach((op) => applyOp(op, state.tasks));
}

// After a live update of one task: its changes still waiting here stay shown.
function reapplyFor(id) {
  sync.ops.filter((op) => ((sync.created.get(op.id) || {}).id || op.id) === id).forEach((op) => applyOp(op, state.tasks));
}

// A change is shown as waiting once it has to wait (offline, the server unreachable, or slow to answer),
// not during the few milliseconds an ordinary save takes.
const SHOW_WAITING_AFTER_MS = 1500;

function waitingOps() {
  if (navigator.onLine === false || sync.stalled) return sync.ops;
  const now = Date.now();
  return sync.ops.filter((o) => now - o.at >= SHOW_WAITING_AFTER_MS);
}

function pendingIds() {
  return new Set(waitingOps().map((o) => (sync.created.get(o.id) || {}).id || o.id));
}

// ---------- sending ----------

function flush() {
  if (sync.flushing) { sync.again = true; return sync.flushing; }
  if (!state.session) return Promise.resolve();
  sync.again = false;
  clearTimeout(sync.retryTimer);
  const user = state.session.userId;
  const drain = async () => {
    let stalled = null;
    let reload = false;
    while (state.session && state.session.userId === user) {
      const op = (await storedOps())[0];
      if (!op) break;
      op.sending = true;
      const mirror = sync.ops.find((o) => o.seq === op.seq);
      if (mirror) mirror.sending = true;
      showPending();
      let outcome;
      try {
        outcome = { status: "done", result: await sendOp(op) };
      } catch (error) {
        op.sending = false;
        if (mirror) mirror.sending = false;
        if (retryable(error, op)) { stalled = error; break; }
        outcome = error.status === 409 && merges(op)
          ? { status: "conflict", conflicts: (error.data && error.data.conflicts) || [], task: error.data && error.data.task }
          : { status: "rejected", message: rejection(op, error), error };
        reload = true;
      }
      await dropOp(op);
      sync.retries = 0;
      if (outcome.status === "done") sync.sent += 1;
      const made = sync.created.get(op.id);
      const { preview, ...sent } = op;
      broadcast({ type: "settled", user, seq: op.seq, op: sent, outcome: { ...outcome, error: undefined },
        created: made && (op.kind === "create" || op.kind === "quick") ? { temp: op.id, ...made } : null });
      // Reported where it was made while that tab is open; here otherwise (a change from before a reload).
      if (op.tab !== sync.tab && await tabAlive(op.tab)) {
        if (outcome.status === "done" && outcome.result && outcome.result.id) upsert(outcome.result);
        render();
        continue;
      }
      settle(op, outcome);
    }
    return { stalled, reload };
  };
  const locked = navigator.locks && navigator.locks.request
    ? navigator.locks.request(`taskflow-outbox-${user}`, drain)
    : drain();
  sync.flushing = locked.catch(() => ({ stalled: { network: true, message: "storage" }, reload: false })).then(({ stalled, reload }) => {
    sync.flushing = null;
    const recovered = sync.stalled && !stalled;
    sync.stalled = Boolean(stalled);
    if (stalled) {
      // Kept here: the page that made these changes hears "queued", the person sees them waiting.
      for (const op of sync.ops) { const resolve = sync.waiters.get(op.seq); if (resolve) { sync.waiters.delete(op.seq); resolve({ status: "queued" }); } }
      if (stalled.status !== 401) scheduleRetry();
      if (!stalled.network && stalled.status !== 401 && sync.retries === 3) {
        toast(`The server could not take a change yet (${stalled.message}). It is kept on this device and tried again.`);
      }
    } else if (recovered && sync.sent && !sync.surfaced && !sync.ops.length) {
      toast(`Back online: ${sync.sent === 1 ? "the change made offline was" : `${sync.sent} changes made offline were`} sent.`);
    }
    if (!stalled) { sync.sent = 0; sync.surfaced = false; }
    showPending();
    if (reload && state.session) loadTasks().catch(() => {});
    if (sync.again && !stalled) flush();
  });
  return sync.flushing;
}

function merges(op) { return op.kind === "patch" || op.kind === "complete"; }

function retryable(error, op) {
  if (error.network || error.status === 401 || error.status === 429 || error.status === 408 || error.status >= 500) return true;
  return error.status === 409 && !merges(op);  // a create with the same key still running
}

function scheduleRetry() {
  clearTimeout(sync.retryTimer);
  if (navigator.onLine === false) return;  // the "online" event sends them
  sync.retries += 1;
  const delay = Math.min(RETRY_MAX_MS, 1000 * 2 ** Math.min(sync.retries - 1, 5)) * (0.5 + Math.random() / 2);
  sync.retryTimer = setTimeout(flush, delay);
}

async function sendOp(op) {
  const known = sync.created.get(op.id);
  const id = known ? known.id : op.id;
  if (isLocal(id) && op.kind !== "create" && op.kind !== "quick") {
    const error = new Error("its creation was refused"); error.status = 404; throw error;
  }
  switch (op.kind) {
    case "create": return created(op, await api("POST", "/api/{me}/tasks", op.body, "application/json", { "Idempotency-Key": op.id }));
    case "quick": return created(op, await api("POST", "/api/{me}/tasks", await quickBody(op), "application/json", { "Idempotency-Key": op.id }));
    case "patch": {
      const base = op.fromCreate && known ? known.version : op.base_version;
      return api("PATCH", `/api/{me}/tasks/${id}`, { base_version: base, changes: op.changes });
    }
    case "complete": {
      const base = op.fromCreate && known ? known.version : op.base_version;
      return api("PATCH", `/api/{me}/tasks/${id}`, { base_version: base, changes: { completed: op.completed } });
    }
    case "occurrence": return api("POST", `/api/{me}/tasks/${id}/complete-occurrence`, op.occurrence_at ? { occurrence_at: op.occurrence_at } : {});
    case "delete":
      try { return await api("DELETE", `/api/{me}/tasks/${id}`); }
      catch (error) { if (error.status === 404) return null; throw error; }  // gone already: what was asked
    default: return null;
  }
}

// A line typed offline is read when it is sent, as of the moment it was typed.
async function quickBody(op) {
  const read = (text) => api("POST", "/api/{me}/parse", { text, timezone: op.timezone, now: new Date(op.at).toISOString() });
  let result = await read(op.text);
  // Added in Today without a date of its own: due today (that day), as online.
  if (op.today && !result.due_date && !result.recurrence_rule && !result.questions.length) result = await read(`${op.text} today`);
  if (result.questions.length || !result.title) {
    op.note = `Added “${op.text}” as typed: ${(result.questions[0] || {}).question || "it could not be read"}`;
    const body = { title: op.text.trim(), timezone: op.timezone };
    if (op.listId) body.list_id = op.listId;
    return body;
  }
  return quickCreateBody(result, op.listId);
}

async function created(op, task) {
  sync.created.set(op.id, { id: task.id, version: task.version });
  // Later changes to the task made before it existed now name it (stored, for a reload or another tab).
  const later = (await storedOps()).filter((o) => o.id === op.id && o.seq !== op.seq);
  for (const next of later) {
    next.id = task.id;
    if (next.fromCreate) { next.base_version = task.version; next.fromCreate = false; }
    await rewriteOp(next);
    const mirror = sync.ops.find((o) => o.seq === next.seq);
    if (mirror) Object.assign(mirror, { id: next.id, base_version: next.base_version, fromCreate: next.fromCreate });
  }
  state.tasks.delete(op.id);
  if (op.kind === "quick" && op.reminders) state.reminderTasks.add(task.id);
  if (state.panelTask === op.id) { state.panelTask = task.id; remember(); }  // its address names the server's id
  if (panelBase && panelBase.id === op.id) { panelBase.id = task.id; panelBase.version = task.version; }
  if (state.selected === op.id) state.selected = task.id;
  return task;
}

function rejection(op, error) {
  const what = op.title ? `“${op.title}”` : "a task";
  if (error.status === 404) return `${what} was deleted elsewhere: your change to it could not be kept.`;
  return `Could not save ${what}: ${error.message}`;
}

function settle(op, outcome) {
  const resolve = sync.waiters.get(op.seq);
  sync.waiters.delete(op.seq);
  const id = (sync.created.get(op.id) || {}).id || op.id;
  if (outcome.status === "done" && outcome.result && outcome.result.id) upsert(outcome.result);
  if (outcome.status === "done" && op.kind === "delete") state.tasks.delete(id);
  if (outcome.status === "done" && op.kind === "occurrence" && outcome.result) {
    const series = state.tasks.get(id);
    if (series) state.tasks.set(id, { ...series, next_occurrence: outcome.result.next_occurrence });
    const instance = state.tasks.get(outcome.result.instance_id);
    if (!instance || !instance.completed) sync.ticked.add(outcome.result.instance_id);
  }
  if (outcome.status === "done" && op.note) toast(op.note);
  if (outcome.status === "conflict") {
    if (outcome.task) state.tasks.set(outcome.task.id, outcome.task);
    const changes = op.kind === "complete" ? { completed: op.completed } : op.changes;
    sync.conflicts.set(id, { changes, conflicts: outcome.conflicts, task: outcome.task, title: op.title });
    if (state.panelTask === id) showConflicts(id);
    else toast(`“${op.title || "A task"}” was changed elsewhere too: choose what to keep.`, { label: "Review", run: () => openPanel(id) }, 15000);
    sync.surfaced = true;
  }
  if (outcome.status === "rejected" && !resolve) toast(outcome.message);
  if (outcome.status === "rejected") sync.surfaced = true;
  render();
  if (resolve) resolve(outcome);
}

// ---------- the pending count ----------

function showPending() {
  const pill = $("pending");
  if (!pill) return;
  const waiting = waitingOps().length;
  const conflicts = sync.conflicts.size;
  clearTimeout(sync.pendingTimer);
  if (sync.ops.length > waiting) {  // some may have to be shown as waiting soon
    sync.pendingTimer = setTimeout(() => { showPending(); render(); }, SHOW_WAITING_AFTER_MS);
  }
  const parts = [];
  // "3 changes waiting" (on a phone "3 waiting": the word goes, the count stays)
  const changes = (n) => el("span", { class: "pill-word" }, ` change${n === 1 ? "" : "s"}`);
  if (waiting) {
    parts.push(sync.flushing && navigator.onLine !== false
      ? ["Sending ", String(waiting), changes(waiting), "…"] : [String(waiting), changes(waiting), " waiting"]);
  }
  if (conflicts) parts.push([`${conflicts} to review`]);
  pill.hidden = parts.length === 0;
  pill.replaceChildren(...parts.flatMap((p, i) => (i ? [" · ", ...p] : p)));
  pill.title = waiting ? "Kept on this device; sent in order when the connection returns." : "Changed elsewhere too: choose what to keep.";
  pill.dataset.waiting = String(waiting);
}

function onPendingClick() {
  const first = sync.conflicts.keys().next();
  if (!first.done) { openPanel(first.value); return; }
  flush();
}

// ---------- conflicts in the side panel ----------

const FIELD_NAMES = { title: "Title", description: "Description", due_date: "Due date", priority: "Priority", tags: "Tags",
  list_id: "List", position: "Place in the list", completed: "Done", timezone: "Time zone", parent_task_id: "Parent task" };

function valueInWords(field, value) {
  if (value === null || value === undefined || value === "") {
    return { due_date: "no date", description: "no description", list_id: "Inbox", tags: "no tags" }[field] || "nothing";
  }
  switch (field) {
    case "due_date": return isDateOnly(value) ? `${dayInWords(value)} (all day)` : formatWhen(value, userTz());
    case "tags": return value.length ? value.join(", ") : "no tags";
    case "list_id": return (state.lists.get(value) || { name: "a list" }).name;
    case "parent_task_id": return (state.tasks.get(value) || { title: "a task" }).title;
    case "completed": return value ? "done" : "open";
    case "description": return value.length > 240 ? `${value.slice(0, 240)}…` : value;
    default: return String(value);
  }
}

function showConflicts(id) {
  const box = $("p-conflicts");
  const found = sync.conflicts.get(id);
  if (!found || state.panelTask !== id) { box.hidden = true; box.replaceChildren(); box.shown = null; return; }
  if (box.shown === found) return;  // a live update keeps the choices the person is making
  box.shown = found;
  const choices = found.conflicts.map((c) => el("fieldset", { class: "conflict", "data-field": c.field },
    el("legend", {}, FIELD_NAMES[c.field] || c.field),
    el("label", { class: "inline" }, el("input", { type: "radio", name: `keep-${c.field}`, value: "yours", checked: true }),
      el("span", {}, el("strong", {}, "Yours: "), valueInWords(c.field, c.yours))),
    el("label", { class: "inline" }, el("input", { type: "radio", name: `keep-${c.field}`, value: "theirs" }),
      el("span", {}, el("strong", {}, "Theirs: "), valueInWords(c.field, c.theirs)))));
  box.replaceChildren(
    el("p", {}, "Changed elsewhere while you were editing. Nothing was saved yet: choose what to keep."),
    ...choices,
    el("div", { class: "row" },
      el("button", { type: "button", id: "keep-choices", onclick: () => resolveConflict(id) }, "Keep my choices"),
      el("button", { type: "button", class: "secondary", onclick: () => resolveConflict(id, "theirs") }, "Keep theirs for all")));
  box.hidden = false;
}

async function resolveConflict(id, all) {
  const found = sync.conflicts.get(id);
  if (!found) return;
  const theirs = new Set(found.conflicts.filter((c) => all === "theirs"
    || (document.querySelector(`#p-conflicts input[name="keep-${c.field}"]:checked`) || {}).value === "theirs").map((c) => c.field));
  const changes = Object.fromEntries(Object.entries(found.changes).filter(([field]) => !theirs.has(field)));
  sync.conflicts.delete(id);
  showConflicts(id);
  showPending();
  const task = found.task || state.tasks.get(id);
  if (!Object.keys(changes).length) {
    if (task) state.tasks.set(id, task);
    render(); openPanel(id); toast("Kept the other change.");
    return;
  }
  // Keeping "yours" sends them again, from the version the other change made.
  const outcome = await submit({ kind: "patch", id, base_version: task.version, changes, title: found.title });
  announceSave(id, outcome);
}

function announceSave(id, outcome) {
  if (outcome.status === "done") { if (state.panelTask === id) openPanel(id); toast("Saved."); }
  else if (outcome.status === "queued") { if (state.panelTask === id) openPanel(id); toast("Saved on this device: it will be sent when you are back online."); }
  else if (outcome.status === "conflict") { if (state.panelTask === id) openPanel(id); }
  else toast(outcome.message);
}
