"""Smart collections: products chosen by rules, evaluated by the database."""
