"""Moving in from Todoist in the web app: Settings previews the import of a project CSV (counts and what
is not kept), shows a bad file's 422 with its line, imports it into a new list, and downloads the
account's data as a JSON file."""

from __future__ import annotations

import json
import pathlib

from playwright.sync_api import expect

from tests.support.no_lost_work import WAIT, User, row
from tests.support.webapp import axe_violations

CSV = pathlib.Path(__file__).parents[2] / "data" / "todoist" / "moving_house.csv"


def test_import_from_todoist_in_settings_then_download_my_data(app_process, browser, tmp_path):
    user = User(browser, app_process)
    page = user.page
    page.locator("#settings-open").click()
    expect(page.locator("#settings")).to_be_visible()

    bad = tmp_path / "bad.csv"
    bad.write_text("TYPE,CONTENT,INDENT\r\ntask,one,1\r\ntask,three,3\r\n")
    page.locator("#todoist-file").set_input_files(str(bad))
    page.locator("#todoist-list").fill("Broken")
    page.locator("#todoist-preview").click()
    expect(page.locator("#todoist-result")).to_contain_text("line 3: INDENT 3 needs a task of INDENT 2", timeout=WAIT)

    page.locator("#todoist-file").set_input_files(str(CSV))
    page.locator("#todoist-list").fill("Moving house")
    page.locator("#todoist-preview").click()
    result = page.locator("#todoist-result")
    expect(result).to_contain_text("Would create the list “Moving house” with 7 tasks, 4 sub-tasks", timeout=WAIT)
    expect(result).to_contain_text("2 sections, 2 comments (3 recurring)")
    expect(result).to_contain_text("line 18 RESPONSIBLE")
    assert axe_violations(page) == []
    assert [entry["name"] for entry in _lists(user)] == [], "a preview stores nothing"

    page.locator("#todoist-import").click()
    expect(result).to_contain_text("Created the list “Moving house”", timeout=WAIT)
    (moving,) = _lists(user)
    page.locator("#settings-cancel").click()
    page.locator(f".views button[data-view='list:{moving['id']}']").click()
    for title in ("Call the landlord", "Pack the kitchen", "Ask the neighbours for boxes", "Water the plants"):
        # a series due today may show its spawned instance beside it (the recurrence loop is woken by the import)
        expect(row(page, title).first).to_be_visible(timeout=WAIT)
    expect(row(page, "Call the landlord")).to_contain_text("phone")

    page.locator("#settings-open").click()
    with page.expect_download() as download_info:
        page.locator("#export-download").click()
    download = download_info.value
    assert download.suggested_filename.startswith("taskflow-export-")
    document = json.loads(pathlib.Path(download.path()).read_text())
    imported = [t for t in document["tasks"] if t["parent_id"] is None]  # besides the instances series spawned
    assert document["version"] == 1 and len(imported) == 11
    assert [s["name"] for s in document["sections"]] == ["Packing", "Paperwork"]
    assert len(document["comments"]) == 2
    user.close()


def _lists(user: User) -> list[dict]:
    import requests

    return requests.get(f"{user.api}/lists", headers=user.headers, timeout=10).json()["items"]
