#!/usr/bin/python3
"""Drives the admin status page (GET / on the admin port) in headless Chromium.

  status_page_browser.py --admin-port N --http-port N --token T --expect FILE
                         --drain HOST:PORT --screenshot FILE [--budget SECONDS]

Run by status_page_test (test/integration/status_page_test.cc), which starts login_server and
registers the msg_servers listed in FILE (a JSON list of {host_name, port, cur, max}). Checks, in
order: the page shows every msg_server with its numbers and the totals, with no console error,
no alert, and no element made from a host_name; the rate chart moves with real requests; the
Drain button drains (seen in /servers); a screenshot is saved; without a token the page says it
needs one and works once one is typed in; offline it says the server cannot be reached.

Every wait is bounded, the whole run by --budget; Chromium and chromedriver are stopped on every
exit path. Prints "ok" last on success; any failure exits 1 with the reason.
"""

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException,
                                        StaleElementReferenceException,
                                        TimeoutException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 10  # seconds, for any one condition (the page refreshes every 2 s)

# The table as the page shows it, read in one script so that a refresh cannot swap rows between
# reads.
TABLE_JS = """
return Array.from(document.querySelectorAll('#servers tr[data-key]')).map((tr) => ({
  key: tr.dataset.key,
  host: tr.querySelector('.host').textContent,
  state: tr.querySelector('.state').textContent,
  users: tr.querySelector('.users').textContent,
  max: tr.querySelector('.max').textContent,
  load: tr.querySelector('.load-text').textContent,
  button: tr.querySelector('button').textContent,
}));
"""


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def admin_json(port, path, token):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def wait_for(driver, what, predicate, timeout=WAIT):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException,)).until(
                                 lambda d: predicate(d))
    except TimeoutException:
        raise Failure(f"timed out after {timeout} s waiting for {what}") from None


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def severe_logs(driver):
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def start_browser(profile):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-sync",
                "--window-size=1280,960", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver


def run(args, driver):
    expected = json.load(open(args.expect))
    base = f"http://127.0.0.1:{args.admin_port}/"

    # 1. The page with the token in the fragment (never sent to the server): it is stored in
    #    sessionStorage and taken out of the address bar.
    driver.get(base + "#token=" + urllib.parse.quote(args.token))
    check(driver.execute_script("return location.hash") == "", "the token stays in the URL")
    rows = wait_for(driver, f"{len(expected)} msg_server rows",
                    lambda d: (lambda t: t if len(t) == len(expected) else False)(
                        d.execute_script(TABLE_JS)))
    by_key = {r["key"]: r for r in rows}
    for e in expected:
        key = f"{e['host_name']}:{e['port']}"
        check(key in by_key, f"no row for {key!r}; rows: {list(by_key)}")
        r = by_key[key]
        check(r["host"] == e["host_name"], f"host shown as {r['host']!r}, sent {e['host_name']!r}")
        check(r["users"] == str(e["cur"]), f"{key}: users {r['users']}, want {e['cur']}")
        check(r["max"] == str(e["max"]), f"{key}: max {r['max']}, want {e['max']}")
        check(r["load"].startswith(f"{e['cur']} / {e['max']} "), f"{key}: load {r['load']!r}")
        want_state = "full" if e["cur"] >= e["max"] else "eligible"
        check(r["state"] in (want_state, "warming"), f"{key}: state {r['state']!r}")
    cur = sum(e["cur"] for e in expected)
    cap = sum(e["max"] for e in expected)
    check(text(driver, "t-servers") == str(len(expected)), "total msg_servers")
    check(text(driver, "t-users") == f"{cur} / {cap}",
          f"total users {text(driver, 't-users')!r}, want {cur} / {cap}")

    # 2. Hostile host_names stayed text: no element was made from them and nothing ran.
    try:
        alert = driver.switch_to.alert
        raise Failure(f"an alert opened: {alert.text!r}")
    except NoAlertPresentException:
        pass
    counts = driver.execute_script(
        "return [document.querySelectorAll('img').length,"
        " document.querySelectorAll('script').length, typeof window.__injected]")
    check(counts == [0, 1, "undefined"], f"injected markup: [img, script, marker] = {counts}")

    # 3. The chart: the rates follow real requests on the public port.
    wait_for(driver, "a first rate sample", lambda d: text(d, "t-req") != "\u2013")
    deadline = time.monotonic() + WAIT
    while float(text(driver, "t-req")) <= 0:
        check(time.monotonic() < deadline, "requests/s stayed 0 while requests were answered")
        for _ in range(5):
            urllib.request.urlopen(f"http://127.0.0.1:{args.http_port}/msg_server",
                                   timeout=5).read()
        time.sleep(0.2)  # paces the requests; the deadline bounds the loop
    rate = float(text(driver, "t-req"))

    # 4. Drain with the button: /servers says so, then the page does.
    def button(d):
        return d.execute_script(
            "for (const tr of document.querySelectorAll('#servers tr[data-key]'))"
            "  if (tr.dataset.key === arguments[0]) return tr.querySelector('button');"
            "return null;", args.drain)

    wait_for(driver, "the drain button", lambda d: button(d) is not None and
             (button(d).click() or True))

    def drained():
        for s in admin_json(args.admin_port, "/servers", args.token):
            if f"{s['host_name']}:{s['port']}" == args.drain:
                return s["draining"]
        return False

    deadline = time.monotonic() + WAIT
    while not drained():
        check(time.monotonic() < deadline, f"/servers never showed {args.drain} draining")
        time.sleep(0.1)
    wait_for(driver, "the row to show draining",
             lambda d: any(r["key"] == args.drain and r["state"] == "draining" and
                           r["button"] == "Undrain" for r in d.execute_script(TABLE_JS)))
    check(text(driver, "t-draining") == "1", "total draining")

    severe = severe_logs(driver)
    check(not severe, f"console errors: {severe}")
    driver.save_screenshot(args.screenshot)
    print(f"screenshot: {args.screenshot}")
    print(f"rows: {len(rows)}, requests/s shown: {rate}")

    # 5. Without a token the page says it needs one; typed in, the table comes back. (Its 401s
    #    are console errors by nature, hence after the check above.)
    driver.execute_script("sessionStorage.clear()")
    driver.get(base)
    wait_for(driver, "the token prompt", lambda d: "token" in text(d, "status") and
             "error" in d.find_element(By.ID, "status").get_attribute("class"))
    driver.find_element(By.ID, "token").send_keys(args.token)
    driver.find_element(By.CSS_SELECTOR, "#token-form button").click()
    wait_for(driver, "the rows after typing the token",
             lambda d: len(d.execute_script(TABLE_JS)) == len(expected))
    check(driver.execute_script("return sessionStorage.getItem('ttlogin.adminToken')") ==
          args.token, "the typed token is not kept in sessionStorage")

    # 6. Offline, the page says it cannot reach the server.
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                           {"offline": True, "latency": 0, "downloadThroughput": -1,
                            "uploadThroughput": -1})
    wait_for(driver, "the unreachable message",
             lambda d: "cannot reach" in text(d, "status"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--admin-port", type=int, required=True)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--expect", required=True)
    p.add_argument("--drain", required=True)
    p.add_argument("--screenshot", required=True)
    p.add_argument("--budget", type=int, default=60)
    args = p.parse_args()

    def out_of_time(signo, frame):
        raise Failure(f"the whole run took more than {args.budget} s")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(args.budget)
    profile = tempfile.mkdtemp(prefix="ttlogin-chromium-")
    driver = None
    try:
        driver = start_browser(profile)
        run(args, driver)
    except Failure as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        if driver is not None:
            driver.quit()  # closes Chromium and stops chromedriver
        shutil.rmtree(profile, ignore_errors=True)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
