"""nexus.telemetry"""
