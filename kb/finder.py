"""Ranked search over the articles for symptom text or pasted log/config/trace lines.

Ranking adds up three things:

* BM25F over the article fields (title, symptoms, log signatures, config and
  capture evidence, body), each with its own weight. Query words unknown to the
  index are replaced by the index words within one or two edits ("certficate
  unknwon"), at a discount.
* Abbreviations and their long forms ("B2B", "business to business") stand in
  for each other, also at a discount.
* A bonus when the query contains one of an article's exact phrases (a log
  signature, or a code span of its evidence) verbatim, ignoring case and
  punctuation. The bonus grows with the phrase's length and shrinks with the
  number of articles that share it, so "Peer's TLS certificate identity was
  unacceptable" decides far more than any single common word, while "Got EOF on
  socket" (several issues) decides little.

The opened index is cached per process, with each word's scores once computed,
and reopened when the articles' content hash changes, which keeps a query to
about a millisecond.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from whoosh import index as windex
from whoosh.support.levenshtein import distance

from kb import index, loader
from kb.errors import InputError

MAX_QUERY_CHARS = 20_000  # a few pasted log records; whole logs go to `hcdoctor analyze`
MAX_QUERY_TERMS = 300
PHRASE_BONUS = 20.0  # per word of an exact phrase found in the query, before dividing by its spread
FUZZY_DISCOUNT = 0.6
SNIPPET_CHARS = 220
SYNONYM_DISCOUNT = 0.7
FUZZY_CACHE_MAX = 4096  # a long-running bot sees endless new misspellings; start over past this

# Abbreviations and long forms people use for the same thing; either side found in a
# query (as whole words) adds the other side's words at a discount.
SYNONYMS = {
    "business to business": "b2b",
    "b2b": "business to business",
    "cert": "certificate",
    "certs": "certificates",
    "cucm": "unified cm callmanager",
    "ucm": "unified cm cucm callmanager",
    "call manager": "unified cm cucm callmanager",
    "communications manager": "unified cm cucm callmanager",
    "unified cm": "cucm callmanager",
    "mtls": "mutual tls",
    "mutual tls": "mtls",
    "application layer gateway": "alg inspection",
    "alg": "application layer inspection",
    "intrusion prevention": "ips",
}


@dataclass(frozen=True)
class Hit:
    """One ranked article; ``snippet`` is the article text that matched, matched words in **bold**."""

    issue: str
    title: str
    score: float
    snippet: str

    def to_dict(self) -> dict:
        return {"issue": self.issue, "title": self.title, "score": self.score, "snippet": self.snippet}


@dataclass(frozen=True)
class _Doc:
    issue: str
    title: str
    phrases: tuple[tuple[str, float, str], ...]  # (normalized, weight, as written)
    snippets: tuple[tuple[str, tuple[tuple[int, int, str], ...]], ...]


class _Opened:
    """One opened index with what every query needs already in memory."""

    def __init__(self, folder: Path):
        self.ix = windex.open_dir(str(folder))
        self.searcher = self.ix.searcher()
        self.docs: dict[int, _Doc] = {}
        for docnum, stored in self.searcher.iter_docs():
            data = stored["data"]
            self.docs[docnum] = _Doc(stored["issue"], stored["label"], tuple(map(tuple, data["phrases"])),
                                     tuple((t, tuple(map(tuple, toks))) for t, toks in data["snippets"]))
        spread = Counter(p for d in self.docs.values() for p in {n for n, _, _ in d.phrases})
        self.spread = dict(spread)
        reader = self.searcher.reader()
        self.vocab = set(reader.field_terms(index.VOCAB_FIELD))
        # which fields hold each word: a clause for a field without it only costs matcher time
        self.fields_of: dict[str, tuple[tuple[str, float], ...]] = {}
        for name, weight in index.FIELD_WEIGHTS.items():
            for term in reader.field_terms(name):
                self.fields_of[term] = self.fields_of.get(term, ()) + ((name, weight),)
        self.by_initial: dict[str, list[str]] = {}  # vocabulary by first letter, for typo lookups
        for word in sorted(self.vocab):
            self.by_initial.setdefault(word[:1], []).append(word)
        self.fuzzy_cache: dict[str, tuple[str, ...]] = {}
        self.term_scores: dict[str, dict[int, float]] = {}

    def scores_of(self, term: str) -> dict[int, float]:
        """Whoosh's BM25F score of one index word in each article, field weights applied.

        A query's score is the boosted sum of its words' scores (what a Whoosh ``Or``
        of weighted ``Term``s computes), and they cannot change while this index is
        open, so each word is scored once per process, straight from its postings:
        that takes a warm query from ~6 ms to about one.
        """
        found = self.term_scores.get(term)
        if found is None:
            found = {}
            for fieldname, weight in self.fields_of.get(term, ()):
                postings = self.searcher.postings(fieldname, term)  # scored by the searcher's BM25F
                while postings.is_active():
                    docnum = postings.id()
                    found[docnum] = found.get(docnum, 0.0) + weight * postings.score()
                    postings.next()
            self.term_scores[term] = found
        return found

    def close(self) -> None:
        self.searcher.close()

    def corrections(self, term: str) -> tuple[str, ...]:
        """The closest index words, within one edit (two for longer words), sharing the first letter.

        Few misspellings touch the first letter, and keeping it cuts the candidates
        twentyfold; a transposition ("unknwon") counts as one edit.
        """
        if term not in self.fuzzy_cache:
            if len(self.fuzzy_cache) >= FUZZY_CACHE_MAX:
                self.fuzzy_cache.clear()
            found: tuple[str, ...] = ()
            if len(term) >= 4 and term.isalpha():
                maxdist = 1 if len(term) <= 5 else 2
                near = [(distance(term, w, limit=maxdist), w) for w in self.by_initial.get(term[0], ())
                        if abs(len(w) - len(term)) <= maxdist]
                near = [(d, w) for d, w in near if d <= maxdist]
                if near:
                    best = min(d for d, _ in near)
                    found = tuple(sorted(w for d, w in near if d == best))[:4]
            self.fuzzy_cache[term] = found
        return self.fuzzy_cache[term]


_lock = threading.Lock()  # one query at a time per process: Whoosh searchers are not shared safely
_state: dict[str, tuple[tuple, str, _Opened]] = {}  # articles folder -> (file stamp, digest, opened index)
_analyzer = index.analyzer()


def _stamp(folder: Path) -> tuple:
    """Names, sizes and modification times of the files the index is built from.

    Cheaper than hashing them on every query; the content hash is only taken
    when the stamp moves.
    """
    paths = [loader.OBSERVATIONS_FILE, *sorted(folder.glob("*.md"))]
    return tuple((p.name, st.st_size, st.st_mtime_ns) for p in paths for st in (p.stat(),))


def _opened(directory: Path | None) -> _Opened:
    folder = directory or loader.ARTICLES_DIR
    key = str(folder)
    stamp = _stamp(folder)
    cached = _state.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[2]
    digest = loader.digest(folder)
    if cached is not None and cached[1] == digest:
        _state[key] = (stamp, digest, cached[2])
        return cached[2]
    folder = index.ensure(directory)
    try:
        opened = _Opened(folder)
    except Exception:  # noqa: BLE001 - a damaged cache folder (disk full, hand edits) is rebuilt, not fatal
        folder = index.build(directory, replace=True)[0]
        opened = _Opened(folder)
    if cached is not None:
        cached[2].close()
    _state[key] = (stamp, digest, opened)
    return opened


def reset() -> None:
    """Forget the opened index (after ``hcdoctor index`` in the same process, or in tests)."""
    with _lock:
        for _, _, opened in _state.values():
            opened.close()
        _state.clear()


def _query_terms(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for tok in _analyzer(text):
        seen.setdefault(tok.text, None)
        if len(seen) >= MAX_QUERY_TERMS:
            break
    return list(seen)


def search(query: str, limit: int = 5, directory: Path | None = None) -> list[Hit]:
    """Best articles first; an empty list when nothing in the query matches any article."""
    if not isinstance(query, str) or not query.strip():
        raise InputError("the search query is empty: give symptom words or a pasted error string")
    if len(query) > MAX_QUERY_CHARS:
        raise InputError(f"the search query is {len(query)} characters long; the limit is {MAX_QUERY_CHARS} "
                         "(use `hcdoctor analyze` for whole log files)")
    if limit < 1:
        raise InputError("the result limit must be 1 or more")
    with _lock:
        opened = _opened(directory)
        return _rank(opened, query, limit)


def _rank(opened: _Opened, query: str, limit: int) -> list[Hit]:
    norm_query = " " + index.normalize_phrase(query) + " "
    terms = _query_terms(query)
    extra = " ".join(v for k, v in SYNONYMS.items() if f" {k} " in norm_query)
    weighted = [(t, 1.0) for t in terms] + [(t, SYNONYM_DISCOUNT) for t in _query_terms(extra) if t not in terms]
    matched: set[str] = set()
    scores: dict[int, float] = {}
    for term, weight in weighted:
        if term in opened.vocab:
            variants, factor = (term,), weight
        else:
            variants, factor = opened.corrections(term), weight * FUZZY_DISCOUNT
        for v in variants:
            matched.add(v)
            for docnum, score in opened.scores_of(v).items():
                scores[docnum] = scores.get(docnum, 0.0) + factor * score

    found_phrases: dict[int, list[tuple[float, str]]] = {}
    for docnum, doc in opened.docs.items():
        for norm, weight, orig in doc.phrases:
            if f" {norm} " in norm_query:
                bonus = PHRASE_BONUS * weight * len(norm.split()) / opened.spread[norm]
                scores[docnum] = scores.get(docnum, 0.0) + bonus
                found_phrases.setdefault(docnum, []).append((bonus, orig))

    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], opened.docs[kv[0]].issue))[:limit]
    hits = []
    for docnum, score in ranked:
        doc = opened.docs[docnum]
        if docnum in found_phrases:
            snippet = f"**{max(found_phrases[docnum])[1]}**"
        else:
            snippet = _snippet(doc, matched)
        hits.append(Hit(doc.issue, doc.title, round(score, 3), snippet))
    return hits


def _snippet(doc: _Doc, matched: set[str]) -> str:
    """The article sentence that holds the most distinct query words, those words in bold."""
    best, best_count = None, 0
    for text, toks in doc.snippets:
        count = len({stem for _, _, stem in toks if stem in matched})
        if count > best_count:
            best, best_count = (text, toks), count
    if best is None:
        return ""
    text, toks = best
    spans: list[list[int]] = []
    for start, end, stem in sorted(toks):
        if stem not in matched:
            continue
        if spans and (spans[-1][1] >= start or not text[spans[-1][1]:start].strip()):
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    first = spans[0][0]
    lo = max(0, first - SNIPPET_CHARS // 3) if len(text) > SNIPPET_CHARS else 0
    if lo:  # start the window on a word, not inside one
        space = text.find(" ", lo, first)
        lo = space + 1 if space >= 0 else first
    hi = min(len(text), lo + SNIPPET_CHARS)
    out, cursor = [], lo
    for start, end in spans:
        if start < lo or end > hi:
            continue
        out += [text[cursor:start], "**", text[start:end], "**"]
        cursor = end
    out.append(text[cursor:hi])
    return ("…" if lo > 0 else "") + "".join(out).strip() + ("…" if hi < len(text) else "")
