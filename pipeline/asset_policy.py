"""Which asset hrefs a catalog may make a job read.

A remote catalog must not be able to make the job read local files or probe
hosts on the job's network: its assets may use ``https``, ``s3``, ``gs``,
``az`` or ``abfs`` only. Local catalogs (files the user chose) may also
reference local files. Plain ``http`` is accepted only from a catalog on the
loopback interface, for assets on the loopback interface (local test and
development servers). Messages never include query strings, where signed
URLs carry their tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

import pystac

from .errors import SearchError

REMOTE_SCHEMES = frozenset({"https", "s3", "gs", "az", "abfs", "abfss"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class UnsafeAssetError(SearchError):
    """A catalog references an asset location it may not."""


def redacted(url: str) -> str:
    """``url`` without credentials, query string or fragment (signed URLs carry tokens there)."""
    parts = urlsplit(url)
    if not parts.scheme or len(parts.scheme) == 1:  # a local path (or a Windows drive)
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def redacted_message(text: str) -> str:
    """``text`` with the query string of every URL in it removed."""
    return re.sub(r"(https?://[^\s'\"?]+)\?[^\s'\"]*", r"\1", text)


def _is_local_path(href: str) -> bool:
    scheme = urlsplit(href).scheme.lower()
    return scheme in ("", "file") or len(scheme) == 1


def asset_allowed(href: str, catalog: str) -> bool:
    """Whether a catalog at ``catalog`` (URL or local path) may reference ``href``."""
    catalog_is_remote = urlsplit(catalog).scheme.lower() in ("http", "https")
    parts = urlsplit(href)
    scheme = parts.scheme.lower()
    if scheme in REMOTE_SCHEMES:
        return True
    if _is_local_path(href):
        return not catalog_is_remote
    if scheme == "http":
        catalog_host = urlsplit(catalog).hostname if catalog_is_remote else None
        loopback_catalog = not catalog_is_remote or catalog_host in LOOPBACK_HOSTS
        return loopback_catalog and parts.hostname in LOOPBACK_HOSTS
    return False


def check_asset_hrefs(items: Iterable[pystac.Item], catalog: str) -> None:
    """Refuse items whose assets point where a catalog at ``catalog`` may not send the job.

    Raises:
        UnsafeAssetError: naming the item, the asset and the (redacted) location.
    """
    for item in items:
        for key, asset in item.assets.items():
            href = asset.get_absolute_href() or asset.href
            if not asset_allowed(href, catalog):
                raise UnsafeAssetError(
                    f"scene {item.id}: asset {key!r} points to {redacted(href)}, which the "
                    f"catalog {redacted(catalog)} may not reference (remote catalogs: https, s3, "
                    "gs, az assets only; local files only from local catalogs); refusing to read it"
                )
