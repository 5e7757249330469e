"""nexus.ui"""
