#!/usr/bin/python3
"""Browser check of the mixsweep dashboard, run by tests/e2e/dashboard_e2etest.cc.

Opens the dashboard of one sweep in headless Chromium (Debian's chromium and
chromium-driver, python3-selenium 4.8) and checks what a person would see:

  token mode (--mode token, the default):
    1. without a token the page shows the token form, and no data;
    2. a wrong token typed into the form is refused with an error, no data;
    3. the right token typed into the form shows the sweep;
    4. a fresh tab given the token in the URL fragment (#/sweeps/1&token=...)
       shows the sweep, and the token is gone from the address bar;
  open mode (--mode open): the sweep shows without any token.

Then, in both modes:
  - each plot (scenario, source) has the expected number of teleop points,
    mixed points, fit lines and N_eq arrows, and each arrow the expected sign;
  - the eta table has the expected rows, each with its status, value, sign
    established, interval shape and bounds (numbers from data attributes,
    compared with a relative tolerance; the text shown must agree to the
    3 significant digits it prints);
  - the grid has one box per run, each in the expected state;
  - (--expect's "recommendation") the budget form answers what the API does;
  - the page updates by itself: its "last updated" time advances; with
    --handshake-dir, after writing DIR/ready it waits for DIR/go (the C++
    test has corrected a trial meanwhile) and for the page to show the new
    eta table of DIR/expect-after.json, without a reload;
  - at 760 px wide nothing overflows the page sideways;
  - the browser console has no errors (CSP violations, script errors) other
    than the refused requests of step 2.

Screenshots (always, also on failure): --screenshot PATH (the 1400x1000
viewport), PATH-full.png (the whole page), PATH-narrow.png, and in token mode
PATH-token-form.png. Exit status: 0 all checks passed, 1 a check failed,
2 bad usage or the browser could not start.
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
import urllib.parse

from selenium import webdriver
from selenium.common.exceptions import (StaleElementReferenceException, TimeoutException,
                                        WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT_S = 30


class CheckFailed(Exception):
    pass


def log(msg):
    print(f"[dashboard_check] {msg}", flush=True)


def fail(msg):
    raise CheckFailed(msg)


def make_driver(profile_dir):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-quic", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
              "--force-device-scale-factor=1", "--lang=en-US",
              "--user-data-dir=" + profile_dir]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def wait_for(driver, what, condition, timeout=WAIT_S):
    """Waits until condition(driver) is truthy; fails naming `what`."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2,
                             ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: condition(d))
    except TimeoutException:
        fail(f"timed out after {timeout} s waiting for {what}")


def els(driver, css):
    return driver.find_elements(By.CSS_SELECTOR, css)


def visible(driver, css):
    return [e for e in els(driver, css) if e.is_displayed()]


def close(a, b, rel=1e-9):
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def parse_shown(text):
    """The first number in a shown text ('+12.5', '−23.1', '1,234'), or None."""
    t = text.replace("\u2212", "-").replace(",", "")
    m = re.search(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?", t)
    return float(m.group(0)) if m else None


def float_attr(el, name):
    v = el.get_attribute(name)
    if v is None or v == "":
        return None
    return float(v)


# ---- Checks of the page's content ------------------------------------------------

def settled(check, *args):
    """Runs a check again when the page replaced an element under it (a poll
    brought new data between finding an element and reading it)."""
    for attempt in range(5):
        try:
            return check(*args)
        except StaleElementReferenceException:
            if attempt == 4:
                raise
            time.sleep(0.3)


def check_plots(driver, expect):
    plots = expect.get("plots", [])
    shown = els(driver, "figure[data-role=plot]")
    if len(shown) != len(plots):
        fail(f"expected {len(plots)} plots, the page shows {len(shown)}")
    for p in plots:
        sel = (f'figure[data-role=plot][data-scenario="{p["scenario"]}"]'
               f'[data-source="{p["source"]}"]')
        figs = els(driver, sel)
        if len(figs) != 1:
            fail(f"plot {p['scenario']}/{p['source']}: found {len(figs)} figures")
        fig = figs[0]
        label = f"plot {p['scenario']}/{p['source']}"
        for role, key in [("teleop-point", "teleop_points"), ("mixed-point", "mixed_points"),
                          ("neq-arrow", "arrows"), ("fit-line", "fit_lines")]:
            n = len(fig.find_elements(By.CSS_SELECTOR, f'[data-role="{role}"]'))
            if n != p[key]:
                fail(f"{label}: expected {p[key]} {role} element(s), found {n}")
        for sign, n_expected in p.get("arrow_signs", {}).items():
            n = len(fig.find_elements(By.CSS_SELECTOR,
                                      f'[data-role="neq-arrow"][data-sign="{sign}"]'))
            if n != n_expected:
                fail(f"{label}: expected {n_expected} {sign} arrow(s), found {n}")
        left_out = p.get("left_out", 0)
        notes = fig.find_elements(By.CSS_SELECTOR, '[data-role="zero-note"]')
        n_note = int(notes[0].get_attribute("data-count")) if notes else 0
        if n_note != left_out:
            fail(f"{label}: expected {left_out} point(s) noted as left out (S = 0), "
                 f"the page notes {n_note}")
        svg = fig.find_element(By.CSS_SELECTOR, "svg")
        if not (svg.get_attribute("aria-label") or "").strip():
            fail(f"{label}: the SVG has no aria-label")
        for text in ["teleop demos N_tele (log)", "success rate S (log)"]:
            if text not in svg.get_attribute("textContent"):
                fail(f"{label}: axis label '{text}' missing")
    log(f"plots: {len(plots)} plots with the expected points, fit lines and arrows")


def eta_row_key(r):
    return (r["scenario"], r["source"], r["kind"], int(r["n_tele"]), int(r["n_nt"]))


def read_eta_rows(driver):
    rows = {}
    for tr in els(driver, "tr[data-role=eta-row]"):
        key = (tr.get_attribute("data-scenario"), tr.get_attribute("data-source"),
               tr.get_attribute("data-kind"), int(float(tr.get_attribute("data-n-tele"))),
               int(float(tr.get_attribute("data-n-nt"))))
        rows[key] = tr
    return rows


def eta_mismatches(driver, expected_rows):
    """Every difference between the page's eta table and the expectation."""
    problems = []
    rows = read_eta_rows(driver)
    if len(rows) != len(expected_rows):
        problems.append(f"expected {len(expected_rows)} eta rows, the page shows {len(rows)}")
    for e in expected_rows:
        key = eta_row_key(e)
        tr = rows.get(key)
        name = f"eta row {key}"
        if tr is None:
            problems.append(f"{name}: missing")
            continue
        status = tr.get_attribute("data-status")
        if status != e["status"]:
            problems.append(f"{name}: status {status}, expected {e['status']}")
        value = float_attr(tr, "data-value")
        exp_value = e.get("value")
        if not close(value, exp_value):
            problems.append(f"{name}: value {value}, expected {exp_value}")
        shown = tr.find_element(By.CSS_SELECTOR, "[data-col=eta]").text
        if exp_value is not None:
            v = parse_shown(shown)
            if v is None or not close(v, exp_value, rel=0.006):
                problems.append(f"{name}: shows '{shown}', expected about {exp_value:.4g}")
        sign = tr.get_attribute("data-sign")
        if sign != e["sign"]:
            problems.append(f"{name}: sign established '{sign}', expected '{e['sign']}'")
        sign_text = tr.find_element(By.CSS_SELECTOR, "[data-col=sign]").text
        if e["sign"] and not sign_text.startswith(e["sign"]):
            problems.append(f"{name}: sign column shows '{sign_text}', expected '{e['sign']}...'")
        shape = tr.get_attribute("data-shape")
        if shape != e.get("shape", ""):
            problems.append(f"{name}: interval shape '{shape}', expected '{e.get('shape', '')}'")
        interval_text = tr.find_element(By.CSS_SELECTOR, "[data-col=interval]").text
        if e.get("shape") == "SHAPE_BOUNDED":
            for attr, k in [("data-lower", "lower"), ("data-upper", "upper")]:
                got = float_attr(tr, attr)
                if not close(got, e[k]):
                    problems.append(f"{name}: interval {k} {got}, expected {e[k]}")
            nums = [parse_shown(x) for x in interval_text.strip("[]").split(",")]
            if len(nums) != 2 or any(n is None for n in nums) or not (
                    close(nums[0], e["lower"], 0.006) and close(nums[1], e["upper"], 0.006)):
                problems.append(f"{name}: interval shows '{interval_text}', expected about "
                                f"[{e['lower']:.4g}, {e['upper']:.4g}]")
        elif e.get("shape") in ("SHAPE_SPLIT", "SHAPE_AT_OR_ABOVE", "SHAPE_AT_OR_BELOW"):
            for attr, k in [("data-split-below", "split_below"),
                            ("data-split-above", "split_above")]:
                if k in e and not close(float_attr(tr, attr), e[k]):
                    problems.append(f"{name}: {k} {float_attr(tr, attr)}, expected {e[k]}")
            if "or" not in interval_text and "\u2265" not in interval_text \
                    and "\u2264" not in interval_text:
                problems.append(f"{name}: interval shows '{interval_text}' for {e['shape']}")
        elif not e.get("shape") and interval_text.strip() != "\u2014":
            problems.append(f"{name}: no interval expected, shows '{interval_text}'")
        if status != "STATUS_DEFINED":
            note = tr.find_element(By.CSS_SELECTOR, "[data-col=note]").text
            if not note.strip():
                problems.append(f"{name}: eta is {status} but the row gives no reason")
    return problems


def check_eta(driver, expect):
    rows = expect.get("eta_rows", [])
    problems = eta_mismatches(driver, rows)
    if problems:
        fail("eta table:\n  " + "\n  ".join(problems))
    log(f"eta table: {len(rows)} rows with the expected values, intervals and signs")


def check_grid(driver, expect):
    if "run_cells" not in expect:
        return
    cells = els(driver, "[data-role=run-cell]")
    if len(cells) != expect["run_cells"]:
        fail(f"run grid: expected {expect['run_cells']} run boxes, found {len(cells)}")
    want_state = expect.get("run_state")
    if want_state:
        other = [c.get_attribute("data-state") for c in cells
                 if c.get_attribute("data-state") != want_state]
        if other:
            fail(f"run grid: expected every run {want_state}, found {sorted(set(other))}")
    scored = [c for c in cells if c.get_attribute("data-s")]
    if expect.get("run_cells_scored") is not None and len(scored) != expect["run_cells_scored"]:
        fail(f"run grid: expected {expect['run_cells_scored']} boxes coloured by score, "
             f"found {len(scored)}")
    log(f"run grid: {len(cells)} run boxes, {len(scored)} coloured by score")


def check_recommendation(driver, expect):
    rec = expect.get("recommendation")
    if not rec:
        return
    form = wait_for(driver, "the recommendation form",
                    lambda d: (visible(d, "form[data-role=recommendation-form]") or [None])[0])
    driver.execute_script(
        "const f = arguments[0];"
        "f.querySelector('#rec-scenario').value = arguments[1];"
        "f.querySelector('#rec-source').value = arguments[2];", form, rec["scenario"], rec["source"])
    budget = form.find_element(By.CSS_SELECTOR, "#rec-budget")
    budget.clear()
    budget.send_keys(str(rec["budget_hours"]))
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    box = wait_for(driver, "the recommendation's answer",
                   lambda d: (els(d, "[data-role=recommendation]") or
                              els(d, "[data-role=recommendation-error]") or [None])[0])
    if box.get_attribute("data-role") == "recommendation-error":
        fail(f"recommendation: the page shows an error: {box.text}")
    got = (int(float(box.get_attribute("data-n-tele"))), int(float(box.get_attribute("data-n-nt"))))
    if got != (rec["n_tele"], rec["n_nt"]):
        fail(f"recommendation: shows {got}, expected ({rec['n_tele']}, {rec['n_nt']})")
    if not close(float_attr(box, "data-predicted-s"), rec["predicted_s"]):
        fail(f"recommendation: predicted S {box.get_attribute('data-predicted-s')}, "
             f"expected {rec['predicted_s']}")
    text = box.text.replace(",", "")
    if f"{rec['n_tele']} teleop" not in text or f"{rec['n_nt']} {rec['source']}" not in text:
        fail(f"recommendation: the text does not say the mix: {box.text!r}")
    log(f"recommendation: {got[0]} teleop + {got[1]} {rec['source']}, "
        f"predicted S {rec['predicted_s']:.3f}, as the API answers")


def last_updated(driver):
    e = els(driver, "[data-role=last-updated]")
    return int(e[0].get_attribute("data-last-updated")) if e else 0


def check_live_updates(driver):
    first = wait_for(driver, "the 'last updated' time", lambda d: last_updated(d))
    wait_for(driver, "the 'last updated' time to advance (polling)",
             lambda d: last_updated(d) > first, timeout=20)
    log("live: the 'last updated' time advances by itself")


def check_update_handshake(driver, hdir):
    versions = {(f.get_attribute("data-scenario"), f.get_attribute("data-source")):
                int(f.get_attribute("data-version")) for f in els(driver, "figure[data-role=plot]")}
    with open(os.path.join(hdir, "ready"), "w") as f:
        f.write("ready\n")
    log("handshake: page ready; waiting for the test to change the data")
    go = os.path.join(hdir, "go")
    deadline = time.monotonic() + 180
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            fail("handshake: the test never wrote 'go'")
        time.sleep(0.2)
    with open(os.path.join(hdir, "expect-after.json")) as f:
        after = json.load(f)
    log("handshake: data changed; waiting for the page to show it without a reload")
    marker = driver.execute_script("return window.__mixsweepCheckMarker = Math.random();")

    def shows_new(d):
        # A poll may replace a plot between finding it and reading it: try again.
        try:
            newer = any(int(f.get_attribute("data-version")) > versions.get(
                (f.get_attribute("data-scenario"), f.get_attribute("data-source")), 0)
                for f in els(d, "figure[data-role=plot]"))
            return newer and not eta_mismatches(d, after.get("eta_rows", []))
        except StaleElementReferenceException:
            return False
    try:
        WebDriverWait(driver, 60, poll_frequency=0.5).until(shows_new)
    except TimeoutException:
        problems = eta_mismatches(driver, after.get("eta_rows", []))
        fail("the page did not update by itself within 60 s:\n  " + "\n  ".join(
            problems or ["no plot shows a newer estimate version"]))
    if driver.execute_script("return window.__mixsweepCheckMarker;") != marker:
        fail("the page reloaded itself instead of updating in place")
    settled(check_plots, driver, after)
    log("live: the corrected trial's new estimates appeared without a reload")


def check_narrow(driver, shot_base):
    driver.set_window_size(760, 1000)
    try:
        wait_for(driver, "the narrow layout", lambda d: d.execute_script(
            "return window.innerWidth <= 760"))
        over = driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        save_screenshot(driver, shot_base + "-narrow.png")
        if over > 1:
            fail(f"at 760 px wide the page overflows sideways by {over} px")
        log("narrow: at 760 px wide nothing overflows sideways")
    finally:
        driver.set_window_size(1400, 1000)


def console_errors(driver, allowed):
    try:
        entries = driver.get_log("browser")
    except WebDriverException:
        return []
    out = []
    for e in entries:
        if e.get("level") != "SEVERE":
            continue
        msg = e.get("message", "")
        if any(a in msg for a in allowed):
            continue
        out.append(msg)
    return out


# ---- Screenshots ----------------------------------------------------------------

def save_screenshot(driver, path):
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        driver.save_screenshot(path)
        log(f"screenshot: {path}")
    except WebDriverException as e:
        log(f"screenshot {path} failed: {e}")


def save_full_page(driver, path):
    """The whole page, beyond the viewport (Chrome DevTools)."""
    import base64
    try:
        metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                     "scale": 1}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        log(f"screenshot (full page): {path}")
    except Exception as e:  # a missing full-page shot must not hide the real result
        log(f"full-page screenshot failed: {e}")


# ---- The scenarios ------------------------------------------------------------

def with_token(url, token):
    base, _, frag = url.partition("#")
    frag = frag or "/"
    return f"{base}#{frag}&token={urllib.parse.quote(token, safe='')}"


def wait_for_sweep(driver, expect):
    n = len(expect.get("plots", []))
    wait_for(driver, f"{n} plot(s) of the sweep",
             lambda d: len(els(d, "figure[data-role=plot]")) == n and
             len(els(d, "tr[data-role=eta-row]")) == len(expect.get("eta_rows", [])))


def token_mode(driver, args, token, expect, shot_base):
    # 1. No token: the form, no data.
    driver.get(args.url)
    wait_for(driver, "the token form (no token given)",
             lambda d: visible(d, "[data-role=token-form]"))
    if els(driver, "figure[data-role=plot]") or els(driver, "[data-role=run-cell]"):
        fail("without a token the page shows sweep data")
    save_screenshot(driver, shot_base + "-token-form.png")
    log("token: without a token the page asks for one and shows no data")

    # 2. A wrong token: refused, with an error.
    field = driver.find_element(By.CSS_SELECTOR, "#token-input")
    field.send_keys("msw_this-is-not-a-valid-token")
    driver.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
    wait_for(driver, "an error for the wrong token",
             lambda d: any("refused" in e.text for e in els(d, "#token-error")))
    error_text = driver.find_element(By.CSS_SELECTOR, "#token-error").text
    if els(driver, "figure[data-role=plot]"):
        fail("with a wrong token the page shows sweep data")
    log(f"token: a wrong token is refused: {error_text!r}")

    # 3. The right token, typed into the form.
    field = driver.find_element(By.CSS_SELECTOR, "#token-input")
    field.clear()
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
    wait_for_sweep(driver, expect)
    if driver.execute_script("return sessionStorage.getItem('mixsweep.dashboard.token')") != token:
        fail("the typed token is not kept in sessionStorage")
    log("token: the right token typed into the form shows the sweep")

    # 4. A fresh start with the token in the URL fragment.
    driver.execute_script("sessionStorage.clear()")
    driver.get("about:blank")
    driver.get(with_token(args.url, token))
    wait_for_sweep(driver, expect)
    current = driver.current_url
    if "token" in current or token in current:
        fail(f"the token stays in the address bar: {current}")
    if not current.endswith("#/sweeps/" + args.url.rsplit("/", 1)[-1]):
        fail(f"after taking the token the address should be the sweep's: {current}")
    log(f"token: a token in the URL fragment works and leaves the address bar ({current})")


def open_mode(driver, args, expect):
    driver.get(args.url)
    wait_for_sweep(driver, expect)
    if visible(driver, "[data-role=token-form]"):
        fail("the open dashboard asks for a token")
    log("open: the sweep shows without a token")


def main():
    # SIGTERM (the test giving up) still quits the browser: finally blocks run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="http://127.0.0.1:PORT/#/sweeps/ID")
    ap.add_argument("--mode", choices=["token", "open"], default="token")
    ap.add_argument("--token-file", help="a reader's token (token mode)")
    ap.add_argument("--expect", required=True, help="expectations (JSON), written by the test")
    ap.add_argument("--screenshot", required=True, help="PNG path of the main screenshot")
    ap.add_argument("--handshake-dir", help="update check: ready / go / expect-after.json")
    args = ap.parse_args()

    with open(args.expect) as f:
        expect = json.load(f)
    token = None
    if args.mode == "token":
        if not args.token_file:
            print("--token-file is required in token mode", file=sys.stderr)
            return 2
        with open(args.token_file) as f:
            token = f.read().strip()
    shot_base = re.sub(r"\.png$", "", args.screenshot)

    profile = tempfile.mkdtemp(prefix="dashboard-check-chromium-")
    driver = None
    status = 1
    started = time.monotonic()
    try:
        try:
            driver = make_driver(profile)
        except WebDriverException as e:
            print(f"could not start chromium/chromedriver: {e}", file=sys.stderr)
            return 2
        if args.mode == "token":
            token_mode(driver, args, token, expect, shot_base)
        else:
            open_mode(driver, args, expect)
        settled(check_plots, driver, expect)
        settled(check_eta, driver, expect)
        settled(check_grid, driver, expect)
        settled(check_recommendation, driver, expect)
        check_live_updates(driver)
        if args.handshake_dir:
            check_update_handshake(driver, args.handshake_dir)
        check_narrow(driver, shot_base)
        driver.execute_script("window.scrollTo(0, 0)")
        errors = console_errors(driver, allowed=["status of 401", "status of 403"])
        if errors:
            fail("browser console errors:\n  " + "\n  ".join(errors))
        log("console: no errors")
        status = 0
    except CheckFailed as e:
        print(f"[dashboard_check] FAILED: {e}", file=sys.stderr, flush=True)
    except Exception:
        print("[dashboard_check] FAILED with an exception:", file=sys.stderr)
        traceback.print_exc()
    finally:
        if driver is not None:
            save_screenshot(driver, args.screenshot)
            save_full_page(driver, shot_base + "-full.png")
            if status != 0:
                try:
                    for e in driver.get_log("browser"):
                        print(f"[browser console] {e.get('level')}: {e.get('message')}",
                              file=sys.stderr)
                except WebDriverException:
                    pass
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    log(f"{'passed' if status == 0 else 'FAILED'} in {time.monotonic() - started:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
