"""Individual detectors; registered by name in nexus.guard.registry."""
