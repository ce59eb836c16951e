"""Start-up stays cheap: `mardonar --help` imports none of the heavy libraries.

Each heavy library costs tens to hundreds of milliseconds at import (measured in STYLE.md:
a Typer `--help` took 144 ms with them imported inside the commands vs 636 ms at module
top). Commands import them in their body; these tests keep it that way. Each check runs in a
fresh interpreter, because this test process has long since imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

HEAVY_FOR_CLI = (
    "textual",
    "discord",
    "openai",
    "redis",
    "prompt_toolkit",
    "pydantic_settings",
    "httpx",
    "mcp",
)
HEAVY_FOR_ENGINE = ("textual", "discord", "prompt_toolkit", "redis")

# Runs in the child: executes `code`, then prints the top-level names of every module
# imported as JSON on the last line of stdout (whatever the code itself printed before it).
PROBE = """
import json, sys
code, forbidden = sys.argv[1], json.loads(sys.argv[2])
exit_code = 0
try:
    exec(compile(code, "<probe>", "exec"), {"__name__": "__probe__"})
except SystemExit as stop:
    exit_code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(forbidden))
print("\\n" + json.dumps({"exit": exit_code, "heavy": loaded, "count": len(sys.modules)}))
"""


def probe(code: str, forbidden: tuple[str, ...]) -> tuple[dict[str, object], str]:
    """Run `code` in a fresh interpreter; return what it imported of `forbidden`, and stdout."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, code, json.dumps(forbidden)],
        cwd=REPO_ROOT,
        env={**_env(), "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.rstrip("\n").splitlines()
    return json.loads(lines[-1]), "\n".join(lines[:-1])


def _env() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if not key.startswith("MARDONAR_")}


def test_the_probe_sees_a_heavy_import() -> None:
    """The check is real: importing a heavy library is reported."""
    report, _ = probe("import pydantic_settings", HEAVY_FOR_CLI)
    assert report["heavy"] == ["pydantic_settings"]


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import runpy, sys\n"
        "sys.argv = ['mardonar', '--help']\n"
        "runpy.run_module('mardonar', run_name='__main__', alter_sys=True)\n"
    )

    report, output = probe(code, HEAVY_FOR_CLI)

    assert report["exit"] == 0
    assert "Usage" in output and "lint" in output, "the help did not run"
    assert report["heavy"] == [], f"`mardonar --help` imported {report['heavy']}"


def test_importing_the_cli_imports_no_heavy_library() -> None:
    report, _ = probe("import mardonar.cli", HEAVY_FOR_CLI)
    assert report["heavy"] == [], f"`import mardonar.cli` imported {report['heavy']}"


def test_version_imports_no_heavy_library() -> None:
    code = (
        "import runpy, sys\n"
        "sys.argv = ['mardonar', '--version']\n"
        "runpy.run_module('mardonar', run_name='__main__', alter_sys=True)\n"
    )

    report, output = probe(code, HEAVY_FOR_CLI)

    assert report["exit"] == 0 and "mardonar " in output
    assert report["heavy"] == []


def engine_modules() -> list[str]:
    folder = REPO_ROOT / "mardonar" / "engine"
    modules = []
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.append(".".join(parts))
    return modules


def test_engine_imports_no_front_end_or_server_library() -> None:
    """The engine is channel-agnostic (ARCHITECTURE.md): no TUI, Discord or Redis in it."""
    modules = engine_modules()
    if not modules:
        pytest.skip("mardonar/engine has no modules yet")
    code = "import importlib\n" + "".join(
        f"importlib.import_module({name!r})\n" for name in modules
    )

    report, _ = probe(code, HEAVY_FOR_ENGINE)

    assert report["heavy"] == [], f"the engine ({', '.join(modules)}) imported {report['heavy']}"
