"""nexus.pipeline"""
