"""The one place where the project's own settings map onto the library's environment variables.

A store is named by URL:
- ``memory://`` — in memory (tests);
- ``sqlite:///path/to/file.db`` or a bare path — the embedded default (``./jamsos.db``);
- ``postgresql://user[:password]@host[:port]/dbname[?schema=name]`` — production.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.errors import InvalidInput

DEFAULT_STORE = "jamsos.db"
APPLICATION_NAME = "jamsos"
"""Names the PostgreSQL tables (``jamsos_events``); never rename it (stack-notes: new empty tables)."""


class Settings(BaseSettings):
    """The deployment's settings, one class for every face (CLI, broker consumer, HTTP server): each field is read
    from ``JAMSOS_<FIELD>`` (``JAMSOS_STORE``, ``JAMSOS_HTTP_PORT`` ...); a face's option (``--store``) wins.

    Invariant: a store is named in exactly one way, :attr:`store` (a URL or a SQLite path, see the module).
    """

    model_config = SettingsConfigDict(env_prefix="JAMSOS_", extra="ignore", frozen=True)

    store: str = Field(default=DEFAULT_STORE, min_length=1, description="memory://, a SQLite file, postgresql://...")
    key_file: str | None = Field(default=None, description="The master key file (default: beside a SQLite store, "
                                 "./jamsos.key otherwise).")
    views: str | None = Field(default=None, description="SQLAlchemy URL of the read models (default: beside the "
                              "store).")
    keystore: str | None = Field(default=None, description="SQLAlchemy URL of the member-key table (default: "
                                 "beside the store).")
    clock: datetime | None = Field(default=None, description="Freeze recorded time at this instant (scripted "
                                   "replays, benchmarks); the system clock by default.")
    batch_size: int | None = Field(default=None, ge=1, le=1_000_000, description="Aggregates per transaction on "
                                   "the bulk paths (docs/rules.md#bulk-progress).")
    http_host: str = Field(default="127.0.0.1", description="Where `jamsos serve` listens (loopback by default).")
    http_port: int = Field(default=8000, ge=1, le=65535)
    http_workers: int = Field(default=1, ge=1, le=32, description="uvicorn worker processes.")
    http_body_max_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1024 * 1024,
                                     description="The largest JSON request body.")
    http_upload_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024,
                                       description="The largest file upload (cohort file, bank statement).")
    http_cors_origins: tuple[str, ...] = Field(
        default=(), description="Browser origins allowed to call the API (CORS); none by default (closed).")
    http_writers_max: int = Field(default=1, ge=1, le=64, description="Commands executing at once per process "
                                  "(the others queue in front of the store's write lock).")
    http_reports_kept: int = Field(default=32, ge=1, le=1024, description="Reports kept per process, by the log's "
                                   "head: asked again before the next write, a report is not built again.")
    http_group_commit: bool = Field(default=False, description="Write the saves of commands executing at once "
                                    "in one transaction (eventstore/group_commit.py); batches form only with "
                                    "http_writers_max > 1.")
    http_jobs_max: int = Field(default=16, ge=1, le=1000, description="Long jobs (imports) running at once.")
    web_sessions: str | None = Field(default=None, description="SQLAlchemy URL of the dashboard's session and "
                                     "failed-sign-in tables (default: beside the store).")


def settings(**overrides: object) -> Settings:
    """The settings from the environment (and ``overrides``, a face's options); a bad value is refused naming its
    variable (``JAMSOS_HTTP_PORT: ...``), never a traceback."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err.get("loc") else "settings"
        where = f"--{name.removeprefix('http_').replace('_', '-')}" if name in overrides else f"JAMSOS_{name.upper()}"
        raise InvalidInput(where, str(err["msg"])) from None


@dataclass(frozen=True, slots=True)
class StoreSettings:
    kind: str  # "memory" | "sqlite" | "postgres"
    url: str
    sqlite_path: Path | None = None
    pg_dbname: str = ""
    pg_host: str = ""
    pg_port: str = "5432"
    pg_user: str = ""
    pg_password: str = ""
    pg_schema: str = ""

    @classmethod
    def from_url(cls, url: str | None) -> StoreSettings:
        url = (url or settings().store).strip()
        if url.startswith("memory:"):
            return cls(kind="memory", url="memory://")
        if url.startswith(("postgresql://", "postgres://")):
            parsed = urlparse(url)
            if not parsed.path.strip("/"):
                raise InvalidInput("store", "a PostgreSQL URL needs a database name: postgresql://user@host/db")
            query = parse_qs(parsed.query)
            return cls(
                kind="postgres",
                url=url,
                pg_dbname=parsed.path.strip("/"),
                pg_host=parsed.hostname or "127.0.0.1",
                pg_port=str(parsed.port or 5432),
                pg_user=unquote(parsed.username or os.environ.get("USER", "postgres")),
                pg_password=unquote(parsed.password or ""),
                pg_schema=(query.get("schema") or [""])[0],
            )
        if url.startswith("sqlite:"):
            path = url.removeprefix("sqlite:///")
            if not path or path == url:
                raise InvalidInput("store", "a SQLite URL needs a file: sqlite:///jamsos.db")
            return cls(kind="sqlite", url=url, sqlite_path=Path(path))
        if "://" in url:
            raise InvalidInput("store", f"unsupported store URL {url!r}: use memory://, sqlite:///FILE or postgresql://")
        return cls(kind="sqlite", url=f"sqlite:///{url}", sqlite_path=Path(url))

    def library_env(self) -> dict[str, str]:
        """Environment for :class:`eventsourcing.application.Application`."""
        if self.kind == "memory":
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        if self.kind == "sqlite":
            assert self.sqlite_path is not None
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.sqlite_path),
                "SQLITE_LOCK_TIMEOUT": "30",
            }
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.pg_dbname,
            "POSTGRES_HOST": self.pg_host,
            "POSTGRES_PORT": self.pg_port,
            "POSTGRES_USER": self.pg_user,
            "POSTGRES_PASSWORD": self.pg_password,
            "POSTGRES_LOCK_TIMEOUT": "30",
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "4",
            "POSTGRES_CONNECT_TIMEOUT": "10",
        }
        if self.pg_schema:
            env["POSTGRES_SCHEMA"] = self.pg_schema
        return env

    def default_key_file(self) -> Path:
        override = settings().key_file
        if override:
            return Path(override)
        if self.kind == "sqlite":
            assert self.sqlite_path is not None
            return self.sqlite_path.with_suffix(".key")
        return Path("jamsos.key")

    def default_views_url(self) -> str:
        """Read models live next to the store: ``<store>.views.db`` for SQLite, the same database (and
        schema) on PostgreSQL. ``JAMSOS_VIEWS`` overrides."""
        return self._beside_store(settings().views, ".views.db")

    def default_keystore_url(self) -> str:
        """Member data keys live apart from the events (a separate file for SQLite). ``JAMSOS_KEYSTORE``
        overrides (point it at another database to separate the keys further on PostgreSQL)."""
        return self._beside_store(settings().keystore, ".keys.db")

    def default_web_sessions_url(self) -> str:
        """Dashboard sessions live beside the store: ``<store>.sessions.db`` for SQLite, the same database on
        PostgreSQL, in memory for a memory store. ``JAMSOS_WEB_SESSIONS`` overrides."""
        return self._beside_store(settings().web_sessions, ".sessions.db")

    def _beside_store(self, override: str | None, sqlite_suffix: str) -> str:
        """A SQLAlchemy URL for tables that live beside the event store (unless ``override`` names one)."""
        if override:
            return override
        if self.kind == "memory":
            return "sqlite://"
        if self.kind == "sqlite":
            assert self.sqlite_path is not None
            return f"sqlite:///{self.sqlite_path.with_suffix(sqlite_suffix)}"
        password = f":{self.pg_password}" if self.pg_password else ""
        url = f"postgresql+psycopg://{self.pg_user}{password}@{self.pg_host}:{self.pg_port}/{self.pg_dbname}"
        if self.pg_schema:
            url += f"?options=-csearch_path%3D{self.pg_schema}"
        return url
