"""Verifying credentials other than API keys: OAuth 2.1 access tokens (`verifier`)."""
