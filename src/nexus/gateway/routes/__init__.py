"""Route modules, one concern each; app.py includes them."""
