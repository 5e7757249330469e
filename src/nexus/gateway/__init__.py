"""nexus.gateway"""
