"""nexus.store"""
