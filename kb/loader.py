"""Reads the shipped articles and the observation vocabulary into validated objects.

Parsing is split from file access (``parse_article`` takes text) so a malformed
article can be reported with its file name and tested without touching disk.
"""

from __future__ import annotations

import difflib
import hashlib
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from kb.errors import ArticleError, UnknownArticle
from kb.schema import Article, build, validate

# libyaml's parser when present: it parses the 21 articles ~15x faster, which is most of
# `hcdoctor search`'s cold start; same safe semantics as SafeLoader.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ARTICLES_DIR = Path(str(resources.files("kb"))) / "articles"
OBSERVATIONS_FILE = Path(str(resources.files("kb"))) / "observations.yaml"


def load_codes(path: Path = OBSERVATIONS_FILE) -> dict[str, dict]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ArticleError(f"{path.name}: not a mapping of observation codes")
    return data


def parse_article(text: str, name: str, known_codes: set[str]) -> Article:
    """One article from its Markdown text; ``name`` is the file name used in error messages."""
    if not text.startswith("---\n"):
        raise ArticleError(f"{name}: does not start with a '---' front-matter line")
    end = text.find("\n---\n", 4)
    if end < 0:
        raise ArticleError(f"{name}: front matter is not closed by a '---' line")
    try:
        fm = yaml.load(text[4:end], Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark else ""
        raise ArticleError(f"{name}: front matter is not valid YAML{where}") from None
    problems = validate(fm, known_codes)
    if problems:
        raise ArticleError(f"{name}: {'; '.join(problems)}")
    body = text[end + 5 :].strip() + "\n"
    if not body.strip():
        raise ArticleError(f"{name}: the body is empty")
    return build(fm, body)


def load_articles(directory: Path = ARTICLES_DIR, codes_file: Path = OBSERVATIONS_FILE) -> dict[str, Article]:
    """Every article in ``directory`` keyed by id, after the cross-article checks."""
    codes = set(load_codes(codes_file))
    articles: dict[str, Article] = {}
    for path in sorted(directory.glob("*.md")):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ArticleError(f"{path.name}: not UTF-8 text") from None
        art = parse_article(text, path.name, codes)
        if art.id != path.stem:
            raise ArticleError(f"{path.name}: id {art.id!r} does not match the file name")
        articles[art.id] = art
    for art in articles.values():
        for c in art.confused_with:
            if c.issue not in articles:
                raise ArticleError(f"{art.id}.md: confused_with names unknown id {c.issue!r}")
            if c.issue == art.id:
                raise ArticleError(f"{art.id}.md: confused_with names the article itself")
    return articles


def digest(directory: Path = ARTICLES_DIR, codes_file: Path = OBSERVATIONS_FILE) -> str:
    """Content hash of everything the index is built from; a change means a rebuild."""
    h = hashlib.sha256()
    for path in [codes_file, *sorted(directory.glob("*.md"))]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:32]


@lru_cache(maxsize=1)
def articles() -> dict[str, Article]:
    """The shipped articles, loaded once per process."""
    return load_articles()


def get(issue_id: str) -> Article:
    arts = articles()
    key = issue_id.strip().lower()
    if key in arts:
        return arts[key]
    raise UnknownArticle(issue_id, difflib.get_close_matches(key, list(arts), n=3, cutoff=0.4))
