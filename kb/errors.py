"""The project's one exception tree.

It lives in ``kb`` because ``kb`` is the lowest layer (``checks`` and ``bot``
import it, it imports neither), so every layer can raise and catch the same
classes. Every message is one line meant for a person: the CLI prints it on
stderr, the bot posts it in the space.
"""

from __future__ import annotations


class HcdError(Exception):
    """Root of every error this project raises on purpose."""


class InputError(HcdError, ValueError):
    """An input (file, query, article, webhook body) cannot be used as given."""


class ArticleError(InputError):
    """A knowledge-base article is malformed; the message names the file and the problem."""


class UnknownArticle(InputError, KeyError):
    """No article has this id; ``suggestions`` holds the closest ids."""

    def __init__(self, issue_id: str, suggestions: list[str]):
        self.issue_id = issue_id
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"no article with id {issue_id!r}{hint}")

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return self.args[0]
