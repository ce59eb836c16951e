"""Prefix reuse: how much of each request a server's prefix cache can serve from the last one.

A local server (llama.cpp, vLLM, Ollama) keeps the previous request's tokens and evaluates
only what follows the longest prefix the new request shares with it; on 2 CPU cores that
evaluation was the whole 65-104 s turn (issue #14). This plays a 20-turn session of
goblin-toll-bridge (bench_engine.py's lines: small talk, checks, refused repeats, lore
keywords; the spec made endless) and, for every request, measures the share of it that is
a common prefix with the request before: of its serialized form (the tools, then each
message's role, content and tool calls, the way a chat template lays them out) and of its
tokens by the engine's estimate. A turn's first request against the last one of the turn
before is the number that matters (a turn's tool rounds and correction only append).

    python bench/bench_prefix.py                      # offline narrator, before vs after
    python bench/bench_prefix.py --before /work/main  # any tree or git commit as "before"
    python bench/bench_prefix.py --base-url http://127.0.0.1:8080/v1 --model gemma-3-270m

Both layouts are played side by side in one run, each in its own subprocess (`--record
TREE`, which prints the requests as JSON): this tree, and `--before` (a folder, or a commit
of this repository taken with `git archive`; by default the last commit with the old
layout). The content (specs, persona, party, lore) is this tree's for both.

`--base-url URL --model M` plays the same lines against a real OpenAI-compatible server
instead of the offline narrator, through a small recording proxy on 127.0.0.1 that reads
what the server says about each request: `usage.prompt_tokens`, and llama.cpp's `timings`
(`prompt_n`: tokens evaluated fresh, `cache_n`: tokens served from its cache) when present,
with each request's wall time. The model's own replies then differ from run to run; the
layout's share is still computed from what was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
if str(BENCH) not in sys.path:  # bench_engine's lines, also when loaded by path (the tests)
    sys.path.append(str(BENCH))

BEFORE = "08a9707"
"""main before issue #14's layout: the system message held the state, lore, memories and
summary, and the history slid by one turn every turn."""


# --------------------------------------------------------------------------- measuring


def serialize(body: dict[str, Any]) -> str:
    """A chat-completions body as one text, in the order a chat template renders it: the
    tools (templates put them in the system part), then each message's role, content and
    tool calls. Only a prefix of this text can be served from a server's cache."""
    parts = [json.dumps(body.get("tools") or [], sort_keys=True), "\n"]
    for message in body.get("messages") or []:
        parts.append(f"<|{message.get('role')}|>\n{message.get('content') or ''}")
        if message.get("tool_calls"):
            parts.append(json.dumps(message["tool_calls"], sort_keys=True))
        if message.get("tool_call_id"):
            parts.append(f"\n[{message['tool_call_id']}]")
        parts.append("<|end|>\n")
    return "".join(parts)


def estimate_tokens(text: str) -> int:
    """The engine's estimate (mardonar/content/render.py), repeated so the numbers of a
    `--before` tree are counted the same way."""
    return (len(text) + 3) // 4


def common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix of `a` and `b` (halving: the strings are ~16 KB,
    and a slice comparison runs in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


@dataclass(frozen=True, slots=True)
class Share:
    turn: int
    first: bool
    """The turn's first request (against the last request of the turn before)."""
    chars: float
    tokens: float
    """Share of the request's estimated tokens in the common prefix."""
    prompt_tokens: int
    fresh_tokens: int
    """Estimated tokens after the common prefix: what a prefix cache evaluates again."""
    server: dict[str, Any]


def shares(records: list[dict[str, Any]]) -> list[Share]:
    """The share of each request (after the first) that is a prefix of the one before."""
    out: list[Share] = []
    previous: str | None = None
    previous_turn = 0
    for record in records:
        text = serialize(record["body"])
        if previous is not None:
            same = common_prefix(previous, text)
            total = estimate_tokens(text)
            reused = estimate_tokens(text[:same]) if same else 0
            out.append(
                Share(
                    turn=record["turn"],
                    first=record["turn"] != previous_turn,
                    chars=same / max(len(text), 1),
                    tokens=reused / max(total, 1),
                    prompt_tokens=total,
                    fresh_tokens=total - reused,
                    server=record.get("server") or {},
                )
            )
        previous, previous_turn = text, record["turn"]
    return out


# --------------------------------------------------------------------------- recording


class Recorder:
    """An LLM that records each request as its chat-completions body, then asks `inner`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.turn = 0
        self.records: list[dict[str, Any]] = []

    @property
    def name(self) -> str:
        return str(self.inner.name)

    async def stream(self, request: Any) -> AsyncIterator[Any]:
        from mardonar.llm.openai_compat.wire import chat_params

        body = chat_params(request, "bench", "native")
        self.records.append({"turn": self.turn, "body": body})
        async for chunk in self.inner.stream(request):
            yield chunk

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, timeout: float) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream.rstrip("/")
        self.timeout = timeout
        self.turn = 0
        self.records: list[dict[str, Any]] = []
        self.lock = threading.Lock()


class _ProxyHandler(BaseHTTPRequestHandler):
    """Forwards to the upstream server as it streams, and notes what it says of the prompt."""

    server: _Proxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._forward(b"")

    def do_POST(self) -> None:
        self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _forward(self, body: bytes) -> None:
        import httpx

        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() in ("authorization", "content-type", "accept", "api-key")
        }
        started = time.perf_counter()
        seen: dict[str, Any] = {}
        answering = False
        try:
            with httpx.stream(
                self.command,
                self.server.upstream + self.path,
                content=body or None,
                headers=headers,
                timeout=httpx.Timeout(self.server.timeout, connect=10.0),
            ) as response:
                answering = True
                self.send_response(response.status_code)
                kind = response.headers.get("content-type", "application/json")
                self.send_header("Content-Type", kind)
                self.send_header("Connection", "close")
                self.end_headers()
                pending = b""
                for chunk in response.iter_bytes():  # decoded: no Content-Encoding passed on
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        _note(line, seen)
                _note(pending, seen)
        except httpx.HTTPError as error:
            if not answering:  # else the answer is cut off, as the server cut it
                self.send_error(502, f"bench proxy: {error}")
            return
        if self.command == "POST" and self.path.endswith("/chat/completions"):
            with self.server.lock:
                self.server.records.append(
                    {
                        "turn": self.server.turn,
                        "body": json.loads(body),
                        "server": {**seen, "ms": round((time.perf_counter() - started) * 1000)},
                    }
                )


def _note(line: bytes, seen: dict[str, Any]) -> None:
    """`usage` and llama.cpp's `timings` from one SSE line (or a whole JSON answer)."""
    text = line.strip()
    if text.startswith(b"data:"):
        text = text[5:].strip()
    if not text.startswith(b"{"):
        return
    try:
        data = json.loads(text)
    except ValueError:
        return
    if isinstance(data.get("usage"), dict):
        seen["prompt_tokens"] = data["usage"].get("prompt_tokens")
    timings = data.get("timings")
    if isinstance(timings, dict):
        for key in ("prompt_n", "cache_n", "prompt_ms", "predicted_n", "predicted_ms"):
            if key in timings:
                seen[key] = timings[key]


async def record_session(
    root: Path,
    *,
    turns: int = 20,
    base_url: str | None = None,
    model: str = "",
    api_key: str | None = None,
    timeout: float = 900.0,
) -> list[dict[str, Any]]:
    """Play the session on the `mardonar` already imported, with `root`'s content: the
    offline narrator behind a `Recorder`, or the server at `base_url` behind the proxy.
    Returns one record a request: its turn, its body, and what the server said."""
    from bench_engine import LINES, endless_bundle

    from mardonar.engine.loop import Engine
    from mardonar.llm.offline import OfflineNarrator
    from mardonar.memory.sqlite import SqliteMemory
    from mardonar.store.sqlite import SqliteStore

    content = endless_bundle(turns, root)
    proxy: _Proxy | None = None
    llm: Any
    if base_url is None:
        llm = Recorder(OfflineNarrator(content, 7))
    else:
        from mardonar.llm.openai_compat import OpenAICompatLLM

        proxy = _Proxy(base_url, timeout)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        llm = OpenAICompatLLM(
            base_url=f"http://127.0.0.1:{proxy.server_address[1]}",
            model=model,
            api_key=api_key,
            timeout=timeout,
        )
    tally: Any = proxy if proxy is not None else llm
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        engine = Engine(
            content,
            llm=llm,
            store=SqliteStore(data / "mardonar.db"),
            memory=SqliteMemory(data / "mardonar.db"),
            data_dir=data,
        )
        try:
            session = await engine.start(seed=7, transcript=data / "t.jsonl")
            for turn in range(1, turns + 1):
                if session.status.value != "active":
                    break  # a real model may resolve the encounter early
                tally.turn = turn
                player, text = LINES[(turn - 1) % len(LINES)]
                async for _ in engine.run_turn(session, [(player, f"{text} ({turn})")]):
                    pass
        finally:
            await engine.memory.close()
            await engine.store.close()
            await llm.aclose()
            if proxy is not None:
                proxy.shutdown()
    return list(tally.records)


# --------------------------------------------------------------------------- the two trees


def tree_of(ref: str, scratch: Path) -> Path:
    """A folder as is, or a commit of this repository unpacked into `scratch`."""
    folder = Path(ref).expanduser()
    if (folder / "mardonar" / "__init__.py").exists():
        return folder.resolve()
    target = scratch / ref.replace("/", "_")
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "mardonar"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        sys.exit(f"bench: --before {ref!r} is neither a source tree nor a commit of {REPO}")
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def record_in(tree: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """`--record tree` in a subprocess: the tree's own `mardonar`, imported fresh."""
    command = [sys.executable, str(Path(__file__).resolve()), "--record", str(tree)]
    command += ["--turns", str(args.turns)]
    if args.base_url:
        command += ["--base-url", args.base_url, "--model", args.model]
        command += ["--timeout", str(args.timeout)]
    env = dict(os.environ)
    if args.api_key:
        env["BENCH_API_KEY"] = args.api_key  # not on the command line, where ps shows it
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"bench: recording with {tree} failed:\n{done.stderr[-3000:]}")
    records: list[dict[str, Any]] = json.loads(done.stdout)
    return records


def record_main(args: argparse.Namespace) -> None:
    tree = Path(args.record).resolve()
    sys.path.insert(0, str(tree))
    import mardonar

    where = Path(mardonar.__file__).resolve()
    if not where.is_relative_to(tree):
        sys.exit(f"bench: imported mardonar from {where}, not from {tree}")
    records = asyncio.run(
        record_session(
            REPO,
            turns=args.turns,
            base_url=args.base_url,
            model=args.model,
            api_key=os.environ.get("BENCH_API_KEY") or None,
            timeout=args.timeout,
        )
    )
    json.dump(records, sys.stdout)


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True, slots=True)
class Summary:
    mean: float
    minimum: float
    median: float
    fresh: float
    prompt: float
    all_mean: float
    turns: int


def summarize(measured: list[Share], *, from_turn: int = 2) -> Summary:
    """Turns `from_turn` on: a turn's first request (mean, min, median of the token share;
    mean fresh and prompt tokens), and every request of theirs (mean share)."""
    firsts = [s for s in measured if s.first and s.turn >= from_turn]
    every = [s for s in measured if s.turn >= from_turn]
    if not firsts:
        return Summary(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)
    values = [s.tokens for s in firsts]
    return Summary(
        mean=statistics.fmean(values),
        minimum=min(values),
        median=statistics.median(values),
        fresh=statistics.fmean(s.fresh_tokens for s in firsts),
        prompt=statistics.fmean(s.prompt_tokens for s in firsts),
        all_mean=statistics.fmean(s.tokens for s in every),
        turns=len(firsts),
    )


def _server_rows(measured: list[Share]) -> Iterator[tuple[str, str]]:
    """What the server said, over each turn's requests from turn 2 (empty offline)."""
    later = [s for s in measured if s.turn >= 2 and s.server]
    if not later:
        return
    by_turn: dict[int, list[Share]] = {}
    for share in later:
        by_turn.setdefault(share.turn, []).append(share)

    def mean_of(key: str, group: str = "first") -> str:
        values = [
            s.server[key]
            for s in (later if group == "all" else [g[0] for g in by_turn.values()])
            if isinstance(s.server.get(key), (int, float))
        ]
        return f"{statistics.fmean(values):,.0f}" if values else "n/a"

    yield "server prompt_tokens (usage), turn's first request", mean_of("prompt_tokens")
    yield "server prompt_n: evaluated fresh, turn's first request", mean_of("prompt_n")
    yield "server cache_n: from its cache, turn's first request", mean_of("cache_n")
    fresh = [
        g[0].server["prompt_n"] / (g[0].server["prompt_n"] + g[0].server["cache_n"])
        for g in by_turn.values()
        if isinstance(g[0].server.get("prompt_n"), int)
        and isinstance(g[0].server.get("cache_n"), int)
        and g[0].server["prompt_n"] + g[0].server["cache_n"]
    ]
    yield (
        "server fresh share (prompt_n / prompt), mean",
        f"{statistics.fmean(fresh):.1%}" if fresh else "n/a",
    )
    turn_ms = [sum(s.server.get("ms", 0) for s in group) for group in by_turn.values()]
    yield "latency per turn, mean ms (all its requests)", f"{statistics.fmean(turn_ms):,.0f}"


def report(results: dict[str, list[Share]], args: argparse.Namespace) -> str:
    labels = list(results)
    summaries = {label: summarize(results[label]) for label in labels}
    rows: list[tuple[str, ...]] = [
        ("turns 2-N, a turn's first request", *labels),
        ("turns measured", *(str(summaries[k].turns) for k in labels)),
        ("prefix share of tokens, mean", *(f"{summaries[k].mean:.1%}" for k in labels)),
        ("prefix share of tokens, median", *(f"{summaries[k].median:.1%}" for k in labels)),
        ("prefix share of tokens, min", *(f"{summaries[k].minimum:.1%}" for k in labels)),
        ("fresh tokens per turn, mean", *(f"{summaries[k].fresh:,.0f}" for k in labels)),
        ("prompt tokens per turn, mean", *(f"{summaries[k].prompt:,.0f}" for k in labels)),
        (
            "every request of turns 2-N, mean share",
            *(f"{summaries[k].all_mean:.1%}" for k in labels),
        ),
    ]
    server = {label: dict(_server_rows(results[label])) for label in labels}
    for name in next((list(v) for v in server.values() if v), []):
        rows.append((name, *(server[k].get(name, "n/a") for k in labels)))
    width = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(cell.ljust(width[i]) for i, cell in enumerate(row)) + " |" for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in width) + "|")
    per_turn = ["", "| turn | " + " | ".join(f"{k} share | {k} fresh" for k in labels) + " |"]
    per_turn.append("|---|" + "---|---|" * len(labels))
    for turn in range(2, args.turns + 1):
        cells = []
        for label in labels:
            first = next((s for s in results[label] if s.turn == turn and s.first), None)
            cells += [f"{first.tokens:.1%}", str(first.fresh_tokens)] if first else ["", ""]
        per_turn.append(f"| {turn} | " + " | ".join(cells) + " |")
    return "\n".join(lines + per_turn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--before", default=BEFORE, help="a source tree or a commit; 'none'")
    parser.add_argument("--base-url", help="an OpenAI-compatible server instead of offline")
    parser.add_argument("--model", default="", help="the model name the server is asked for")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per request")
    parser.add_argument("--record", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.base_url and not args.model:
        parser.error("--base-url needs --model (the model name the server serves)")
    if args.record:
        record_main(args)
        return
    with tempfile.TemporaryDirectory() as scratch:
        trees = {"after": REPO}
        if args.before != "none":
            trees = {"before": tree_of(args.before, Path(scratch)), **trees}
        results = {label: shares(record_in(tree, args)) for label, tree in trees.items()}
    where = args.base_url or "offline narrator"
    print(f"{datetime.now(UTC):%Y-%m-%d}, {where}, {args.turns} turns, before = {args.before}")
    print(report(results, args))
    OUT.mkdir(exist_ok=True)
    dump = {
        label: [
            {
                "turn": s.turn,
                "first": s.first,
                "chars": s.chars,
                "tokens": s.tokens,
                "prompt_tokens": s.prompt_tokens,
                "fresh_tokens": s.fresh_tokens,
                "server": s.server,
            }
            for s in measured
        ]
        for label, measured in results.items()
    }
    (OUT / "prefix.json").write_text(json.dumps(dump, indent=1))


if __name__ == "__main__":
    main()
