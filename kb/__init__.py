"""Knowledge base: one article per documented Hybrid Call issue, and search over them.

Front doors: ``get(id)``, ``articles()``, ``search(query, limit)``. ``search`` (in ``kb.finder``, a module named apart from the
function so importing it never shadows ``kb.search``) is imported lazily so that ``hcdoctor show`` never pays for Whoosh.
"""

from __future__ import annotations

from kb.errors import ArticleError, HcdError, InputError, UnknownArticle
from kb.loader import articles, get
from kb.schema import Article

__all__ = ["Article", "ArticleError", "HcdError", "InputError", "UnknownArticle", "articles", "get", "search"]


def search(query: str, limit: int = 5):
    """Ranked ``Hit``s for a symptom description or a pasted error string."""
    from kb.finder import search as _search

    return _search(query, limit)
