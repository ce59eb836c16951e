"""`mardonar serve discord|mcp`."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run Mardonar as a server.", no_args_is_help=True)


@app.command("discord")
def _discord(
    health_port: int | None = typer.Option(
        None,
        "--health-port",
        min=0,
        max=65535,
        help="Serve /healthz, /readyz and /metrics on this port (default: off).",
    ),
    health_host: str | None = typer.Option(
        None,
        "--health-host",
        help="Address the health server listens on (default: MARDONAR_HEALTH_HOST, "
        "127.0.0.1; 0.0.0.0 in the container).",
    ),
    discord_api: str | None = typer.Option(
        None, "--discord-api", hidden=True, help="Discord REST base URL (a proxy, or tests)."
    ),
    discord_gateway: str | None = typer.Option(
        None, "--discord-gateway", hidden=True, help="Discord gateway URL (a proxy, or tests)."
    ),
) -> None:
    """Run the engine on the Discord gateway until SIGTERM (docs/discord.md).

    Needs DISCORD_TOKEN and DISCORD_ALLOWED_CHANNELS; run it from the content repository.
    Register the slash commands once with `mardonar discord sync`.
    """
    import asyncio

    from mardonar.channels.discord.serve import serve
    from mardonar.config import load_settings

    settings = load_settings()
    code = asyncio.run(
        serve(
            settings,
            health_port=health_port,
            health_host=health_host or settings.mardonar_health_host,
            api_base=discord_api,
            gateway=discord_gateway,
        )
    )
    raise typer.Exit(code)


@app.command("mcp")
def _mcp(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(
        8765, "--port", min=0, max=65535, help="Port to listen on (0: any free port)."
    ),
    writable: bool = typer.Option(
        False,
        "--writable",
        help="Also offer the writing tools (remember, log, index) to every client that can "
        "reach the port; the repository's own lore stays as it is.",
    ),
) -> None:
    """Serve the embedded NPC memory and lore search (DATA_DIR/mardonar.db) over MCP.

    The tools are the ones Mardonar calls on GraphMCP (docs/graphmcp.md): set GRAPHMCP_URL
    to the printed URL in every Mardonar that should share this memory (with --writable,
    so they can store what NPCs learn). Read-only by default. Run in a content repository,
    it serves that repository's lore. Ctrl-C or SIGTERM stops it.
    """
    from pathlib import Path

    from mardonar.channels.mcp.server import db_path, endpoint, open_socket, serve
    from mardonar.config import load_settings
    from mardonar.content.bundle import load_lore
    from mardonar.content.repo import find_root
    from mardonar.errors import UsageError
    from mardonar.memory.sqlite import SqliteMemory
    from mardonar.runtime import made_data_dir

    settings = load_settings()
    root = find_root(Path.cwd())
    protected = load_lore(root) if root is not None else ()
    try:
        sock = open_socket(host, port)
    except OSError as error:
        reason = error.strerror or str(error)
        raise UsageError(
            f"--host {host} --port {port}: cannot listen there ({reason}); pick another "
            "port (--port 0 takes any free one) or host"
        ) from None
    try:
        memory = SqliteMemory(db_path(made_data_dir(settings.store.data_dir)))
        if root is not None:
            import asyncio

            asyncio.run(memory.index_lore(protected))
    except BaseException:
        sock.close()
        raise

    def ready() -> None:
        access = "clients may write" if writable else "read-only (--writable lets clients write)"
        lore = f"{len(protected)} lore files of {root}" if root is not None else "no repository"
        typer.echo(
            f"mardonar: serving NPC memory and lore search at {endpoint(sock)} "
            f"({memory.path}; {lore}); {access}; Ctrl-C stops",
            err=True,
        )

    try:
        serve(
            memory,
            sock,
            host=host,
            tools=settings.memory.tools,
            writable=writable,
            protected=protected,
            log_level=settings.log_level,
            ready=ready,
        )
    finally:
        import asyncio

        asyncio.run(memory.close())
        sock.close()
