"""The table definitions: which cells each table has per profile, and which experiment answers them."""
