"""`lapor staff ...`: accounts made on the command line log in to the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lapor.bot.cli import app as cli
from lapor.bot.runtime import Runtime
from lapor.bot.web import create_app
from tests.conftest import FakeClock
from tests.dashboard.conftest import Browser, dashboard_settings, http_client

GOOD = "sepuluh-huruf-lebih"
Run = Callable[..., str]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> Run:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    runner = CliRunner()

    def invoke(*args: str, code: int = 0, input: str | None = None) -> str:
        result = runner.invoke(cli, ["staff", *args], input=input)
        assert result.exit_code == code, result.output
        return result.output

    return invoke


@pytest.fixture
async def web(db_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Browser]:
    settings = dashboard_settings(db_url, tmp_path)
    runtime = Runtime.from_settings(settings, clock=clock)
    async with http_client(create_app(settings, runtime=runtime)) as client:
        yield Browser(client)
    runtime.dispose()


def prompts(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """Answers for getpass, in order; returns the prompts it was asked."""
    asked: list[str] = []
    queue = list(answers)

    def fake(prompt: str = "") -> str:
        asked.append(prompt)
        return queue.pop(0)

    monkeypatch.setattr("lapor.bot.dashboard.cli.getpass.getpass", fake)
    return asked


async def test_an_account_added_on_the_command_line_can_log_in(run: Run, web: Browser) -> None:
    assert "rina added" in run(
        "add", "Rina", "--name", "Rina Marlina", "--password-stdin", input=GOOD + "\n"
    )
    listing = run("list")
    assert "rina" in listing and "Rina Marlina" in listing and "active" in listing
    assert "scrypt" not in listing
    response = await web.login("rina", GOOD)
    assert response.status_code == 303
    page = await web.get("/dashboard/")
    assert page.status_code == 200 and "Rina Marlina" in page.text
    assert "rina" in run("list") and "-" not in run("list").splitlines()[1].split()[-1]


async def test_the_password_is_asked_twice_without_echo(
    run: Run, monkeypatch: pytest.MonkeyPatch, web: Browser
) -> None:
    asked = prompts(monkeypatch, GOOD, GOOD)
    run("add", "budi", "--name", "Budi")
    assert asked == ["Password: ", "Again: "]
    assert (await web.login("budi", GOOD)).status_code == 303


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        # As the README shows it: --name is optional and defaults to the username.
        (["rina"], "rina"),
        (["Rina"], "rina"),
        (["rina", "--name", "Rina Marlina"], "Rina Marlina"),
    ],
)
def test_the_name_defaults_to_the_username(run: Run, args: list[str], shown: str) -> None:
    assert "rina added" in run("add", *args, "--password-stdin", input=GOOD + "\n")
    row = next(line for line in run("list").splitlines() if line.split()[0] == "rina")
    assert shown in row


def test_an_empty_name_is_refused(run: Run) -> None:
    assert "--name may not be empty" in run(
        "add", "rina", "--name", " ", "--password-stdin", input=GOOD, code=2
    )
    assert "no staff accounts" in run("list")


def test_mistyped_short_or_duplicate_passwords_and_names_are_refused(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts(monkeypatch, GOOD, GOOD + "x")
    assert "differ" in run("add", "budi", "--name", "Budi", code=1)
    assert "at least 10" in run(
        "add", "budi", "--name", "Budi", "--password-stdin", input="pendek\n", code=1
    )
    assert "no staff accounts" in run("list")
    assert "username" in run("add", "x", "--name", "X", "--password-stdin", input=GOOD, code=2)
    assert "username" in run(
        "add", "bad name!", "--name", "X", "--password-stdin", input=GOOD, code=2
    )
    run("add", "budi", "--name", "Budi", "--password-stdin", input=GOOD)
    assert "already exists" in run(
        "add", "BUDI", "--name", "Budi", "--password-stdin", input=GOOD, code=1
    )
    assert "no staff account named nobody" in run("disable", "nobody", code=1)
    assert "no staff account named nobody" in run(
        "password", "nobody", "--password-stdin", input=GOOD, code=1
    )


async def test_disable_enable_password_and_unlock(run: Run, web: Browser) -> None:
    run("add", "budi", "--name", "Budi", "--password-stdin", input=GOOD)
    run("disable", "budi")
    assert "disabled" in run("list")
    assert (await web.login("budi", GOOD)).status_code == 401
    run("enable", "budi")
    assert (await web.login("budi", GOOD)).status_code == 303

    new = "kata-sandi-yang-baru"
    assert "changed" in run("password", "budi", "--password-stdin", input=new)
    assert (await web.get("/dashboard/")).status_code == 303  # the old session ended
    assert (await web.login("budi", GOOD)).status_code == 401
    assert (await web.login("budi", new)).status_code == 303

    for _ in range(5):
        await web.login("budi", "tebakan-salah-terus")
    assert (await web.login("budi", new)).status_code == 401
    assert "unlocked" in run("unlock", "budi")
    assert (await web.login("budi", new)).status_code == 303


@pytest.mark.parametrize(
    "end",
    [("disable", "enable"), ("password",)],
    ids=["disable-then-enable", "new-password"],
)
async def test_a_cookie_saved_before_disable_or_a_new_password_stays_dead(
    run: Run, web: Browser, end: tuple[str, ...]
) -> None:
    run("add", "budi", "--name", "Budi", "--password-stdin", input=GOOD)
    assert (await web.login("budi", GOOD)).status_code == 303
    saved = web.client.cookies.get("lapor_dashboard")
    assert saved and (await web.get("/dashboard/")).status_code == 200
    for command in end:
        extra = {"input": "kata-sandi-yang-baru\n"} if command == "password" else {}
        args = ("--password-stdin",) if command == "password" else ()
        run(command, "budi", *args, **extra)
    web.client.cookies.set("lapor_dashboard", saved)
    assert (await web.get("/dashboard/")).status_code == 303
