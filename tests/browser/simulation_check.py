#!/usr/bin/python3
"""Browser check of seed 001's views on the mixsweep dashboard, run by
tests/e2e/dashboard_e2etest.cc (DashboardE2E.ScalingSweep...).

Opens one scaling sweep (open mode: no token) in headless Chromium and checks
that what a lab lead sees tells generated data and simulation results apart
from collected data and robot results, against --expect (JSON, written by the
test from the gRPC API):
  - each source is marked generated (with its generation figures) or collected;
  - each scenario is marked simulation or robot;
  - the results table has one row per evaluated (run, scenario, checkpoint),
    each marked by its evaluator;
  - the scaling plot is there (data-scaling=true), and the marginal-gains
    table has one row per pair of consecutive N with the API's gain;
  - the browser console has no errors.
Exit status: 0 all checks passed, 1 a check failed, 2 the browser could not start.
"""

import argparse
import json
import os
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_check import (CheckFailed, close, console_errors, els, fail,  # noqa: E402
                             float_attr, log, make_driver, save_screenshot, wait_for)


def check(driver, expect):
    wait_for(driver, "the marginal-gains table",
             lambda d: len(els(d, "[data-role=gain-row]")) >= len(expect["gains"]))
    sources = {e.get_attribute("data-source"): e for e in els(driver, "[data-role=source]")}
    for name, generated in expect["sources"].items():
        if name not in sources:
            fail(f"source {name} is not shown (shown: {sorted(sources)})")
        shown = sources[name].get_attribute("data-generated")
        if shown != ("true" if generated else "false"):
            fail(f"source {name}: data-generated={shown}, expected {generated}")
        figures = sources[name].find_elements("css selector", "[data-role=generation]")
        if generated and (not figures or not figures[0].text.strip()):
            fail(f"source {name}: no generation figures")
    evaluators = [e.get_attribute("data-evaluator")
                  for e in els(driver, "li[data-role=scenario]")]
    if sorted(evaluators) != sorted(expect["scenario_evaluators"]):
        fail(f"scenario evaluators {evaluators}, expected {expect['scenario_evaluators']}")
    rows = els(driver, "[data-role=result-row]")
    by_evaluator = {}
    for r in rows:
        by_evaluator[r.get_attribute("data-evaluator")] = \
            by_evaluator.get(r.get_attribute("data-evaluator"), 0) + 1
    if by_evaluator != expect["results_by_evaluator"]:
        fail(f"results by evaluator {by_evaluator}, expected {expect['results_by_evaluator']}")
    if not els(driver, "[data-role=plot][data-scaling=true]"):
        fail("no scaling plot (data-role=plot, data-scaling=true)")
    gains = [(int(g.get_attribute("data-n-from")), int(g.get_attribute("data-n-to")),
              float_attr(g, "data-gain")) for g in els(driver, "[data-role=gain-row]")]
    if len(gains) != len(expect["gains"]):
        fail(f"{len(gains)} marginal gains shown, expected {len(expect['gains'])}")
    for (n_from, n_to, gain), want in zip(sorted(gains), expect["gains"]):
        if (n_from, n_to) != (want["n_from"], want["n_to"]) or not close(gain, want["gain"]):
            fail(f"gain {n_from}->{n_to} = {gain}, expected {want}")
    errors = console_errors(driver, allowed=[])
    if errors:
        fail(f"browser console errors: {errors}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="http://127.0.0.1:PORT/#/sweeps/ID")
    ap.add_argument("--expect", required=True, help="expectations (JSON), written by the test")
    ap.add_argument("--screenshot", required=True, help="PNG path")
    args = ap.parse_args()
    with open(args.expect) as f:
        expect = json.load(f)
    profile = tempfile.mkdtemp(prefix="mixsweep-chromium-")
    try:
        driver = make_driver(profile)
    except Exception:  # noqa: BLE001 - any failure to start the browser
        traceback.print_exc()
        return 2
    try:
        driver.get(args.url)
        check(driver, expect)
        log("seed 001 views: all checks passed")
        return 0
    except CheckFailed as e:
        log(f"FAILED: {e}")
        return 1
    finally:
        save_screenshot(driver, args.screenshot)
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
