"""A patron answers a survey in a real headless Chromium, against the feedback service running as
its own process: a missing required answer is shown next to its question with everything else
kept, the patron corrects it (by mouse and keyboard), sees the thank-you page, and the librarian
sees the response in the results."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import httpx
import pytest
from siar_devstack import Stack

from tests.tools import free_port, require

pytestmark = pytest.mark.e2e

TOKEN = "browser-test-token-01"


@pytest.fixture(scope="module")
def feedback(database_url, amqp_url, tmp_path_factory):
    port = free_port()
    log_dir = Path(tmp_path_factory.mktemp("browser-logs"))
    stack = Stack(
        database_url=database_url,
        amqp_url=amqp_url,
        ports={"feedback": port},
        log_dir=log_dir,
        services=("feedback",),
        extra_env={
            "SIAR_API_TOKENS": f"{TOKEN}:admin",
            "SIAR_ENVIRONMENT": "test",
            "SIAR_SURVEY_BASE_URL": f"http://127.0.0.1:{port}",
        },
    )
    try:
        stack.start()
        yield stack.url("feedback")
    finally:
        stack.stop()
        for log in log_dir.glob("*.log"):
            print(f"--- {log.name} (last lines)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))


@pytest.fixture(scope="module")
def browser():
    require("chromedriver", "chromium chromium-driver")
    require("chromium", "chromium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=390,844"):  # a phone's viewport
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "id-ID,id,en"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(15)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_patron_answers_corrects_a_mistake_and_the_result_shows(feedback, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.wait import WebDriverWait

    api = httpx.Client(base_url=feedback, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    created = api.post("/v1/surveys", json={
        "title": {"id": "Survei Layanan Perpustakaan", "en": "Library Service Survey"},
        "channels": ["instagram", "poster"],
        "questions": [
            {"key": "kepuasan", "kind": "rating", "required": True,
             "text": {"id": "Seberapa puas Anda dengan layanan kami?", "en": "How satisfied are you?"}},
            {"key": "rekomendasi", "kind": "nps", "required": True,
             "text": {"id": "Seberapa mungkin Anda merekomendasikan kami?", "en": "Would you recommend us?"}},
            {"key": "kegiatan", "kind": "multiple_choice",
             "text": {"id": "Kegiatan apa yang Anda minati?", "en": "Which activities interest you?"},
             "options": [{"key": "dongeng", "label": {"id": "Dongeng anak", "en": "Storytelling"}},
                         {"key": "diskusi", "label": {"id": "Diskusi buku", "en": "Book club"}}]},
            {"key": "saran", "kind": "text", "text": {"id": "Apa saran Anda?", "en": "Any suggestions?"}},
        ],
    })
    assert created.status_code == 201, created.text
    survey = api.post(f"/v1/surveys/{created.json()['survey_id']}/open").json()
    poster_link = next(link["url"] for link in survey["links"] if link["channel"] == "poster")

    browser.get(poster_link)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "id"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Survei Layanan Perpustakaan"

    # Answer everything but the required NPS question.
    browser.find_element(By.CSS_SELECTOR, "label[for='q-kepuasan-4']").click()
    browser.find_element(By.CSS_SELECTOR, "label[for='q-kegiatan-dongeng']").click()
    suggestion = "Tambah buku <b>komik</b> & jam buka"
    browser.find_element(By.ID, "q-saran").send_keys(suggestion)
    browser.find_element(By.CSS_SELECTOR, "button[type='submit']").click()

    # The error is next to the NPS question; the summary has the focus; nothing typed is lost.
    WebDriverWait(browser, 10).until(lambda d: d.title.startswith("Kesalahan:"))
    summary = browser.find_element(By.CSS_SELECTOR, ".error-summary")
    assert browser.switch_to.active_element == summary
    error = browser.find_element(By.CSS_SELECTOR, "#question-rekomendasi .error")
    assert " ".join(error.text.split()) == "Kesalahan: Pilih salah satu jawaban."
    assert error.is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#question-kepuasan .error") == []
    assert browser.find_element(By.ID, "q-kepuasan-4").is_selected()
    assert browser.find_element(By.ID, "q-kegiatan-dongeng").is_selected()
    assert not browser.find_element(By.ID, "q-kegiatan-diskusi").is_selected()
    assert browser.find_element(By.ID, "q-saran").get_attribute("value") == suggestion
    browser.save_screenshot(str(tmp_path / "error.png"))

    # Correct it: choose 8, then move to 9 with the keyboard.
    browser.find_element(By.CSS_SELECTOR, "label[for='q-rekomendasi-8']").click()
    browser.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    assert browser.find_element(By.ID, "q-rekomendasi-9").is_selected()
    browser.find_element(By.CSS_SELECTOR, "button[type='submit']").click()

    WebDriverWait(browser, 10).until(lambda d: "/thanks" in d.current_url)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Terima kasih!"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "id"
    browser.save_screenshot(str(tmp_path / "thanks.png"))

    results = api.get(f"/v1/surveys/{survey['slug']}/results").json()
    assert results["responses"] == 1
    assert results["by_channel"] == {"poster": 1}
    questions = {q["key"]: q for q in results["questions"]}
    assert questions["kepuasan"]["counts"]["4"] == 1
    assert questions["rekomendasi"]["counts"]["9"] == 1
    assert questions["kegiatan"]["counts"] == {"dongeng": 1, "diskusi": 0}
    assert (results["csat"], results["nps"]) == (100.0, 100.0)
    exported = api.get(f"/v1/surveys/{survey['slug']}/answers.csv").content.decode("utf-8-sig")
    [row] = list(csv.DictReader(io.StringIO(exported)))
    assert row["answer"] == suggestion and row["channel"] == "poster"


def test_the_demo_survey_of_make_run_opens_once_and_answers_in_english(feedback, browser):
    from selenium.webdriver.common.by import By
    from siar_devstack.demo import DEMO_SURVEY_SLUG, create_demo_survey

    accounts = [{"platform": "telegram", "account_id": "demo-telegram"}]
    first = create_demo_survey(feedback, TOKEN, accounts)
    again = create_demo_survey(feedback, TOKEN, accounts)
    assert first["survey_id"] == again["survey_id"] and again["status"] == "open"
    assert first["slug"] == DEMO_SURVEY_SLUG
    link = next(link["url"] for link in first["links"] if link["channel"] == "telegram")
    browser.get(link + "&lang=en")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Library Patron Survey"
