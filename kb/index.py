"""The Whoosh index over the articles, kept in a per-user cache folder.

The index is derived data: it lives outside the package (``HCDOCTOR_INDEX_DIR``,
else ``$XDG_CACHE_HOME/hybridcall-doctor/index``), in a sub-folder named after the
articles' content hash (``kb.loader.digest``). Editing an article changes the hash,
so the next search finds no folder for it and builds one. A build writes into a
private temporary folder beside the final one and publishes it with one atomic
``rename``, so processes that start together never see half an index: the first
rename wins and the others throw their copy away.

The analyzer is shared with ``kb.search`` so that article text and queries (often
whole pasted Expressway log lines) are cut into terms the same way: timestamps,
IP addresses, hex ids, session hashes and ``Key=`` names are dropped before any
word reaches the index or a query.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from pathlib import Path

from whoosh import fields
from whoosh import index as windex
from whoosh.analysis import STOP_WORDS, Filter, LowercaseFilter, StemFilter, StopFilter, Token, Tokenizer

from kb import loader
from kb.schema import Article

# Words that every Hybrid Call article and log shares carry no information for ranking.
EXTRA_STOP_WORDS = frozenset({"com", "www", "http", "https", "tvcs", "sip", "webex", "expressway"})
STOPS = STOP_WORDS | EXTRA_STOP_WORDS

# Log fields whose values identify one event, not a kind of fault (times, hashes,
# thread ids, ephemeral ports, code locations). Their values are skipped whole.
NOISE_KEYS = (
    "UTCTime", "Level", "CodeLocation", "Thread", "Msg-Hash", "Call-serial-number", "Tag", "Call-ID",
    "Local-SessionID", "Remote-SessionID", "Session-ID", "From-Tag", "To-Tag", "this", "Src-port",
    "Num-bytes", "localAddress", "remoteAddress", "Local-ip", "Src-ip", "Dst-ip", "UUID", "Id",
)

# One pass over the text: every alternative but the last two is something to skip.
_TOKEN_RE = re.compile(
    r"""
    (?P<skip>
        (?:^|(?<=\n))\s*(?:<\d+>)?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?
            [ \t]+\S+(?:[ \t]+[\w.\[\]-]+:(?=[ \t]))*      # syslog prefix: time, host, process tags
      | \b(?:"""
    + "|".join(re.escape(k) for k in NOISE_KEYS)
    + r""")\s*=\s*"[^"\n]*"                               # a noise field and its value
      | \b[A-Za-z][\w.-]*(?=\s*=\s*")                     # any other Key= name (the value stays)
      | \d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d)?(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)?   # dates, times
      | \b\d{1,2}:\d\d:\d\d(?:[.,]\d+)?
      | \b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b               # IPv4 (with port)
      | (?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])   # IPv6
      | \b0x[0-9A-Fa-f]+\b                                 # hex thread/object ids
      | \b(?=[0-9A-Fa-f-]*\d)[0-9A-Fa-f]{8,}(?:-[0-9A-Fa-f]{4,})*\b   # hashes, UUIDs, error codes
    )
    | (?P<code>\b[A-Za-z]\.\d{2,3}\b)                        # G.711, Q.850, H.264
    | (?P<word>[A-Za-z0-9]+)
    """,
    re.VERBOSE,
)
_CAMEL_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


class LogTokenizer(Tokenizer):
    """Words of prose and of pasted Expressway/Unified CM log lines, without the noise."""

    def __eq__(self, other):
        return self.__class__ is other.__class__

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, tokenize=True, mode="", **kwargs):
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        pos = start_pos
        for m in _TOKEN_RE.finditer(value):
            if m.group("skip") is not None:
                continue
            text = m.group(0).replace(".", "")
            if text.isdigit() and not 3 <= len(text) <= 4:
                continue  # single digits, levels and ephemeral ports say nothing; 404, 5061, 5000 do
            t.text = text
            t.boost = 1.0
            t.stopped = False
            if keeporiginal:
                t.original = text
            if positions:
                t.pos = pos
                pos += 1
            if chars:
                t.startchar = start_char + m.start()
                t.endchar = start_char + m.end()
            yield t


class CamelFilter(Filter):
    """Adds the parts of CamelCase words after the whole word.

    Config keys are written ``InboundClassification`` in xConfiguration and
    "inbound classification" in prose; both forms must meet.
    """

    def __call__(self, tokens):
        for t in tokens:
            text = t.text
            parts = _CAMEL_RE.findall(text) if not text.islower() and not text.isupper() else []
            yield t
            if len(parts) > 1:
                whole = t.text
                for part in parts:
                    t.text = part
                    yield t
                t.text = whole


def analyzer():
    """The one analyzer for article fields and queries."""
    return LogTokenizer() | CamelFilter() | LowercaseFilter() | StopFilter(stoplist=STOPS, minsize=2) | StemFilter()


# Query-time weight of each text field (Whoosh BM25F scores each field separately).
FIELD_WEIGHTS = {"title": 3.0, "symptoms": 3.5, "signatures": 3.5, "config": 1.5, "capture": 1.2, "body": 1.0}
VOCAB_FIELD = "all"


def schema() -> fields.Schema:
    ana = analyzer()
    text = {name: fields.TEXT(analyzer=ana, phrase=False) for name in FIELD_WEIGHTS}
    return fields.Schema(
        issue=fields.ID(stored=True, unique=True),
        label=fields.STORED(),  # the title as written
        data=fields.STORED(),  # phrases and snippet candidates, see article_record
        all=fields.TEXT(analyzer=ana, phrase=False),  # vocabulary for typo correction only
        **text,
    )


def cache_root() -> Path:
    env = os.environ.get("HCDOCTOR_INDEX_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hybridcall-doctor" / "index"


def _code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]{4,})`", text)


_XCONF_RE = re.compile(r'xConfiguration\s+([^:"\n]+?):\s*"([^"\n]*)"')


def _config_settings(text: str) -> list[str]:
    """``*c xConfiguration`` settings quoted in prose, as "key words value" without the
    zone or rule number, so they match a pasted line whatever the number is there."""
    out = []
    for m in _XCONF_RE.finditer(text):
        key = re.split(r"(?:\b\d+|<\w+>)\s+", m.group(1).strip())[-1]
        if len(key.split()) >= 2 and m.group(2).strip():
            out.append(f'{key}: "{m.group(2)}"')
    return out


def normalize_phrase(text: str) -> str:
    """Lower-case words separated by single spaces: how exact error strings are compared."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*\"(])|\n+")


def _sentences(text: str) -> list[str]:
    out = []
    for s in _SENTENCE_RE.split(text):
        s = re.sub(r"^\s*(?:#+|[-*]|\d+\.)\s*", "", s).strip()
        if len(s) > 3:
            out.append(s)
    return out


def article_record(art: Article, ana) -> dict:
    """What search needs besides the postings: exact phrases and snippet candidates.

    Phrases carry a weight: log signatures are the article's own statement of its
    error strings (1.0); code spans and xConfiguration settings in its config and
    capture evidence are strong (0.8); those in the body are weaker (0.4) because a
    body may quote a line only to say what it is not.
    """
    phrases: dict[str, tuple[float, str]] = {}

    def add(text: str, weight: float) -> None:
        norm = normalize_phrase(text)
        if len(norm.split()) >= 2 and weight > phrases.get(norm, (0.0, ""))[0]:
            phrases[norm] = (weight, text.strip())

    for sig in art.log_signatures:
        add(sig, 1.0)
    for item in art.config_evidence + art.capture_evidence:
        for span in _code_spans(item) + _config_settings(item):
            add(span, 0.8)
    for span in _code_spans(art.body) + _config_settings(art.body):
        add(span, 0.4)

    texts = [art.title, *art.symptoms, *art.log_signatures, *art.config_evidence, *art.capture_evidence,
             *_sentences(art.summary), *_sentences(art.body), *art.fix]
    seen: set[str] = set()
    snippets = []
    for text in texts:
        if text in seen:
            continue
        seen.add(text)
        toks = [(t.startchar, t.endchar, t.text) for t in ana(text, chars=True)]
        if toks:
            snippets.append((text, toks))
    return {"phrases": [(norm, w, orig) for norm, (w, orig) in phrases.items()], "snippets": snippets}


def _documents(arts: dict[str, Article]):
    ana = analyzer()
    for art in arts.values():
        body = "\n".join([art.summary, art.body, *art.fix, *art.verify])
        doc = {
            "issue": art.id,
            "label": art.title,
            "data": article_record(art, ana),
            "title": art.title,
            "symptoms": "\n".join(art.symptoms),
            "signatures": "\n".join(art.log_signatures),
            "config": "\n".join(art.config_evidence),
            "capture": "\n".join(art.capture_evidence),
            "body": body,
        }
        doc["all"] = "\n".join(v for k, v in doc.items() if k in FIELD_WEIGHTS)
        yield doc


def _build_into(folder: Path, directory: Path | None) -> int:
    arts = loader.load_articles(directory or loader.ARTICLES_DIR)  # ArticleError names the file
    folder.mkdir(parents=True)
    ix = windex.create_in(str(folder), schema())
    writer = ix.writer()
    for doc in _documents(arts):
        writer.add_document(**doc)
    writer.commit()
    return len(arts)


STALE_SECONDS = 600  # a temporary build folder this old belongs to a process that died


def _tidy(root: Path, keep: str) -> None:
    """Remove folders of earlier article versions and of builds that died; best effort."""
    now = time.time()
    for child in root.iterdir():
        name = child.name
        try:
            age = now - child.stat().st_mtime
        except OSError:
            continue
        if name == keep or (name.startswith(".build-") and age < STALE_SECONDS):
            continue
        if name.startswith((".build-", ".old-")) or (re.fullmatch(r"[0-9a-f]{32}", name) and age > STALE_SECONDS):
            shutil.rmtree(child, ignore_errors=True)


def _publish(tmp: Path, final: Path, replace: bool) -> None:
    old = None
    if replace and final.exists():
        old = final.with_name(f".old-{uuid.uuid4().hex}")
        try:
            final.rename(old)
        except OSError:
            old = None  # another process moved it first
    try:
        tmp.rename(final)
    except OSError:
        # another process published the same content first: theirs is as good as ours
        shutil.rmtree(tmp, ignore_errors=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build(directory: Path | None = None, replace: bool = False) -> tuple[Path, int]:
    """Build the index for the current articles and publish it; returns (folder, article count)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    final = root / loader.digest(directory or loader.ARTICLES_DIR)
    tmp = root / f".build-{os.getpid()}-{uuid.uuid4().hex}"
    try:
        count = _build_into(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _publish(tmp, final, replace)
    _tidy(root, final.name)
    return final, count


def ensure(directory: Path | None = None) -> Path:
    """The folder of an up-to-date index, building it when the articles changed."""
    final = cache_root() / loader.digest(directory or loader.ARTICLES_DIR)
    if windex.exists_in(str(final)):
        return final
    return build(directory)[0]


def rebuild(directory: Path | None = None) -> dict:
    """Rebuild now (``hcdoctor index``), even when an index for these articles exists."""
    started = time.perf_counter()
    folder, count = build(directory, replace=True)
    return {"articles": count, "seconds": round(time.perf_counter() - started, 4), "path": str(folder)}
