"""Detection rules and policies as data (YAML). Shipped with the wheel; no code here."""
