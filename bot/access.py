"""Who may use the bot: ``HCDOCTOR_ALLOWED`` is a comma list of e-mail addresses and ``@domain``s.

Empty means everyone. Matching is case-insensitive and exact: ``@example.com``
admits ``ann@example.com`` but not ``ann@mail.example.com`` or
``ann@example.com.evil``, so a look-alike domain cannot slip through. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

REFUSAL = ("Sorry, I only answer people my operators have allowed. "
           "Ask the person who runs this bot to add you.")


@dataclass(frozen=True)
class AllowList:
    emails: frozenset[str]
    domains: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> "AllowList":
        emails: set[str] = set()
        domains: set[str] = set()
        for item in text.replace(";", ",").replace(" ", ",").split(","):
            item = item.strip().lower()
            if not item:
                continue
            if item.startswith("@"):
                domains.add(item[1:])
            elif "@" in item:
                emails.add(item)
            else:  # a bare domain is what people mean when they forget the '@'
                domains.add(item)
        return cls(frozenset(emails), frozenset(domains))

    @property
    def everyone(self) -> bool:
        return not self.emails and not self.domains

    def allows(self, email: str | None) -> bool:
        if self.everyone:
            return True
        if not email:
            return False
        address = email.strip().lower()
        if address in self.emails:
            return True
        local, at, domain = address.rpartition("@")
        return bool(at and local) and domain in self.domains
