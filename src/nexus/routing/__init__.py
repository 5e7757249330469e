"""Routing: embeddings, classifier, prototype KNN, learned quality router, policy, explanations."""
