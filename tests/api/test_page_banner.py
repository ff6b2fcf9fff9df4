"""The page's certificate banner and language switch, in headless chromium against node A's
API served in-process (the certificate list given to the API holds an expired one)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright, expect

from docnode.api import api_app
from docnode.app import Node
from tests.api.kit import api_context, token_for
from tests.api.test_page import ARTIFACTS, CHROMIUM_ARGS, TIMEOUT_MS, _chromium
from tests.conftest import Pki


@pytest.fixture
async def server(a: Node, pki: Pki) -> AsyncIterator[TestServer]:
    ctx = dataclasses.replace(api_context(a), certificates=lambda: [
        a.signer.identity.certificate, pki.expired.certificate])
    server = TestServer(api_app(ctx))
    await server.start_server()
    yield server
    await server.close()


async def test_banner_and_language_switch(server: TestServer, a: Node) -> None:
    executable = _chromium()
    token = await token_for(a, name="Văn thư")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(executable), headless=True,
                                          args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 600})
            page.set_default_timeout(TIMEOUT_MS)
            await page.goto(str(server.make_url("/page/")))
            await expect(page.get_by_test_id("login")).to_contain_text("Đăng nhập")
            await page.get_by_test_id("token").fill("dn_wrong")
            await page.get_by_test_id("signin").click()
            await expect(page.get_by_test_id("message")).to_contain_text("Mã truy cập không hợp lệ")
            await page.get_by_test_id("token").fill(token)
            await page.get_by_test_id("signin").click()
            banner = page.get_by_test_id("cert-banner")
            await expect(banner).to_contain_text("Chứng thư số sắp hết hạn")
            await expect(banner).to_contain_text("CN=")
            await expect(page.get_by_test_id("tab-inbox")).to_have_text("Văn bản đến")
            await page.get_by_test_id("lang").click()
            await expect(banner).to_contain_text("Certificates expiring soon")
            await expect(banner).to_contain_text("(expired)")
            await expect(page.get_by_test_id("tab-inbox")).to_have_text("Inbox")
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "page-5-certificate-banner.png"))
        finally:
            await browser.close()
