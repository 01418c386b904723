"""mkdocs hooks (``mkdocs.yml``): the docstrings' Sphinx roles, as the API page shows them.

The docstrings of ``src/`` name other objects as ``:func:`~shufflenet.x.f``` (for help() and
editors); mkdocstrings leaves the role as text. This turns each into code, linked to the object's
entry when the page documents it.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc):<code>(~?)([\w.]+)</code>")


def on_page_content(html: str, **_: Any) -> str:
    ids = set(re.findall(r'id="([\w.]+)"', html))

    def code(match: re.Match[str]) -> str:
        short, target = match.groups()
        text = target.rsplit(".", 1)[-1] if short else target
        name = target.rsplit(".", 1)[-1]
        found = target if target in ids else next((i for i in sorted(ids) if i.endswith("." + name)), None)
        return f'<a href="#{found}"><code>{text}</code></a>' if found else f"<code>{text}</code>"

    return _ROLE.sub(code, html)
