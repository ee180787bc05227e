"""A [[notify]] target's Apprise URLs, read from its file or environment variable, and the
masks that keep their tokens out of every line we print: a URL is shown as its scheme and
host only (`ntfy://127.0.0.1/***`), or its scheme alone where the "host" is a token
(`tgram://***`), and any text from the services passes through a Scrubber first."""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from arbot.errors import ConfigError
from arbot.settings import NotifyTarget

HIDDEN = "***"
# A DNS name: dotted labels of letters, digits and hyphens (a bot token or a JWT is not).
_HOSTNAME = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")
_SPLIT = re.compile(r"[/:@?&=#,;]+")
_SHORTEST_SECRET = 4  # shorter fragments (a port, "v1") would mangle text for nothing


@dataclass(frozen=True, slots=True)
class Target:
    """A target's settings with the URLs its source held when it was loaded."""

    settings: NotifyTarget
    urls: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def shown(self) -> tuple[str, ...]:
        return tuple(mask(u) for u in self.urls)

    @property
    def as_json(self) -> bool:
        """Whether messages go as a JSON body ("auto": for json:// and jsons:// only)."""
        fmt = self.settings.format
        schemes = {url.partition("://")[0].lower() for url in self.urls}
        return fmt == "json" or (fmt == "auto" and schemes <= {"json", "jsons"})

    @property
    def source(self) -> str:
        s = self.settings
        return f"file {s.urls_file}" if s.urls_file is not None else f"env {s.urls_env}"


def _split(url: str) -> tuple[str, str, str]:
    """(scheme, userinfo + host + port, the rest)."""
    scheme, sep, rest = url.partition("://")
    if not sep:  # not a URL at all: all of it may be secret
        return "", "", url
    netloc, sep, tail = rest.partition("/")
    if not sep:
        netloc, _, tail = rest.partition("?")
    return scheme.lower(), netloc, tail


def _host(netloc: str) -> str:
    host = netloc.rpartition("@")[2]
    if host.startswith("["):  # [::1]:8080
        return host[1 : host.find("]")] if "]" in host else ""
    return host.partition(":")[0]


def shown_host(url: str) -> str | None:
    """The URL's host when it is a network address, None when it may be a token."""
    host = _host(_split(url)[1])
    if host == "localhost" or _HOSTNAME.match(host):
        return host
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def mask(url: str) -> str:
    """`ntfy://127.0.0.1/***`, `tgram://***`: never a user, password, path or query."""
    scheme = _split(url)[0]
    host = shown_host(url)
    if not scheme:
        return HIDDEN
    return f"{scheme}://{host}/{HIDDEN}" if host else f"{scheme}://{HIDDEN}"


class Scrubber:
    """Replaces every fragment of the URLs that may be secret (user, password, a host that
    is not shown, path segments, query values) with *** in a text from a service."""

    def __init__(self, urls: Iterable[str]) -> None:
        fragments: set[str] = set()
        for url in urls:
            fragments.add(url)
            _, netloc, tail = _split(url)
            host = shown_host(url)
            query_keys = set(re.findall(r"[?&]([^=&]+)=", tail))
            for part in _SPLIT.split(f"{netloc}/{tail}"):
                if len(part) >= _SHORTEST_SECRET and part != host and part not in query_keys:
                    fragments.add(part)
        # Longest first: a token containing a shorter fragment is hidden whole.
        self._fragments = sorted(fragments, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for fragment in self._fragments:
            if fragment in text:
                text = text.replace(fragment, HIDDEN)
        return text


def _read_file(path: Path, name: str) -> str:
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{path}: not a regular file (notify target {name!r}: urls_file)")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"{path}: mode {mode:04o} lets other users read notification tokens; "
                f"chmod 600 {path} (notify target {name!r}: urls_file)"
            )
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read ({exc.strerror}) (notify target {name!r}: urls_file)"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (notify target {name!r}: urls_file)") from None


def _urls(target: NotifyTarget, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(where, url) pairs: `where` names the file and line or the variable."""
    if target.urls_file is not None:
        text = _read_file(target.urls_file, target.name)
        lines = enumerate(text.splitlines(), 1)
        return [
            (f"{target.urls_file}:{n}", line.strip())
            for n, line in lines
            if line.strip() and not line.lstrip().startswith("#")
        ]
    var = str(target.urls_env)
    value = environ.get(var)
    if value is None:
        raise ConfigError(f"${var}: not set in the environment (notify target {target.name!r})")
    # Apprise's own convention: URLs separated by spaces or commas.
    return [(f"${var}", url) for url in re.split(r"[\s,]+", value) if url]


def load_target(
    target: NotifyTarget,
    valid: Callable[[str], bool] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Target:
    """Read a target's URLs and check each with `valid` (default: Apprise parses it);
    errors name the file (or variable) and the target, never a token."""
    if valid is None:
        from arbot.notify.adapter import accepts

        valid = accepts
    found = _urls(target, environ)
    where = target.urls_file if target.urls_file is not None else f"${target.urls_env}"
    if not found:
        raise ConfigError(f"{where}: no Apprise URL in it (notify target {target.name!r})")
    for place, url in found:
        if not valid(url):
            raise ConfigError(
                f"{place}: {mask(url)}: not a URL Apprise can send to "
                f"(notify target {target.name!r}; https://appriseit.com/services/)"
            )
    return Target(target, tuple(url for _, url in found))


def load_targets(
    targets: Sequence[NotifyTarget],
    valid: Callable[[str], bool] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> tuple[Target, ...]:
    return tuple(load_target(t, valid, environ) for t in targets)
