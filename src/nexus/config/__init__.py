"""Settings (environment, .env) and the YAML model catalogue."""

from nexus.config.catalogue import Catalogue, CatalogueError, ModelEntry, load_catalogue
from nexus.config.settings import Settings, get_settings

__all__ = ["Catalogue", "CatalogueError", "ModelEntry", "Settings", "get_settings", "load_catalogue"]
