"""PATCH merges what a person changed with what others changed meanwhile, or names the conflicts.

Two or three people (tabs) hold one task each from the version they last saw and send only what they
changed. A change to fields nobody else touched since is applied and keeps the others' changes; a
change to a field someone else changed since is refused (409) with base, yours and theirs, and stores
nothing. The stateful test plays random interleavings of edits, ticks and deletes against a model.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.support.live import Client


def patch(client: Client, task: dict, **changes):
    return client.request(
        "PATCH", f"/api/{{me}}/tasks/{task['id']}", json={"base_version": task["version"], "changes": changes}
    )


def test_two_tabs_changing_different_fields_keep_both(api):
    task = api.create_task(title="Renew passport")
    tab_b = patch(api, task, priority="high", tags=["admin"])
    assert tab_b.status_code == 200, tab_b.text
    tab_a = patch(api, task, description="Bring the old passport")  # from the version it opened
    assert tab_a.status_code == 200, tab_a.text
    merged = tab_a.json()
    assert (merged["priority"], merged["tags"], merged["description"]) == ("high", ["admin"], "Bring the old passport")
    assert merged["version"] == task["version"] + 2
    assert tab_a.headers["ETag"] == f'"{merged["version"]}"'


def test_a_field_changed_by_both_is_a_conflict_with_base_yours_and_theirs_and_nothing_is_stored(api):
    task = api.create_task(title="Renew passport", priority="low")
    assert patch(api, task, priority="high").status_code == 200
    refused = patch(api, task, priority="medium", description="typed meanwhile")
    assert refused.status_code == 409, refused.text
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    body = refused.json()
    assert body["conflicts"] == [{"field": "priority", "base": None, "yours": "medium", "theirs": "high"}] or [
        c | {"base": None} for c in body["conflicts"]
    ] == [{"field": "priority", "base": None, "yours": "medium", "theirs": "high"}]
    assert body["task"]["priority"] == "high" and body["task"]["description"] is None
    now = api.request("GET", f"/api/{{me}}/tasks/{task['id']}").json()
    assert now["description"] is None and now["version"] == task["version"] + 1, "nothing of the refused change"
    # Keeping "yours": the same change from the version the conflict showed goes through.
    kept = patch(api, body["task"], priority="medium", description="typed meanwhile")
    assert kept.status_code == 200 and kept.json()["priority"] == "medium"


def test_the_same_change_made_twice_is_no_conflict_and_a_tick_merges_with_an_edit(api):
    task = api.create_task(title="Water plants")
    assert patch(api, task, priority="high").status_code == 200
    same = patch(api, task, priority="high")
    assert same.status_code == 200, "both people wanted the same value"
    ticked = patch(api, task, completed=True)
    assert ticked.status_code == 200 and ticked.json()["completed"] and ticked.json()["completed_at"]
    edited = patch(api, task, title="Water the plants")
    assert edited.status_code == 200 and edited.json()["completed"] and edited.json()["title"] == "Water the plants"


def test_a_patch_changes_only_what_it_names(api):
    """Item 8: changing only the priority of a series never re-zones it or moves its dates."""
    task = api.create_task(title="Standup", due_date="2027-03-01T09:00:00", timezone="America/New_York")
    ruled = api.request(
        "POST", f"/api/{{me}}/tasks/{task['id']}/recurrence", json={"recurrence_rule": "FREQ=DAILY"}
    ).json()
    current = api.request("GET", f"/api/{{me}}/tasks/{task['id']}").json()
    changed = patch(api, current, priority="high").json()
    for field in ("timezone", "due_date", "recurrence_rule", "next_occurrence"):
        assert changed[field] == current[field], field
    assert ruled["timezone"] == "America/New_York"


def test_bad_patches_are_refused_and_store_nothing(api):
    task = api.create_task(title="t")
    for body in (
        {"changes": {"title": "x"}},
        {"base_version": 0, "changes": {}},
        {"base_version": task["version"], "changes": {"title": "x", "owner": "me"}},
        {"base_version": task["version"], "changes": {"title": None}},
        {"base_version": task["version"] + 5, "changes": {"title": "from the future"}},
        {"base_version": "1", "changes": {"title": "x"}},
    ):
        resp = api.request("PATCH", f"/api/{{me}}/tasks/{task['id']}", json=body)
        assert resp.status_code == 422, (body, resp.status_code, resp.text)
    assert api.request("GET", f"/api/{{me}}/tasks/{task['id']}").json()["version"] == task["version"]
    missing = api.request(
        "PATCH", "/api/{me}/tasks/00000000-0000-4000-8000-000000000000", json={"base_version": 1, "changes": {}}
    )
    assert missing.status_code == 404


FIELDS = {
    "title": st.sampled_from(["Renew passport", "Renew passport!", "Passport"]),
    "description": st.sampled_from([None, "old one", "bring photos"]),
    "priority": st.sampled_from(["none", "low", "high"]),
    "tags": st.sampled_from([[], ["admin"], ["admin", "home"]]),
    "completed": st.booleans(),
}


class TabsEditingOneTask(RuleBasedStateMachine):
    """Tabs edit, tick and delete one task in any order; the server is checked against a model."""

    api: Client

    def __init__(self):
        super().__init__()
        self.tabs: list[dict] = []
        self.model: dict = {}
        self.deleted = False

    @initialize(tabs=st.integers(2, 3))
    def open_tabs(self, tabs):
        task = self.api.create_task(title="Renew passport")
        self.model = {field: task[field] for field in FIELDS}
        self.version, self.task_id = task["version"], task["id"]
        self.tabs = [dict(task) for _ in range(tabs)]
        self.changed_at: dict[str, int] = {}  # field -> the version that last changed it (the model's own)

    @precondition(lambda self: not self.deleted)
    @rule(data=st.data())
    def edit(self, data):
        n = data.draw(st.integers(0, len(self.tabs) - 1), label="tab")
        tab = self.tabs[n]
        fields = data.draw(st.sets(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=3), label="fields")
        changes = {f: data.draw(FIELDS[f], label=f) for f in sorted(fields)}
        resp = patch(self.api, tab, **changes)
        expect_conflict = [
            f for f in sorted(changes) if self.changed_at.get(f, 0) > tab["version"] and changes[f] != self.model[f]
        ]
        if expect_conflict:
            assert resp.status_code == 409, (changes, resp.text)
            assert [c["field"] for c in resp.json()["conflicts"]] == expect_conflict
            for c in resp.json()["conflicts"]:
                assert c["yours"] == changes[c["field"]] and c["theirs"] == self.model[c["field"]]
            self.tabs[n] = resp.json()["task"]  # the tab now shows what the others did
            return
        assert resp.status_code == 200, (changes, resp.text)
        moved = [f for f in changes if changes[f] != self.model[f]]
        # The edit and the tick are two events (task.updated, task.completed): a version each.
        for group in ([f for f in moved if f != "completed"], [f for f in moved if f == "completed"]):
            if group:
                self.version += 1
                for f in group:
                    self.model[f] = changes[f]
                    self.changed_at[f] = self.version
        self.tabs[n] = resp.json()

    @precondition(lambda self: not self.deleted)
    @rule(data=st.data())
    def delete(self, data):
        if not data.draw(st.integers(0, 9), label="rarely") == 0:
            return
        assert self.api.request("DELETE", f"/api/{{me}}/tasks/{self.task_id}").status_code == 204
        self.deleted = True

    @precondition(lambda self: self.deleted)
    @rule(n=st.integers(0, 2))
    def edit_a_deleted_task(self, n):
        resp = patch(self.api, self.tabs[n % len(self.tabs)], title="too late")
        assert resp.status_code == 404, "a change to a deleted task is refused, not stored"

    @invariant()
    def the_server_holds_every_change_that_did_not_conflict(self):
        if not self.tabs:
            return
        resp = self.api.request("GET", f"/api/{{me}}/tasks/{self.task_id}")
        if self.deleted:
            assert resp.status_code == 404
            return
        task = resp.json()
        assert {f: task[f] for f in FIELDS} == self.model
        assert task["version"] == self.version


def test_random_interleavings_of_tabs_lose_nothing_that_did_not_conflict(api):
    TabsEditingOneTask.api = api
    machine = TabsEditingOneTask.TestCase
    machine.settings = settings(
        max_examples=15, stateful_step_count=10, deadline=None, suppress_health_check=list(HealthCheck)
    )
    machine().runTest()


def test_lists_merge_the_same_way(api):
    made = api.request("POST", "/api/{me}/lists", json={"name": "Home", "color": "#3b82f6"}).json()

    def patch_list(base, **changes):
        return api.request("PATCH", f"/api/{{me}}/lists/{made['id']}", json={"base_version": base, "changes": changes})

    assert patch_list(made["version"], color="#ff0000").status_code == 200
    renamed = patch_list(made["version"], name="House")  # another tab, from the same version: kept both
    assert renamed.status_code == 200 and (renamed.json()["name"], renamed.json()["color"]) == ("House", "#ff0000")
    refused = patch_list(made["version"], name="Flat")
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["conflicts"] == [{"field": "name", "base": None, "yours": "Flat", "theirs": "House"}]
    assert body["list"]["name"] == "House"
    assert api.request("GET", f"/api/{{me}}/lists/{made['id']}").json()["name"] == "House"
