"""The operator's console, as an operator uses it in a browser: signing in, finding a
conversation by its words, reading its transcript (content hidden until revealed, and the
reveal in the audit log), creating a key whose budget then stops it, and erasing an end user."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import openai
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import MODEL
from tests.console.conftest import ADMIN_KEY, TENANT, ConsoleServer


def client_of(server: ConsoleServer, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.live.base_url, api_key=key or server.tenant_key, max_retries=0
    )


@pytest.fixture
def page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    return opened


def sign_in(page: Page, server: ConsoleServer, then: str = "/console/conversations") -> None:
    page.goto(server.url + then)
    page.get_by_label("Admin key").fill(ADMIN_KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(then)))


def shoot(page: Page, screenshots: Path | None, name: str) -> None:
    if screenshots is not None:
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


def test_the_console_asks_for_the_admin_key_and_refuses_any_other(
    page: Page, console_server: ConsoleServer, screenshots: Path | None
) -> None:
    page.goto(console_server.url + "/console/usage")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))
    shoot(page, screenshots, "sign-in")
    page.get_by_label("Admin key").fill(console_server.tenant_key)  # an API key is not enough
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That is not the admin key.")
    page.get_by_label("Admin key").fill(ADMIN_KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/usage$"))
    page.get_by_role("button", name="Sign out").click()
    page.goto(console_server.url + "/console/keys")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))


def test_a_conversation_found_by_its_words_shows_its_content_only_when_revealed_and_audited(
    page: Page, console_server: ConsoleServer, screenshots: Path | None
) -> None:
    client = client_of(console_server)
    thread = client.conversations.create(metadata={"customer": "c-17"})
    client.responses.create(
        model=MODEL, input="The quokka's password is marmalade", conversation=thread.id
    )
    sign_in(page, console_server)
    page.get_by_label("Tenant").select_option(TENANT)
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("link", name=thread.id)).to_be_visible()
    shoot(page, screenshots, "conversations")

    page.get_by_label("Search the words of every message and metadata").fill("c 17")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("row").filter(has_text=thread.id)).to_contain_text("customer=c-17")
    page.get_by_label("Search the words of every message and metadata").fill("quokka")
    page.get_by_role("button", name="Show").click()
    page.get_by_role("link", name=thread.id).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Conversation {thread.id}")
    expect(page.get_by_text("text hidden").first).to_be_visible()
    assert "marmalade" not in page.content()
    shoot(page, screenshots, "transcript-hidden")

    page.get_by_role("button", name="Reveal content").click()
    expect(page.get_by_text("The quokka's password is marmalade", exact=True)).to_be_visible()
    expect(page.get_by_text("echo: The quokka's password is marmalade")).to_be_visible()
    shoot(page, screenshots, "transcript-revealed")

    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Tenant").select_option(TENANT)
    page.get_by_role("button", name="Show").click()
    row = page.get_by_role("row").filter(has_text=thread.id).filter(has_text="revealed")
    expect(row).to_contain_text("admin:console")
    shoot(page, screenshots, "audit-log")


def test_a_failed_response_is_found_by_its_status_and_opened_with_its_timings_and_error(
    page: Page, console_server: ConsoleServer, screenshots: Path | None
) -> None:
    client = client_of(console_server)
    answered = client.responses.create(model=MODEL, input="hello there")
    with pytest.raises(openai.APIStatusError):
        client.responses.create(model=MODEL, input="fail 503")
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "kept chat"}], store=True
    )

    sign_in(page, console_server, "/console/responses")
    page.get_by_label("Tenant").select_option(TENANT)
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Show").click()
    rows = page.get_by_role("row").filter(has_text="failed")
    expect(rows.first).to_be_visible()
    expect(page.get_by_role("link", name=answered.id)).to_have_count(0)
    shoot(page, screenshots, "responses")

    rows.first.get_by_role("link").first.click()
    expect(page.get_by_text("fake upstream failure 503")).to_be_visible()
    page.get_by_role("button", name="Reveal content").click()
    expect(page.get_by_text("fail 503", exact=True)).to_be_visible()

    page.goto(f"{console_server.url}/console/responses/{answered.id}?tenant={TENANT}")
    expect(page.get_by_text(re.compile(r"took \d+\.\d{3} s"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"\d+ in \(0 cached\)"))).to_be_visible()
    shoot(page, screenshots, "response")

    page.get_by_role("link", name="Chat completions").click()
    page.get_by_label("Tenant").select_option(TENANT)
    page.get_by_role("button", name="Show").click()
    page.get_by_role("row").nth(1).get_by_role("link").click()
    page.get_by_role("button", name="Reveal content").click()
    expect(page.get_by_text("echo: kept chat")).to_be_visible()


def test_a_key_created_with_a_budget_is_refused_once_it_is_spent(
    page: Page, console_server: ConsoleServer, screenshots: Path | None
) -> None:
    sign_in(page, console_server, "/console/keys")
    create = page.get_by_role("form", name="Create a key")
    create.get_by_label("Name").fill("budgeted")
    create.get_by_label("Tenant").fill(TENANT)
    create.get_by_label("Daily budget (US dollars)").fill("5")
    create.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("The new key's secret").input_value()
    assert secret.startswith("tl-")
    expect(page.get_by_role("row").filter(has_text="budgeted")).to_contain_text("$5/day")
    shoot(page, screenshots, "keys")

    budgeted = client_of(console_server, secret)
    # At a dollar a token, the first answer spends the five dollars; the next is refused.
    budgeted.responses.create(model=MODEL, input="spend it all on one answer")
    with pytest.raises(openai.RateLimitError) as refused:
        budgeted.responses.create(model=MODEL, input="and again")
    assert refused.value.code == "insufficient_quota"

    # A larger budget, set in the console, lets the key answer again at once.
    page.get_by_text("Limits of budgeted…").click()
    limits = page.get_by_role("form", name="Limits of budgeted")
    expect(limits.get_by_label("Daily budget (US dollars)")).to_have_value("5.0")
    limits.get_by_label("Daily budget (US dollars)").fill("1000")
    limits.get_by_role("button", name="Save limits").click()
    expect(page.get_by_role("row").filter(has_text="budgeted")).to_contain_text("$1000/day")
    assert budgeted.responses.create(model=MODEL, input="and again").status == "completed"

    page.get_by_role("link", name="Usage").click()
    page.get_by_label("Totals by").select_option("key")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("figure").first).to_be_visible()
    expect(page.locator("svg rect").first).to_be_attached()
    shoot(page, screenshots, "usage")


def test_erasing_an_end_user_counts_first_then_deletes_their_conversations(
    page: Page, console_server: ConsoleServer, screenshots: Path | None
) -> None:
    client = client_of(console_server)
    theirs = client.conversations.create()
    client.responses.create(
        model=MODEL, input="forget me", safety_identifier="bob-42", conversation=theirs.id
    )
    kept = client.conversations.create()
    client.responses.create(model=MODEL, input="keep me", conversation=kept.id)

    sign_in(page, console_server, "/console/erase")
    form = page.get_by_role("form", name="An end user")
    form.get_by_label("Tenant").select_option(TENANT)
    form.get_by_label("Named by").select_option("safety_identifier")
    form.get_by_label("Value").fill("bob-42")
    form.get_by_role("button", name="Count (dry run)").click()
    receipt = page.get_by_role("region", name="Would erase")
    expect(receipt).to_contain_text("Conversations1")
    assert client.conversations.retrieve(theirs.id).id == theirs.id  # a dry run deletes nothing

    form = page.get_by_role("form", name="An end user")
    form.get_by_label("I understand erasing cannot be undone").check()
    form.get_by_role("button", name="Erase", exact=True).click()
    expect(page.get_by_role("region", name="Erased")).to_contain_text("Conversations1")
    shoot(page, screenshots, "erase")
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(theirs.id)
    assert client.conversations.retrieve(kept.id).id == kept.id
    # Their usage stays in the totals, without their name.
    page.get_by_role("link", name="Usage").click()
    expect(page.get_by_role("heading", name="Top end users")).to_be_visible()
    assert "bob-42" not in page.content()


def test_erasing_a_tenant_needs_its_name_typed_and_leaves_its_key_revoked(
    page: Page, console_server: ConsoleServer, screenshots: Path | None
) -> None:
    sign_in(page, console_server, "/console/keys")
    create = page.get_by_role("form", name="Create a key")
    create.get_by_label("Name").fill("leaving-key")
    create.get_by_label("Tenant").fill("leaving")
    create.get_by_role("button", name="Create key").click()
    leaving = client_of(console_server, page.get_by_label("The new key's secret").input_value())
    thread = leaving.conversations.create()
    leaving.responses.create(model=MODEL, input="goodbye", conversation=thread.id)

    page.get_by_role("link", name="Erase").click()
    whole = page.get_by_role("form", name="A whole tenant")
    whole.get_by_label("Tenant to erase").select_option("leaving")
    whole.get_by_role("button", name="Count (dry run)").click()
    expect(page.get_by_role("region", name="Would erase tenant leaving")).to_contain_text(
        "Conversations1"
    )
    whole = page.get_by_role("form", name="A whole tenant")
    whole.get_by_label("Tenant to erase").select_option("leaving")
    whole.get_by_label("Type its name to confirm").fill("leavin")  # a slip: refused
    whole.get_by_role("button", name="Erase tenant").click()
    expect(page.get_by_role("alert")).to_contain_text("Type the tenant's name (leaving)")
    assert leaving.conversations.retrieve(thread.id).id == thread.id

    page.goto(console_server.url + "/console/erase")
    whole = page.get_by_role("form", name="A whole tenant")
    whole.get_by_label("Tenant to erase").select_option("leaving")
    whole.get_by_label("Type its name to confirm").fill("leaving")
    whole.get_by_role("button", name="Erase tenant").click()
    expect(page.get_by_role("region", name="Erased tenant leaving")).to_contain_text(
        "API keys revoked1"
    )
    shoot(page, screenshots, "erase-tenant")
    with pytest.raises(openai.AuthenticationError):
        leaving.conversations.retrieve(thread.id)


def test_a_tenant_s_vector_stores_and_webhook_endpoints_are_listed_and_deleted(
    page: Page, console_server: ConsoleServer, screenshots: Path | None
) -> None:
    client = client_of(console_server)
    docs = client.vector_stores.create(name="handbook")
    # The SDK has no call for webhook endpoints (OpenAI makes them in its dashboard): raw HTTP.
    endpoint = httpx.post(
        console_server.live.base_url + "/webhook_endpoints",
        headers={"Authorization": f"Bearer {console_server.tenant_key}"},
        json={
            "name": "ops",
            "url": "http://127.0.0.1:9/threadline-hooks",
            "event_types": ["response.completed"],
        },
        timeout=30,
    )
    assert endpoint.status_code == 200, endpoint.text

    sign_in(page, console_server, f"/console/resources?tenant={TENANT}")
    expect(page.get_by_role("row").filter(has_text="handbook")).to_contain_text(docs.id)
    expect(page.get_by_role("row").filter(has_text="ops")).to_contain_text("threadline-hooks")
    shoot(page, screenshots, "resources")
    row = page.get_by_role("row").filter(has_text="handbook")
    row.get_by_text("Delete…").click()
    confirm = page.get_by_role("form", name="Delete vector store handbook")
    confirm.get_by_label("For good").check()
    confirm.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("handbook")).to_have_count(0)
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(docs.id)


def test_the_console_reads_in_dark_mode_and_on_a_phone(
    browser: Browser, console_server: ConsoleServer, screenshots: Path | None
) -> None:
    context = browser.new_context(color_scheme="dark", viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, console_server, "/console/usage")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"
    # Nothing wider than the phone's screen but the tables, which scroll on their own.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    shoot(page, screenshots, "usage-dark-phone")
    context.close()
