"""The key of member pseudonyms (transforms/pseudonyms.py), from where ``privacy.pseudonym_key`` says.

env:NAME, file:PATH and secret:SCOPE/KEY read a key an operator keeps; ``lakehouse`` (the local
overlay's, so the demo's) creates a random key once inside a lakehouse on this machine and reads it
after. A key shorter than MIN_KEY_BYTES, empty included, is refused: a short key is guessed, and
with it every pseudonym is reversed by hashing the sequential ids.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from jobs.runtime.config import Config
from jobs.runtime.errors import UserError
from transforms.pseudonyms import pseudonym

KEY_FILE = Path("_keys") / "pseudonyms.key"  # under a local lakehouse root, readable by its owner only
MIN_KEY_BYTES = 32
_loaded: dict[tuple[str, str], bytes] = {}  # (source, root) -> key: read once per process


def key(config: Config, spark=None) -> bytes:
    """The pseudonym key; ``spark`` is needed only for a Databricks secret."""
    source = config.privacy.pseudonym_key
    cache = (source, config.lakehouse.root)
    if cache in _loaded:
        return _loaded[cache]
    kind, _, where = source.partition(":")
    if source == "lakehouse":
        if config.local_root() is None:
            raise UserError(
                "privacy.pseudonym_key=lakehouse keeps the key beside the data, for a lakehouse on this machine "
                f"only: for {config.lakehouse.root} give env:NAME, file:PATH or secret:SCOPE/KEY"
            )
        text = _lakehouse_key(Path(config.local_root()) / KEY_FILE)
    elif kind == "env":
        text = os.environ.get(where)
        if text is None:
            raise UserError(
                f"the environment variable {where} holds the pseudonym key (privacy.pseudonym_key={source}) and is "
                f"not set: export {where}=$(openssl rand -hex 32), the same value for every run of this lakehouse"
            )
    elif kind == "file":
        try:
            text = Path(where).read_text()
        except OSError as err:
            raise UserError(f"cannot read the pseudonym key file {where} (privacy.pseudonym_key): {err}") from None
    else:
        text = _databricks_secret(spark, *where.split("/"))
    value = text.strip().encode()
    if len(value) < MIN_KEY_BYTES:
        raise UserError(
            f"the pseudonym key from {source} has {len(value)} bytes, fewer than {MIN_KEY_BYTES}: anyone could guess "
            "it and name every member behind a pseudonym; give a random one (openssl rand -hex 32)"
        )
    _loaded[cache] = value
    return value


def namer(config: Config, spark=None):
    """``user_id -> pseudonym``, reading the key only when first called (a run that names no member needs none)."""
    return lambda user_id: pseudonym(key(config, spark), user_id)


def _lakehouse_key(path: Path) -> str:
    """The key in ``path``, created with 64 random hex digits if there is none. Written to a file of its own
    and linked into place: a concurrent run reads either no key or the whole of one, and both use the same."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another run created it first: use theirs
        finally:
            draft.unlink()
    return path.read_text()


def _databricks_secret(spark, scope: str, name: str) -> str:
    try:
        from pyspark.dbutils import DBUtils  # Databricks Runtime only
    except ImportError:
        raise UserError(
            f"privacy.pseudonym_key=secret:{scope}/{name} is a Databricks secret, readable on Databricks only: "
            "elsewhere give env:NAME or file:PATH"
        ) from None
    try:
        return DBUtils(spark).secrets.get(scope=scope, key=name)
    except Exception as err:  # the workspace says why (no such scope or key, no permission)
        raise UserError(f"cannot read the Databricks secret {scope}/{name} (privacy.pseudonym_key): {err}") from None
