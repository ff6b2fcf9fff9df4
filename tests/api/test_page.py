"""The clerks' page in a real browser (Playwright driving Debian's chromium, headless) over
two real nodes on loopback: log in with a token, pick B from the directory, send a document
with a file from A to B, see
it arrive in B's inbox page, accept it, see status 03 on A's page. A screenshot of each page
is kept under ``test-artifacts/``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from docnode.localnet import LocalNet, LocalNode
from tests.api.kit import A_ORGAN, B_ORGAN, PDF

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
TIMEOUT_MS = 30_000


def _chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("DOCNODE_REQUIRE_CHROMIUM"):
            pytest.fail(f"{CHROMIUM} is required here (DOCNODE_REQUIRE_CHROMIUM is set)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); Playwright "
                    "cannot download its own browser here")
    return CHROMIUM


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[LocalNode, str, LocalNode, str]]:
    net = LocalNet.create(tmp_path / "net", [("A", A_ORGAN), ("B", B_ORGAN)])
    tokens = [n.cli_json("tokens", "create", "-c", str(n.config), "--name", f"Văn thư {n.name}",
                         "--organ-id", n.organ_id)["token"] for n in net.nodes]
    with net.running():
        yield net["A"], tokens[0], net["B"], tokens[1]


def test_send_arrive_accept_in_the_browser(nodes: tuple[LocalNode, str, LocalNode, str],
                                           tmp_path: Path) -> None:
    executable = _chromium()
    a, token_a, b, token_b = nodes
    ARTIFACTS.mkdir(exist_ok=True)
    upload = tmp_path / "ke-hoach.pdf"
    upload.write_bytes(PDF)
    subject = "Kế hoạch chuyển đổi số 2027"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(executable), headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 860})
            context.set_default_timeout(TIMEOUT_MS)
            page_a, page_b = context.new_page(), context.new_page()

            def sign_in(page: Page, node: LocalNode, token: str) -> None:
                page.goto(node.api_url + "/page/")
                page.get_by_test_id("token").fill(token)
                page.get_by_test_id("signin").click()
                expect(page.get_by_test_id("who")).to_contain_text(node.organ_id)

            # A: log in, send a document with a file to B.
            sign_in(page_a, a, token_a)
            page_a.get_by_test_id("tab-send").click()
            # The recipient is picked from the directory (GET /api/v1/directory) by name.
            page_a.get_by_test_id("dir-search").fill("agency b")
            pick = page_a.get_by_test_id("dir-results").get_by_role("button",
                                                                    name=re.compile(B_ORGAN))
            expect(pick).to_contain_text("Agency B")
            pick.click()
            expect(page_a.get_by_test_id("send-to")).to_have_value(B_ORGAN)
            page_a.get_by_test_id("send-number").fill("15")
            page_a.get_by_test_id("send-notation").fill("UBND-VP")
            page_a.get_by_test_id("send-subject").fill(subject)
            page_a.get_by_test_id("send-files").set_input_files(str(upload))
            page_a.get_by_test_id("send-submit").click()
            expect(page_a.get_by_test_id("message")).to_contain_text("Đã gửi văn bản")
            expect(page_a.get_by_test_id("detail-subject")).to_have_text(subject)
            page_a.screenshot(path=str(ARTIFACTS / "page-1-sender-sent.png"), full_page=True)

            # B: log in, the document arrives in the inbox; open it and accept it.
            sign_in(page_b, b, token_b)
            row = page_b.get_by_test_id("inbox-table").locator("tbody tr", has_text=subject)
            for _ in range(60):
                if row.count():
                    break
                page_b.wait_for_timeout(500)
                page_b.get_by_test_id("tab-inbox").click()
            expect(row).to_have_count(1)
            expect(row).to_contain_text("01")
            page_b.screenshot(path=str(ARTIFACTS / "page-2-recipient-inbox.png"),
                              full_page=True)
            row.click()
            expect(page_b.get_by_test_id("detail-subject")).to_have_text(subject)
            expect(page_b.get_by_test_id("detail")).to_contain_text("ke-hoach.pdf")
            page_b.get_by_test_id("act-accept").click()
            expect(page_b.get_by_test_id("detail-status")).to_contain_text("03")
            page_b.screenshot(path=str(ARTIFACTS / "page-3-recipient-accepted.png"),
                              full_page=True)

            # A: the outbox shows B's status 03 (in English, after the language switch).
            page_a.get_by_test_id("lang").click()
            status = page_a.get_by_test_id("outbox-table").locator("tbody tr",
                                                                    has_text=subject)
            for _ in range(60):
                page_a.get_by_test_id("tab-outbox").click()
                if status.count() and re.search(r"\b03\b", status.inner_text()):
                    break
                page_a.wait_for_timeout(500)
            expect(status).to_contain_text("03 Accepted")
            status.click()
            expect(page_a.get_by_test_id("deliveries")).to_contain_text("03 Accepted")
            page_a.screenshot(path=str(ARTIFACTS / "page-4-sender-sees-03.png"),
                              full_page=True)
        finally:
            browser.close()
