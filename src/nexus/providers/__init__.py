"""Providers: the Provider protocol, adapter registry, adapters and wrappers (retry, fallback, metering)."""
