"""How the page looks, measured: a realistic week of tasks, overlapping controls, rows on screen, screenshots.

The browser tests of tests/e2e/web/test_look.py and the README's screenshots (readme_screenshots.py) share them.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.support.paths import ARTIFACTS
from tests.support.webapp import show_view

DESKTOP = (1280, 800)
PHONE = (390, 844)

#: A week as a person plans it: (title, days from today or None, "HH:MM" or None, list, tags, priority, rule,
#: repeat from). Three lists, a few tags, two series (one on a schedule, one after done), a few without a date.
WEEK = [
    ("Team standup", 0, "09:30", "Work", [], "none", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "schedule"),
    ("Send the Q3 report to Anna", 0, "12:00", "Work", ["report"], "high", None, "schedule"),
    ("Buy milk and bread", 0, "18:00", "Errands", [], "none", None, "schedule"),
    ("Call the dentist", -1, "10:00", None, ["phone"], "medium", None, "schedule"),
    ("Water the plants", 0, "19:00", "Home", [], "none", "FREQ=DAILY;INTERVAL=3", "completion"),
    ("Review Jonas's pull request", 1, "11:00", "Work", [], "medium", None, "schedule"),
    ("Pick up the parcel", 1, "17:30", "Errands", [], "none", None, "schedule"),
    ("Book train tickets to Hamburg", 2, "20:00", None, ["travel"], "none", None, "schedule"),
    ("1:1 with Priya", 2, "14:00", "Work", [], "none", "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE", "schedule"),
    ("Clean the bathroom", 3, "10:00", "Home", [], "low", "FREQ=WEEKLY;INTERVAL=2", "completion"),
    ("Pay the electricity bill", 4, "09:00", "Home", ["bills"], "urgent", "FREQ=MONTHLY;BYMONTHDAY=1", "schedule"),
    ("Prepare the sprint demo", 4, "15:00", "Work", [], "high", None, "schedule"),
    ("Birthday present for Mia", 5, "12:00", "Errands", ["family"], "none", None, "schedule"),
    ("Run 5 km", 5, "08:00", None, ["health"], "none", None, "schedule"),
    ("Plan next week", 6, "18:00", None, [], "none", None, "schedule"),
    ("Renew the passport", 9, "09:00", None, ["admin"], "medium", None, "schedule"),
    ("Read 'Deep Work'", None, None, None, ["reading"], "none", None, "schedule"),
    ("Fix the bike light", None, None, "Home", [], "none", None, "schedule"),
    ("Ideas for the team offsite", None, None, "Work", [], "none", None, "schedule"),
    ("Sort the photos from summer", None, None, None, [], "low", None, "schedule"),
]
LISTS = {"Work": "#1a73e8", "Home": "#188038", "Errands": "#e37400"}

# Adds the week through the page's own api() (the session, whatever its form, is the page's), then reloads
# the lists and tasks the way a sign-in does.
_SEED = """async ({week, lists}) => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const ids = {};
  for (const [name, color] of Object.entries(lists)) {
    ids[name] = (await api("POST", "/api/{me}/lists", {name, color})).id;
  }
  const pad = (n) => String(n).padStart(2, "0");
  for (const [title, days, time, list, tags, priority, rule, from] of week) {
    const body = {title, tags, priority, timezone: zone};
    if (days !== null) {
      const d = new Date(Date.now() + days * 86400000);
      body.due_date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${time}:00`;
    }
    if (list) body.list_id = ids[list];
    if (rule) { body.recurrence_rule = rule; body.repeat_from = from; }
    await api("POST", "/api/{me}/tasks", body);
  }
  return ids;
}"""


def seed_week(page) -> dict[str, str]:
    """Add WEEK and LISTS for the signed-in person; wait until the page shows them; the lists' ids by name."""
    ids = page.evaluate(_SEED, {"week": WEEK, "lists": LISTS})
    expect(page.locator("#lists button", has_text="Errands")).to_have_count(1)
    show_view(page, "all")
    expect(page.locator("#tasks li.task")).to_have_count(len(WEEK))
    return ids


# The interactive things a person can see must not cross (a 1 px touch is allowed, for borders), and nothing may
# stick out sideways. What floats on purpose (position: fixed: the phone's sheets, drawer, "+" button, a modal
# dialog) is a layer: a control under it is hidden by it, not crossed, and is left out (a sticky bar is not a
# layer: what it covers is counted).
_OVERLAPS = """() => {
  const seen = (e) => e.checkVisibility({opacityProperty: true, visibilityProperty: true});
  const modal = document.querySelector("dialog[open]");
  const fixed = (e) => getComputedStyle(e).position === "fixed";
  const outermost = (e) => {
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) if (fixed(p)) return false;
    return true;
  };
  const layers = [...document.querySelectorAll("body *")].filter((e) => seen(e) && fixed(e) && outermost(e));
  const cross = (p, q) => Math.min(p.right, q.right) - Math.max(p.left, q.left) > 1
    && Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top) > 1;
  const layerOf = (e) => layers.find((l) => l.contains(e)) || null;
  const label = (e) => e.getAttribute("aria-label") || e.textContent.trim().replace(/\\s+/g, " ").slice(0, 30);
  const name = (e) => (e.id ? "#" + e.id : e.tagName.toLowerCase()) + (label(e) ? `[${label(e)}]` : "");
  const inView = (r) => r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth;
  // What of an element shows: its box cut by every scrolling ancestor (a field scrolled out of the
  // panel's sheet is hidden by the sheet, wherever its box lies).
  const shown = (e) => {
    const r = e.getBoundingClientRect();
    let box = {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (s.overflowX === "visible" && s.overflowY === "visible") continue;
      const c = p.getBoundingClientRect();
      box = {left: Math.max(box.left, c.left), top: Math.max(box.top, c.top),
             right: Math.min(box.right, c.right), bottom: Math.min(box.bottom, c.bottom)};
    }
    return {...box, width: box.right - box.left, height: box.bottom - box.top};
  };
  const boxes = new Map();
  const picked = [...document.querySelectorAll("button, input, select, textarea, a[href], summary")].filter((e) => {
    if (!seen(e)) return false;
    const r = shown(e);
    if (r.width < 1 || r.height < 1 || !inView(r)) return false;
    boxes.set(e, r);
    if (modal) return modal.contains(e);
    const own = layerOf(e);
    const above = (l) => !own || +getComputedStyle(l).zIndex > +getComputedStyle(own).zIndex;
    return !layers.some((l) => l !== own && !l.contains(own) && cross(l.getBoundingClientRect(), r) && above(l));
  });
  // A sticky header drawn above its scrolling content (a z-index of its own, e.g. the panel's title and
  // close button) covers what scrolls under it: that is not two controls on top of each other.
  const stuckIn = (e) => { for (let p = e; p && p !== document.body; p = p.parentElement) {
    const s = getComputedStyle(p); if (s.position === "sticky" && +s.zIndex > 0) return p; } return null; };
  const covers = (a, b) => { const s = stuckIn(a); return s && !s.contains(b) && s.parentElement.contains(b); };
  const found = [];
  for (let i = 0; i < picked.length; i++) {
    for (let j = i + 1; j < picked.length; j++) {
      const a = picked[i], b = picked[j];
      if (a.contains(b) || b.contains(a) || covers(a, b) || covers(b, a)) continue;
      if (cross(boxes.get(a), boxes.get(b))) found.push(`${name(a)} × ${name(b)}`);
    }
  }
  const out = (r) => r.width > 0 && (r.right > innerWidth + 1 || r.left < -1);
  const clipped = (e) => { for (let p = e.parentElement; p && p !== document.body; p = p.parentElement)
    if (getComputedStyle(p).overflowX !== "visible" && !out(p.getBoundingClientRect())) return true; return false; };
  const wide = [...document.querySelectorAll("body *")].filter((e) => seen(e) && !e.closest(".sr"))
    .filter((e) => out(e.getBoundingClientRect()) && !clipped(e)).map(name);
  const page = document.documentElement.scrollWidth;
  if (page > innerWidth + 1) wide.unshift(`page ${page}px`);
  return {overlaps: found, wide: wide.slice(0, 10)};
}"""


def overlaps(page) -> dict[str, list[str]]:
    """{"overlaps": pairs of visible interactive elements whose boxes intersect, "wide": what sticks out sideways}."""
    return page.evaluate(_OVERLAPS)


def visible_rows(page) -> int:
    """How many task rows are wholly inside the viewport (without scrolling)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#tasks li.task')].filter((e) => {
          const r = e.getBoundingClientRect();
          return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight;
        }).length"""
    )


def shot(page, name: str, full_page: bool = False) -> None:
    """A screenshot in the test artifacts folder (CI uploads it)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
