#!/usr/bin/env python3
"""Debian's Chromium, headless, driven by selenium through the chromedriver on PATH
(nothing is downloaded): opens a preferences link as a person would and presses the
buttons the job names by CSS selector, one after another, reporting what each page
showed.

stdin:  {"url": "http://127.0.0.1:P/p/TOKEN",
         "press": ["li[data-list='offers'] button", "#unsubscribe-all"]}
stdout: {"pages": [{"heading", "notice", "global", "lists": [{"name", "state", "this"}],
                    "buttons": [labels], "url"}],
         "console": ["browser console messages"]}
"""
import json
import sys

import chromium
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait


def page(driver):
    def text_of(selector, within=driver):
        found = within.find_elements(By.CSS_SELECTOR, selector)
        return found[0].text if found else None

    lists = []
    for item in driver.find_elements(By.CSS_SELECTOR, "#lists li"):
        lists.append({"name": text_of(".list-name", item), "state": text_of(".state", item),
                      "this": bool(item.find_elements(By.CSS_SELECTOR, ".this"))})
    return {
        "heading": text_of("h1"),
        "notice": text_of("#notice"),
        "global": text_of("#global-state"),
        "lists": lists,
        "buttons": [button.text for button in driver.find_elements(By.TAG_NAME, "button")],
        "url": driver.current_url,
    }


def replaced(old):
    """A wait condition: true once `old` belongs to a document no longer shown. Selenium's
    `staleness_of` knows only the stale-element error; chromedriver reports a node of a
    document being replaced, in the moment the navigation commits, as "does not belong
    to the document" instead."""
    def check(_driver):
        try:
            old.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                return True
            raise
    return check


def main():
    job = json.load(sys.stdin)
    driver = chromium.start()
    try:
        pages = []
        driver.get(job["url"])
        pages.append(page(driver))
        for selector in job.get("press", []):
            old = driver.find_element(By.TAG_NAME, "html")
            driver.find_element(By.CSS_SELECTOR, selector).click()
            # The answer to the POST replaces the page: wait for the old one to go.
            try:
                WebDriverWait(driver, 30).until(replaced(old))
            except TimeoutException:
                # Say what the browser shows, so a failure tells a click that never
                # submitted from an answer that never came.
                sys.exit(f"after pressing {selector!r} the page stayed for 30 s: now at {driver.current_url}, "
                         f"showing {json.dumps(page(driver))}; console {chromium.console(driver)}")
            WebDriverWait(driver, 30).until(expected_conditions.presence_of_element_located((By.TAG_NAME, "h1")))
            pages.append(page(driver))
        json.dump({"pages": pages, "console": chromium.console(driver)}, sys.stdout)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
