"""``hcdoctor``: a thin face over ``kb`` and ``checks``.

It parses arguments, calls a front door, renders, and sets the exit status
(0 ran, 1 unusable input, 2 usage). Heavy modules are imported inside each
command so ``hcdoctor search`` starts in well under a second.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from kb.errors import HcdError, InputError

EPILOG = """examples:
  hcdoctor search sslv3 alert certificate unknown
  hcdoctor search "webex app rings twice" --json
  hcdoctor show mtls-incomplete-chain
  hcdoctor analyze diagnostic_log_expe.tar.gz
  hcdoctor analyze capture.pcapng --ladder ./ladders
  hcdoctor check example.com --nameserver 127.0.0.1:5353
  hcdoctor demo --port 8080
"""


class UsageError(Exception):
    """Wrong arguments: exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's default exits 2 too, but prints the whole usage
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="hcdoctor",
        description="Diagnose Webex Hybrid Call Service Connect (Unified CM, Expressway-C/E, Webex over mutual TLS on TCP 5062).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("search", help="find the documented issue for a symptom or a pasted error string",
                       description="Search the knowledge base with symptom text or a whole pasted log line.")
    s.add_argument("query", nargs="*", help="symptom words or a pasted log line (quote it)")
    s.add_argument("--json", action="store_true", help="print one JSON document")
    s.add_argument("--limit", type=_positive_int, default=5, help="how many results (default 5)")

    s = sub.add_parser("show", help="print one article whole", description="Print one knowledge-base article.")
    s.add_argument("id", help="article id, e.g. mtls-incomplete-chain")
    s.add_argument("--json", action="store_true", help="print one JSON document")

    s = sub.add_parser("index", help="rebuild the search index now",
                       description="Rebuild the Whoosh index (it is otherwise rebuilt automatically when an article changes).")
    s.add_argument("--json", action="store_true", help="print one JSON document")

    s = sub.add_parser("analyze", help="diagnose logs, captures, xConfiguration dumps, traces or bundles",
                       description="Diagnose uploaded evidence. Several files are read as one body of evidence "
                       "(e.g. a log and a capture of the same failure).")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--json", action="store_true", help="print one JSON document")
    s.add_argument("--kind", default="auto", choices=["auto", "pcap", "log", "xconf", "sdl", "netstat", "bundle"],
                   help="what the files are (default: detect from content)")
    s.add_argument("--ladder", metavar="DIR", help="write a PNG ladder diagram of each failing connection into DIR")

    s = sub.add_parser("check", help="live checks of a SIP destination (DNS SRV, TCP 5062, TLS chain, client CAs)",
                       description="Probe TARGET as Webex would reach it. TARGET is what an admin types as the SIP "
                       "destination in Control Hub: a domain (SRV _sips._tcp.<domain>), host:port or ip:port.")
    s.add_argument("target")
    s.add_argument("--json", action="store_true", help="print one JSON document")
    s.add_argument("--port", type=_port, default=5062, help="port for a target given without one (default 5062)")
    s.add_argument("--nameserver", metavar="HOST[:PORT]", help="DNS server to ask instead of the system resolver")
    s.add_argument("--ca-file", metavar="PEM", help="trust store for chain validation (default: certifi)")
    s.add_argument("--timeout", type=_positive_float, default=15.0, help="overall time limit in seconds (default 15)")
    s.add_argument("--webex", action="store_true", help="also check the Webex side (callservice SRV records) from here")

    s = sub.add_parser("serve", help="run the webhook bot (production: gunicorn, see Procfile)",
                       description="Run the Flask webhook bot with the development server.")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=_port, default=8080)

    s = sub.add_parser("demo", help="the bot beside a local Webex sandbox with a chat page; needs no token",
                       description="Start the bot and a local stand-in for the Webex API on one port and serve a chat page.")
    s.add_argument("--port", type=_port, default=8080)
    s.add_argument("--host", default="127.0.0.1")

    s = sub.add_parser("webhooks", help="manage the bot's Webex webhooks")
    wsub = s.add_subparsers(dest="webhooks_command", metavar="ACTION", parser_class=_Parser)
    r = wsub.add_parser("register", help="create or refresh the messages and attachmentActions webhooks",
                        description="Create or update the bot's webhooks (idempotent; re-activates inactive ones). "
                        "Needs WEBEX_ACCESS_TOKEN and WEBEX_WEBHOOK_SECRET.")
    r.add_argument("--url", required=True, help="public URL of POST /webhook")
    return p


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError("must be 1..65535")
    return value


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except UsageError as exc:
        print(f"hcdoctor: {exc}", file=sys.stderr)
        return 2
    except HcdError as exc:
        print(f"hcdoctor: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hcdoctor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from bot.version import version_text

        print(version_text())
        return 0
    if not args.command:
        parser.print_help()
        return 2
    handler = COMMANDS[args.command]
    return handler(args)


def _emit(args, data: dict, text: str) -> int:
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_search(args) -> int:
    query = " ".join(args.query).strip()
    if not query:
        raise UsageError("search needs a query: symptom words or a pasted error string")
    import kb
    from bot import terminal

    hits = kb.search(query, limit=args.limit)
    data = {"query": query, "results": [h.to_dict() for h in hits]}
    return _emit(args, data, terminal.render_hits(query, hits))


def cmd_show(args) -> int:
    import kb
    from bot import terminal

    art = kb.get(args.id)
    data = {**art.front_matter, "issue": art.id, "title": art.title, "body": art.body}
    return _emit(args, data, terminal.render_article(art))


def cmd_index(args) -> int:
    from kb.index import rebuild

    info = rebuild()
    return _emit(args, info, f"index rebuilt: {info['articles']} articles in {info['seconds']:.2f} s at {info['path']}")


def cmd_analyze(args) -> int:
    import checks
    from bot import terminal

    missing = [f for f in args.files if not os.path.isfile(f)]
    if missing:
        raise InputError(f"no such file: {missing[0]}")
    bar = terminal.ProgressBar.for_stream(sys.stderr) if not args.json else None
    try:
        report = checks.analyze(args.files, kind=args.kind, progress=bar.update if bar else None)
    finally:
        if bar:
            bar.close()
    unusable = not report.findings and all(_unreadable(f, report) for f in args.files)
    if args.json or not unusable:
        # nothing could be read at all: people get the error lines on stderr only; --json still gets its document
        written = _write_ladders(report.timelines, args.ladder) if args.ladder else []
        _emit(args, report.to_dict(), terminal.render_report(report, written))
    if not unusable:
        return 0
    for e in report.errors:
        print(f"hcdoctor: {e.path}: {e.error}", file=sys.stderr)
    return 1


def _unreadable(path: str, report) -> bool:
    """The file itself failed, and nothing inside it (bundle members) was read either."""
    return any(e.path == path for e in report.errors) and not any(
        i.path.startswith(path + ":") for i in report.inputs
    )


def _write_ladders(timelines, directory: str) -> list[str]:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for n, t in enumerate((t for t in timelines if t.picture), start=1):
        path = out / f"ladder-{n}.png"
        path.write_bytes(t.picture)
        written.append(str(path))
    return written


def cmd_check(args) -> int:
    import checks
    from bot import terminal

    report = checks.check(
        args.target, port=args.port, nameserver=args.nameserver, ca_file=args.ca_file,
        timeout=args.timeout, webex=args.webex,
    )
    return _emit(args, report.to_dict(), terminal.render_check(report))


def cmd_serve(args) -> int:
    from bot import create_app

    app = create_app()
    app.run(host=args.host, port=args.port, threaded=True)
    return 0


def cmd_demo(args) -> int:
    from bot.demo import run_demo

    run_demo(host=args.host, port=args.port)
    return 0


def cmd_webhooks(args) -> int:
    if args.webhooks_command != "register":
        raise UsageError("webhooks needs an action: register --url URL")
    from bot.settings import Settings
    from bot.webex import register_webhooks

    for line in register_webhooks(Settings.from_env(), args.url):
        print(line)
    return 0


COMMANDS = {
    "search": cmd_search, "show": cmd_show, "index": cmd_index, "analyze": cmd_analyze,
    "check": cmd_check, "serve": cmd_serve, "demo": cmd_demo, "webhooks": cmd_webhooks,
}

if __name__ == "__main__":  # pragma: no cover - `python -m bot.cli`
    sys.exit(main())
