// Sections of a list and comments on a task (issue 25): the list view grouped by section, the panel's
// Section select and comments, all kept live by section.* and comment.* events. Hooked into app.js and
// views.js with one line each (groupRows, renderTask, applyEvent, loadTasks, openPanel).
"use strict";

const COMMENT_MAX = 10000;

const organise = {
  sections: new Map(),      // list id -> [section] in order (loaded when the list is first shown)
  loadingSections: new Set(),
  remembered: null,         // list id -> [section], as the offline copy held them when this page began
  commentCounts: new Map(), // task id -> number of comments
  comments: new Map(),      // comment id -> comment, of the task open in the panel
  commentsOf: null,         // the task whose comments `comments` holds
  editing: null,            // section id being renamed, or `delete:<id>` being confirmed
  inputs: new Map(),        // key -> the same <input> across renders: a live update never loses what is typed
};

// One input element per key, kept across renders (render() rebuilds the rows on every live event).
function keptInput(key, attrs, value = "", tag = "input") {
  let input = organise.inputs.get(key);
  if (!input) {
    input = el(tag, attrs);
    input.value = value;
    organise.inputs.set(key, input);
  }
  return input;
}

// After a render moved a kept input, give it back the focus and caret it had.
function keepFocus() {
  const active = document.activeElement;
  if (!active || ![...organise.inputs.values()].includes(active)) return;
  const [start, end] = [active.selectionStart, active.selectionEnd];
  queueMicrotask(() => { if (active.isConnected && document.activeElement !== active) { active.focus(); active.setSelectionRange(start, end); } });
}

// ---------- sections: the list view ----------

function sectionsOf(listId) {
  if (!organise.sections.has(listId)) loadSections(listId);
  return organise.sections.get(listId) || [];
}

async function loadSections(listId) {
  if (organise.loadingSections.has(listId) || isLocal(listId)) return;
  organise.loadingSections.add(listId);
  try {
    const data = await api("GET", `/api/{me}/lists/${listId}/sections`);
    organise.sections.set(listId, data.items);
    render();
    if (state.panelTask) fillSectionSelect(state.tasks.get(state.panelTask));
  } catch (error) {
    // Unreachable: the sections of the offline copy (else none) until the tasks load again
    // (loadCommentCounts), not a request per render.
    if (!organise.sections.has(listId)) organise.sections.set(listId, rememberedSections()[listId] || []);
    if (!error.network && error.status !== 404) toast(error.message);
  } finally {
    organise.loadingSections.delete(listId);
  }
}

// ---------- sections: the offline copy (views.js saveOffline / useOfflineCopy) ----------

function rememberedSections() {
  if (organise.remembered === null) {
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(OFFLINE_KEY) || "null"); } catch (_) { saved = null; }
    organise.remembered = saved && state.session && saved.user === state.session.userId ? saved.sections || {} : {};
  }
  return organise.remembered;
}

// The sections of every list, in order, as last seen: those this page loaded, and for the lists it has
// not shown yet those of the previous copy (so a list never opened since the last start keeps them).
function offlineSections() {
  const known = (listId) => !state.lists.size || state.lists.has(listId);  // (a deleted list's go)
  const out = {};
  for (const [listId, sections] of Object.entries(rememberedSections())) if (known(listId)) out[listId] = sections;
  for (const [listId, sections] of organise.sections) if (known(listId) && !isLocal(listId)) out[listId] = sections;
  return out;
}

// Offline: the copy's sections, for the lists this page has not loaded from the server.
function useOfflineSections(saved) {
  for (const [listId, sections] of Object.entries(saved || {})) {
    if (!(organise.sections.get(listId) || []).length) organise.sections.set(listId, sections);
  }
}

// Signed out (or another account): nothing of the sections stays in this page.
function forgetSections() {
  organise.sections.clear();
  organise.remembered = null;
}

function putSection(section) {
  const list = (organise.sections.get(section.list_id) || []).filter((s) => s.id !== section.id);
  list.push(section);
  list.sort((a, b) => a.position - b.position || a.created_at.localeCompare(b.created_at));
  organise.sections.set(section.list_id, list);
}

function dropSection(section) {
  organise.sections.set(section.list_id, (organise.sections.get(section.list_id) || []).filter((s) => s.id !== section.id));
}

// The list view: the tasks in no section first (the list's top), then each section under its header,
// then a form to add a section.
function sectionRows(items, listId) {
  keepFocus();
  const sections = sectionsOf(listId);
  const known = new Set(sections.map((s) => s.id));
  // a sub-task sits in its top-level task's section (under its parent, as subtasks.js nested them)
  const sectionOf = (task) => {
    let top = task;
    for (let i = 0; i < 5 && top.parent_task_id && state.tasks.has(top.parent_task_id); i++) top = state.tasks.get(top.parent_task_id);
    return known.has(top.section_id) ? top.section_id : null;
  };
  const rows = items.filter((t) => !sectionOf(t)).map(renderTask);
  for (const section of sections) {
    rows.push(sectionHeader(section), ...items.filter((t) => sectionOf(t) === section.id).map(renderTask));
  }
  rows.push(addSectionRow(listId));
  return rows;
}

function sectionHeader(section) {
  const row = el("li", { class: "group section-head", "data-section": section.id });
  if (organise.editing === section.id) {
    const fresh = !organise.inputs.has(`rename:${section.id}`);
    const input = keptInput(`rename:${section.id}`, { "aria-label": `New name of section ${section.name}`, maxlength: "100" }, section.name);
    const stop = () => { organise.editing = null; organise.inputs.delete(`rename:${section.id}`); render(); };
    if (fresh) input.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.stopPropagation(); stop(); } });
    row.append(el("form", { class: "section-form", onsubmit: (e) => { e.preventDefault(); renameSection(section, input.value); } },
      input, el("button", { type: "submit" }, "Save"), el("button", { type: "button", class: "secondary", onclick: stop }, "Cancel")));
    if (fresh) setTimeout(() => input.focus());
    return row;
  }
  if (organise.editing === `delete:${section.id}`) {
    row.append(el("div", { class: "section-confirm", role: "alert" },
      el("span", {}, `Delete section “${section.name}”? Its tasks stay in the list, at its top.`),
      el("button", { type: "button", class: "danger", onclick: () => deleteSection(section) }, "Delete section"),
      el("button", { type: "button", class: "secondary", onclick: () => { organise.editing = null; render(); } }, "Cancel")));
    return row;
  }
  row.append(el("div", { class: "section-bar" },
    el("h3", {}, section.name),
    el("button", { type: "button", class: "secondary small", "aria-label": `Rename section ${section.name}`,
      onclick: () => { organise.editing = section.id; render(); } }, "Rename"),
    el("button", { type: "button", class: "secondary small", "aria-label": `Delete section ${section.name}`,
      onclick: () => { organise.editing = `delete:${section.id}`; render(); } }, "Delete")));
  return row;
}

function addSectionRow(listId) {
  const input = keptInput(`add:${listId}`, { "aria-label": "New section", placeholder: "New section", maxlength: "100", class: "section-name" });
  return el("li", { class: "group add-section" },
    el("form", { class: "section-form", onsubmit: (e) => { e.preventDefault(); addSection(listId, input.value); } },
      input, el("button", { type: "submit", class: "secondary" }, "Add section")));
}

async function addSection(listId, name) {
  name = name.trim();
  if (!name) { toast("A section needs a name."); return; }
  try {
    putSection(await api("POST", `/api/{me}/lists/${listId}/sections`, { name }));
    organise.inputs.get(`add:${listId}`).value = "";  // only once the server has it
    render();
  } catch (error) { toast(`Could not add the section: ${error.message}`); }
}

async function renameSection(section, name) {
  name = name.trim();
  if (!name) { toast("A section needs a name."); return; }
  try {
    putSection(await api("PUT", `/api/{me}/lists/${section.list_id}/sections/${section.id}`, { name }));
    organise.editing = null;
    organise.inputs.delete(`rename:${section.id}`);
    render();
  } catch (error) { toast(`Could not rename the section: ${error.message}`); }
}

async function deleteSection(section) {
  try {
    await api("DELETE", `/api/{me}/lists/${section.list_id}/sections/${section.id}`);
    dropSection(section);
    organise.editing = null;
    for (const task of state.tasks.values()) if (task.section_id === section.id) task.section_id = null;
    render();
  } catch (error) { toast(`Could not delete the section: ${error.message}`); }
}

// A task dropped beside a task of another section of its list joins that section.
function sectionOfDrop(task, besideId) {
  const beside = state.tasks.get(besideId);
  if (!beside || !state.view.startsWith("list:") || task.list_id !== beside.list_id) return {};
  const section = beside.section_id || null;
  return (task.section_id || null) === section ? {} : { section_id: section };
}

// A task dropped on a section's header goes first in that section (out of its parent, if a sub-task);
// keyboard users have the panel's Section select.
function dropOnSection(id, sectionId) {
  const task = state.tasks.get(id);
  if (!state.view.startsWith("list:") || task.list_id !== state.view.slice(5)) return;
  const rows = [];
  for (let node = document.querySelector(`#tasks li.section-head[data-section="${sectionId}"]`)?.nextElementSibling;
    node && !node.matches("li.section-head, li.add-section"); node = node.nextElementSibling) {
    if (node.matches("li.task[data-id]") && node.dataset.id !== id) rows.push(node.dataset.id);
  }
  const changes = (task.section_id || null) === sectionId ? {} : { section_id: sectionId };
  if (task.parent_task_id) changes.parent_task_id = null;
  placeTask([id, ...rows], id, changes);
}

// While a task is dragged over a section's header, the header shows it takes the drop.
function markSectionDrop(event) {
  const header = event.type === "dragover" && orderable() ? event.target.closest("li.section-head[data-section]") : null;
  for (const head of document.querySelectorAll("#tasks li.section-head.drop-here")) if (head !== header) head.classList.remove("drop-here");
  if (header) header.classList.add("drop-here");
}

// ---------- sections: the panel's Section select ----------

function fillSectionSelect(task) {
  const label = $("p-section-label");
  if (!label) return;
  if (!task || !task.list_id) { label.hidden = true; return; }
  const select = $("p-section");
  const sections = sectionsOf(task.list_id);
  select.replaceChildren(el("option", { value: "" }, "(no section)"),
    ...sections.map((s) => el("option", { value: s.id }, s.name)));
  select.value = sections.some((s) => s.id === task.section_id) ? task.section_id : "";
  label.hidden = false;
}

async function moveToSection() {
  const task = state.tasks.get(state.panelTask);
  if (!task) return;
  const sectionId = $("p-section").value || null;
  if ((task.section_id || null) === sectionId) return;
  const outcome = await submit({ kind: "patch", id: task.id, base_version: task.version, changes: { section_id: sectionId }, title: task.title });
  if (outcome.status === "rejected") $("p-message").textContent = outcome.message;
  render();
}

// ---------- comments ----------

// Called whenever the tasks load afresh (app.js loadTasks): the counts, and the sections of the lists
// seen so far, again (events missed while away are in them).
async function loadCommentCounts() {
  // (and those the offline copy holds for the lists that have some: they stay fresh in the next copy)
  const remembered = Object.entries(rememberedSections()).filter(([, sections]) => sections.length).map(([listId]) => listId);
  for (const listId of new Set([...organise.sections.keys(), ...remembered])) loadSections(listId);
  try {
    const data = await api("GET", "/api/{me}/comments/counts");
    organise.commentCounts = new Map(Object.entries(data.counts));
    render();
  } catch (error) { if (!error.network) toast(error.message); }
}

function commentBadge(task) {
  const n = organise.commentCounts.get(task.id) || 0;
  if (!n) return "";
  return el("span", { class: "badge comments", title: `${n} comment${n === 1 ? "" : "s"}`, "aria-label": `${n} comment${n === 1 ? "" : "s"}` }, `💬 ${n}`);
}

// Plain text with its links clickable: text nodes and <a> elements, never the text as HTML.
function linkified(text) {
  const parts = [];
  let at = 0;
  for (const match of text.matchAll(/https?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]]/g)) {
    if (match.index > at) parts.push(document.createTextNode(text.slice(at, match.index)));
    parts.push(el("a", { href: match[0], target: "_blank", rel: "noopener noreferrer" }, match[0]));
    at = match.index + match[0].length;
  }
  if (at < text.length) parts.push(document.createTextNode(text.slice(at)));
  return parts;
}

async function showComments(taskId) {
  if (organise.commentsOf !== taskId) { organise.comments = new Map(); organise.commentsOf = taskId; }
  renderComments();
  if (isLocal(taskId)) return;
  try {
    const data = await api("GET", `/api/{me}/tasks/${taskId}/comments`);
    if (organise.commentsOf !== taskId) return;
    organise.comments = new Map(data.items.map((c) => [c.id, c]));
    renderComments();
  } catch (error) { if (!error.network && error.status !== 404) toast(error.message); }
}

function renderComments() {
  const list = $("panel-comments");
  if (!list) return;
  const items = [...organise.comments.values()].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  list.replaceChildren(...(items.length ? items.map(commentRow) : [el("li", { class: "hint" }, "No comments.")]));
}

function commentRow(comment) {
  const row = el("li", { class: "comment", "data-comment": comment.id });
  if (organise.editing === `comment:${comment.id}`) {
    keepFocus();
    const key = `comment:${comment.id}`;
    const area = keptInput(key, { rows: "3", maxlength: String(COMMENT_MAX), "aria-label": "Edit the comment" }, comment.text, "textarea");
    const stop = () => { organise.editing = null; organise.inputs.delete(key); renderComments(); };
    row.append(el("form", { onsubmit: (e) => { e.preventDefault(); editComment(comment, area.value); } }, area,
      el("div", { class: "row" }, el("button", { type: "submit" }, "Save comment"),
        el("button", { type: "button", class: "secondary", onclick: stop }, "Cancel"))));
    return row;
  }
  const when = formatWhen(comment.created_at, userTz());
  row.append(el("p", { class: "comment-text" }, linkified(comment.text)),
    el("div", { class: "comment-meta" }, el("span", { class: "hint" }, `${when}${comment.edited_at ? " (edited)" : ""}`),
      el("button", { type: "button", class: "secondary small", onclick: () => { organise.editing = `comment:${comment.id}`; renderComments(); } }, "Edit"),
      el("button", { type: "button", class: "secondary small danger", onclick: () => deleteComment(comment) }, "Delete")));
  return row;
}

async function addComment(event) {
  event.preventDefault();
  const taskId = state.panelTask;
  const text = $("comment-text").value;
  if (!taskId || !text.trim()) { $("comment-message").textContent = "Type a comment first."; return; }
  if (text.length > COMMENT_MAX) { $("comment-message").textContent = `At most ${COMMENT_MAX} characters.`; return; }
  if (isLocal(taskId)) { $("comment-message").textContent = "Comments come once the task is on the server."; return; }
  try {
    const comment = await api("POST", `/api/{me}/tasks/${taskId}/comments`, { text });
    $("comment-text").value = "";  // only once the server has it: nothing typed is lost
    $("comment-message").textContent = "";
    if (organise.commentsOf === taskId) organise.comments.set(comment.id, comment);
    renderComments();
  } catch (error) { $("comment-message").textContent = `Not sent: ${error.message}`; }
}

async function editComment(comment, text) {
  if (!text.trim()) { toast("A comment needs some text (or delete it)."); return; }
  try {
    const changed = await api("PUT", `/api/{me}/comments/${comment.id}`, { text });
    organise.editing = null;
    organise.inputs.delete(`comment:${comment.id}`);
    if (organise.commentsOf === changed.task_id) organise.comments.set(changed.id, changed);
    renderComments();
  } catch (error) { toast(`Could not save the comment: ${error.message}`); }
}

async function deleteComment(comment) {
  try {
    await api("DELETE", `/api/{me}/comments/${comment.id}`);
    organise.comments.delete(comment.id);
    renderComments();
  } catch (error) { toast(`Could not delete the comment: ${error.message}`); }
}

// ---------- live: section.* and comment.* events ----------

// Handles the organising events (returns true), so applyEvent leaves them alone.
function organiseEvent(event) {
  const data = event.data || {};
  if (event.type.startsWith("section.")) {
    if (event.type === "section.deleted") dropSection(data);
    else if (organise.sections.has(data.list_id)) putSection(snapshotOf(data));
    render();
    if (state.panelTask) fillSectionSelect(state.tasks.get(state.panelTask));
    return true;
  }
  if (!event.type.startsWith("comment.")) return false;
  const step = { "comment.added": 1, "comment.deleted": -1 }[event.type] || 0;
  if (step) organise.commentCounts.set(data.task_id, Math.max(0, (organise.commentCounts.get(data.task_id) || 0) + step));
  if (organise.commentsOf === data.task_id && state.panelTask === data.task_id) {
    if (event.type === "comment.deleted") organise.comments.delete(data.id);
    else organise.comments.set(data.id, snapshotOf(data));
    renderComments();
  }
  render();
  return true;
}

function initOrganise() {
  const form = $("comment-form");
  if (form) form.addEventListener("submit", addComment);
  const select = $("p-section");
  if (select) select.addEventListener("change", moveToSection);
  for (const type of ["dragover", "drop", "dragend"]) $("tasks").addEventListener(type, markSectionDrop);
}

document.addEventListener("DOMContentLoaded", initOrganise);
