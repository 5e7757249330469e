"""nexus.cli"""
