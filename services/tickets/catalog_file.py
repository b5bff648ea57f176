"""The catalog file: what each issue type's description says, and the features.

Operators edit a TOML file, never code (``catalog.toml`` beside this module holds the
defaults; ``HELPDESK_CATALOG_FILE`` names another). It is read and checked when a
process reads its settings, so a mistake stops the start with a ``ConfigError``
naming the file and the entry, before anything is served. The issue types' keys,
labels and priorities are the contract's (``shared.catalog.ISSUE_TYPES``): the file
describes exactly those five and cannot add, drop or rename one.

``HELPDESK_FEATURES`` (``key:Label,key2:Label 2``), the older way to set the features,
still works: when set it replaces the file's features, checked by the same rules.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from shared.catalog import ISSUE_TYPE_KEYS, KEY_PATTERN, KEY_RULE
from shared.config import ConfigError

DEFAULT_CATALOG_FILE = Path(__file__).with_name("catalog.toml")
# A feature key follows the rule of every key in the catalog (team keys too).
FEATURE_KEY = re.compile(KEY_PATTERN)
FEATURE_LABEL_LENGTH = (1, 100)
MAX_FEATURES = 100
ISSUE_TYPE_DESCRIPTION_LENGTH = (1, 300)
FILE_SECTIONS = ("issue_types", "features")
FEATURE_FIELDS = ("key", "label")


@dataclass(frozen=True)
class CatalogFile:
    """A checked catalog file: ``descriptions`` ((issue type key, text), ...) in the
    contract's order, and ``features`` ((key, label), ...) in the file's order."""

    descriptions: tuple
    features: tuple


def check_features(features, where: str) -> tuple:
    """``features`` ((key, label), ...) checked: each key once and by the catalog's key
    rule (``KEY_PATTERN``); labels 1-100 characters; 1 to 100 features.
    ``where`` starts every error (the variable, or the file)."""
    features = tuple((str(key).strip(), str(label).strip()) for key, label in features)
    if not 1 <= len(features) <= MAX_FEATURES:
        raise ConfigError(f"{where}: list 1 to {MAX_FEATURES} features, got {len(features)}")
    seen = set()
    for key, label in features:
        if not FEATURE_KEY.match(key):
            raise ConfigError(f"{where} has an invalid key {key!r}: {KEY_RULE}")
        if key in seen:
            raise ConfigError(f"{where} lists a key twice: {key!r}")
        seen.add(key)
        low, high = FEATURE_LABEL_LENGTH
        if not low <= len(label) <= high:
            raise ConfigError(f"{where}: the label of {key!r} must be {low}-{high} characters")
    return features


def parse_features_variable(raw: str, variable: str) -> tuple:
    """``key:Label,key2:Label 2`` (a missing label is the key in title case)."""
    pairs = []
    for item in raw.split(","):
        key, _, label = item.strip().partition(":")
        key = key.strip()
        pairs.append((key, label.strip() or key.replace("_", " ").title()))
    return check_features(pairs, variable)


def read_catalog_file(path, variable: str = "HELPDESK_CATALOG_FILE") -> CatalogFile:
    """Read and check the catalog file at ``path``; ``ConfigError`` names what is wrong."""
    where = f"{variable} ({path})"
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"{variable}: no such file {str(path)!r}") from None
    except OSError as error:
        raise ConfigError(f"{variable}: cannot read {str(path)!r}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where} is not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where} is not UTF-8 text") from None
    unknown = sorted(set(data) - set(FILE_SECTIONS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown section {unknown[0]!r} (the file has [issue_types] and [[features]])"
        )
    return CatalogFile(_descriptions(data.get("issue_types"), where), _features(data, where))


def _descriptions(table, where: str) -> tuple:
    if not isinstance(table, dict):
        raise ConfigError(
            f"{where}: [issue_types] is missing: describe {', '.join(ISSUE_TYPE_KEYS)}"
        )
    for key in table:
        if key not in ISSUE_TYPE_KEYS:
            raise ConfigError(
                f"{where}: [issue_types] has {key!r}, which is not an issue type. Issue types "
                f"are fixed ({', '.join(ISSUE_TYPE_KEYS)}); the file sets their descriptions only"
            )
    low, high = ISSUE_TYPE_DESCRIPTION_LENGTH
    descriptions = []
    for key in ISSUE_TYPE_KEYS:
        if key not in table:
            raise ConfigError(f"{where}: [issue_types] has no description for {key!r}")
        text = table[key]
        if not isinstance(text, str):
            raise ConfigError(
                f"{where}: [issue_types] {key} must be a text in quotes, "
                'e.g. {key} = "What this type covers." (labels and priorities are fixed)'
            )
        text = " ".join(text.split())
        if not low <= len(text) <= high:
            raise ConfigError(
                f"{where}: the description of {key!r} must be {low}-{high} characters"
            )
        descriptions.append((key, text))
    return tuple(descriptions)


def _features(data, where: str) -> tuple:
    entries = data.get("features")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(
            f"{where}: [[features]] is missing: list each feature as a [[features]] "
            'entry with key = "..." and label = "..."'
        )
    pairs = []
    for number, entry in enumerate(entries, 1):
        extra = sorted(set(entry) - set(FEATURE_FIELDS))
        if extra:
            raise ConfigError(f"{where}: feature {number} has an unknown field {extra[0]!r}")
        key, label = entry.get("key"), entry.get("label")
        if not isinstance(key, str) or not isinstance(label, str):
            raise ConfigError(f"{where}: feature {number} needs a key and a label, both texts")
        pairs.append((key, label))
    return check_features(pairs, where)
