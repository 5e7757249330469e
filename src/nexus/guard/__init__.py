"""nexus.guard"""
