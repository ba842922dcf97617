"""Chat text -> ``Command``. Pure: no Webex, no Flask, no knowledge base.

People type loosely ("Show mtls-incomplete-chain", "/help", "check: example.com",
"HCDoctor sslv3 alert certificate unknown"), so parsing is forgiving: a leading
mention of the bot is dropped, case is ignored, and anything that is not clearly a
command is a search. A command word followed by something that cannot be its
argument ("check why calls fail") is a search too, never an error.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Name = Literal["help", "search", "show", "fix", "check", "analyze", "version"]  # "fix" comes only from card buttons

MAX_QUERY_CHARS = 2000  # a pasted log line is long, a pasted log is not a query

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,80}$")
# a domain, host:port, ip:port or [v6]:port: one token of host characters
_TARGET = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9_.:-]+)(:\d{1,5})?$", re.I)
_HELP_WORDS = {"help", "?", "hi", "hello", "hey", "start", "commands", "usage"}
_VERSION_WORDS = {"version", "--version", "about"}
_MENTION = re.compile(
    r"<spark-mention\b[^>]*\bdata-object-id\s*=\s*\"(?P<id>[^\"]*)\"[^>]*>.*?</spark-mention>", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Command:
    name: Name
    argument: str = ""


def strip_mention(text: str, bot_names: Iterable[str] = (), html: str | None = None, bot_id: str | None = None) -> str:
    """The message text without the bot's @mention.

    Webex puts the mention in ``html`` as a ``<spark-mention>`` element carrying the
    bot's person id, which is exact; the plain ``text`` only starts with the display
    name (or the part of it the user kept), so that is the fallback.
    """
    if html and bot_id and _MENTION.search(html):
        kept = _MENTION.sub(lambda m: "" if m.group("id") == bot_id else m.group(0), html)
        text = html_lib.unescape(_TAG.sub(" ", kept))
    else:
        stripped = text.lstrip()
        names = sorted({n.strip() for name in bot_names if name for n in (name, name.split()[0])}, key=len, reverse=True)
        for name in names:
            if stripped.lower().startswith(name.lower()):
                rest = stripped[len(name):]
                if not rest or not (rest[0].isalnum() or rest[0] in "-_"):
                    text = rest
                    break
    return " ".join(text.split()).lstrip(",:;- ").strip()


def parse(text: str, has_files: bool = False) -> Command:
    """What the person asked for. ``text`` has already lost the bot's mention."""
    text = " ".join((text or "").split())[:MAX_QUERY_CHARS]
    if has_files:
        return Command("analyze", text)
    if not text:
        return Command("help")
    word, _, rest = text.partition(" ")
    verb = word.lower().lstrip("/!").rstrip(":,.?!") or word.lower()
    rest = rest.strip().strip("`'\"<>").strip()
    if text.lower().strip("/!.") in _HELP_WORDS or (verb == "help" and not rest):
        return Command("help")
    if verb in _VERSION_WORDS and not rest:
        return Command("version")
    if verb == "show" and _ID.match(rest.lower()):
        return Command("show", rest.lower())
    if verb == "check" and rest and " " not in rest and _TARGET.match(rest):
        return Command("check", rest.rstrip("."))
    if verb in ("search", "find") and rest:
        return Command("search", rest)
    if verb == "analyze" and not rest:
        return Command("analyze")
    return Command("search", text)
