"""nexus.testing"""
