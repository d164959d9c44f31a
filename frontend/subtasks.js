// TaskFlow web app: sub-tasks. Rows nest under their parent in the Inbox, a list and All (collapsible,
// with progress "2/5"); Tab / Shift-Tab indent and outdent the selected row; the task panel lists a task's
// sub-tasks and adds new ones. The server completes, reopens, deletes and moves sub-tasks with their parent.
"use strict";

const COLLAPSED_KEY = "taskflow.collapsed";
const MAX_SUBTASK_DEPTH = 4;

const subtaskView = {
  depth: new Map(),  // id -> 0 (top level) … 3, for the rows shown nested
  collapsed: new Set(JSON.parse(localStorage.getItem(COLLAPSED_KEY) || "[]")),
};

// Views that show the tree; the others (Today, Upcoming, Completed, search) show rows flat.
function nestsSubtasks() { return state.view === "inbox" || state.view === "all" || state.view.startsWith("list:"); }

function childrenOf(id) { return [...state.tasks.values()].filter((t) => t.parent_task_id === id); }

// Progress of a parent from the tasks here (live), else from the server's counts.
function subtaskProgress(task) {
  const kids = childrenOf(task.id);
  if (kids.length) return { done: kids.filter((t) => t.completed).length, total: kids.length };
  const counts = task.subtasks || { open: 0, done: 0 };
  return { done: counts.done, total: counts.open + counts.done };
}

function pendingDeleteAbove(task) {
  for (let t = task, hops = 0; t && t.parent_task_id && hops < 8; hops += 1) {
    if (state.pendingDeletes.has(t.parent_task_id)) return true;
    t = state.tasks.get(t.parent_task_id);
  }
  return false;
}

// The rows in tree order: each parent followed by its sub-tasks (sorted as the view sorts), hidden under a
// collapsed parent. A sub-task whose parent is not shown here stands at the top level.
function nestSubtasks(items) {
  subtaskView.depth.clear();
  items = items.filter((t) => !pendingDeleteAbove(t));  // deleted with its parent, and back with its Undo
  if (!nestsSubtasks()) return items;
  const shown = new Set(items.map((t) => t.id));
  const under = new Map();
  const roots = [];
  for (const t of items) {
    if (t.parent_task_id && shown.has(t.parent_task_id)) {
      if (!under.has(t.parent_task_id)) under.set(t.parent_task_id, []);
      under.get(t.parent_task_id).push(t);
    } else roots.push(t);
  }
  const out = [];
  const walk = (t, depth) => {
    out.push(t);
    subtaskView.depth.set(t.id, depth);
    if (subtaskView.collapsed.has(t.id) || depth >= 8) return;
    (under.get(t.id) || []).forEach((c) => walk(c, depth + 1));
  };
  roots.forEach((t) => walk(t, 0));
  return out;
}

function toggleCollapsed(id) {
  if (subtaskView.collapsed.has(id)) subtaskView.collapsed.delete(id);
  else subtaskView.collapsed.add(id);
  localStorage.setItem(COLLAPSED_KEY, JSON.stringify([...subtaskView.collapsed]));
  render();
}

// A row's sub-task parts: its indentation, the collapse toggle and progress of a parent, the parent's
// title where rows are flat.
function withSubtasks(row, task) {
  const depth = subtaskView.depth.get(task.id) || 0;
  if (depth) { row.classList.add("subtask"); row.dataset.depth = String(depth); row.style.marginLeft = `${depth * 1.6}rem`; }
  const meta = row.querySelector(".meta");
  const progress = subtaskProgress(task);
  if (progress.total && meta) {
    meta.prepend(el("span", { class: "badge subtask-progress", title: `${progress.done} of ${progress.total} sub-tasks done` },
      `${progress.done}/${progress.total}`));
  }
  if (progress.total && nestsSubtasks()) {
    const closed = subtaskView.collapsed.has(task.id);
    row.prepend(el("button", { type: "button", class: "subtask-toggle", "aria-expanded": closed ? "false" : "true",
      "aria-label": `${closed ? "Show" : "Hide"} the sub-tasks of ${task.title}`, onclick: () => toggleCollapsed(task.id) },
    closed ? "▸" : "▾"));
  }
  const parent = task.parent_task_id && state.tasks.get(task.parent_task_id);
  if (parent && !depth && meta) meta.append(el("span", { class: "badge subtask-of", title: "Sub-task of" }, `↳ ${parent.title}`));
  return row;
}

// Tab: under the row above at the same level; Shift-Tab: up one level. Returns whether it acted.
function indentSelected(task, outdent) {
  if (!nestsSubtasks()) return false;
  let parentId;
  if (outdent) {
    if (!task.parent_task_id) return false;
    parentId = (state.tasks.get(task.parent_task_id) || {}).parent_task_id || null;
  } else {
    const rows = [...document.querySelectorAll("#tasks li.task[data-id]")].map((r) => state.tasks.get(r.dataset.id));
    const at = rows.findIndex((t) => t && t.id === task.id);
    const above = rows.slice(0, Math.max(at, 0)).reverse().find((t) => t && (t.parent_task_id || null) === (task.parent_task_id || null));
    if (!above) return false;
    parentId = above.id;
    subtaskView.collapsed.delete(parentId);
  }
  moveUnder(task, parentId);
  return true;
}

async function moveUnder(task, parentId) {
  const outcome = await submit({ kind: "patch", id: task.id, base_version: task.version, changes: { parent_task_id: parentId },
    title: task.title, fromCreate: isLocal(task.id) });
  if (outcome.status === "rejected") toast(outcome.message);
  render();
  const row = document.querySelector(`#tasks li.task[data-id="${task.id}"] input.complete`);
  if (row) row.focus();
}

// Completing a parent ticks its open sub-tasks here at once (the server does the same and sends their
// events); its Undo reopens the ones it ticked.
function cascadeCompletion(task, completed, tasks) {
  const stamp = task.completed_at;
  const seen = new Set([task.id]);
  const walk = (id) => {
    for (const t of tasks.values()) {
      if (t.parent_task_id !== id || seen.has(t.id)) continue;
      seen.add(t.id);
      if (completed && !t.completed) tasks.set(t.id, { ...t, completed: true, completed_at: stamp });
      else if (!completed && t.completed && (!stamp || t.completed_at === stamp)) tasks.set(t.id, { ...t, completed: false, completed_at: null });
      walk(t.id);
    }
  };
  walk(task.id);
}

function openSubtaskCount(task) {
  let n = 0;
  const walk = (id, depth) => childrenOf(id).forEach((t) => { if (!t.completed) n += 1; if (depth < 8) walk(t.id, depth + 1); });
  walk(task.id, 0);
  return n;
}

// ---------- in the task panel ----------

function renderPanelSubtasks() {
  const wrap = $("p-subtasks-wrap");
  if (!wrap) return;
  const task = state.panelTask && state.tasks.get(state.panelTask);
  const recurring = task && (task.recurrence_rule || task.parent_id);
  wrap.hidden = !task || Boolean(recurring);
  if (!task || recurring) return;
  const kids = childrenOf(task.id).sort((a, b) => (a.position ?? Infinity) - (b.position ?? Infinity) || a.created_at.localeCompare(b.created_at));
  $("p-subtasks").replaceChildren(...kids.map((t) => {
    const check = el("input", { type: "checkbox", "aria-label": `Done: ${t.title}` });
    check.checked = t.completed;
    check.addEventListener("click", (event) => onTick(t, check, event));
    return el("li", { class: t.completed ? "done" : "", "data-id": t.id }, check,
      el("button", { type: "button", class: "link", onclick: () => openPanel(t.id) }, t.title));
  }));
  const p = subtaskProgress(task);
  $("p-subtasks-head").textContent = p.total ? `Sub-tasks ${p.done}/${p.total}` : "Sub-tasks";
}

async function addSubtask(event) {
  event.preventDefault();
  const parent = state.tasks.get(state.panelTask);
  const title = $("p-subtask-title").value.trim();
  if (!parent || !title) return;
  const problem = titleProblem(title);
  if (problem) { toast(problem); return; }
  $("p-subtask-title").value = "";
  const body = { title, parent_task_id: parent.id, timezone: userTz() };
  const id = localId();
  const outcome = await submit({ kind: "create", id, body, preview: { ...previewOf(id, body), list_id: parent.list_id, parent_task_id: parent.id },
    title, fromCreate: false });
  if (outcome.status === "rejected") { $("p-subtask-title").value = title; toast(outcome.message); }
  render();
}

function initSubtasks() {
  const form = $("p-subtask-form");
  if (form) form.addEventListener("submit", addSubtask);
}

initSubtasks();
