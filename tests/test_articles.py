"""Every shipped article is valid knowledge, and a broken one is reported by file and problem.

The articles are data that both search and diagnosis read (rule 5 of the style
models), so these checks are what lets a new issue be just a new file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import SHARED
from kb import loader
from kb.errors import ArticleError

ARTICLES = sorted(loader.ARTICLES_DIR.glob("*.md"))


def _catalog_ids() -> list[str]:
    ids = []
    for line in (SHARED / "catalog.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            ids.append(line.split()[0])
    return ids


def test_catalog_is_readable():
    ids = _catalog_ids()
    assert len(ids) == 21 and len(set(ids)) == 21


def test_every_catalog_id_has_exactly_one_article():
    shipped = {p.stem for p in ARTICLES}
    catalog = set(_catalog_ids())
    assert sorted(catalog - shipped) == [], "catalog ids without an article"
    assert sorted(shipped - catalog) == [], "articles that are not in the catalog"


def test_all_shipped_articles_validate_and_cross_references_resolve():
    arts = loader.load_articles()  # raises ArticleError naming the file on any problem
    assert set(arts) == set(_catalog_ids())
    for art in arts.values():
        for c in art.confused_with:
            assert c.issue in arts and c.issue != art.id


@pytest.mark.parametrize("path", ARTICLES, ids=lambda p: p.stem)
def test_file_name_is_id(path: Path):
    art = loader.parse_article(path.read_text(encoding="utf-8"), path.name, set(loader.load_codes()))
    assert art.id == path.stem


@pytest.mark.parametrize("path", ARTICLES, ids=lambda p: p.stem)
def test_signature_codes_exist_in_the_vocabulary(path: Path):
    codes = set(loader.load_codes())
    art = loader.parse_article(path.read_text(encoding="utf-8"), path.name, codes)
    used = {c for rule in art.signatures for c in rule.when + rule.unless}
    assert used <= codes, f"unknown codes {sorted(used - codes)}"
    if art.area != "tool":
        assert art.signatures, "a fault article needs at least one signature rule"
        assert len(art.symptoms) >= 3 and art.fix and art.verify


def _tmp_articles(tmp_path: Path) -> Path:
    d = tmp_path / "articles"
    shutil.copytree(loader.ARTICLES_DIR, d)
    return d


def _front_matter(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    end = text.find("\n---\n", 4)
    return yaml.safe_load(text[4:end]), text[end + 5:]


def _write(path: Path, fm: dict, body: str) -> None:
    path.write_text("---\n" + yaml.safe_dump(fm, sort_keys=False) + "---\n" + body, encoding="utf-8")


def _break(kind: str, d: Path) -> tuple[str, str]:
    """Damage one article in ``d``; returns (file name, words the error must contain)."""
    target = d / "mtls-incomplete-chain.md"
    fm, body = _front_matter(target)
    if kind == "missing-title":
        del fm["title"]
        _write(target, fm, body)
        return target.name, "missing key 'title'"
    if kind == "unknown-code":
        fm["signatures"][0]["when"] = ["log.no.such.code"]
        _write(target, fm, body)
        return target.name, "unknown observation code 'log.no.such.code'"
    if kind == "dangling-confused-with":
        fm["confused_with"][0]["id"] = "no-such-issue"
        _write(target, fm, body)
        return target.name, "unknown id 'no-such-issue'"
    if kind == "id-not-file-name":
        fm["id"] = "mtls-something-else"
        _write(target, fm, body)
        return target.name, "does not match the file name"
    if kind == "bad-yaml":
        target.write_text("---\nid: [unclosed\ntitle: x\n---\nbody\n", encoding="utf-8")
        return target.name, "not valid YAML"
    if kind == "no-front-matter":
        extra = d / "zz-notes.md"
        extra.write_text("just some notes\n", encoding="utf-8")
        return extra.name, "front-matter"
    raise AssertionError(kind)


BREAKAGES = ["missing-title", "unknown-code", "dangling-confused-with", "id-not-file-name", "bad-yaml",
             "no-front-matter"]


@pytest.mark.parametrize("kind", BREAKAGES)
def test_malformed_article_names_file_and_problem(tmp_path: Path, kind: str):
    d = _tmp_articles(tmp_path)
    name, problem = _break(kind, d)
    with pytest.raises(ArticleError) as err:
        loader.load_articles(d)
    message = str(err.value)
    assert message.startswith(name + ":"), message
    assert problem in message
    assert "\n" not in message


@pytest.mark.parametrize("kind", ["missing-title", "bad-yaml"])
def test_malformed_article_fails_the_index_build(tmp_path: Path, kind: str):
    from kb import index

    d = _tmp_articles(tmp_path)
    name, problem = _break(kind, d)
    with pytest.raises(ArticleError) as err:
        index.rebuild(d)
    assert str(err.value).startswith(name + ":") and problem in str(err.value)
    leftovers = [p.name for p in index.cache_root().iterdir() if p.name.startswith(".build-")]
    assert leftovers == [], "a failed build must not leave its temporary folder behind"

