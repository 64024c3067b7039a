"""Verifying credentials other than API keys (OAuth access tokens)."""
