#!/usr/bin/env python3
"""Debian's Chromium, headless, driven by selenium through the chromedriver on PATH
(nothing is downloaded): opens an unsubscribe link as a person would and presses the
buttons named in the job, reporting what each page showed.

stdin:  {"url": "http://127.0.0.1:P/u/TOKEN", "press": ["unsubscribe", "resubscribe"],
         "screenshot": "/optional/path.png"}
stdout: {"pages": [{"title", "heading", "list", "buttons": [ids], "text", "url"}],
         "console": ["browser console messages"]}
"""
import json
import sys

import chromium
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait


def page(driver):
    def text_of(selector):
        found = driver.find_elements(By.CSS_SELECTOR, selector)
        return found[0].text if found else None

    return {
        "title": driver.title,
        "heading": text_of("h1"),
        "list": text_of("#list"),
        "buttons": [button.get_attribute("id") for button in driver.find_elements(By.TAG_NAME, "button")],
        "text": driver.find_element(By.TAG_NAME, "body").text,
        "url": driver.current_url,
    }


def main():
    job = json.load(sys.stdin)
    driver = chromium.start()
    try:
        pages = []
        driver.get(job["url"])
        pages.append(page(driver))
        after = {"unsubscribe": "done", "resubscribe": "resubscribed"}
        for button in job.get("press", []):
            driver.find_element(By.ID, button).click()
            WebDriverWait(driver, 30).until(
                expected_conditions.presence_of_element_located((By.CSS_SELECTOR, f"#{after[button]}, #undo-closed, h1[id^=status-]")))
            pages.append(page(driver))
        if job.get("screenshot"):
            driver.save_screenshot(job["screenshot"])
        json.dump({"pages": pages, "console": chromium.console(driver)}, sys.stdout)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
