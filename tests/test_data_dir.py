"""A DATA_DIR that cannot be created: the same one line from every command that needs it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import RunCli
from tests.engine_helpers import copy_content


def test_play_and_serve_mcp_name_a_bad_data_dir_alike(run_cli: RunCli, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("I am a file\n")
    data_dir = blocker / "data"  # under a file: mkdir fails with "Not a directory"
    repo = copy_content(tmp_path / "repo")
    env = {"DATA_DIR": str(data_dir)}

    played = run_cli("play", "goblin-toll-bridge", "--plain", cwd=repo, env=env)
    served = run_cli("serve", "mcp", "--port", "0", cwd=repo, env=env)

    expected = (
        f"DATA_DIR={data_dir}: cannot create it (Not a directory); point DATA_DIR at a "
        "writable folder"
    )
    for result in (played, served):
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].endswith(expected), result.stderr
