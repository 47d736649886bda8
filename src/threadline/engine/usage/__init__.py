"""Usage: what each model call used and cost (the ledger), and what each API key may spend
(its limits and budgets)."""
