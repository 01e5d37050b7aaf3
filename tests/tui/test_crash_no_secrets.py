"""A crash's traceback is printed without the frames' local variables: one of them may hold a
password (Textual's default shows every local of every frame)."""

from __future__ import annotations

from opsconsole.tui.app import OpsConsoleApp
from tests.tui.fakes import StaticMonitor, fake_config


async def test_a_crash_shows_its_traceback_but_no_local_variable() -> None:
    cfg = fake_config()
    app = OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="web-01")
    secret = "pw-" + "7f3a9c41"

    def open_agent() -> None:
        password = secret  # a frame that holds a secret when something goes wrong
        raise RuntimeError(f"the agent went away ({len(password)} bytes sent)")

    async with app.run_test(size=(80, 24)):
        try:
            open_agent()
        except RuntimeError:
            app._fatal_error()  # what Textual calls for an exception nobody handled
        printed = "".join(
            segment.text for renderable in app._exit_renderables for segment in renderable.segments
        )
    assert "the agent went away" in printed and "open_agent" in printed  # the traceback is there
    assert secret not in printed, "a local variable (a password) was printed with the crash"
