"""Budgets for clients and accounts: periods, prices and the counters that enforce them."""
