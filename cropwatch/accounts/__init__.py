"""Accounts: what a cooperative admin may do to a member, password reset codes, which plots a person sees."""
