"""The viewer, driven as its users drive it, in headless Chromium (Selenium), against a
real auditlogd that server/tests/browser.rs started and filled. Every step asserts what
the user sees; each view is screenshotted into the artifacts directory and checked by
axe-core (no serious or critical violation). Exit status 0 when all holds.

Usage: viewer_e2e.py SETUP.json
"""

import json
import os
import subprocess
import sys
import time
import urllib.parse

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

SETUP = json.load(open(sys.argv[1]))
BASE = SETUP["base"]
ARTIFACTS = SETUP["artifacts"]
AXE = open(SETUP["axe"]).read()
os.makedirs(ARTIFACTS, exist_ok=True)
DOWNLOADS = os.path.join(ARTIFACTS, "downloads")
os.makedirs(DOWNLOADS, exist_ok=True)


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = SETUP["chromium"]
    for flag in [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1280,900",
    ]:
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": DOWNLOADS})
    driver = webdriver.Chrome(service=Service(SETUP["chromedriver"]), options=options)
    driver.set_script_timeout(30)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": DOWNLOADS})
    return driver


def wait(driver, what, check, timeout=20):
    try:
        return WebDriverWait(driver, timeout).until(lambda d: check(d))
    except TimeoutException:
        shot(driver, f"failed-{what.replace(' ', '-')}")
        logs = driver.execute_script("return document.getElementById('problem')?.textContent")
        raise AssertionError(f"timed out waiting for {what} (the page's problem: {logs!r})")


def shot(driver, name):
    driver.save_screenshot(os.path.join(ARTIFACTS, f"{name}.png"))


def accessible(driver, view):
    """axe-core over the page as it stands: no serious or critical violation."""
    driver.execute_script(AXE)
    violations = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations));"
    )
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    with open(os.path.join(ARTIFACTS, f"axe-{view}.json"), "w") as f:
        json.dump(violations, f, indent=1)
    assert not bad, f"{view}: axe finds " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in bad
    )


def rows(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")


def cells(driver, column):
    return [r.find_elements(By.TAG_NAME, "td")[column].text for r in rows(driver)]


def scroll_all(driver, n, what):
    """Scrolls to the end of the list until `n` rows are shown."""
    for _ in range(40):
        if len(rows(driver)) >= n:
            break
        driver.execute_script("document.getElementById('more').scrollIntoView()")
        time.sleep(0.15)
    wait(driver, what, lambda d: len(rows(d)) == n)


def verdict(driver):
    return driver.find_element(By.ID, "verdict").get_attribute("data-state")


def downloaded(name, timeout=20):
    path = os.path.join(DOWNLOADS, name)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path) and not os.path.exists(path + ".crdownload"):
            return path
        time.sleep(0.1)
    raise AssertionError(f"{name} was not downloaded: {os.listdir(DOWNLOADS)}")


def main():
    driver = browser()
    try:
        run(driver)
    finally:
        driver.quit()


def run(driver):
    expect = SETUP["expect"]

    # Open the token's URL: the newest events first, the token gone from the address bar.
    # The embedding page pins the log's key in the fragment, as a careful host does.
    pinned = urllib.parse.quote(SETUP["vkey"], safe="")
    driver.get(f"{BASE}/ui/#token={SETUP['token']}&vkey={pinned}")
    wait(driver, "the first page", lambda d: len(rows(d)) >= 50)
    assert "token" not in driver.current_url, driver.current_url
    assert driver.find_element(By.ID, "tenant").text.endswith(expect["tenant"])
    total = driver.find_element(By.ID, "total").text
    wait(driver, "the total", lambda d: d.find_element(By.ID, "total").text == f"({expect['events']:,})")
    times = cells(driver, 0)
    assert times == sorted(times, reverse=True), "newest first"
    # The newest event's resource id is markup: shown as its text, no element made.
    assert expect["markup"] in cells(driver, 4)[0], cells(driver, 4)[0]
    assert not driver.find_elements(By.ID, "injected"), "markup in an event was parsed"
    wait(driver, "the chart", lambda d: d.find_elements(By.CSS_SELECTOR, "#chart svg rect"))
    shot(driver, "events")
    accessible(driver, "events")

    # Scroll: the next pages load by cursor, to the end.
    scroll_all(driver, expect["events"], "every event, by scrolling")
    seen = cells(driver, 0)
    assert seen == sorted(seen, reverse=True), "pages continue where the last ended"

    # Filter (by the form, with the keyboard): the URL holds the filter; every row matches.
    action = driver.find_element(By.NAME, "action")
    action.send_keys("permission.*")
    action.send_keys(Keys.ENTER)
    wait(driver, "the filtered page", lambda d: "action=permission.*" in d.current_url.replace("%2A", "*"))
    wait(driver, "permission rows", lambda d: rows(d) and all(a.startswith("permission.") for a in cells(d, 2)))
    scroll_all(driver, expect["permission"], "every permission event")
    shared = driver.current_url
    # A shared view: the same URL in a fresh load shows the same events.
    driver.get(shared)
    wait(driver, "the shared view", lambda d: len(rows(d)) == expect["permission"])
    assert driver.find_element(By.NAME, "action").get_attribute("value") == "permission.*"

    # A time range (UTC): held in the URL, shown again in the form when the URL opens.
    driver.find_element(By.ID, "clear").click()
    wait(driver, "cleared", lambda d: "action" not in d.current_url)
    since = driver.find_element(By.NAME, "from")
    driver.execute_script("arguments[0].value = '2026-03-01T00:04:00'", since)
    since.send_keys(Keys.ENTER)
    wait(driver, "the time range", lambda d: "from=2026-03-01T00%3A04%3A00Z" in d.current_url)
    scroll_all(driver, expect["since_04"], "every event since 00:04")
    assert min(cells(driver, 0)) >= "2026-03-01 00:04:00", min(cells(driver, 0))
    driver.get(driver.current_url)
    wait(driver, "the range reopened", lambda d: d.find_element(By.NAME, "from").get_attribute("value").startswith("2026-03-01T00:04"))

    # The privileged preset.
    driver.find_element(By.ID, "clear").click()
    wait(driver, "cleared", lambda d: "action" not in d.current_url)
    wait(driver, "the preset, from the server's configuration", lambda d: d.find_element(By.ID, "privileged").is_enabled())
    driver.find_element(By.ID, "privileged").click()
    wait(driver, "the privileged preset", lambda d: "action=" in d.current_url and rows(d))
    scroll_all(driver, expect["privileged"], "every privileged event")
    assert all(a.split(".")[0] in ("permission", "api_key", "config") for a in cells(driver, 2))
    shot(driver, "privileged")

    # Outcome denied.
    driver.find_element(By.ID, "clear").click()
    wait(driver, "cleared", lambda d: "action" not in d.current_url and len(rows(d)) >= 50)
    driver.find_element(By.NAME, "outcome").send_keys("Denied")
    driver.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait(driver, "denied rows", lambda d: "outcome=denied" in d.current_url and rows(d) and all(o == "denied" for o in cells(d, 3)))
    assert len(rows(driver)) == expect["denied"]

    # Open an event with the keyboard: its proof is verified in the page.
    first = driver.find_element(By.CSS_SELECTOR, "#events tbody tr button")
    first.send_keys(Keys.ENTER)
    wait(driver, "the drawer", lambda d: d.find_element(By.ID, "drawer").is_displayed())
    assert driver.switch_to.active_element == driver.find_element(By.ID, "close"), "focus moves into the drawer"
    wait(driver, "a verdict", lambda d: verdict(d) in ("valid", "invalid"))
    assert verdict(driver) == "valid", driver.find_element(By.ID, "verdict").text
    assert "given by the page that sent you here" in driver.find_element(By.ID, "verdict").text
    shot(driver, "drawer-valid")
    accessible(driver, "drawer")

    # Tamper with the proof in the page: rejected. Restored: valid again.
    proof = driver.find_element(By.ID, "proof-text")
    original = proof.get_attribute("value")
    parsed = json.loads(original)
    assert parsed["path"], "a proof with a path"
    h = parsed["path"][0]
    parsed["path"][0] = ("0" if h[0] != "0" else "1") + h[1:]
    driver.execute_script("arguments[0].value = arguments[1]", proof, json.dumps(parsed))
    driver.find_element(By.ID, "recheck").click()
    wait(driver, "the tampered verdict", lambda d: verdict(d) == "invalid")
    text = driver.find_element(By.ID, "verdict").text
    assert "Not verified" in text, text
    shot(driver, "drawer-tampered")
    # A byte of the record changed: it no longer hashes to the leaf.
    parsed = json.loads(original)
    record = bytearray(__import__("base64").b64decode(parsed["record"]))
    record[-9] ^= 1
    parsed["record"] = __import__("base64").b64encode(bytes(record)).decode()
    driver.execute_script("arguments[0].value = arguments[1]", proof, json.dumps(parsed))
    driver.find_element(By.ID, "recheck").click()
    wait(driver, "the changed record's verdict", lambda d: verdict(d) == "invalid" and "hash" in d.find_element(By.ID, "verdict").text)
    # The checkpoint's signature changed: rejected.
    note = driver.find_element(By.ID, "checkpoint-text")
    signed = note.get_attribute("value")
    driver.execute_script("arguments[0].value = arguments[1]", proof, original)
    size_line = signed.split("\n")[1]
    forged = signed.replace(f"\n{size_line}\n", f"\n{int(size_line) + 1}\n", 1)
    driver.execute_script("arguments[0].value = arguments[1]", note, forged)
    driver.find_element(By.ID, "recheck").click()
    wait(driver, "the forged checkpoint's verdict", lambda d: verdict(d) == "invalid" and "signature" in d.find_element(By.ID, "verdict").text)
    driver.execute_script("arguments[0].value = arguments[1]", note, signed)
    driver.find_element(By.ID, "recheck").click()
    wait(driver, "valid again", lambda d: verdict(d) == "valid")
    # Escape closes it; focus returns to the event.
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait(driver, "the drawer closed", lambda d: not d.find_element(By.ID, "drawer").is_displayed())
    assert driver.switch_to.active_element == first, "focus returns to the event opened"

    # An erased subject's personal fields read as erased, never blank.
    driver.find_element(By.ID, "clear").click()
    actor = driver.find_element(By.NAME, "actor")
    actor.send_keys(expect["erased_actor"])
    actor.send_keys(Keys.ENTER)
    wait(driver, "the erased subject's events", lambda d: rows(d) and all(a.startswith(expect["erased_actor"]) for a in cells(d, 1)))
    scroll_all(driver, expect["erased_events"], "every event of the erased subject")
    markers = driver.find_elements(By.CSS_SELECTOR, "#events tbody .marker-erased")
    assert len(markers) == len(rows(driver)), "each row marks the e-mail erased"
    assert all(m.text == "erased" for m in markers)
    driver.find_element(By.CSS_SELECTOR, "#events tbody tr button").send_keys(Keys.ENTER)
    wait(driver, "the erased event's verdict", lambda d: verdict(d) in ("valid", "invalid"))
    assert verdict(driver) == "valid", driver.find_element(By.ID, "verdict").text
    assert driver.find_elements(By.CSS_SELECTOR, "#event-fields .marker-erased"), "the drawer marks it erased"
    shot(driver, "erased")
    driver.find_element(By.ID, "close").click()

    # Exports of the current filter (the erased subject's events).
    n = len(rows(driver))
    driver.find_element(By.CSS_SELECTOR, "[data-export=csv]").click()
    csv = open(downloaded(f"audit-log-{expect['tenant']}.csv")).read().strip().splitlines()
    assert len(csv) == n + 1, (len(csv), n)
    driver.find_element(By.CSS_SELECTOR, "[data-export=jsonl]").click()
    lines = open(downloaded(f"audit-log-{expect['tenant']}.jsonl")).read().strip().splitlines()
    assert len(lines) == n and all(json.loads(l)["actor"]["user_id"] == expect["erased_actor"] for l in lines)
    driver.find_element(By.CSS_SELECTOR, "[data-export=bundle]").click()
    bundle = downloaded(f"audit-log-{expect['tenant']}.bundle.jsonl")
    checked = subprocess.run(
        [SETUP["auditlog"], "verify-bundle", bundle, "--key", SETUP["vkey"], "--tenant", expect["tenant"], "--json"],
        capture_output=True, text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["events"] == expect["events"], report
    assert report["completeness"]["kind"] == "tenant", report

    # The report: counts for the tenant, its attestation checked in the page, the
    # erased subject listed, printed to a clean PDF.
    driver.get(f"{BASE}/ui/report.html")
    wait(driver, "the report's attestation", lambda d: d.find_element(By.ID, "attested").get_attribute("data-state") in ("valid", "invalid"))
    attested = driver.find_element(By.ID, "attested").text
    assert driver.find_element(By.ID, "attested").get_attribute("data-state") == "valid", attested
    summary = driver.find_element(By.ID, "summary").text
    assert summary.startswith(f"{expect['events']:,} events of {expect['tenant']}"), summary
    erasures = driver.find_element(By.ID, "erasures").text
    assert expect["erased_actor"] in erasures, erasures
    privileged = driver.find_element(By.ID, "privileged").text
    assert "permission.role.assign" in privileged and "document.read" not in privileged, privileged
    shot(driver, "report")
    accessible(driver, "report")
    pdf = driver.execute_cdp_cmd("Page.printToPDF", {"printBackground": False})
    pdf = __import__("base64").b64decode(pdf["data"])
    assert pdf.startswith(b"%PDF"), pdf[:8]
    with open(os.path.join(ARTIFACTS, "report.pdf"), "wb") as f:
        f.write(pdf)

    # A server that shows one thing and proves another: the event's clear metadata
    # rewritten on its way to the page is caught against the proven record.
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
        const real = window.fetch;
        window.fetch = async (url, init) => {
            const answer = await real(url, init);
            if (!answer.ok || !String(url).startsWith('/v1/events?')) return answer;
            const page = await answer.json();
            for (const e of page.events) if (e.metadata) e.metadata.i = 1000000;
            return new Response(JSON.stringify(page), {status: 200, headers: {'Content-Type': 'application/json'}});
        };
    """})
    driver.get(f"{BASE}/ui/?actor=usr_1")
    wait(driver, "the rewritten page", lambda d: rows(d))
    driver.find_element(By.CSS_SELECTOR, "#events tbody tr button").send_keys(Keys.ENTER)
    wait(driver, "the rewritten event's verdict", lambda d: verdict(d) in ("valid", "invalid"))
    said = driver.find_element(By.ID, "verdict").text
    assert verdict(driver) == "invalid" and "metadata.i" in said, said
    shot(driver, "drawer-rewritten")
    driver.find_element(By.ID, "close").click()

    # Another tenant's data, asked from the page with its token: refused.
    status = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const token = sessionStorage.getItem('auditlog.viewer.token');"
        "fetch('/v1/events?tenant=' + arguments[0], {headers: {Authorization: 'Bearer ' + token}})"
        ".then(r => done(r.status));",
        expect["other_tenant"],
    )
    assert status == 403, status
    driver.get(f"{BASE}/ui/?actor={expect['other_actor']}")
    wait(driver, "no events of another tenant's actor", lambda d: "No events match" in d.find_element(By.ID, "more").text)

    # An expired token: refused, said plainly.
    driver.get(f"{BASE}/ui/#token={SETUP['short_token']}")
    wait(driver, "the expiry", lambda d: d.find_element(By.ID, "problem").is_displayed())
    problem = driver.find_element(By.ID, "problem").text
    assert "expired" in problem and "ended" in problem, problem
    assert not rows(driver)
    shot(driver, "expired")
    accessible(driver, "expired")
    print("viewer: every step held", json.dumps({"events": expect["events"]}))


if __name__ == "__main__":
    main()
