"""Resolve the configured sources to their conformer modules."""

from __future__ import annotations

import importlib

from jobs.runtime.config import Config, ConfigError
from transforms.domain import platforms_of
from transforms.sources import SourceSpec


def load_source(name: str, module_path: str) -> SourceSpec:
    """Import a conformer module and return its ``SOURCE``; a bad entry is a config mistake."""
    try:
        module = importlib.import_module(module_path)
    except ImportError as err:
        raise ConfigError(f"sources.{name}.conformer: cannot import {module_path!r} ({err})") from None
    spec = getattr(module, "SOURCE", None)
    if not isinstance(spec, SourceSpec):
        raise ConfigError(f"sources.{name}.conformer: {module_path} has no SOURCE = SourceSpec(...)")
    if spec.name != name:
        raise ConfigError(f"sources.{name}.conformer: {module_path} describes source {spec.name!r}")
    return spec


def configured_sources(config: Config) -> list[SourceSpec]:
    """Every configured source in config order, enabled or not: what a source published while it was
    enabled is still validated (and its natural key still known) after it is disabled."""
    return [load_source(name, src.conformer) for name, src in config.sources.items()]


def enabled_sources(config: Config) -> list[SourceSpec]:
    """The enabled sources in config order (accounts first: other sources check users against it)."""
    return [load_source(name, src.conformer) for name, src in config.sources.items() if src.enabled]


def configured_platforms(config: Config) -> tuple[str, ...]:
    """The ecosystem's platforms: those of every configured order source, enabled or not (a disabled
    platform's history is still valid and still scored), in config order."""
    return platforms_of(configured_sources(config))
